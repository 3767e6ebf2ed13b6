"""Recovery from Redis snapshots, and from their loss and corruption, under
load. `dibsctl load` drives hundred-coupons at full pressure with its ledger
of every answer while this test kill -9s the node four times; before each
restart it does one thing to the snapshots:

  1. nothing: every coupon must recover from its snapshot;
  2. FLUSHALL: every coupon must be rebuilt from MySQL, and snapshots are
     written again;
  3. a bad checksum on one coupon, an older epoch on another: both detected
     and rebuilt from MySQL, the others recovered from their snapshots;
  4. the chunk list of a coupon deleted: detected (meta without chunks).

When the load ends, dibsctl drains and runs every integrity check against
every answer the clients got; then every coupon's snapshot must hold
exactly its rows (equal, not just no more).

    python3 tests/integration/snapshot_recovery.py [--seconds N]
"""

import argparse
import json
import os
import re
import subprocess
import time

import harness as h

REDIS_PORT = os.environ.get("DIBS_REDIS_PORT", "16379")
NODE_LOG = os.path.join(h.RUN_DIR, "node", "dibs.log")
# snapshot.interval-ms (1 s) and a margin for a machine the load keeps busy.
SNAPSHOT_SETTLE_S = 5


def redis(*args):
    return subprocess.run(["redis-cli", "-p", REDIS_PORT, *map(str, args)],
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def metric(text, name, labels):
    m = re.search(rf'^{name}\{{{labels}\}} (\d+)$', text, re.M)
    return int(m.group(1)) if m else None


def restart_and_count():
    """Starts the node; returns its recovery counters and new log lines."""
    start = os.path.getsize(NODE_LOG)
    h.node("start")
    text = h.call("GET", "/metrics")[1]
    if isinstance(text, (bytes, bytearray)):
        text = text.decode()
    with open(NODE_LOG) as f:
        f.seek(start)
        lines = f.read()
    return (metric(text, "dibs_stock_recoveries_total", 'source="snapshot"'),
            metric(text, "dibs_stock_recoveries_total", 'source="mysql"'),
            lines)


def snapshot_counts(coupons):
    """{coupon: (issuances its snapshot holds, its rows)}; a coupon without
    a snapshot holds 0."""
    ids = ",".join(map(str, coupons))
    rows = {int(c): int(n) for c, n in h.sql(
        "SELECT coupon_id, COUNT(*) FROM user_coupons "
        f"WHERE coupon_id IN ({ids}) GROUP BY coupon_id")}
    # One redis-cli for all: a command per line in, a reply per line out.
    out = subprocess.run(
        ["redis-cli", "-p", REDIS_PORT], check=True, capture_output=True,
        text=True, input="".join(f"HGET dibs:snap:{c}:meta count\n"
                                 for c in coupons)).stdout.split("\n")
    return {c: (int(out[i].strip() or 0), rows.get(c, 0))
            for i, c in enumerate(coupons)}


def busy_coupons(n):
    """The newest coupons that have issuances: the load's own."""
    rows = h.sql("SELECT coupon_id FROM user_coupons GROUP BY coupon_id "
                 f"ORDER BY coupon_id DESC LIMIT {n}")
    return [int(r[0]) for r in rows]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=24)
    args = p.parse_args()
    # A fresh start writes every coupon's snapshot whole under a new epoch,
    # whatever earlier tests did to Redis.
    h.node("stop")
    h.node("start")
    # Long enough for four faults, each a fifth of the run after the node
    # served again.
    load = h.Load("snapshot-report", args.seconds * 2.5, 50)
    started = time.time()
    failures = []

    last = {"restarted": started}

    def step(at, title, damage, check):
        # Each fault comes a fifth of the run after the node served again
        # (a restart takes a session timeout and the recovery: seconds).
        time.sleep(max(0, last["restarted"] + args.seconds * 0.2
                       - time.time()))
        h.kill9("node")
        note = damage()
        snap, mysql, lines = restart_and_count()
        last["restarted"] = time.time()
        h.log(f"{time.time() - started:5.1f} s  kill -9 node; {title}{note}: "
              f"{snap} coupons from snapshots, {mysql} rebuilt from MySQL")
        problem = check(snap, mysql, lines)
        if problem:
            failures.append(f"{title}: {problem}")

    step(args.seconds * 0.2, "snapshots intact", lambda: "",
         lambda snap, mysql, lines:
             None if snap and mysql == 0
             else "expected every coupon from its snapshot")
    step(args.seconds * 0.4, "FLUSHALL", lambda: (redis("FLUSHALL"), "")[1],
         lambda snap, mysql, lines:
             None if snap == 0 and mysql
             else "expected every coupon rebuilt from MySQL")

    def corrupt_two():
        a, b = busy_coupons(2)
        redis("HSET", f"dibs:snap:{a}:meta", "checksum", "12345")
        epoch = int(redis("HGET", f"dibs:snap:{b}:meta", "epoch"))
        redis("HSET", f"dibs:snap:{b}:meta", "epoch", epoch - 1)
        corrupt_two.ids = (a, b, epoch - 1)
        return f" (checksum of coupon {a}, epoch of coupon {b})"

    def detected_two(snap, mysql, lines):
        a, b, old = corrupt_two.ids
        if mysql != 2:
            return f"expected 2 coupons rebuilt, got {mysql}"
        if f"coupon {a}: rebuilding from MySQL: corrupt snapshot (checksum mismatch)" not in lines:
            return f"coupon {a}'s bad checksum not reported"
        if f"coupon {b}: rebuilding from MySQL: snapshot of epoch {old}" not in lines:
            return f"coupon {b}'s stale epoch not reported"
        return None

    step(args.seconds * 0.6, "corrupted", corrupt_two, detected_two)

    def drop_chunks():
        (a,) = busy_coupons(1)
        redis("DEL", f"dibs:snap:{a}:chunks")
        drop_chunks.id = a
        return f" (chunks of coupon {a} deleted)"

    step(args.seconds * 0.8, "chunks lost", drop_chunks,
         lambda snap, mysql, lines:
             None if mysql == 1 and f"coupon {drop_chunks.id}: rebuilding from MySQL: corrupt snapshot" in lines
             else f"expected coupon {drop_chunks.id} rebuilt")

    problem = load.finish()
    if problem:
        failures.append(problem)
    # Once drained, every coupon's snapshot holds exactly its rows: the
    # stock actor's issuances are all stored in Kafka and written to MySQL,
    # and its snapshot takes what is new within snapshot.interval-ms (1 s)
    # of the last write. So wait that long and a margin (SNAPSHOT_SETTLE_S),
    # then snapshot count == rows for every coupon of the load: more is a
    # snapshot holding issuances MySQL lacks, fewer one that stopped
    # following its actor.
    coupons = ([c["couponId"] for c in
                json.load(open(load.report_path))["integrity"]["coupons"]]
               if os.path.exists(load.report_path) else busy_coupons(100))
    deadline = time.time() + SNAPSHOT_SETTLE_S
    while True:
        counts = snapshot_counts(coupons)
        if all(snap == rows for snap, rows in counts.values()) \
                or time.time() > deadline:
            break
        time.sleep(0.2)
    unequal = {c: v for c, v in counts.items() if v[0] != v[1]}
    h.log(f"snapshots against MySQL: {len(counts) - len(unequal)} of "
          f"{len(counts)} coupons' snapshots hold exactly their rows "
          f"({sum(r for _, r in counts.values())} rows)")
    for c, (snap, rows) in sorted(unequal.items())[:10]:
        h.log(f"  coupon {c}: snapshot holds {snap}, MySQL {rows}")
    if unequal:
        failures.append(f"{len(unequal)} snapshots differ from their rows "
                        f"{SNAPSHOT_SETTLE_S} s after the drain")
    if failures:
        h.fail("; ".join(failures))
    h.log("every recovery path was taken and every invariant held")


if __name__ == "__main__":
    main()
