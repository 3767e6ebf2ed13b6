"""The v1 API contract of PRODUCT.md on a real node: every call, its status
and its JSON fields, the opening window, `?wait=true`, ALREADY_ISSUED with
the existing id, status ACCEPTED then ISSUED, a user's coupons from MySQL,
a coupon creation's Idempotency-Key, coupon ids running out, health,
readiness and metrics.

    python3 tests/integration/api_contract.py
"""

import os
import subprocess
import time

import harness as h

failures = []


def expect(what, cond, detail=""):
    h.log(f"{'ok  ' if cond else 'FAIL'} {what}" + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(what)


def iso(offset_s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


def redis_cli(*args):
    port = os.environ.get("DIBS_REDIS_PORT", "16379")
    return subprocess.run(["redis-cli", "-p", port, *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def readyz_degraded():
    status, body, _ = h.call("GET", "/readyz")
    return status, body.get("degraded") if isinstance(body, dict) else body


def redis_answering_errors():
    """A Redis that answers PING with an error (here NOAUTH: a password
    set under the node) is degraded as one that is down; readiness stays
    200, as issuing does not need Redis."""
    password = "contract-test"
    redis_cli("CONFIG", "SET", "requirepass", password)
    try:
        # The node's connections were made before: cut them, so the new
        # ones meet the password.
        redis_cli("-a", password, "--no-auth-warning", "CLIENT", "KILL",
                  "TYPE", "normal")
        # The first check after the cut finds the old connection dead; the
        # ones after it ask on a new connection, which meets the password.
        deadline = time.time() + 10
        while readyz_degraded() != (200, ["redis"]) and time.time() < deadline:
            time.sleep(0.2)
        got = [readyz_degraded() for _ in range(3)]
        expect("readyz 200 with redis degraded while PING answers NOAUTH",
               got == [(200, ["redis"])] * 3, got)
    finally:
        redis_cli("-a", password, "--no-auth-warning", "CONFIG", "SET",
                  "requirepass", "")
    deadline = time.time() + 10
    while readyz_degraded() != (200, []) and time.time() < deadline:
        time.sleep(0.2)
    got = readyz_degraded()
    expect("readyz 200, nothing degraded, once PING answers PONG again",
           got == (200, []), got)


def idempotent_creation():
    """A creation sent again with its Idempotency-Key gets the coupon made
    the first time, with its live stock; the key with another coupon gets
    422; a malformed key gets 400; none of these makes a coupon."""
    key = f"contract-{time.time_ns()}"
    name = f"keyed-{key}"
    spec = {"name": name, "discount": 1, "totalQuantity": 3}

    def create(body, k):
        return h.call("POST", "/api/coupons", body, token=h.ADMIN_TOKEN,
                      headers={"Idempotency-Key": k})

    def made(name):
        return int(h.sql(f"SELECT COUNT(*) FROM coupons WHERE name = '{name}'")[0][0])

    status, first, hdrs = create(spec, key)
    expect("a keyed creation answers 201", status == 201
           and hdrs.get("Idempotent-Replayed") is None, (status, first))
    cid = first.get("couponId")
    status, body, _ = h.call("POST", f"/api/coupons/{cid}/issue?wait=true",
                             {"userId": 21})
    expect("the keyed coupon issues", status == 201, (status, body))
    status, again, hdrs = create(spec, key)
    expect("the same key again answers the coupon made then, live",
           status == 201 and again.get("couponId") == cid
           and hdrs.get("Idempotent-Replayed") == "true"
           and again.get("issuedQuantity") == 1
           and again.get("remainingQuantity") == 2, (status, again))
    status, body, _ = create(dict(spec, totalQuantity=4), key)
    expect("the key with another coupon answers 422",
           status == 422 and body.get("code") == "IDEMPOTENCY_KEY_REUSED",
           (status, body))
    expect("one coupon made for the key", made(name) == 1
           and h.sql(f"SELECT id FROM coupons WHERE idempotency_key = '{key}'")
           == [[str(cid)]], made(name))
    for bad in ["", "k" * 65, "a b", "a/b"]:
        status, body, _ = create(dict(spec, name=name + "-bad"), bad)
        expect(f"Idempotency-Key {bad!r} answers 400",
               status == 400 and body.get("code") == "BAD_REQUEST",
               (status, body))
    expect("a malformed key makes no coupon", made(name + "-bad") == 0,
           made(name + "-bad"))


def creation_across_a_mysql_kill():
    """A creation that MySQL fails during answers 503 OUTCOME_UNKNOWN; the
    same request again with its key, once MySQL is back, gets one coupon."""
    key = f"mysql-kill-{time.time_ns()}"
    spec = {"name": key, "discount": 1, "totalQuantity": 3}
    h.kill9("mariadb")
    try:
        status, body, hdrs = h.call("POST", "/api/coupons", spec,
                                    token=h.ADMIN_TOKEN,
                                    headers={"Idempotency-Key": key})
        expect("a creation MySQL failed during answers 503 OUTCOME_UNKNOWN",
               status == 503 and body.get("code") == "OUTCOME_UNKNOWN"
               and hdrs.get("Retry-After"), (status, body))
    finally:
        subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config",
                                             "deps.sh"), "start", "mariadb"],
                       check=True, capture_output=True)
    h.wait_for("the node ready again",
               lambda: h.call("GET", "/readyz")[0] == 200, 60)
    answers = []
    for _ in range(2):
        status, body, _ = h.call("POST", "/api/coupons", spec,
                                 token=h.ADMIN_TOKEN,
                                 headers={"Idempotency-Key": key})
        answers.append((status, body.get("couponId")))
    count = h.sql(f"SELECT COUNT(*) FROM coupons WHERE name = '{key}'")
    expect("retried with its key, it makes one coupon",
           count == [["1"]] and answers[0][0] == 201
           and answers[1] == answers[0], (count, answers))


def coupon_ids_exhausted():
    """Once every coupon id an issuance id can hold (up to 2^21 - 1) is
    taken, a creation answers 507 COUPON_IDS_EXHAUSTED and makes nothing
    (AUTO_INCREMENT is raised past the largest for it, then put back)."""
    largest = (1 << 21) - 1
    name = f"past-largest-{time.time_ns()}"
    # A bounded wait for the table's metadata lock: a hang fails the test.
    alter = "SET SESSION lock_wait_timeout = 30; ALTER TABLE coupons AUTO_INCREMENT = "
    h.sql(alter + str(largest + 1))
    try:
        status, body, hdrs = h.call("POST", "/api/coupons",
                                    {"name": name, "discount": 1,
                                     "totalQuantity": 3}, token=h.ADMIN_TOKEN)
    finally:
        # InnoDB sets a value below the largest id to the largest id + 1.
        h.sql(alter + "1")
    expect("a creation past the largest coupon id answers 507",
           status == 507 and body.get("code") == "COUPON_IDS_EXHAUSTED"
           and hdrs.get("Retry-After") is None, (status, body))
    made = h.sql(f"SELECT COUNT(*) FROM coupons WHERE name = '{name}' "
                 f"OR id > {largest}")
    stocks = h.sql(f"SELECT COUNT(*) FROM coupon_stocks WHERE coupon_id > {largest}")
    expect("it made no coupon and no stock row",
           made == [["0"]] and stocks == [["0"]], (made, stocks))
    status, body, _ = h.call("POST", "/api/coupons",
                             {"name": name, "discount": 1, "totalQuantity": 3},
                             token=h.ADMIN_TOKEN)
    expect("with ids left again, the creation makes the coupon",
           status == 201 and 0 < body.get("couponId", 0) <= largest,
           (status, body))


def main():
    h.node("start")
    status, body, _ = h.call("GET", "/healthz")
    expect("healthz 200", status == 200 and body == {"status": "ok"}, body)
    status, body, _ = h.call("GET", "/readyz")
    expect("readyz 200", status == 200
           and body == {"status": "ready", "degraded": []}, body)
    redis_answering_errors()

    status, c, _ = h.call("POST", "/api/coupons",
                          {"name": "contract", "discount": 500,
                           "totalQuantity": 2, "opensAt": iso(-60),
                           "closesAt": iso(3600)}, token=h.ADMIN_TOKEN)
    expect("create 201", status == 201, c)
    fields = {"couponId", "name", "discount", "totalQuantity",
              "remainingQuantity", "issuedQuantity", "opensAt", "closesAt"}
    expect("create answers the coupon", fields <= set(c) and
           c["remainingQuantity"] == 2 and c["issuedQuantity"] == 0, c)
    cid = c["couponId"]
    status, again, _ = h.call("POST", "/api/coupons",
                              {"name": "next", "discount": 1,
                               "totalQuantity": 1}, token=h.ADMIN_TOKEN)
    expect("ids count up", status == 201 and again["couponId"] == cid + 1, again)

    status, body, _ = h.call("POST", f"/api/coupons/{cid}/issue?wait=true",
                             {"userId": 7})
    expect("wait=true answers 201 ISSUED once committed",
           status == 201 and body.get("status") == "ISSUED"
           and body.get("couponId") == cid and body.get("userId") == 7
           and isinstance(body.get("issuanceId"), int), (status, body))
    first_id = body.get("issuanceId")
    rows = h.sql(f"SELECT issuance_id FROM user_coupons WHERE coupon_id = {cid} AND user_id = 7")
    expect("201 means the row is in MySQL", rows == [[str(first_id)]], rows)

    status, body, _ = h.call("POST", f"/api/coupons/{cid}/issue", {"userId": 8})
    expect("async issue answers 202 ACCEPTED",
           status == 202 and body.get("status") == "ACCEPTED", (status, body))
    second_id = body.get("issuanceId")

    status, body, _ = h.call("POST", f"/api/coupons/{cid}/issue", {"userId": 7})
    expect("ALREADY_ISSUED carries the existing id",
           status == 409 and body.get("code") == "ALREADY_ISSUED"
           and body.get("issuanceId") == first_id, (status, body))
    status, body, _ = h.call("POST", f"/api/coupons/{cid}/issue", {"userId": 9})
    expect("SOLD_OUT after the last unit",
           status == 409 and body.get("code") == "SOLD_OUT", (status, body))

    status, body, _ = h.call("GET", f"/api/coupons/{cid}")
    expect("live stock", status == 200 and body["remainingQuantity"] == 0
           and body["issuedQuantity"] == 2, body)

    # Status turns ISSUED once the writers commit.
    deadline = time.time() + 20
    while True:
        status, body, _ = h.call("GET", f"/api/coupons/{cid}/issuances/8")
        if body.get("status") == "ISSUED" or time.time() > deadline:
            break
        time.sleep(0.1)
    expect("status ISSUED after the commit",
           status == 200 and body.get("status") == "ISSUED"
           and body.get("issuanceId") == second_id, (status, body))
    status, body, _ = h.call("GET", f"/api/coupons/{cid}/issuances/9")
    expect("status NOT_ISSUED", status == 404 and body.get("code") == "NOT_ISSUED", body)

    status, body, _ = h.call("GET", "/api/users/7/coupons")
    listed = [x for x in body.get("coupons", []) if x["couponId"] == cid]
    expect("a user's coupons from MySQL",
           status == 200 and len(listed) == 1
           and listed[0]["issuanceId"] == first_id
           and listed[0]["name"] == "contract", body)

    status, later, _ = h.call("POST", "/api/coupons",
                              {"name": "later", "discount": 1, "totalQuantity": 5,
                               "opensAt": iso(3600)}, token=h.ADMIN_TOKEN)
    status, body, _ = h.call("POST", f"/api/coupons/{later['couponId']}/issue",
                             {"userId": 1})
    expect("NOT_OPEN before the window",
           status == 403 and body.get("code") == "NOT_OPEN", (status, body))
    status, over, _ = h.call("POST", "/api/coupons",
                             {"name": "over", "discount": 1, "totalQuantity": 5,
                              "opensAt": iso(-7200), "closesAt": iso(-3600)},
                             token=h.ADMIN_TOKEN)
    status, body, _ = h.call("POST", f"/api/coupons/{over['couponId']}/issue",
                             {"userId": 1})
    expect("CLOSED after the window",
           status == 403 and body.get("code") == "CLOSED", (status, body))

    idempotent_creation()
    creation_across_a_mysql_kill()
    coupon_ids_exhausted()

    status, text, hdrs = h.call("GET", "/metrics")
    expect("metrics in Prometheus text", status == 200
           and hdrs.get("Content-Type", "").startswith("text/plain")
           and 'dibs_http_requests_total{route="issue",status="202"} 1' in text,
           text)
    h.node("stop")
    # A stopped node answers nothing; readiness of a fresh start is back.
    h.node("start")
    status, body, _ = h.call("GET", f"/api/coupons/{cid}")
    expect("state survives a restart", status == 200
           and body["remainingQuantity"] == 0 and body["issuedQuantity"] == 2, body)
    h.node("stop")
    if failures:
        h.fail(f"{len(failures)} checks: {failures}")
    h.log("the API contract holds")


if __name__ == "__main__":
    main()
