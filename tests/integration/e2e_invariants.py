"""End to end on real processes: 100 coupons of the reference's quantities
(20 each of 100/500/1,000/2,000/5,000) plus a hot coupon far past its stock,
users drawn from 1..1,000,000 with repeats, at least 200 concurrent
keep-alive connections and at least 100,000 issue requests, with a graceful
restart of the node (SIGTERM, start) in the middle. After the writers drain,
the invariants of PRODUCT.md are checked with SQL against every answer the
clients got.

    python3 tests/integration/e2e_invariants.py [--requests N] [--connections N] [--seed S]
"""

import argparse
import asyncio
import json
import random
import threading
import time
from collections import Counter

import harness as h

QUANTITIES = [100, 500, 1000, 2000, 5000]
HOT_STOCK = 50


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=110_000)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-restart", action="store_true")
    return p.parse_args()


class Ledger:
    """Every answer the clients got: (coupon, user, status, body) in the
    shape harness.check_answers reads, status None for no answer."""

    def __init__(self):
        self.answers = []
        self.statuses = Counter()
        self.unanswered = 0
        self.sent = 0
        # Requests answered with a decision (not 503): the run's budget.
        self.decided = 0

    def record(self, coupon, user, status, body):
        self.answers.append((coupon, user, status, body))
        if status is None:
            self.unanswered += 1
            return
        self.statuses[status] += 1
        if status != 503:
            self.decided += 1


async def virtual_user(rng, ledger, plan, stop_at):
    conn = h.Connection()
    while ledger.decided < stop_at:
        ledger.sent += 1
        coupon, user = plan(rng)
        body = json.dumps({"userId": user}).encode()
        try:
            status, payload = await conn.request(
                "POST", f"/api/coupons/{coupon}/issue", body)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            # No answer: the request may or may not have been decided.
            conn.close()
            ledger.record(coupon, user, None, {})
            await asyncio.sleep(0.05)
            continue
        ledger.record(coupon, user, status, h.parse_body(payload))
        if status == 503:
            # Draining or restarting: back off as Retry-After asks, briefly.
            await asyncio.sleep(0.1)


async def load(ledger, connections, requests, seed, plan):
    rngs = [random.Random(seed * 1000 + i) for i in range(connections)]
    await asyncio.gather(*(virtual_user(r, ledger, plan, requests)
                           for r in rngs))


def main():
    args = parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    h.log(f"seed {seed}: {args.requests} requests on {args.connections} "
          f"connections")
    h.node("start")
    totals = {}
    for q in QUANTITIES:
        for i in range(20):
            totals[h.create_coupon(f"ref-{q}-{i}", q)] = q
    hot = h.create_coupon("hot", HOT_STOCK)
    totals[hot] = HOT_STOCK
    ids = sorted(c for c in totals if c != hot)
    repeat_pool = range(1, 2001)

    def plan(rng):
        # A tenth of the traffic on the hot coupon; a twentieth from a small
        # pool of users, so the same user comes back for the same coupon.
        coupon = hot if rng.random() < 0.1 else rng.choice(ids)
        user = (rng.choice(repeat_pool) if rng.random() < 0.05
                else rng.randint(1, 1_000_000))
        return coupon, user

    ledger = Ledger()
    restarted = threading.Event()

    def restart_midway():
        while ledger.decided < args.requests // 2:
            time.sleep(0.05)
        h.log(f"restart (SIGTERM) after {ledger.decided} decided requests")
        t0 = time.time()
        h.node("stop")
        h.node("start")
        h.log(f"node back after {time.time() - t0:.1f} s")
        restarted.set()

    restarter = None
    if not args.no_restart:
        restarter = threading.Thread(target=restart_midway, daemon=True)
        restarter.start()
    t0 = time.time()
    asyncio.run(load(ledger, args.connections, args.requests, seed, plan))
    elapsed = time.time() - t0
    if restarter:
        restarter.join()
    answered = sum(ledger.statuses.values())
    h.log(f"{ledger.sent} sent, {answered} answered in {elapsed:.1f} s "
          f"({answered / elapsed:.0f}/s); statuses {dict(ledger.statuses)}; "
          f"{ledger.unanswered} unanswered")
    views = h.wait_drained(totals)
    check(ledger, totals, views, hot)
    h.node("stop")


def check(ledger, totals, views, hot):
    """PRODUCT.md's invariants 1-6 through harness.check_stored (rows,
    stock, the node's live stock and the distinct events in Kafka against
    every answer), then this test's own: the hot coupon's demand exceeded
    its stock, and no status outside the contract (7)."""
    tally = {}
    failures = h.check_stored(
        ledger.answers, totals,
        live={c: v["remainingQuantity"] for c, v in views.items()},
        kafka=h.kafka_counts(), tally=tally)
    if hot not in tally["sold_out"]:
        failures.append(("demand", "the hot coupon never sold out: demand "
                                   "too low"))
    unexpected = {s: n for s, n in ledger.statuses.items()
                  if s not in (201, 202, 409, 503)}
    if unexpected:
        failures.append(("statuses", f"unexpected statuses {unexpected}"))
    h.report_checks(failures, tally, "e2e")
    h.log(f"outcomes {tally['outcomes']}")
    if failures:
        raise SystemExit(1)
    h.log("all invariants hold")


if __name__ == "__main__":
    main()
