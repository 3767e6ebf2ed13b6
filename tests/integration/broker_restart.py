"""The embedded Kafka broker is lost while issuances it acknowledged are not
in MySQL yet, and comes back empty on new ports. mariadbd is SIGSTOPped so
the writers cannot write; 200 users are issued a coupon of 300 (each told
202); the broker is kill -9'd and started again; MariaDB resumes. The node
must follow the new bootstrap file, publish the 200 again into the new
log, and its writers must write each exactly once: 200 rows, stock 100,
every told id a row, and the coupon still issues afterwards.

    python3 tests/integration/broker_restart.py
"""

import os
import signal
import subprocess
import time

import harness as h


def pid_of(path):
    with open(os.path.join(h.RUN_DIR, path)) as f:
        return int(f.read().strip())


def wait_for(what, check, timeout_s=90):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    h.fail(f"timed out waiting for {what}")


def main():
    h.node("start")
    coupon = h.create_coupon("broker-restart", 300)
    bootstrap = open(os.path.join(h.RUN_DIR, "kafka.bootstrap")).read().strip()
    mysqld = pid_of("mysql/mysqld.pid")
    os.kill(mysqld, signal.SIGSTOP)
    told = {}
    try:
        for user in range(1, 201):
            status, body, _ = h.call("POST", f"/api/coupons/{coupon}/issue",
                                     {"userId": user})
            if status != 202:
                h.fail(f"user {user}: {status} {body}")
            told[user] = body["issuanceId"]
        h.log(f"200 issuances acknowledged with MariaDB stopped; kill -9 of "
              f"the broker at {bootstrap}")
        kafka = pid_of("kafka/kafka.pid")
        os.kill(kafka, signal.SIGKILL)
        while True:
            try:
                os.kill(kafka, 0)
                time.sleep(0.02)
            except ProcessLookupError:
                break
    finally:
        os.kill(mysqld, signal.SIGCONT)
    subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config", "deps.sh"),
                    "start"], check=True, capture_output=True)
    moved = open(os.path.join(h.RUN_DIR, "kafka.bootstrap")).read().strip()
    h.log(f"the broker is back, empty, at {moved}")
    if moved == bootstrap:
        h.fail("the broker came back on the same ports; nothing is tested")

    def rows():
        return int(h.sql("SELECT COUNT(*) FROM user_coupons "
                         f"WHERE coupon_id = {coupon}")[0][0])
    wait_for("the 200 rows", lambda: rows() >= 200)
    time.sleep(2)  # Anything written twice would show by now.
    ids = dict((int(u), int(i)) for u, i in h.sql(
        f"SELECT user_id, issuance_id FROM user_coupons WHERE coupon_id = {coupon}"))
    remaining = int(h.sql("SELECT remaining_quantity FROM coupon_stocks "
                          f"WHERE coupon_id = {coupon}")[0][0])
    h.log(f"{len(ids)} rows, remaining {remaining}")
    if len(ids) != 200 or remaining != 100:
        h.fail(f"expected 200 rows and 100 remaining, got {len(ids)} and "
               f"{remaining}")
    lost = [u for u, i in told.items() if ids.get(u) != i]
    if lost:
        h.fail(f"{len(lost)} acknowledged issuances lost or changed: {lost[:5]}")
    # The node issues on the new log.
    def issues():
        status, _, _ = h.call("POST", f"/api/coupons/{coupon}/issue",
                              {"userId": 1000})
        return status in (201, 202)
    wait_for("an issuance on the new log", issues, 30)
    wait_for("its row", lambda: rows() == 201, 30)
    status, body, _ = h.call("GET", f"/api/coupons/{coupon}")
    if body["remainingQuantity"] != 99:
        h.fail(f"the node says {body['remainingQuantity']} remain, not 99")
    h.log("lost 0 of 200 acknowledged across the broker's restart; none "
          "written twice")


if __name__ == "__main__":
    main()
