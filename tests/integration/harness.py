"""Shared pieces of the integration tests: the node's lifecycle through
cluster-config/node.sh, a keep-alive HTTP client on asyncio, and SQL through
the mariadb command-line client. Standard library only."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN_DIR = os.environ.get("DIBS_RUN_DIR", os.path.join(ROOT, ".run", "test"))
HTTP_PORT = int(os.environ.get("DIBS_HTTP_PORT", "18080"))
ADMIN_TOKEN = os.environ.get("DIBS_ADMIN_TOKEN", "test-admin-token")
MYSQL_SOCKET = os.path.join(RUN_DIR, "mysql", "mysqld.sock")
BUILD_DIR = os.environ.get("DIBS_BUILD_DIR", os.path.join(ROOT, "build"))
BASE = f"http://127.0.0.1:{HTTP_PORT}"


def log(*args):
    print(*args, flush=True)


def node(command, *args):
    """Runs cluster-config/node.sh with the test environment."""
    env = dict(os.environ, DIBS_RUN_DIR=RUN_DIR, DIBS_HTTP_PORT=str(HTTP_PORT),
               DIBS_ADMIN_TOKEN=ADMIN_TOKEN)
    subprocess.run(["bash", os.path.join(ROOT, "cluster-config", "node.sh"),
                    command, *args], check=True, env=env)


def sql(query):
    """Runs a query as root over the socket; returns rows of strings."""
    out = subprocess.run(["mariadb", f"--socket={MYSQL_SOCKET}", "-uroot",
                          "-N", "-B", "dibs", "-e", query],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def dibsctl(command, *args, check=True):
    """Runs `dibsctl <command>` against the test node and its dependencies;
    returns the completed process (stdout and stderr captured as text)."""
    kafka = ["--kafka.bootstrap-file", os.path.join(RUN_DIR, "kafka.bootstrap")]
    node = ["--url", BASE, "--admin-token", ADMIN_TOKEN]
    mysql = ["--mysql.port", os.environ.get("DIBS_MYSQL_PORT", "13306")]
    where = {"log-count": [], "top": node}.get(command, node + mysql)
    return subprocess.run(
        [os.path.join(BUILD_DIR, "cli", "dibsctl"), command, *kafka, *where,
         *args],
        check=check, capture_output=True, text=True)


class Load:
    """`dibsctl load` of hundred-coupons at full pressure in the background,
    with its JSON report (and integrity checks) written to `name`.json in
    the run folder; faults are injected while it runs."""

    def __init__(self, name, seconds, vus, *extra):
        self.report_path = os.path.join(RUN_DIR, f"{name}.json")
        if os.path.exists(self.report_path):
            os.remove(self.report_path)
        self.proc = subprocess.Popen(
            [os.path.join(BUILD_DIR, "cli", "dibsctl"), "load",
             "--kafka.bootstrap-file", os.path.join(RUN_DIR, "kafka.bootstrap"),
             "--url", BASE, "--admin-token", ADMIN_TOKEN,
             "--mysql.port", os.environ.get("DIBS_MYSQL_PORT", "13306"),
             "--scenario", "hundred-coupons", "--think-time", "0ms",
             "--duration-scale", str(seconds / 600), "--vus", str(vus),
             "--request-timeout-ms", "5000", "--drain-timeout-s", "120",
             "--quiet", "--json", self.report_path, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.seconds = seconds

    def finish(self):
        """Waits for the load, prints its counts and checks; returns a
        failure message or None."""
        out, _ = self.proc.communicate(timeout=self.seconds + 300)
        if self.proc.returncode != 0 and not os.path.exists(self.report_path):
            log(out[-4000:])
            return f"dibsctl load exited {self.proc.returncode} without a report"
        report = json.load(open(self.report_path))
        integrity = report["integrity"]
        lost = next((c["failures"] for c in integrity["checks"]
                     if c["name"] == "accepted_are_rows"), None)
        log(f"{report['requests']} requests; lost {lost} of "
            f"{integrity['acceptedPairs']} acknowledged; "
            f"{integrity['undecidedPairs']} requests undecided, "
            f"{integrity['rowsOfUndecidedRequests']} of them became rows; "
            f"drained {report['drainS']:.1f} s after the load")
        for c in integrity["checks"]:
            log(f"  {c['name']}: {'pass' if c['passed'] else 'FAIL ' + c['detail']}")
        if self.proc.returncode != 0:
            log(out[-4000:])
            return f"dibsctl load exited {self.proc.returncode}"
        return None


def kafka_counts():
    """Distinct issuance events per coupon in the embedded broker's topic."""
    out = dibsctl("log-count").stdout
    return {int(c): int(n) for c, n in (line.split() for line in out.splitlines())}


def call(method, path, body=None, token=None, raw=None, headers=None,
         port=HTTP_PORT):
    """One blocking request; returns (status, parsed JSON or text, headers)."""
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, text, hdrs = res.status, res.read().decode(), res.headers
    except urllib.error.HTTPError as err:
        status, text, hdrs = err.code, err.read().decode(), err.headers
    try:
        return status, json.loads(text), hdrs
    except ValueError:
        return status, text, hdrs


def create_coupon(name, total, **extra):
    status, body, _ = call("POST", "/api/coupons",
                           dict(name=name, discount=1000, totalQuantity=total,
                                **extra), token=ADMIN_TOKEN)
    assert status == 201, (status, body)
    return body["couponId"]


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request, waits for
    its answer, and sends the next, like a k6 virtual user."""

    def __init__(self, port=HTTP_PORT):
        self.reader = self.writer = None
        self.port = port

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port)

    def close(self):
        if self.writer:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method, path, body=b""):
        if not self.writer:
            await self.open()
        head = (f"{method} {path} HTTP/1.1\r\nHost: dibs\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed by the server")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, payload


def wait_drained(coupons, timeout_s=60):
    """Waits until MySQL holds as many rows per coupon as the stock actors
    issued (their live issuedQuantity). Returns the live views."""
    deadline = time.time() + timeout_s
    while True:
        views = {c: call("GET", f"/api/coupons/{c}")[1] for c in coupons}
        counts = dict((int(c), int(n)) for c, n in sql(
            "SELECT coupon_id, COUNT(*) FROM user_coupons GROUP BY coupon_id"))
        if all(counts.get(c, 0) == v["issuedQuantity"] for c, v in views.items()):
            return views
        if time.time() > deadline:
            return views
        time.sleep(0.2)


PID_FILES = {"node": "node/dibs.pid", "mariadb": "mysql/mysqld.pid",
             "redis": "redis/redis.pid", "kafka": "kafka/kafka.pid"}


def pid_of(name):
    """The pid of a process the test scripts started: node, mariadb, redis
    or kafka."""
    with open(os.path.join(RUN_DIR, PID_FILES[name])) as f:
        return int(f.read().strip())


def running(pid):
    """Whether process `pid` runs: it has a /proc entry and is neither a
    zombie nor dead. os.kill(pid, 0) is not enough: a process killed with
    kill -9 stays a zombie until its parent reaps it, which pid 1 does late
    on some machines (about 1.5 s here), and the signal test succeeds on a
    zombie. The state follows the command name in parentheses, which may
    hold spaces and parentheses itself, so it is read after the last ')'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rfind(b")") + 1:].split()[:1]
    return bool(state) and state[0] not in (b"Z", b"X")


def kill9(name, timeout_s=10):
    """kill -9 of `name` (see pid_of); returns once it is gone or a zombie,
    which holds no port or file any more: what a restart needs."""
    pid = pid_of(name)
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + timeout_s
    while time.time() < deadline and running(pid):
        time.sleep(0.02)


def fail(message):
    log("FAIL:", message)
    sys.exit(1)

