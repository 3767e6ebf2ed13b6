"""Shared pieces of the integration tests: the node's lifecycle through
cluster-config/node.sh, a keep-alive HTTP client on asyncio, and SQL through
the mariadb command-line client. Standard library only."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
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


class Answers:
    """Every issue request's answer, from any thread: (coupon, user, status,
    body, time answered); status None when no answer came."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []

    def issue(self, coupon, user):
        """One issue request, recorded; returns (status, body)."""
        try:
            status, body, _ = call("POST", f"/api/coupons/{coupon}/issue",
                                   {"userId": user})
        except (OSError, urllib.error.URLError):
            status, body = None, {}
        body = body if isinstance(body, dict) else {}
        with self.lock:
            self.rows.append((coupon, user, status, body, time.time()))
        return status, body

    def __len__(self):
        with self.lock:
            return len(self.rows)

    def since(self, start=0):
        with self.lock:
            return self.rows[start:]

    def for_checks(self):
        """(coupon, user, status, body) of each, as check_stored takes them."""
        return [(c, u, s, b) for c, u, s, b, _ in self.since()]

    def acknowledged(self, coupon):
        """The users told they hold `coupon`."""
        return {u for c, u, s, b, _ in self.since()
                if c == coupon and outcome_of(s, b) in ("yes", "held")}


class Clients:
    """`threads` client threads issuing `coupons` in turn to new users from
    `first_user` on, each answer recorded in `answers`, until stopped."""

    def __init__(self, answers, coupons, first_user, threads=4):
        self.answers = answers
        self.coupons = coupons
        self.next_user = first_user
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stopped.is_set():
            with self.lock:
                user = self.next_user
                self.next_user += 1
            for coupon in self.coupons:
                status, _ = self.answers.issue(coupon, user)
                if status is None:
                    time.sleep(0.05)  # The node is down: do not spin.

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join(30)


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
            + (f"drained {report['drainS']:.1f} s after the load"
               if report['drainS'] is not None
               else "not drained within the drain timeout"))
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
         port=HTTP_PORT, timeout_s=30):
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
        with urllib.request.urlopen(req, timeout=timeout_s) as res:
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
    issued (their live issuedQuantity). Returns the live views. A coupon
    whose stock actor is being recovered answers 503 meanwhile."""
    deadline = time.time() + timeout_s
    while True:
        answers = {c: call("GET", f"/api/coupons/{c}")[:2] for c in coupons}
        views = {c: body for c, (status, body) in answers.items()
                 if status == 200}
        counts = dict((int(c), int(n)) for c, n in sql(
            "SELECT coupon_id, COUNT(*) FROM user_coupons GROUP BY coupon_id"))
        if len(views) == len(coupons) and all(
                counts.get(c, 0) == v["issuedQuantity"]
                for c, v in views.items()):
            return views
        if time.time() > deadline:
            if len(views) < len(coupons):
                fail(f"coupons answered {answers} after {timeout_s} s")
            return views
        time.sleep(0.2)


PID_FILES = {"node": "node/dibs.pid", "mariadb": "mysql/mysqld.pid",
             "redis": "redis/redis.pid", "kafka": "kafka/1/kafka.pid"}


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


def node_log_warnings(count=40):
    """The last `count` warnings and errors of the test node's log, but
    those about one issuance (thousands in an outage) and librdkafka's own
    lines: what a failure in CI, whose run folder is gone, leaves to
    read."""
    one_issuance = re.compile(r'"msg":"coupon \d+: (issuance|publishing '
                              r'issuance) \d+')
    try:
        with open(os.path.join(RUN_DIR, "node", "dibs.log"),
                  errors="replace") as f:
            lines = [line.rstrip("\n") for line in f
                     if re.search(r'"level":"(warning|error|critical)"', line)
                     and not one_issuance.search(line)]
    except OSError:
        return []
    return lines[-count:]


def node_state():
    """What the test node says of its shards (/admin/api/nodes, this node
    only), or None when it does not answer."""
    try:
        status, body, _ = call("GET", "/admin/api/nodes", token=ADMIN_TOKEN,
                               timeout_s=5)
    except Exception:  # A paused node, a connection cut: nothing to show.
        return None
    if status != 200 or not isinstance(body, dict):
        return None
    keys = ("health", "ready", "kafka", "shards", "assignedShards",
            "takeovers")
    return [{k: n.get(k) for k in keys} for n in body.get("nodes", [])
            if n.get("self")]


def wait_for(what, check, timeout_s, interval_s=0.1):
    """Polls `check` until it is true; fails the test after `timeout_s`."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if check():
            return
        time.sleep(interval_s)
    fail(f"timed out after {timeout_s} s waiting for {what}")


def inject_fault(fault, coupon):
    """POST /admin/faults {fault, couponId}; fails the test unless 202."""
    status, body, _ = call("POST", "/admin/faults",
                           {"fault": fault, "couponId": coupon},
                           token=ADMIN_TOKEN)
    if status != 202:
        fail(f"injecting {fault} for coupon {coupon}: {status} {body}")


def fail(message):
    log("FAIL:", message)
    state = node_state()
    if state is not None:
        log("the node's shards:", json.dumps(state))
    warnings = node_log_warnings()
    if warnings:
        log(f"the node log's last {len(warnings)} warnings and errors:")
        for line in warnings:
            log("  " + line)
    sys.exit(1)


# -- The invariant checks every Python integration test shares --------------
#
# One request's answer, as the checks read it, is a tuple
# (coupon, user, status, body): status None when no answer came (a timeout,
# a connection lost with the request sent), body the parsed JSON ({} when
# none). A request that could not be sent at all (connection refused) need
# not be recorded: it asked for nothing.
#
# What an answer says about its (coupon, user) pair:
#   "yes"      201/202: issued, with its issuanceId;
#   "held"     409 ALREADY_ISSUED: the user holds it, with its issuanceId;
#   "sold_out" 409 SOLD_OUT: a definite no, and demand exceeded the stock;
#   "unknown"  503 OUTCOME_UNKNOWN, or no answer: may or may not be issued;
#   "no"       anything else (503 UNAVAILABLE / NOT_READY / OVERLOADED,
#              429, 4xx, ...): a definite no, nothing changed.
# Only "unknown" excuses a row nobody was told about; a row for a pair that
# got only definite "no"s (or was never asked for) is a phantom.

OVER_ISSUE = "over_issue"      # rows (or pairs told yes) > total
DUPLICATE = "duplicate"        # a pair twice, or an issuance id twice
LOST = "lost"                  # told yes/held, but no row with that id
PHANTOM = "phantom"            # a row whose pair got no yes and no unknown
CONSERVATION = "conservation"  # total - remaining != rows (MySQL, live, Kafka)
STRANDED = "stranded"          # answered SOLD_OUT, yet fewer rows than
                               # the total or stock left
CLIENT_VIEW = "client_view"    # one pair told two different issuance ids
KINDS = (OVER_ISSUE, DUPLICATE, LOST, PHANTOM, CONSERVATION, STRANDED,
         CLIENT_VIEW)


def outcome_of(status, body):
    """What one issue answer says: see the table above."""
    body = body if isinstance(body, dict) else {}
    if status is None:
        return "unknown"
    if status in (201, 202):
        return "yes"
    code = body.get("code")
    if status == 409 and code == "ALREADY_ISSUED":
        return "held"
    if status == 409 and code == "SOLD_OUT":
        return "sold_out"
    if status == 503 and code == "OUTCOME_UNKNOWN":
        return "unknown"
    return "no"


def check_answers(answers, rows, coupons, kafka=None, tally=None):
    """Checks PRODUCT.md's invariants 1-6 against every answer the clients
    got. `answers`: (coupon, user, status, body) tuples, see above.
    `rows`: (coupon, user, issuance_id) of user_coupons, one per row.
    `coupons`: {coupon: {"total": n, "remaining": n or None (no
    coupon_stocks row), "live": the node's remainingQuantity (optional)}};
    only these coupons are checked. `kafka`: {coupon: distinct issuance
    events} (optional). Returns a list of (kind, detail) violations, kind
    one of KINDS; fills `tally` (a dict) with what it counted."""
    from collections import Counter, defaultdict
    told = defaultdict(set)      # pair -> issuance ids told (yes, held)
    acked = set()                # pairs told yes or held
    unknown = set()              # pairs with an unknown outcome
    definite = defaultdict(Counter)  # pair -> definite "no" answers
    sold_out = set()
    counted = Counter()
    for coupon, user, status, body in answers:
        coupon, user = int(coupon), int(user)
        if coupon not in coupons:
            continue
        body = body if isinstance(body, dict) else {}
        kind = outcome_of(status, body)
        counted[kind] += 1
        pair = (coupon, user)
        if kind in ("yes", "held"):
            acked.add(pair)
            if body.get("issuanceId") is not None:
                told[pair].add(int(body["issuanceId"]))
        elif kind == "unknown":
            unknown.add(pair)
        else:
            definite[pair][f"{status} {body.get('code', '')}".strip()] += 1
            if kind == "sold_out":
                sold_out.add(coupon)
    out = []

    def add(kind, detail):
        out.append((kind, detail))

    by_pair = defaultdict(list)
    by_id = defaultdict(list)
    per_coupon = Counter()
    for coupon, user, issuance in rows:
        coupon, user, issuance = int(coupon), int(user), int(issuance)
        if coupon not in coupons:
            continue
        by_pair[(coupon, user)].append(issuance)
        by_id[issuance].append((coupon, user))
        per_coupon[coupon] += 1
    # 2. No duplicate.
    for pair, ids in by_pair.items():
        if len(ids) > 1:
            add(DUPLICATE, f"user {pair[1]} holds coupon {pair[0]} "
                           f"{len(ids)} times (issuances {sorted(ids)})")
    for issuance, pairs in by_id.items():
        if len(pairs) > 1:
            add(DUPLICATE, f"issuance {issuance} is {len(pairs)} rows")
    # One issuance id per pair in the answers too.
    for pair, ids in told.items():
        if len(ids) > 1:
            add(CLIENT_VIEW, f"user {pair[1]}, coupon {pair[0]}: told "
                             f"issuances {sorted(ids)}")
    # 3. Nothing acknowledged is lost: a row with the id the client was told.
    lost = 0
    for pair in sorted(acked):
        held = by_pair.get(pair, [])
        if not held or (told[pair] and not told[pair] & set(held)):
            lost += 1
            add(LOST, f"user {pair[1]}, coupon {pair[0]}: told issuance "
                      f"{sorted(told[pair]) or '(no id)'}, rows hold "
                      f"{held or 'nothing'}")
    # 4. No phantom: only an unknown outcome excuses an untold row.
    phantoms = rows_of_unknown = 0
    for pair, ids in sorted(by_pair.items()):
        if pair in acked:
            continue
        if pair in unknown:
            rows_of_unknown += 1
            continue
        phantoms += 1
        why = (", ".join(f"{k} x{n}" for k, n in sorted(definite[pair].items()))
               if pair in definite else "never asked for")
        add(PHANTOM, f"user {pair[1]}, coupon {pair[0]}: row (issuance "
                     f"{ids[0]}) but the client was told only: {why}")
    told_yes = Counter(c for c, _ in acked)
    for coupon, facts in sorted(coupons.items()):
        total, remaining = facts.get("total"), facts.get("remaining")
        n = per_coupon[coupon]
        if total is None:
            add(CONSERVATION, f"coupon {coupon} is not in `coupons`")
            continue
        # 1. No over-issue, in MySQL and in what the clients were told.
        if n > total:
            add(OVER_ISSUE, f"coupon {coupon}: {n} rows for {total}")
        yes = told_yes[coupon]
        if yes > total:
            add(OVER_ISSUE, f"coupon {coupon}: {yes} users told issued of "
                            f"{total}")
        # 5. Conservation: total - remaining = rows = live = Kafka.
        if remaining is None:
            add(CONSERVATION, f"coupon {coupon}: no coupon_stocks row")
        elif total - remaining != n:
            add(CONSERVATION, f"coupon {coupon}: total {total} - remaining "
                              f"{remaining} != {n} rows")
        live = facts.get("live")
        if live is not None and live != remaining:
            add(CONSERVATION, f"coupon {coupon}: the node says {live} remain, "
                              f"MySQL {remaining}")
        if kafka is not None and kafka.get(coupon, 0) != n:
            add(CONSERVATION, f"coupon {coupon}: {kafka.get(coupon, 0)} "
                              f"distinct events in Kafka != {n} rows")
        # 6. No stranded stock: a coupon that answered SOLD_OUT (demand
        # exceeded its stock) ends with every unit a row and none remaining.
        if coupon in sold_out and (n < total or (remaining or 0) > 0
                                   or (live or 0) > 0):
            add(STRANDED, f"coupon {coupon} answered SOLD_OUT, yet {n} rows "
                          f"of {total}, remaining {remaining}"
                          + (f", live {live}" if live is not None else ""))
    if tally is not None:
        tally.update(
            answers=sum(counted.values()), outcomes=dict(counted),
            acknowledged=len(acked), lost=lost, unknown_pairs=len(unknown - acked),
            rows_of_unknown=rows_of_unknown, phantoms=phantoms,
            definite_no_pairs=len(set(definite) - acked - unknown),
            rows=sum(per_coupon.values()), sold_out=sorted(sold_out),
            coupons=len(coupons), violations=Counter(k for k, _ in out))
    return out


def stored_state(coupon_ids):
    """What MySQL holds of `coupon_ids`: (rows, coupons) in the shapes
    check_answers takes (coupons without "live")."""
    ids = ",".join(str(int(c)) for c in coupon_ids)
    rows = [(int(c), int(u), int(i)) for c, u, i in sql(
        "SELECT coupon_id, user_id, issuance_id FROM user_coupons "
        f"WHERE coupon_id IN ({ids})")]
    coupons = {int(c): {"total": None, "remaining": None} for c in coupon_ids}
    for c, total, remaining in sql(
            "SELECT c.id, c.total_quantity, s.remaining_quantity FROM coupons c"
            " LEFT JOIN coupon_stocks s ON s.coupon_id = c.id"
            f" WHERE c.id IN ({ids})"):
        coupons[int(c)] = {"total": int(total),
                           "remaining": None if remaining == "NULL"
                           else int(remaining)}
    return rows, coupons


def check_stored(answers, totals, live=None, kafka=None, tally=None):
    """check_answers against what MySQL holds now for the coupons of
    `totals` ({coupon: the total the test created it with}; MySQL's total
    must agree). `live`: {coupon: the node's remainingQuantity}."""
    rows, coupons = stored_state(totals)
    out = []
    for c, total in totals.items():
        if coupons[c]["total"] is not None and coupons[c]["total"] != total:
            out.append((CONSERVATION, f"coupon {c}: created with {total}, "
                                      f"MySQL says {coupons[c]['total']}"))
        if live is not None and c in live:
            coupons[c]["live"] = live[c]
    return out + check_answers(answers, rows, coupons, kafka, tally)


def require_stored(answers, totals, live, what):
    """check_stored of `answers` (an Answers) against `totals` and the live
    stock, reported (report_checks); fails the test on any violation.
    Returns the tally."""
    tally = {}
    violations = check_stored(answers.for_checks(), totals, live=live,
                              tally=tally)
    report_checks(violations, tally, what)
    if violations:
        fail(f"{what}: {len(violations)} violations")
    return tally


def report_checks(violations, tally, what="checked"):
    """Prints the counts (all counted, none written in) and the first
    violations; returns the violation count."""
    log(f"{what}: {tally['coupons']} coupons, {tally['rows']} rows, "
        f"{tally['answers']} answers: lost {tally['lost']} of "
        f"{tally['acknowledged']} acknowledged; {tally['phantoms']} phantoms "
        f"({tally['definite_no_pairs']} pairs told only a definite no); "
        f"{tally['unknown_pairs']} pairs with an unknown outcome, "
        f"{tally['rows_of_unknown']} of them rows; "
        f"{len(tally['sold_out'])} coupons sold out")
    for kind, detail in violations[:30]:
        log(f"  FAIL {kind}: {detail}")
    if len(violations) > 30:
        log(f"  ... {len(violations) - 30} more")
    return len(violations)


class AnswerConnection(Connection):
    """A Connection whose `exchange` also returns the answer's headers
    (lower-case names) and gives up after `timeout_s` (TimeoutError; the
    connection is closed then, since its answer may still come)."""

    async def exchange(self, method, path, body=b"", timeout_s=None):
        if not self.writer:
            await self.open()
        head = (f"{method} {path} HTTP/1.1\r\nHost: dibs\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()

        async def roundtrip():
            self.writer.write(head + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("closed by the server")
            status = int(status_line.split()[1])
            headers = {}
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            payload = await self.reader.readexactly(length) if length else b""
            if headers.get("connection", "").lower() == "close":
                self.close()
            return status, headers, payload

        try:
            return await asyncio.wait_for(roundtrip(), timeout_s)
        except asyncio.TimeoutError:
            self.close()
            raise TimeoutError(f"no answer within {timeout_s} s")


def parse_body(payload):
    """The JSON object of an answer's payload, or {}."""
    try:
        body = json.loads(payload) if payload else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
