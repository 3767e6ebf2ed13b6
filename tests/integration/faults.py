"""Fault injection on real processes under load. `dibsctl load` drives
hundred-coupons at full pressure (demand far above the stock of its 100-unit
coupons), with its ledger of every answer, while this test kill -9s and
restarts processes at random instants: the node (several times), mariadbd,
redis-server and the embedded Kafka broker (which comes back with its log); SIGSTOPs
and SIGCONTs the node (a paused owner is the classic zombie), mariadbd,
redis-server and the embedded Kafka broker; and, through the node's
fault-injection route, crashes a stock actor, a writer and the snapshotter
(the supervisor restarts them) and raises a fatal error in the Kafka producer
(it is replaced). Two pairs of faults overlap: redis-server is down while a
stock actor crashes (it recovers without its snapshot), and mariadbd is
kill -9'd and restarted while the broker is SIGSTOPped.

Each fault must have had its effect, or the test fails: a broker SIGSTOP
(while four client threads of the test issue a coupon of its own with
stock to spare, since the load's may be sold out by then) makes delivery
reports "possibly stored" (dibs_kafka_delivery_reports_total
{outcome="unknown"}), and by quiescence the node's last process has
resolved as many from the log (dibs_resolutions_total; a broker pause is
always scheduled after the last node kill, whose restart zeroes the
counters); each crash raises dibs_supervisor_restarts_total for its kind;
a node kill -9 gives a new pid that serves; a paused node answers nothing
for longer than the clients' request timeout, then is ready again under
the same pid; with redis-server down /readyz says 200 with "redis"
degraded, and nothing degraded once it is back.

When the load ends, dibsctl waits for the writers to drain and runs its
integrity checks against every answer the clients got: nothing over-issued,
no duplicates, nothing acknowledged lost, no phantoms (a definite "no",
503 UNAVAILABLE included, that became a row), conservation exact, no
stranded stock. Only 503 OUTCOME_UNKNOWN, a client timeout or a lost
connection leave a request undecided; the test prints how many of each and
fails on any answer outside the contract (other_status). At quiescence the
node's last process must have resolved at least as many issuances as it had
delivery reports end "possibly stored".

The probe coupon's answers get the same checks (harness.check_stored).

    python3 tests/integration/faults.py [--seed S] [--seconds N]
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import harness as h

# The load's client request timeout (harness.Load passes
# --request-timeout-ms 5000).
CLIENT_TIMEOUT_S = 5.0
# How long the node is SIGSTOPped: past the clients' 5 s request timeout
# (every request in flight ends "timeout", undecided), past the producer's
# 5 s message timeout (records it sent before the pause come back failed or
# "possibly stored" once it runs again) and past the writers' 6 s Kafka
# session timeout (the broker evicts their consumer, which must rejoin), but
# below the node's own 10 s answer deadline (http.answer-timeout-ms), so
# that what it owed before the pause is still answered, late.
PAUSE_NODE_S = 8.0
# The broker SIGSTOP: past the producer's 5 s message timeout.
PAUSE_BROKER_S = 7.0

LOAD = None       # The running `dibsctl load`, ended if the test fails.
EFFECTS = []      # What each fault did, printed at the end.
UNKNOWN_MADE = []  # (node pid, possibly stored reports) of each broker pause
# Per node pid: reservations in flight (dibs_stock_in_flight: outcome not
# settled, whatever the holder's phase) of the stock actors a fault crashed. A crashed actor's restart settles them by recovery, not by
# a resolution, and their delivery reports reach no actor: so many
# "possibly stored" reports of that lifetime may go without a resolution.
CRASH_ALLOWANCE = {}
# A coupon of the test's own with stock to spare, issued by client threads
# of the test only while the broker is paused: the load's coupons may all
# be sold out by then (seed 670050354 in CI, on the faster real broker),
# and a pause with nothing to produce has no effect to check. Its answers
# are checked at the end like the load's.
PROBE = {"coupon": None, "clients": None, "next_user": 1}
PROBE_ANSWERS = h.Answers()
PROBE_STOCK = 1_000_000


def fail(message):
    if LOAD is not None and LOAD.proc.poll() is None:
        LOAD.proc.kill()
    if PROBE["clients"] is not None:
        PROBE["clients"].stopped.set()
    h.fail(message)


def probe_check():
    """Every answer the probe clients got, against MySQL: harness'
    check_stored, as for any other test."""
    coupon = PROBE["coupon"]
    views = h.wait_drained([coupon])
    tally = {}
    violations = h.check_stored(PROBE_ANSWERS.for_checks(),
                                {coupon: PROBE_STOCK},
                                live={coupon: views[coupon]["remainingQuantity"]},
                                tally=tally)
    h.report_checks(violations, tally, "probe coupon")
    if violations:
        fail(f"probe coupon: {len(violations)} violations")


def deps(command, *parts):
    subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config", "deps.sh"),
                    command, *parts], check=True, capture_output=True)


def inject(fault, **extra):
    status, body, _ = h.call("POST", "/admin/faults", {"fault": fault, **extra},
                             token=h.ADMIN_TOKEN)
    if status != 202:
        fail(f"injecting {fault}: {status} {body}")


def get(path, timeout_s=3.0):
    """GET with a short timeout: (status, text), or (None, None) when the
    node does not answer (down, restarting or paused)."""
    try:
        with urllib.request.urlopen(f"{h.BASE}{path}", timeout=timeout_s) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except (OSError, socket.timeout):
        return None, None


def node_pid():
    try:
        return h.pid_of("node")
    except (OSError, ValueError):
        return None


def scrape():
    """(pid, {"name{labels}": value}) of the node, or (None, None). The pid
    is the pid file's before and after the scrape, so the counters are
    those of that process's lifetime (they start at 0 with each)."""
    pid = node_pid()
    status, text = get("/metrics")
    if status != 200 or pid is None or node_pid() != pid:
        return None, None
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                values[key] = float(value)
            except ValueError:
                pass
    return pid, values


def unknown_reports(m):
    return m.get('dibs_kafka_delivery_reports_total{outcome="unknown"}', 0)


def resolutions(m):
    return (m.get('dibs_resolutions_total{stored="true"}', 0)
            + m.get('dibs_resolutions_total{stored="false"}', 0))


def restarts(m, kind):
    return m.get(f'dibs_supervisor_restarts_total{{kind="{kind}"}}', 0)


def scrape_now(what, timeout_s=30):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        pid, m = scrape()
        if m is not None:
            return pid, m
        time.sleep(0.2)
    fail(f"{what}: the node's /metrics did not answer within {timeout_s} s")


def readyz():
    """(status, body as JSON or None)."""
    status, text = get("/readyz", timeout_s=5)
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, None


def wait_ready(what, timeout_s=60, degraded=None):
    """Waits for /readyz 200 (with `degraded` exactly, if given); returns
    the seconds it took."""
    t0 = time.time()
    while True:
        status, body = readyz()
        if status == 200 and (degraded is None or (
                isinstance(body, dict) and body.get("degraded") == degraded)):
            return time.time() - t0
        if time.time() - t0 > timeout_s:
            fail(f"{what}: /readyz was not 200"
                 f"{'' if degraded is None else f' with degraded {degraded}'}"
                 f" within {timeout_s} s (last: {status} {body})")
        time.sleep(0.2)


# --- the node's counters over its lifetimes ---------------------------------

class Sampler(threading.Thread):
    """Scrapes /metrics every second and keeps the last scrape of each node
    pid: what each process lifetime counted until it was killed."""

    def __init__(self):
        super().__init__(daemon=True)
        self.last = {}   # pid -> metrics
        self.order = []  # pids in the order they were seen
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pid, m = scrape()
            if m is not None:
                if pid not in self.last:
                    self.order.append(pid)
                self.last[pid] = m
            self.stop.wait(1)


# --- faults -----------------------------------------------------------------

def kill_node(rng):
    """kill -9 of the node and its restart: a new pid that serves. First
    the restarts due are counted: the counters die with the process."""
    settle_restarts(superseded=True)
    old = node_pid()
    h.kill9("node")
    time.sleep(rng.uniform(0.2, 1.5))
    h.node("start")
    new = node_pid()
    if new == old or not h.running(new):
        fail(f"kill -9 node: pid {old} before, {new} after "
             f"({'running' if new and h.running(new) else 'not running'})")
    pid, _ = scrape_now("kill -9 node")
    if pid != new:
        fail(f"kill -9 node: /metrics answered for pid {pid}, not {new}")
    EFFECTS.append(f"kill -9 node: pid {old} -> {new}, serving")


def pause_node(rng):
    """SIGSTOP of the node for PAUSE_NODE_S, then SIGCONT: a paused owner
    that comes back. A probe sent at the start of the pause must get no
    answer within the clients' request timeout (the pause outlasts it); the
    fault ends when /readyz is 200 again, under the same pid (nothing
    restarted it)."""
    pid = node_pid()
    probe = {}

    def send_probe():
        t = time.time()
        probe["status"], _ = get("/healthz", timeout_s=CLIENT_TIMEOUT_S)
        probe["after"] = time.time() - t

    t0 = time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        # The signal takes effect asynchronously: the process is stopped
        # (state T) once every thread of it is.
        while True:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            state = stat[stat.rfind(b")") + 1:].split()[0]
            if state == b"T" or time.time() - t0 > 1:
                break
            time.sleep(0.01)
        prober = threading.Thread(target=send_probe)
        prober.start()
        time.sleep(max(0, PAUSE_NODE_S - (time.time() - t0)))
    finally:
        os.kill(pid, signal.SIGCONT)
    prober.join()
    if state != b"T":
        fail(f"SIGSTOP node: pid {pid} was in state {state.decode()}, not T")
    if probe["status"] is not None:
        fail(f"SIGSTOP node: a probe sent at the start of the pause was "
             f"answered {probe['status']} after {probe['after']:.1f} s, "
             f"within the clients' {CLIENT_TIMEOUT_S:.0f} s timeout")
    took = wait_ready("SIGSTOP node", timeout_s=60)
    if node_pid() != pid or not h.running(pid):
        fail(f"SIGSTOP node: pid {pid} did not come back (now {node_pid()})")
    EFFECTS.append(f"SIGSTOP node {PAUSE_NODE_S:.0f} s: a probe got no answer "
                   f"in {CLIENT_TIMEOUT_S:.0f} s; ready again {took:.1f} s "
                   f"after SIGCONT, same pid {pid}")


def stored_reports(m):
    return m.get('dibs_kafka_delivery_reports_total{outcome="stored"}', 0)


def stop_broker(what, timeout_s=30):
    """Starts issuing the probe coupon, waits until the broker stores its
    records, then SIGSTOPs the broker, so records are in flight to it;
    returns the node's counters from before the pause. Right after a broker
    restart or a new producer, records of the probe's partition may not
    leave the node yet, though others do (seed 348160415: a producer
    replaced, then the pause): records that never left end "not stored" in
    a pause, not "possibly stored". So the probe itself must have been
    acknowledged, after the counters were read."""
    coupon = PROBE["coupon"]
    _, m0 = scrape_now(what)
    start = len(PROBE_ANSWERS)
    PROBE["clients"] = h.Clients(PROBE_ANSWERS, [coupon], PROBE["next_user"])
    deadline = time.time() + timeout_s
    while True:
        before = scrape_now(what)
        acknowledged = any(c == coupon and s in (201, 202)
                           for c, _, s, _, _ in PROBE_ANSWERS.since(start))
        if acknowledged and stored_reports(before[1]) > stored_reports(m0):
            break
        if time.time() > deadline:
            fail(f"{what}: no record stored within {timeout_s} s before the "
                 "pause")
        time.sleep(0.2)
    os.kill(h.pid_of("kafka"), signal.SIGSTOP)
    return before


def stop_probe():
    clients = PROBE["clients"]
    if clients is not None:
        clients.stop()
        PROBE["next_user"] = clients.next_user
        PROBE["clients"] = None


def cont_broker(before, what, timeout_s=10):
    """SIGCONTs the broker. The node must have had delivery reports end
    "possibly stored" (records sent to a broker that did not answer within
    the message timeout); they come during the pause, so `timeout_s` after
    SIGCONT is plenty. Their resolution from the log takes longer under the
    load (tens of seconds: the resolver reads the coupon's partition from
    the writers' position, which the pause set back), so it is checked at
    quiescence, against the counters of the same node process."""
    os.kill(h.pid_of("kafka"), signal.SIGCONT)
    pid0, m0 = before
    t0 = time.time()
    while True:
        pid, m = scrape_now(what)
        if pid != pid0:
            fail(f"{what}: the node restarted (pid {pid0} -> {pid}); "
                 "its counters cannot be compared")
        unknown = unknown_reports(m) - unknown_reports(m0)
        if unknown > 0:
            stop_probe()
            UNKNOWN_MADE.append((pid, unknown))
            EFFECTS.append(f"{what}: {unknown:.0f} delivery reports possibly "
                           f"stored (node pid {pid}), "
                           f"{resolutions(m) - resolutions(m0):.0f} resolved "
                           f"{time.time() - t0:.1f} s after SIGCONT")
            return
        if time.time() - t0 > timeout_s:
            fail(f"{what}: no delivery report possibly stored within "
                 f"{timeout_s} s of SIGCONT (a broker pause past the "
                 "message timeout must make some)")
        time.sleep(0.5)


def pause_broker(rng):
    what = f"SIGSTOP broker {PAUSE_BROKER_S:.0f} s"
    before = stop_broker(what)
    time.sleep(PAUSE_BROKER_S)
    cont_broker(before, what)


def follows_kafka(bootstrap):
    """The node is ready and writes to the brokers in `bootstrap`."""
    try:
        ready, _, _ = h.call("GET", "/readyz")
        status, body, _ = h.call("GET", "/metrics")
    except OSError:
        return False  # The node is restarting.
    return ready == 200 and status == 200 and any(
        line.startswith("dibs_kafka_log_info{")
        and f'bootstrap="{bootstrap}"' in line for line in body.splitlines())


def kill_broker(rng):
    """kill -9 of the embedded broker: it comes back on the same address
    with its log. The fault ends once the node is ready on it again."""
    h.kill9("kafka")
    time.sleep(rng.uniform(0.5, 2))
    deps("start")
    with open(os.path.join(h.RUN_DIR, "kafka.bootstrap")) as f:
        bootstrap = f.read().strip()
    deadline = time.time() + 60
    while not follows_kafka(bootstrap):
        if time.time() > deadline:
            fail("the node was not ready on the restarted broker within 60 s")
        time.sleep(0.1)
    time.sleep(2)


# Restarts the crash faults asked for and the node has not counted yet:
# (what, node pid, kind, the count that means done, when). A stock actor's
# restart waits the supervisor's 6 s (the message timeout and the resolve
# grace) and then its recovery, so the next fault does not wait for it: a
# node kill does (its counters go with the process), and so does the end of
# the schedule.
RESTARTS_DUE = []
RESTART_TIMEOUT_S = 90


def settle_restarts(final=False, superseded=False):
    """Waits until the node counted every restart due; fails when one is
    not within RESTART_TIMEOUT_S of its fault. A stock actor's restart is
    waited for only at quiescence (`final`, after the load): under load its
    recovery's Kafka scan can time out again and again (seen 90 s and more
    in this workplace; the closing note of issue 14 names it), and a node
    kill (`superseded`) restarts every stock actor anyway."""
    if superseded:
        for r in [r for r in RESTARTS_DUE if r[2] == "stock"]:
            RESTARTS_DUE.remove(r)
            EFFECTS.append(f"{r[0]}: stock actor not restarted yet when the "
                           "node was killed (the node's restart recovers it)")
    if final:
        for i, r in enumerate(RESTARTS_DUE):
            if r[2] == "stock":
                RESTARTS_DUE[i] = r[:4] + (max(r[4], time.time()),)
    while [r for r in RESTARTS_DUE if final or r[2] != "stock"]:
        pid, m = scrape_now("waiting for restarts")
        for r in [r for r in RESTARTS_DUE if final or r[2] != "stock"]:
            what, pid0, k, target, t0 = r
            if pid != pid0:
                fail(f"{what}: the node restarted (pid {pid0} -> {pid}) "
                     f"before it counted the restart of kind {k}")
            if restarts(m, k) >= target:
                RESTARTS_DUE.remove(r)
                EFFECTS.append(f"{what}: restarts{{kind=\"{k}\"}} reached "
                               f"{target:.0f} {time.time() - t0:.1f} s after "
                               "the fault")
            elif time.time() - t0 > RESTART_TIMEOUT_S:
                lag = {k2: v for k2, v in m.items()
                       if k2.startswith("dibs_writer_lag_records")}
                fail(f"{what}: dibs_supervisor_restarts_total{{kind=\"{k}\"}} "
                     f"still {restarts(m, k):.0f} (not {target:.0f}) "
                     f"{RESTART_TIMEOUT_S} s after the fault; writer lag "
                     f"{lag}")
        time.sleep(0.5)


def crash(what, kind, fault, **extra):
    """Injects `fault`; the supervisor (or, for the producer, its guard)
    must then count a restart of `kind` (settle_restarts): one more than
    the count before, or than what a crash of that kind still due waits
    for."""
    pid0, m0 = scrape_now(what)
    if "couponId" in extra:
        # What its reports may count and no resolution will: its
        # reservations whose outcome is not settled, a holder the writers
        # committed before its report included.
        held = m0.get(f'dibs_stock_in_flight{{coupon="{extra["couponId"]}"}}',
                      0)
        CRASH_ALLOWANCE[pid0] = CRASH_ALLOWANCE.get(pid0, 0) + held
    inject(fault, **extra)
    target = max([restarts(m0, kind)] + [r[3] for r in RESTARTS_DUE
                                         if r[1] == pid0 and r[2] == kind]) + 1
    RESTARTS_DUE.append((what, pid0, kind, target, time.time()))


def crash_stock(rng, what="crash a stock actor"):
    """Crashes the stock actor of one of the load's busiest coupons. The
    next fault may follow at once: a broker coming back empty before the
    actor's restart (seed 77354008) is what the node's ledger of accepted
    issuances is for (docs/recovery.md)."""
    rows = h.sql("SELECT id FROM coupons ORDER BY id DESC LIMIT 100")
    crash(what, "stock", "crash-stock", couponId=int(rng.choice(rows)[0]))


def redis_down(what):
    """kill -9 of redis-server; /readyz must stay 200 and name Redis as
    degraded (issuing does not need it)."""
    h.kill9("redis")
    wait_ready(f"{what}, Redis down", timeout_s=10, degraded=["redis"])


def redis_up(what):
    deps("start", "redis")
    took = wait_ready(f"{what}, Redis back", timeout_s=30, degraded=[])
    EFFECTS.append(f"{what}: /readyz 200 degraded [\"redis\"] while down, "
                   f"[] {took:.1f} s after the restart")


def kill_redis(rng):
    what = "kill -9 redis-server"
    redis_down(what)
    time.sleep(rng.uniform(0.5, 2))
    redis_up(what)


def redis_down_crash_stock(rng):
    """Overlap: a stock actor crashes while Redis is down, so it recovers
    without reading its snapshot; Redis comes back after its restart."""
    what = "redis down + crash a stock actor"
    redis_down(what)
    time.sleep(rng.uniform(0.2, 1))
    crash_stock(rng, what)
    time.sleep(rng.uniform(0.2, 1))
    redis_up(what)


def broker_stopped_kill_mariadb(rng):
    """Overlap: the broker is SIGSTOPped and, while it is, mariadbd is
    kill -9'd and restarted (in a thread: its restart may outlast the
    pause). Both end before the fault does; the possibly stored records
    must be resolved as in the broker's own pause."""
    what = f"SIGSTOP broker {PAUSE_BROKER_S:.0f} s + kill -9 mariadbd"
    kill_after = rng.uniform(1, 3)
    down_for = rng.uniform(0.5, 2)
    errors = []

    def mariadb():
        try:
            h.kill9("mariadb")
            time.sleep(down_for)
            deps("start", "mariadb")
        except Exception as err:  # noqa: BLE001 (reported by the main thread)
            errors.append(err)

    before = stop_broker(what)
    t0 = time.time()
    time.sleep(kill_after)
    other = threading.Thread(target=mariadb)
    other.start()
    time.sleep(max(0, PAUSE_BROKER_S - (time.time() - t0)))
    try:
        cont_broker(before, what)
    finally:
        other.join()
    if errors:
        fail(f"{what}: restarting mariadbd: {errors[0]}")


def mariadb_restart(rng):
    h.kill9("mariadb")
    time.sleep(rng.uniform(0.5, 2))
    deps("start")


def sigstop(name, seconds):
    def fault(rng):
        os.kill(h.pid_of(name), signal.SIGSTOP)
        time.sleep(seconds)
        os.kill(h.pid_of(name), signal.SIGCONT)
    return fault


FAULTS = {
    "kill -9 node, restart": kill_node,
    f"SIGSTOP node {PAUSE_NODE_S:.0f} s": pause_node,
    "kill -9 mariadbd, restart": mariadb_restart,
    "SIGSTOP mariadbd 3 s": sigstop("mariadb", 3),
    "kill -9 redis-server, restart": kill_redis,
    "crash a stock actor": crash_stock,
    "crash a writer": lambda rng: crash("crash a writer", "writer",
                                        "crash-writer"),
    # The snapshotter counts as kind "other".
    "crash the snapshotter": lambda rng: crash("crash the snapshotter",
                                               "other", "crash-snapshotter"),
    "fatal error in the Kafka producer": lambda rng: crash(
        "fatal error in the Kafka producer", "producer", "producer-fatal"),
    "SIGSTOP redis-server 2 s": sigstop("redis", 2),
    "kill -9 the Kafka broker, restart": kill_broker,
    # Longer than the producer's message timeout (5 s): deliveries fail or
    # end "possibly stored", and the stock actors resolve them from the log.
    f"SIGSTOP the Kafka broker {PAUSE_BROKER_S:.0f} s": pause_broker,
    # Overlapping pairs: the second starts while the first is active.
    "kill -9 redis-server; crash a stock actor meanwhile":
        redis_down_crash_stock,
    f"SIGSTOP the Kafka broker {PAUSE_BROKER_S:.0f} s; kill -9 mariadbd, "
    "restart meanwhile": broker_stopped_kill_mariadb,
}
# The faults that make delivery reports "possibly stored": at least one of
# them must run.
UNKNOWN_MAKERS = {pause_broker, broker_stopped_kill_mariadb}


def outcomes_check(report):
    """Only the unknown-outcome code (and no answer at all) excuses a
    missing decision: prints every outcome's count and the undecided
    requests by cause; returns a failure message or None."""
    totals = {}
    for endpoint in report["endpoints"].values():
        for name, n in endpoint["outcomes"].items():
            totals[name] = totals.get(name, 0) + n
    h.log("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    issue = {}
    for name in ("issue", "issue?wait=true"):
        for k, v in report["endpoints"].get(name, {}).get("outcomes", {}).items():
            issue[k] = issue.get(k, 0) + v
    causes = {k: issue.get(k, 0)
              for k in ("outcome_unknown", "timeout", "transport_error")}
    integrity = report["integrity"]
    h.log(f"undecided: {integrity['undecidedPairs']} pairs, from issue "
          "requests answered " + ", ".join(f"{k} {v}" for k, v in causes.items())
          + f"; {integrity['rowsOfUndecidedRequests']} became rows; "
          f"definite 503s (unavailable): {issue.get('unavailable', 0)}")
    if totals.get("other_status", 0):
        statuses = {name: e["statuses"] for name, e in report["endpoints"].items()}
        return (f"{totals['other_status']} answers outside the contract "
                f"(other_status); statuses by endpoint: {statuses}")
    if integrity["undecidedPairs"] > sum(causes.values()):
        return (f"{integrity['undecidedPairs']} undecided pairs but only "
                f"{sum(causes.values())} requests answered outcome_unknown, "
                "timeout or transport_error")
    return None


def quiescence_check(seed, timeout_s=30):
    """At quiescence the node's last process has resolved every record it
    was told might be stored (but for what crashed stock actors held), no
    reservation waits any more, and nothing is degraded."""
    deadline = time.time() + timeout_s
    while True:
        pid, m = scrape_now("at quiescence")
        unknown, resolved = unknown_reports(m), resolutions(m)
        allowance = CRASH_ALLOWANCE.get(pid, 0)
        waiting = sum(v for k, v in m.items()
                      if k.startswith("dibs_stock_in_flight{"))
        if resolved >= unknown - allowance and waiting == 0:
            break
        if time.time() > deadline:
            fail(f"at quiescence node pid {pid} resolved {resolved:.0f} of "
                 f"{unknown:.0f} possibly stored delivery reports (allowance "
                 f"for crashed stock actors {allowance:.0f}); {waiting:.0f} "
                 f"reservations still wait (seed {seed})")
        time.sleep(1)
    if not any(p == pid for p, _ in UNKNOWN_MADE) or unknown == 0:
        fail(f"at quiescence node pid {pid} counted {unknown:.0f} possibly "
             "stored reports; no broker pause of its lifetime was seen")
    status, body = readyz()
    if status != 200 or not isinstance(body, dict) or body.get("degraded"):
        fail(f"at quiescence /readyz says {status} {body}, not 200 with "
             "nothing degraded")
    h.log(f"at quiescence node pid {pid}: {resolved:.0f} resolutions >= "
          f"{unknown:.0f} possibly stored - {allowance:.0f} held by crashed "
          f"stock actors; nothing waits; /readyz {body}")


def main():
    global LOAD
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--seconds", type=float, default=150)
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    h.log(f"seed {seed}")
    h.node("start")
    # Before the load's coupons: the stock-actor crashes pick among the
    # newest 100 coupons.
    PROBE["coupon"] = h.create_coupon("faults-probe", PROBE_STOCK)
    sampler = Sampler()
    sampler.start()
    LOAD = h.Load("faults-report", args.seconds, 100, "--seed", str(seed))
    # Node kills three times, the others once each, at random instants
    # over the first half of the run, one after the other (node restarts and
    # the broker's take seconds each, so the last ones land later). The
    # rest of the run keeps the demand going while the last faults heal (a
    # restarted mariadbd took ~20 s in CI, and a "possibly stored" record
    # waits for it): a reservation released after the load ended would be
    # stock no client asked for again.
    schedule = ["kill -9 node, restart"] * 3 + [
        f for f in FAULTS if f != "kill -9 node, restart"]
    rng.shuffle(schedule)
    # The resolutions of "possibly stored" reports are compared at
    # quiescence within the node's last process (its counters start at 0),
    # so a broker pause must come after the last node kill: the kills after
    # the last pause move to just before it (which keeps it early enough
    # not to be skipped).
    last = max(i for i, f in enumerate(schedule) if FAULTS[f] in UNKNOWN_MAKERS)
    later = [f for f in schedule[last + 1:] if f == "kill -9 node, restart"]
    schedule = (schedule[:last] + later + [schedule[last]]
                + [f for f in schedule[last + 1:] if f not in later])
    # The generator first creates its coupons; faults start after that.
    start = time.time() + 3
    slot = (args.seconds * 0.5 - 3) / len(schedule)
    # A fault may take up to ~30 s (the broker's took 28 s in CI): one that
    # would begin later than this is skipped, so that the demand still
    # outlasts the last fault by 30 s.
    last_start = args.seconds - 45
    skipped = []
    ran = []
    for i, fault in enumerate(schedule):
        at = i * slot + rng.uniform(0.5, slot * 0.5)
        time.sleep(max(0, start + at - time.time()))
        began = time.time() - start + 3
        if began > last_start:
            skipped.append(fault)
            continue
        h.log(f"{began:6.1f} s  {fault}")
        FAULTS[fault](rng)
        ran.append(fault)
        took = time.time() - start + 3 - began
        if took >= 1:
            h.log(f"         (took {took:.1f} s)")
    if skipped:
        h.log(f"skipped, the schedule having overrun: {', '.join(skipped)}")
    healing = args.seconds - (time.time() - start + 3)
    h.log(f"last fault over; the load goes on {healing:.0f} s while it heals")
    if healing < 30:
        fail(f"the faults overran their schedule: only {healing:.0f} s of "
             "demand after them (a stranded-stock failure would be the "
             "test's, not the node's)")
    settle_restarts()
    last_kill = max((i for i, f in enumerate(ran)
                     if f == "kill -9 node, restart"), default=-1)
    if not any(FAULTS[f] in UNKNOWN_MAKERS for f in ran[last_kill + 1:]):
        fail("no broker pause ran after the last node kill (skipped: "
             f"{', '.join(skipped) or 'none'}): the possibly stored reports "
             "could not be checked against their resolutions")
    problem = LOAD.finish()
    settle_restarts(final=True)
    sampler.stop.set()
    sampler.join()
    for line in EFFECTS:
        h.log(f"effect: {line}")
    # Each process lifetime's counters, as last seen (a killed one's may
    # miss its last second).
    for pid in sampler.order:
        m = sampler.last[pid]
        h.log(f"node pid {pid}: {unknown_reports(m):.0f} delivery reports "
              f"possibly stored, {resolutions(m):.0f} resolutions, "
              f"restarts stock {restarts(m, 'stock'):.0f} writer "
              f"{restarts(m, 'writer'):.0f} producer "
              f"{restarts(m, 'producer'):.0f} other {restarts(m, 'other'):.0f}")
    unexplained = (outcomes_check(json.load(open(LOAD.report_path)))
                   if os.path.exists(LOAD.report_path) else None)
    if problem:
        fail(f"{problem} (seed {seed})")
    if unexplained:
        fail(f"{unexplained} (seed {seed})")
    quiescence_check(seed)
    probe_check()
    h.log("every invariant held through the faults, and each fault had its "
          "effect")


if __name__ == "__main__":
    try:
        main()
    finally:
        # A fault that raised (a restart script failing, say) leaves no
        # load running behind it.
        if LOAD is not None and LOAD.proc.poll() is None:
            LOAD.proc.kill()
