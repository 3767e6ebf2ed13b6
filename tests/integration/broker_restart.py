"""The embedded Kafka broker (Apache Kafka, one broker) is lost under load
while issuances it acknowledged are not in MySQL yet: mariadbd is
SIGSTOPped, so the writers cannot write and every "yes" lives in Kafka
alone.

1. Clients issue coupons A and B from four threads. B's stock actor is
   crashed through the fault-injection route and at once the broker is
   kill -9'd; it is started again 1-2 s later and comes back with its log.
   Meanwhile the node answers 503 (the producer cannot deliver); once the
   broker serves, issuing goes on. MariaDB resumes after the load.
2. Under the same load, the node and the broker are kill -9'd together,
   MariaDB resumes, and both are started again: the restarted node
   recovers from Redis' snapshots and the broker's log.
3. Under the same load, the broker is kill -9'd and its log wiped; it is
   formatted anew (another cluster id) behind the same address. The node
   must notice the other log (dibs_kafka_log_info) and create the topic in
   it, and restart its resolver there (its reader of the lost log once
   hung in librdkafka's destroy, and the resolver with it). MariaDB
   resumes then: the node fences its shards in the new log
   (their epochs are in MySQL), its stock actors publish again what only
   they held, and it issues on the new log.
4. The same again, with redis-server kill -9'd too and the first fence of
   A's shard in the new log made to fail once it is stored
   (fault-injection route, `fail-fence`): the takeover retries with the
   next epoch behind its own first fence, and must still keep the stock
   actors, not recover the shard from MySQL alone without what only they
   held. Some shard's epoch must have risen by two.

Each time, through harness.check_stored against every answer the test got
(every request is recorded): every told id a row, exactly once, no row for
a pair told a definite no, and the stock right in MySQL and in the node;
the coupons issue afterwards. The counts printed ("lost X of Y
acknowledged", the 503s during the outage) are counted from the answers
and the rows.

    python3 tests/integration/broker_restart.py
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import harness as h

ANSWERS = h.Answers()


def wait_for(what, check, timeout_s=90):
    h.wait_for(what, check, timeout_s, interval_s=0.2)


def start_broker():
    t0 = time.time()
    subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config", "deps.sh"),
                    "start", "kafka"], check=True, capture_output=True,
                   timeout=120)
    h.log(f"the broker serves again after {time.time() - t0:.1f} s")


def rows(coupon):
    return int(h.sql("SELECT COUNT(*) FROM user_coupons "
                     f"WHERE coupon_id = {coupon}")[0][0])


def unavailable_since(start):
    """503 answers among those from index `start` on."""
    return sum(1 for _, _, s, _, _ in ANSWERS.since(start) if s == 503)


def accepted_since(start):
    return sum(1 for _, _, s, _, _ in ANSWERS.since(start) if s in (201, 202))


def check(name, coupons, totals):
    """Every told id is a row, exactly once, no other row, and the stock
    agrees in MySQL and in the node: harness.check_stored against every
    answer. Returns the tally."""
    for coupon in coupons:
        told = len(ANSWERS.acknowledged(coupon))
        wait_for(f"{name}: coupon {coupon}'s {told} rows",
                 lambda: rows(coupon) >= told)
    # Reservations left "possibly stored" by the outage hold their units
    # until the resolver reads the log: MySQL catches up with the node.
    views = h.wait_drained(coupons)
    time.sleep(2)  # Anything written twice would show by now.
    live = {c: v["remainingQuantity"] for c, v in views.items()}
    tally = h.require_stored(ANSWERS, {c: totals[c] for c in coupons}, live,
                             name)
    h.log(f"{name}: lost {tally['lost']} of {tally['acknowledged']} "
          f"acknowledged")
    return tally


def issues_again(name, coupon, user):
    """The coupon issues again, and the row lands."""
    def issued_one():
        status, _ = ANSWERS.issue(coupon, user)
        return status in (201, 202)
    wait_for(f"an issuance of {name} after the restart", issued_one, 60)
    wait_for(f"{name}'s row", lambda: h.sql(
        f"SELECT COUNT(*) FROM user_coupons WHERE coupon_id = {coupon} "
        f"AND user_id = {user}") == [["1"]], 60)


def metric_line(prefix):
    """The rest of the first /metrics line that starts with `prefix`; None
    when the node does not answer or has no such line."""
    try:
        status, body, _ = h.call("GET", "/metrics")
    except OSError:
        return None
    for line in body.splitlines() if status == 200 else []:
        if line.startswith(prefix):
            return line[len(prefix):]
    return None


def log_id():
    """The Kafka cluster the node writes to; None when the node does not
    answer."""
    rest = metric_line("dibs_kafka_log_info{")
    return rest.split('log_id="', 1)[1].split('"', 1)[0] if rest else None


def resolver_restarts():
    """How often the supervisor restarted the resolver (its board)."""
    status, body, _ = h.call("GET", "/admin/api/supervision",
                             token=h.ADMIN_TOKEN)
    if status != 200:
        h.fail(f"/admin/api/supervision answered {status}")
    restarts = next((c["restarts"] for c in body["supervisor"]["children"]
                     if c["name"] == "resolver"), None)
    if restarts is None:
        h.fail("the supervisor lists no resolver")
    return restarts


def served_epochs():
    """{shard: epoch} the node serves."""
    status, body, _ = h.call("GET", "/admin/api/nodes", token=h.ADMIN_TOKEN)
    if status != 200:
        h.fail(f"/admin/api/nodes answered {status}")
    me = next(n for n in body["nodes"] if n.get("self"))
    return {s["shard"]: s["epoch"] for s in me["shards"]}


def issuing_again(start):
    """A check: some request sent after index `start` was accepted."""
    return lambda: accepted_since(start) > 0


def wipe_under_load(mysqld, coupons, first_user, before_wipe=None):
    """With MariaDB stopped and clients issuing `coupons` from user
    `first_user` on, the broker kill -9'd, its log wiped and formatted anew
    (another cluster id). MariaDB resumes once the node follows the new
    log: fencing a shard there raises its epoch in MySQL, and what MySQL
    lacks lives only in the stock actors until they publish it again
    there. Returns when issuing goes on in the new log."""
    restarts = resolver_restarts()
    os.kill(mysqld, signal.SIGSTOP)
    try:
        load = h.Clients(ANSWERS, coupons, first_user)
        wait_for("acknowledgements before the wipe",
                 lambda: accepted_since(len(ANSWERS) - 50) > 0)
        time.sleep(2)
        if before_wipe:
            before_wipe()
        before = log_id()
        h.kill9("kafka")
        shutil.rmtree(os.path.join(h.RUN_DIR, "kafka", "1", "data"))
        h.log(f"{sum(len(ANSWERS.acknowledged(c)) for c in coupons)} "
              "issuances acknowledged with MariaDB stopped; the broker "
              f"kill -9'd and its log (cluster {before}) wiped")
        start_broker()
        wait_for("the node to follow the new cluster",
                 lambda: log_id() not in (before, None), 60)
        os.kill(mysqld, signal.SIGCONT)
        h.log("MariaDB resumed once the node followed the new log")
        # The resolver restarts on the new log (once a search it runs, which
        # may wait for MariaDB, ends). Destroying its reader of the old one
        # hung in librdkafka once, and the resolver with it: "possibly
        # stored" reservations then held their units for good.
        wait_for("the resolver's restart on the new log",
                 lambda: resolver_restarts() > restarts, 30)
        wait_for("issuing on the new log", issuing_again(len(ANSWERS)), 60)
        time.sleep(1)
        load.stop()
        h.log(f"the node writes to the new cluster {log_id()}")
    finally:
        os.kill(mysqld, signal.SIGCONT)


def main():
    # A test killed by its timeout still resumes mariadbd (the finally
    # clauses below), or every later test would hang on it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    h.node("start")
    # Far more stock than the load can take: every request is a new user
    # and a "yes" unless a fault says otherwise.
    totals = {}
    a = h.create_coupon("broker-restart-a", 1_000_000)
    b = h.create_coupon("broker-restart-b", 1_000_000)
    totals[a] = totals[b] = 1_000_000
    mysqld = h.pid_of("mariadb")

    # 1. The broker lost under load, with a stock actor crashed with it.
    os.kill(mysqld, signal.SIGSTOP)
    try:
        load = h.Clients(ANSWERS, [a, b], 1)
        wait_for("the first acknowledgements", lambda: len(ANSWERS.acknowledged(a)) > 100)
        h.inject_fault("crash-stock", b)
        h.kill9("kafka")
        outage = len(ANSWERS)
        h.log(f"{len(ANSWERS.acknowledged(a))} issuances of A and "
              f"{len(ANSWERS.acknowledged(b))} of B acknowledged with MariaDB "
              "stopped; B's stock actor crashed and the broker kill -9'd")
        time.sleep(1.5)
        start_broker()
        wait_for("issuing after the broker's restart", issuing_again(len(ANSWERS)),
                 60)
        time.sleep(1)
        load.stop()
        h.log(f"{unavailable_since(outage)} requests answered 503 while the "
              "broker was down or coming back")
        if unavailable_since(outage) == 0:
            h.fail("no request was answered 503 while the broker was down: "
                   "the fault had no effect")
    finally:
        os.kill(mysqld, signal.SIGCONT)
    check("broker kill -9", [a, b], totals)
    issues_again("A", a, 10_000_000)
    issues_again("B", b, 10_000_000)

    # 2. The node and the broker lost together under load.
    os.kill(mysqld, signal.SIGSTOP)
    try:
        load = h.Clients(ANSWERS, [a, b], 20_000_000)
        wait_for("more acknowledgements", lambda: accepted_since(0) > 0)
        time.sleep(2)
        h.log(f"{len(ANSWERS.acknowledged(a))} issuances of A and "
              f"{len(ANSWERS.acknowledged(b))} of B acknowledged with MariaDB "
              "stopped; kill -9 of the node and the broker together")
        h.kill9("node")
        h.kill9("kafka")
        load.stop()
    finally:
        os.kill(mysqld, signal.SIGCONT)
    start_broker()
    h.node("start")
    check("node and broker kill -9", [a, b], totals)
    issues_again("A", a, 30_000_000)
    issues_again("B", b, 30_000_000)

    # 3. The broker replaced by an empty one behind the same address: its
    # data wiped, formatted anew (a new cluster id). The node must notice
    # the other log, create the topic in it and publish again every
    # issuance MySQL lacks.
    wipe_under_load(mysqld, [a, b], 40_000_000)
    check("broker replaced by an empty one", [a, b], totals)
    issues_again("A", a, 50_000_000)
    issues_again("B", b, 50_000_000)

    # 4. The same, but the first fence of A's shard in the new log fails
    # after it was stored (fault fail-fence): the takeover retries with the
    # next epoch, behind its own first fence. The shard is still this
    # node's, and its stock actors must publish again what only they held.
    # Without Redis, a shard recovered instead of resumed has only MySQL,
    # which lacks every issuance since MariaDB stopped.
    def fail_a_fence():
        h.inject_fault("fail-fence", a)
        h.kill9("redis")
        h.log("A's next fence armed to fail; redis-server kill -9'd")

    epochs = served_epochs()
    try:
        wipe_under_load(mysqld, [a, b], 60_000_000, before_wipe=fail_a_fence)
    finally:
        subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config",
                                             "deps.sh"), "start", "redis"],
                       check=True, capture_output=True, timeout=60)
    after = served_epochs()
    twice = sorted(p for p in epochs if after.get(p, 0) >= epochs[p] + 2)
    h.log(f"shard epochs {epochs} -> {after}: fenced twice {twice}")
    warnings = h.node_log_warnings(count=5000)
    if not any("(fault injected)" in w for w in warnings):
        h.fail("no fence failed with the fault injected: it had no effect")
    if not twice:
        h.fail("no shard was fenced twice in the new log")
    # Each such shard serves again with its actors, not recovered anew.
    for p in twice:
        resumed = f"shard {p} serves in the new Kafka log with epoch {after[p]}"
        if not any(resumed in w for w in warnings):
            h.fail(f"shard {p}, fenced twice, was not resumed with its stock "
                   f"actors (no log line: {resumed})")
    check("a fence failed in the new log", [a, b], totals)
    issues_again("A", a, 70_000_000)
    issues_again("B", b, 70_000_000)
    tally = check("A and B at the end", [a, b], totals)
    h.log(f"lost {tally['lost']} of {tally['acknowledged']} acknowledged "
          f"across the broker's restarts ({tally['answers']} answers "
          f"counted); {tally['violations'].get(h.DUPLICATE, 0)} written twice, "
          f"{tally['phantoms']} phantoms")


if __name__ == "__main__":
    main()
