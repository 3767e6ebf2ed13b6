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
from collections import Counter, defaultdict

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
    """Every answer the clients got, per (coupon, user)."""

    def __init__(self):
        self.answers = defaultdict(list)  # (coupon, user) -> [(status, body)]
        self.unknown = set()  # pairs with a request that got no answer
        self.statuses = Counter()
        self.sent = 0
        # Requests answered with a decision (not 503): the run's budget.
        self.decided = 0

    def record(self, coupon, user, status, body):
        self.answers[(coupon, user)].append((status, body))
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
            ledger.unknown.add((coupon, user))
            await asyncio.sleep(0.05)
            continue
        ledger.record(coupon, user, status,
                      json.loads(payload) if payload else {})
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
          f"{len(ledger.unknown)} unanswered")
    views = h.wait_drained(totals)
    check(ledger, totals, views, hot)
    h.node("stop")


def check(ledger, totals, views, hot):
    failures = []
    rows = {(int(c), int(u)): int(i) for c, u, i in h.sql(
        "SELECT coupon_id, user_id, issuance_id FROM user_coupons "
        f"WHERE coupon_id BETWEEN {min(totals)} AND {max(totals)}")}
    per_coupon = Counter(c for c, _ in rows)
    stocks = {int(c): int(r) for c, r in h.sql(
        "SELECT coupon_id, remaining_quantity FROM coupon_stocks "
        f"WHERE coupon_id BETWEEN {min(totals)} AND {max(totals)}")}
    dups = h.sql("SELECT user_id, coupon_id, COUNT(*) FROM user_coupons "
                 "GROUP BY user_id, coupon_id HAVING COUNT(*) > 1")
    # 1. No over-issue.
    over = [c for c, n in per_coupon.items() if n > totals[c]]
    if over:
        failures.append(f"over-issued coupons {over}")
    # 2. No duplicate.
    if dups:
        failures.append(f"duplicate (user, coupon) rows {dups[:5]}")
    # 5. Conservation: total - remaining = rows = distinct issuance events in
    # Kafka, in MySQL and in memory.
    in_kafka = h.kafka_counts()
    for c, total in totals.items():
        if in_kafka.get(c, 0) != per_coupon[c]:
            failures.append(f"coupon {c}: {in_kafka.get(c, 0)} distinct "
                            f"events in Kafka != rows {per_coupon[c]}")
        if total - stocks[c] != per_coupon[c]:
            failures.append(f"coupon {c}: total {total} - remaining "
                            f"{stocks[c]} != rows {per_coupon[c]}")
        if views[c]["remainingQuantity"] != stocks[c]:
            failures.append(f"coupon {c}: live remaining "
                            f"{views[c]['remainingQuantity']} != MySQL "
                            f"{stocks[c]}")
    # 3. Nothing acknowledged is lost; ids match.
    acked = lost = 0
    sold_out_seen = set()
    phantoms = 0
    for (c, u), answers in ledger.answers.items():
        yes = [b for s, b in answers if s in (201, 202)]
        for b in yes:
            acked += 1
            if rows.get((c, u)) != b["issuanceId"]:
                lost += 1
        if any(s == 409 and b.get("code") == "ALREADY_ISSUED"
               and rows.get((c, u)) != b.get("issuanceId")
               for s, b in answers):
            failures.append(f"ALREADY_ISSUED for ({c}, {u}) without its row")
        if any(s == 409 and b.get("code") == "SOLD_OUT" for s, b in answers):
            sold_out_seen.add(c)
        # 4. No phantom: only "no" answers and never unanswered, yet a row.
        if not yes and (c, u) not in ledger.unknown and (c, u) in rows \
                and not any(b.get("code") == "ALREADY_ISSUED"
                            for _, b in answers):
            phantoms += 1
    if lost:
        failures.append(f"lost {lost} of {acked} acknowledged issuances")
    if phantoms:
        failures.append(f"{phantoms} rows for requests answered no")
    # 6. No stranded stock where demand exceeded it.
    for c in sold_out_seen:
        if per_coupon[c] != totals[c]:
            failures.append(f"coupon {c} answered SOLD_OUT with "
                            f"{per_coupon[c]} of {totals[c]} issued")
    if hot not in sold_out_seen:
        failures.append("the hot coupon never sold out: demand too low")
    # 7. No error statuses beyond the expected ones.
    unexpected = {s: n for s, n in ledger.statuses.items()
                  if s not in (201, 202, 409, 503)}
    if unexpected:
        failures.append(f"unexpected statuses {unexpected}")
    h.log(f"checked {len(totals)} coupons, {len(rows)} rows: lost 0 of "
          f"{acked} acknowledged" if not lost else "")
    h.log(f"sold out: {len(sold_out_seen)} coupons; rows per coupon total "
          f"{sum(per_coupon.values())}")
    if failures:
        for f in failures[:30]:
            h.log("FAIL:", f)
        raise SystemExit(1)
    h.log("all invariants hold")


if __name__ == "__main__":
    main()
