"""A shard the owners' group assigns to this node but that nobody serves
here is taken over again: the node does not wait for the group to move it.

A CI run once left a node in that state after its broker was wiped (every
shard parked, none retaken, every issuance 503 for minutes). The
fault-injection route `drop-shard` gives the same state on purpose: the
node stops serving one coupon's shard as if a newer owner had fenced it,
while the group goes on assigning the shard to it.

Under load from four client threads (six coupons, a new user per request)
and two more issuing coupon A alone, the shard of A is dropped. A's
issuances must then be refused (503, the shard is not served: the fault had
its effect) while the others, in other shards, go on. The requests A's
stopped stock actor held are answered at once (503, outcome unknown), not
by the node's answer deadline 10 s later: a CI run failed when its client
threads, in step, all waited on A for that deadline and saw no 503. Within
RETAKE_WITHIN_S A issues again, from its shard served with a higher epoch.
Then harness.check_stored against every answer the clients got: every told
id a row, exactly once, no row for a definite no, the stock right in MySQL
and in the node. The counts printed are counted from the answers.

    python3 tests/integration/unserved_shard.py
"""

import time

import harness as h

ANSWERS = h.Answers()

# Three owners' group session timeouts (cluster.session-timeout-ms, 2 s)
# pass before the node retakes a shard; a takeover takes about a second.
RETAKE_WITHIN_S = 30


def answered_since(start, coupon, statuses):
    return sum(1 for c, _, s, _, _ in ANSWERS.since(start)
               if c == coupon and s in statuses)


def node_self():
    status, body, _ = h.call("GET", "/admin/api/nodes", token=h.ADMIN_TOKEN)
    if status != 200:
        h.fail(f"/admin/api/nodes answered {status}")
    return next(n for n in body["nodes"] if n.get("self"))


def served():
    """{shard: epoch} this node serves."""
    return {s["shard"]: s["epoch"] for s in node_self()["shards"]}


def main():
    h.node("start")
    # A and five others: the shard of a coupon is a hash of its id, so
    # some of the others are in other shards than A's.
    coupons = [h.create_coupon(f"unserved-shard-{i}", 1_000_000)
               for i in range(6)]
    a, others = coupons[0], coupons[1:]
    totals = {c: 1_000_000 for c in coupons}
    before = served()

    load = h.Clients(ANSWERS, coupons, 1)
    # Two more threads issue A alone, so that A's stock actor holds
    # requests (waiting for Kafka) when its shard is dropped.
    a_load = h.Clients(ANSWERS, [a], 50_000_000, threads=2)
    try:
        h.wait_for("the first acknowledgements",
                 lambda: len(ANSWERS.acknowledged(a)) > 50, 30)
        h.inject_fault("drop-shard", a)
        dropped_at = time.time()
        start = len(ANSWERS)
        dropped = sorted(set(before) - set(served()))
        if len(dropped) != 1:
            h.fail(f"the node served shards {sorted(before)} and serves "
                   f"{sorted(served())} after the fault: not one dropped")
        shard = dropped[0]
        h.wait_for("A refused while its shard is not served",
                 lambda: answered_since(start, a, (503,)) > 0, 10)
        refused = len(ANSWERS)
        h.wait_for("A issuing again", lambda: answered_since(
            refused, a, (201, 202)) > 0, RETAKE_WITHIN_S)
        took = time.time() - dropped_at
        time.sleep(1)
    finally:
        load.stop()
        a_load.stop()
    unavailable = answered_since(start, a, (503,))
    others_yes = sum(answered_since(start, c, (201, 202)) for c in others)
    h.log(f"shard {shard} of coupon {a} dropped under load: A answered 503 "
          f"{unavailable} times and issued again after {took:.1f} s; the "
          f"other coupons issued {others_yes} times meanwhile")
    if others_yes == 0:
        h.fail("no other coupon issued while A's shard was dropped")
    # The requests A's stopped stock actor held were answered when it
    # stopped, not left to the answer deadline (10 s, longer than the wait
    # for a 503 above).
    late = [u for c, u, s, b, _ in ANSWERS.since(start)
            if c == a and s == 503
            and b.get("message", "").startswith("no answer in time")]
    if late:
        h.fail(f"{len(late)} requests for A were answered only by the "
               f"answer deadline after the drop: users {late[:5]}")
    # The node waits for the group to move a shard it gave up before it
    # takes it back (three session timeouts, 6 s).
    if took < 3:
        h.fail(f"A issued again {took:.1f} s after the drop: the shard was "
               "taken back before the group could move it")
    after = served().get(shard)
    if after is None or after <= before[shard]:
        h.fail(f"shard {shard} is served with epoch {after}, not above "
               f"{before[shard]}: it was not taken over again")
    h.log(f"shard {shard} taken over again: epoch {before[shard]} -> "
          f"{after}")

    views = h.wait_drained(coupons)
    time.sleep(2)  # Anything written twice would show by now.
    live = {c: v["remainingQuantity"] for c, v in views.items()}
    tally = h.require_stored(ANSWERS, totals, live, "unserved shard")
    h.log(f"lost {tally['lost']} of {tally['acknowledged']} acknowledged "
          f"({tally['answers']} answers counted)")


if __name__ == "__main__":
    main()
