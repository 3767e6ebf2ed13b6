"""The embedded Kafka broker is lost while issuances it acknowledged are not
in MySQL yet, and comes back empty on new ports. mariadbd is SIGSTOPped so
the writers cannot write.

1. 200 users each are issued coupons A and B (each told 202). B's stock
   actor is crashed through the fault-injection route, and at once the
   broker is kill -9'd and started again; MariaDB resumes once the node
   follows the new bootstrap file. A's live actor publishes its 200 again
   into the new log, and B's restarted actor must take its 200 from what
   the node kept of the crashed actor (a rebuild from MySQL and the new,
   empty log would sell them again). The writers write each exactly once.
2. 100 more users are issued A; once A's snapshot holds them, the node and
   the broker are kill -9'd together. The restarted node must take those
   100 from the snapshot of the lost log and publish them again.

Each time, through harness.check_stored against every answer the test got
(every request is recorded, the probes too): every told id a row, exactly
once, no row for a pair told no, and the stock right in MySQL and in the
node; the coupons still issue afterwards. The counts printed ("lost X of Y
acknowledged") are counted from the answers and the rows.

    python3 tests/integration/broker_restart.py
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error

import harness as h

# Every issue request's answer: (coupon, user, status, body), status None
# when none came.
ANSWERS = []


def issue_one(coupon, user):
    """One issue request, recorded in ANSWERS; returns (status, body)."""
    try:
        status, body, _ = h.call("POST", f"/api/coupons/{coupon}/issue",
                                 {"userId": user})
    except (OSError, urllib.error.URLError):
        status, body = None, {}
    ANSWERS.append((coupon, user, status, body if isinstance(body, dict)
                    else {}))
    return status, body


def acknowledged(coupon):
    """The users the answers told they hold `coupon`."""
    return {u for c, u, s, b in ANSWERS
            if c == coupon and h.outcome_of(s, b) in ("yes", "held")}


def wait_for(what, check, timeout_s=90):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    h.fail(f"timed out waiting for {what}")


def bootstrap():
    with open(os.path.join(h.RUN_DIR, "kafka.bootstrap")) as f:
        return f.read().strip()


def restart_broker(before):
    subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config", "deps.sh"),
                    "start", "kafka"], check=True, capture_output=True,
                   timeout=60)
    moved = bootstrap()
    h.log(f"the broker is back, empty, at {moved}")
    if moved == before:
        h.fail("the broker came back on the same ports; nothing is tested")


def issue(coupon, users):
    """Issues each user the coupon; each must be told 202. Returns the ids."""
    told = {}
    for user in users:
        status, body = issue_one(coupon, user)
        if status != 202:
            h.fail(f"coupon {coupon}, user {user}: {status} {body}")
        told[user] = body["issuanceId"]
    return told


def rows(coupon):
    return int(h.sql("SELECT COUNT(*) FROM user_coupons "
                     f"WHERE coupon_id = {coupon}")[0][0])


def check(name, coupons, total):
    """Every told id is a row, exactly once, no other row, and the stock
    agrees in MySQL and in the node: harness.check_stored against every
    answer. Returns the tally."""
    for coupon in coupons:
        told = len(acknowledged(coupon))
        wait_for(f"{name}'s {told} rows", lambda: rows(coupon) >= told)
    time.sleep(2)  # Anything written twice would show by now.
    live = {c: h.call("GET", f"/api/coupons/{c}")[1]["remainingQuantity"]
            for c in coupons}
    tally = {}
    violations = h.check_stored(ANSWERS, {c: total for c in coupons},
                                live=live, tally=tally)
    h.report_checks(violations, tally, name)
    if violations:
        h.fail(f"{name}: {len(violations)} violations")
    return tally


def issues_again(name, coupon, user, total, issued):
    """The coupon issues on the new log, and the node counts its stock."""
    def issued_one():
        status, _ = issue_one(coupon, user)
        return status in (201, 202)
    wait_for(f"an issuance of {name} on the new log", issued_one, 30)
    wait_for(f"{name}'s row", lambda: rows(coupon) == issued + 1, 30)
    _, body, _ = h.call("GET", f"/api/coupons/{coupon}")
    if body["remainingQuantity"] != total - issued - 1:
        h.fail(f"{name}: the node says {body['remainingQuantity']} remain, "
               f"not {total - issued - 1}")


def follows(servers):
    """A check: /metrics names `servers` as the node's Kafka."""
    def check():
        status, body, _ = h.call("GET", "/metrics")
        return status == 200 and f'bootstrap="{servers}"' in body
    return check


def snapshot_holds(coupon, count):
    status, body, _ = h.call("GET", f"/admin/api/stock/{coupon}",
                             token=h.ADMIN_TOKEN)
    return status == 200 and body["snapshot"]["issuances"] >= count


def main():
    # A test killed by its timeout still resumes mariadbd (the finally
    # clauses below), or every later test would hang on it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    h.node("start")
    total = 400
    a = h.create_coupon("broker-restart-live", total)
    b = h.create_coupon("broker-restart-crashed", total)
    before = bootstrap()
    mysqld = h.pid_of("mariadb")

    # 1. A live actor and a crashed one across the broker's loss.
    os.kill(mysqld, signal.SIGSTOP)
    try:
        issue(a, range(1, 201))
        issue(b, range(1, 201))
        h.log(f"{len(acknowledged(a))} issuances of A and "
              f"{len(acknowledged(b))} of B acknowledged with MariaDB "
              f"stopped; B's stock actor crashed and kill -9 of the broker "
              f"at {before}")
        status, body, _ = h.call("POST", "/admin/faults",
                                 {"fault": "crash-stock", "couponId": b},
                                 token=h.ADMIN_TOKEN)
        if status != 202:
            h.fail(f"crashing B's stock actor: {status} {body}")
        h.kill9("kafka")
        # MariaDB resumes only once the node writes to the new log: the
        # writers' records of the lost log are dropped then, but for the
        # batch they were writing.
        restart_broker(before)
        wait_for("the node to follow the broker", follows(bootstrap()), 30)
    finally:
        os.kill(mysqld, signal.SIGCONT)
    check("A (live)", [a], total)
    check("B (crashed)", [b], total)
    issues_again("A", a, 1000, total, len(acknowledged(a)))
    issues_again("B", b, 1000, total, len(acknowledged(b)))

    # 2. The node and the broker lost together, after A's snapshot.
    before = bootstrap()
    os.kill(mysqld, signal.SIGSTOP)
    try:
        more = len(issue(a, range(201, 301)))
        held = len(acknowledged(a))
        wait_for(f"A's snapshot of {held} issuances",
                 lambda: snapshot_holds(a, held), 30)
        h.log(f"{more} more issuances of A acknowledged with MariaDB stopped "
              f"and in its snapshot ({held} in all); kill -9 of the node and "
              "the broker")
        h.kill9("node")
        h.kill9("kafka")
    finally:
        os.kill(mysqld, signal.SIGCONT)
    restart_broker(before)
    h.node("start")
    check("A (node and broker lost)", [a], total)
    issues_again("A", a, 1001, total, len(acknowledged(a)))
    tally = check("A and B at the end", [a, b], total)
    h.log(f"lost {tally['lost']} of {tally['acknowledged']} acknowledged "
          f"across the broker's restarts ({tally['answers']} answers "
          f"counted); {tally['violations'].get(h.DUPLICATE, 0)} written twice, "
          f"{tally['phantoms']} phantoms")


if __name__ == "__main__":
    main()
