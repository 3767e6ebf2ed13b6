"""The documented restart of a process that was kill -9'd, run at once. On
machines whose pid 1 reaps orphans late, a killed process stays a zombie for
about 1.5 s and `kill -0` still succeeds on it; scripts that judged "already
runs" that way refused to start it again and left it down.

1. The node serves; kill -9 of its pid and, as soon as it is dead (gone or
   a zombie: no pause for the reaping), `node.sh start`: it must exit 0, and
   a node with a new pid must answer GET /readyz 200.
2. Then, the new node running, mariadbd, redis-server and the embedded
   Kafka broker in turn: kill -9 and at once `deps.sh start <part>`,
   which must exit 0 with a new pid in the pid file, and the part must
   serve again: mariadbd answers `mariadb-admin ping` and a query, redis-server
   PING on its port, the broker comes back on the same address (its log
   kept) and the node is ready on it again.
3. An issuance through the node then becomes a row in MySQL: the node works
   end to end on the restarted parts.

The log says how many restarts ran while the killed process was still a
zombie; where pid 1 reaps at once there is none and the test proves less.
It ends with every dependency running and the node stopped.

    python3 tests/integration/restart_after_kill.py
"""

import os
import signal
import socket
import subprocess
import sys
import time

import harness as h

REDIS_PORT = int(os.environ.get("DIBS_REDIS_PORT", "16379"))
BOOTSTRAP_FILE = os.path.join(h.RUN_DIR, "kafka.bootstrap")
ENV = dict(os.environ, DIBS_RUN_DIR=h.RUN_DIR, DIBS_HTTP_PORT=str(h.HTTP_PORT),
           DIBS_ADMIN_TOKEN=h.ADMIN_TOKEN)
zombies = 0


def script(name, *args, check=True):
    """Runs cluster-config/`name` with the test environment; fails the test
    on a non-zero exit, with what it printed."""
    done = subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config", name),
                           *args], env=ENV, capture_output=True, text=True,
                          timeout=120)
    if check and done.returncode != 0:
        h.fail(f"{name} {' '.join(args)} exited {done.returncode}: "
               f"{(done.stdout + done.stderr).strip()}")
    return done


def wait_for(what, check, timeout_s=30):
    h.wait_for(what, check, timeout_s)


def kill9(name):
    """kill -9 of `name`; returns its pid once it is dead, counting the kills
    whose process is still a zombie (not reaped) for the restart."""
    global zombies
    pid = h.pid_of(name)
    h.kill9(name)
    if h.running(pid):
        h.fail(f"{name} (pid {pid}) still runs after kill -9")
    zombie = os.path.exists(f"/proc/{pid}")
    zombies += zombie
    h.log(f"kill -9 of {name} (pid {pid}): "
          f"{'a zombie, not reaped yet' if zombie else 'gone'}")
    return pid


def new_pid(name, old, started):
    """The pid in `name`'s pid file: a new one, of a process that runs.
    `started` is the script run that should have started it."""
    pid = h.pid_of(name)
    if pid == old or not h.running(pid):
        said = (started.stdout + started.stderr).strip().splitlines()
        command = " ".join([os.path.basename(started.args[1]),
                            *started.args[2:]])
        h.fail(f"{name} was not started again: its pid file names {pid} "
               f"(killed: {old}), {'running' if h.running(pid) else 'dead'}; "
               f"{command} said: {said[0] if said else 'nothing'}")
    return pid


def ready():
    try:
        return h.call("GET", "/readyz")[0] == 200
    except OSError:
        return False


def redis_ping():
    try:
        with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def bootstrap():
    with open(BOOTSTRAP_FILE) as f:
        return f.read().strip()


def follows(servers):
    """A check: the node is ready and /metrics names `servers` as its
    Kafka."""
    def check():
        try:
            status, body, _ = h.call("GET", "/metrics")
        except OSError:
            return False
        return (status == 200 and f'bootstrap="{servers}"' in body
                and ready())
    return check


def restart_node():
    # A node of its own: one left running by an earlier test may not be
    # ready (its dependencies restarted under it).
    h.node("stop")
    h.node("start")
    if not ready():
        h.fail("the node does not answer /readyz 200 before the test")
    old = kill9("node")
    out = script("node.sh", "start")
    pid = new_pid("node", old, out)
    if not ready():
        h.fail(f"node.sh start exited 0 but /readyz is not 200: {out.stdout}")
    h.log(f"node.sh start at once: a new node (pid {pid}) answers /readyz 200")


def restart_mariadb():
    old = kill9("mariadb")
    pid = new_pid("mariadb", old, script("deps.sh", "start", "mariadb"))
    ping = subprocess.run(["mariadb-admin", f"--socket={h.MYSQL_SOCKET}",
                           "ping"], capture_output=True, text=True)
    if ping.returncode != 0:
        h.fail(f"mariadbd does not answer ping: {ping.stdout}{ping.stderr}")
    h.sql("SELECT COUNT(*) FROM coupons")
    h.log(f"deps.sh start mariadb at once: mariadbd (pid {pid}) answers ping "
          "and queries")


def restart_redis():
    old = kill9("redis")
    pid = new_pid("redis", old, script("deps.sh", "start", "redis"))
    if not redis_ping():
        h.fail(f"redis-server does not answer PING on port {REDIS_PORT}")
    h.log(f"deps.sh start redis at once: redis-server (pid {pid}) answers "
          "PING")


def restart_kafka():
    before = bootstrap()
    old = kill9("kafka")
    pid = new_pid("kafka", old, script("deps.sh", "start", "kafka"))
    if bootstrap() != before:
        h.fail(f"the broker came back at {bootstrap()}, not {before}")
    wait_for(f"the node to be ready on the broker at {before} again",
             lambda: ready() and follows(before)(), 60)
    h.log(f"deps.sh start kafka at once: the broker (pid {pid}) serves at "
          f"{before} again and the node is ready")


def issues():
    """An issuance through the node becomes a row in MySQL."""
    coupon = h.create_coupon("restart-after-kill", 10)

    def issued():
        try:
            status, _, _ = h.call("POST", f"/api/coupons/{coupon}/issue",
                                  {"userId": 1})
        except OSError:
            return False
        return status in (201, 202)

    wait_for("an issuance on the restarted dependencies", issued)
    wait_for("its row in MySQL", lambda: h.sql(
        f"SELECT COUNT(*) FROM user_coupons WHERE coupon_id = {coupon}")
        == [["1"]])
    h.log(f"coupon {coupon} issued through the node and written to MySQL")


def main():
    # A test killed by its timeout still runs the finally clause below, or
    # a dependency left down would fail every later test.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        restart_node()
        restart_mariadb()
        restart_redis()
        restart_kafka()
        wait_for("the node to be ready", ready)
        issues()
    finally:
        # What later tests expect: every dependency running (starting what
        # runs is a no-op), the node stopped.
        script("deps.sh", "start", check=False)
        script("node.sh", "stop", check=False)
    h.log(f"every process restarted at once after kill -9 ({zombies} of 4 "
          "still zombies when started again)")


if __name__ == "__main__":
    main()
