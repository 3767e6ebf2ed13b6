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

Each time: every told id a row, exactly once, and the stock right; the
coupons still issue afterwards.

    python3 tests/integration/broker_restart.py
"""

import os
import signal
import subprocess
import sys
import time

import harness as h


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
        status, body, _ = h.call("POST", f"/api/coupons/{coupon}/issue",
                                 {"userId": user})
        if status != 202:
            h.fail(f"coupon {coupon}, user {user}: {status} {body}")
        told[user] = body["issuanceId"]
    return told


def rows(coupon):
    return int(h.sql("SELECT COUNT(*) FROM user_coupons "
                     f"WHERE coupon_id = {coupon}")[0][0])


def check(name, coupon, told, total):
    """Every told id is a row, exactly once, and the stock agrees."""
    wait_for(f"{name}'s {len(told)} rows", lambda: rows(coupon) >= len(told))
    time.sleep(2)  # Anything written twice would show by now.
    ids = dict((int(u), int(i)) for u, i in h.sql(
        "SELECT user_id, issuance_id FROM user_coupons "
        f"WHERE coupon_id = {coupon}"))
    remaining = int(h.sql("SELECT remaining_quantity FROM coupon_stocks "
                          f"WHERE coupon_id = {coupon}")[0][0])
    h.log(f"{name}: {len(ids)} rows, remaining {remaining}")
    if len(ids) != len(told) or remaining != total - len(told):
        h.fail(f"{name}: expected {len(told)} rows and "
               f"{total - len(told)} remaining, got {len(ids)} and "
               f"{remaining}")
    lost = [u for u, i in told.items() if ids.get(u) != i]
    if lost:
        h.fail(f"{name}: {len(lost)} acknowledged issuances lost or changed: "
               f"{lost[:5]}")


def issues_again(name, coupon, user, total, issued):
    """The coupon issues on the new log, and the node counts its stock."""
    def issued_one():
        status, _, _ = h.call("POST", f"/api/coupons/{coupon}/issue",
                              {"userId": user})
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
        told_a = issue(a, range(1, 201))
        told_b = issue(b, range(1, 201))
        h.log("200 issuances of each coupon acknowledged with MariaDB "
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
    check("A (live)", a, told_a, total)
    check("B (crashed)", b, told_b, total)
    issues_again("A", a, 1000, total, 200)
    issues_again("B", b, 1000, total, 200)
    told_a[1000] = int(h.sql("SELECT issuance_id FROM user_coupons "
                             f"WHERE coupon_id = {a} AND user_id = 1000")[0][0])

    # 2. The node and the broker lost together, after A's snapshot.
    before = bootstrap()
    os.kill(mysqld, signal.SIGSTOP)
    try:
        told_a.update(issue(a, range(201, 301)))
        wait_for("A's snapshot of 301 issuances",
                 lambda: snapshot_holds(a, 301), 30)
        h.log("100 more issuances of A acknowledged with MariaDB stopped and "
              "in its snapshot; kill -9 of the node and the broker")
        h.kill9("node")
        h.kill9("kafka")
    finally:
        os.kill(mysqld, signal.SIGCONT)
    restart_broker(before)
    h.node("start")
    check("A (node and broker lost)", a, told_a, total)
    issues_again("A", a, 1001, total, 301)
    h.log("lost 0 of 600 acknowledged across the broker's restarts; none "
          "written twice")


if __name__ == "__main__":
    main()
