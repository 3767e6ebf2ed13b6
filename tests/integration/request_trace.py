"""A request id follows an issuance from the gateway through the stock actor
and Kafka into its MySQL row, in the node's JSON log lines (log.level=debug).

- A valid X-Request-Id is kept: echoed in the answer, logged by the gateway
  (received, answered), the stock actor (reserved, stored at a Kafka
  offset) and the writer (written), and stored in the row, which the writer
  made from the Kafka record.
- Without one, or with an invalid one, the node makes one up and uses it
  the same way.
- Every line of the log is a JSON object with ts, level and thread.
"""

import json
import os
import time

import harness as h

NODE_LOG = os.path.join(h.RUN_DIR, "node", "dibs.log")
EVENTS = ["issue.received", "issuance.reserved", "issuance.stored",
          "issuance.written", "issue.answered"]


def issue(coupon, user, request_id=None):
    headers = {"X-Request-Id": request_id} if request_id is not None else {}
    status, body, hdrs = h.call("POST", f"/api/coupons/{coupon}/issue?wait=true",
                                {"userId": user}, headers=headers)
    if status not in (201, 202):
        h.fail(f"issue for user {user}: {status} {body}")
    return hdrs["X-Request-Id"], body


def main():
    # This test's node logs every issuance; later tests start their own.
    h.node("stop")
    start = os.path.getsize(NODE_LOG) if os.path.exists(NODE_LOG) else 0
    h.node("start", "--log.level=debug")
    try:
        coupon = h.create_coupon("trace", 10)
        given = f"trace-{int(time.time() * 1000)}"
        cases = {1: given, 2: None, 3: "not valid: spaces", 4: "x" * 65}
        told = {}
        for user, rid in cases.items():
            echoed, body = issue(coupon, user, rid)
            if rid == given and echoed != given:
                h.fail(f"X-Request-Id {given} came back as {echoed}")
            if rid != given and (echoed == rid or len(echoed) != 15):
                h.fail(f"request id {rid!r} was answered with {echoed!r}")
            told[user] = (echoed, body["issuanceId"])
        h.wait_drained([coupon])
        rows = dict((int(u), (r, int(i))) for u, r, i in h.sql(
            f"SELECT user_id, request_id, issuance_id FROM user_coupons "
            f"WHERE coupon_id = {coupon}"))
        for user, (rid, issuance) in told.items():
            if rows.get(user) != (rid, issuance):
                h.fail(f"user {user}: row {rows.get(user)}, told {(rid, issuance)}")
        h.log(f"4 issuances: the rows hold the request ids the answers carried "
              f"({given!r} kept; none, spaces and 65 characters replaced)")
        # The log: every line JSON; each request's path in it.
        deadline = time.time() + 10
        while True:
            with open(NODE_LOG) as f:
                f.seek(start)
                lines = [line for line in f.read().splitlines() if line]
            seen = {}
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    h.fail(f"not a JSON log line: {line[:300]!r}")
                if not {"ts", "level", "thread"} <= entry.keys():
                    h.fail(f"log line without ts/level/thread: {line[:300]}")
                if "requestId" in entry:
                    seen.setdefault(entry["requestId"], []).append(entry)
            missing = {rid: [e for e in EVENTS if e not in
                             [x["event"] for x in seen.get(rid, [])]]
                       for rid, _ in told.values()}
            if not any(missing.values()) or time.time() > deadline:
                break
            time.sleep(0.2)
        if any(missing.values()):
            h.fail(f"log events missing per request id: {missing}")
        trail = seen[given]
        stored = next(e for e in trail if e["event"] == "issuance.stored")
        written = next(e for e in trail if e["event"] == "issuance.written")
        if not (stored["issuanceId"] == written["issuanceId"] == told[1][1]
                and stored["offset"] >= 0):
            h.fail(f"the trail of {given} disagrees: {trail}")
        h.log(f"{len(lines)} log lines, all JSON; {given}: "
              + " -> ".join(e["event"] for e in trail)
              + f" (Kafka partition {stored['partition']} offset {stored['offset']})")
    finally:
        h.node("stop")


if __name__ == "__main__":
    main()
