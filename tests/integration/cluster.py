"""Three dibs nodes on loopback sharing the coupons (issue 7).

1. The nodes start from one cluster file (written for the test ports) and
   find each other: every node's /admin/api/nodes lists three members up,
   the same owner for every shard, each shard owned once.
2. Coupons created through one gateway are served through all three (the
   owner adopted the ones it owns; the others forward).
3. Demand far above the stock: clients on all three gateways ask for
   random coupons as ever new users (a twentieth from a small pool of
   users who come back), until every coupon has been asked for by at least
   DEMAND_FACTOR times its stock of distinct users and has sold out after
   the fault below healed. Every request's answer is kept (probes too).
4. Node n2 is kill -9'd mid-load, while every coupon still has stock. The
   bound for its coupons' answers through the survivors, from the cluster
   file: n2's connection drops with the process, so the peers mark it down
   at once; were the drop missed, after heartbeat-timeout-ms
   (HEARTBEAT_TIMEOUT_MS = 1000) without an answer to the heartbeats sent
   every 200 ms. So
   - every request for n2's coupons sent through n1 or n3 later than
     KNOWN_DOWN_S (heartbeat timeout + 0.1 s) after the kill must be
     answered 503 UNAVAILABLE (definite: never sent to n2) with
     Retry-After within DEAD_ANSWER_MS = 500 ms: it is answered at once,
     without forwarding (about a millisecond measured; the rest is margin
     for two cores shared by three nodes and the clients);
   - every request for n2's coupons sent through n1 or n3 from the kill on,
     those in flight to n2 at the kill included, must be answered within
     IN_FLIGHT_BOUND_S = forward-timeout-ms (FORWARD_TIMEOUT_MS = 3000) +
     1 s: 503 OUTCOME_UNKNOWN when the connection drops or the forward
     timeout fires, else 503 UNAVAILABLE;
   - the other coupons keep issuing meanwhile (decisions only, no 503).
   n2 restarts, recovers its coupons (snapshot + Kafka tail) and serves
   them again.
5. After the load, with the writers drained: PRODUCT.md's invariants 1-6
   through harness.check_stored against every answer: no coupon
   over-issued, no user twice on a coupon, every acknowledged issuance a
   row with the id the client was told, no phantom (a row whose pair got
   only definite "no"s: only OUTCOME_UNKNOWN or no answer excuses one),
   total - remaining = rows = the node's live stock = distinct Kafka
   events, and no stranded stock: every coupon's demand exceeded its stock,
   so each must end with exactly STOCK rows in MySQL and 0 remaining in
   coupon_stocks (counted, not derived from the node's own arithmetic).
6. A node started with a cluster file that disagrees (another shard count)
   refuses to start.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import time
from collections import defaultdict

import harness as h

BASE_HTTP = h.HTTP_PORT + 100
BASE_ACTOR = h.HTTP_PORT - 4000 + 100
IDS = ["n1", "n2", "n3"]
PORTS = {n: BASE_HTTP + i + 1 for i, n in enumerate(IDS)}
SHARDS = 64
HEARTBEAT_INTERVAL_MS = 200
HEARTBEAT_TIMEOUT_MS = 1000
FORWARD_TIMEOUT_MS = 3000
# The bound of point 4 above.
KNOWN_DOWN_S = HEARTBEAT_TIMEOUT_MS / 1000 + 0.1
DEAD_ANSWER_MS = 500
IN_FLIGHT_BOUND_S = FORWARD_TIMEOUT_MS / 1000 + 1
# A client gives up on an answer after this (the node's own answer
# deadline, http.answer-timeout-ms, is 10 s): then it got no answer.
REQUEST_TIMEOUT_S = 15
COUPONS = 24
STOCK = 100
DEMAND_FACTOR = 4
PER_CLIENT_RATE = 50
PRE_KILL_S = 2.5
REPEAT_POOL = range(1, 301)
CLUSTER_SH = os.path.join(h.ROOT, "cluster-config", "cluster.sh")


def cluster_file(shards=SHARDS):
    path = os.path.join(h.RUN_DIR, f"cluster-test-{shards}.ini")
    nodes = ",\n".join(
        f'  {{id="{n}", http="127.0.0.1:{PORTS[n]}", '
        f'actor="127.0.0.1:{BASE_ACTOR + i + 1}"}}' for i, n in enumerate(IDS))
    with open(path, "w") as f:
        f.write(f"""[cluster]
nodes=[
{nodes}
]
shards={shards}
heartbeat-interval-ms={HEARTBEAT_INTERVAL_MS}
heartbeat-timeout-ms={HEARTBEAT_TIMEOUT_MS}
forward-timeout-ms={FORWARD_TIMEOUT_MS}
[writer]
count=1
[scheduler]
max-threads=1
""")
    return path


def node(action, name, path, *args, check=True):
    return subprocess.run(["bash", CLUSTER_SH, "node", action, name, path,
                           *args], check=check, capture_output=True,
                          text=True)


def call(name, method, path, body=None, token=None):
    return h.call(method, path, body, token=token, port=PORTS[name])


def check_membership():
    owners = None
    for name in IDS:
        status, body, _ = call(name, "GET", "/admin/api/nodes",
                               token=h.ADMIN_TOKEN)
        if status != 200 or len(body["nodes"]) != 3:
            h.fail(f"{name} /admin/api/nodes: {status} {body}")
        health = {m["id"]: m["health"] for m in body["nodes"]}
        if any(v not in ("up", "ready", "joining") for v in health.values()):
            h.fail(f"{name} sees {health}")
        mine = {m["id"]: m["shards"] for m in body["nodes"]}
        if owners is None:
            owners = mine
        elif mine != owners:
            h.fail(f"{name} assigns shards otherwise: {mine} vs {owners}")
    every = sorted(s for shards in owners.values() for s in shards)
    if every != list(range(SHARDS)):
        h.fail(f"shards not owned exactly once: {owners}")
    h.log("three members up on every node; shards "
          + ", ".join(f"{n} {len(s)}" for n, s in owners.items())
          + " — the same map everywhere")


class Load:
    """Clients on every gateway issuing ever new users (and a few who come
    back) on random coupons, each at most PER_CLIENT_RATE requests a second
    (three nodes and the clients share two cores: at full pressure a
    restarted node would recover slowly for lack of CPU, which is not what
    this test is about); keeps every answer."""

    def __init__(self, coupons):
        self.coupons = coupons
        # For the invariants: (coupon, user, status, body), status None for
        # no answer.
        self.answers = []
        # For the timings: (sent, gateway, coupon, status, code,
        # has Retry-After, seconds to the answer).
        self.timed = []
        self.demand = defaultdict(set)  # coupon -> users who asked for it
        self.stop = False
        self.next_user = 1_000_000

    def user(self, rng):
        if rng.random() < 0.05:
            return rng.choice(REPEAT_POOL)
        self.next_user += 1
        return self.next_user

    async def ask(self, conn, gateway, coupon, user):
        """One issue request, recorded; returns its status (None: no
        answer) or raises OSError when it could not be sent."""
        if not conn.writer:
            await conn.open()  # refused: nothing was sent, nothing to record
        sent = time.monotonic()
        self.demand[coupon].add(user)
        try:
            status, headers, payload = await conn.exchange(
                "POST", f"/api/coupons/{coupon}/issue",
                json.dumps({"userId": user}).encode(), REQUEST_TIMEOUT_S)
        except (ConnectionError, OSError, asyncio.IncompleteReadError,
                TimeoutError):
            conn.close()
            status, headers, payload = None, {}, b""
        took = time.monotonic() - sent
        body = h.parse_body(payload)
        self.answers.append((coupon, user, status, body))
        self.timed.append((sent, gateway, coupon, status, body.get("code"),
                           "retry-after" in headers, took))
        return status

    async def client(self, gateway, rng):
        conn = h.AnswerConnection(PORTS[gateway])
        while not self.stop:
            started = time.monotonic()
            try:
                status = await self.ask(conn, gateway, rng.choice(self.coupons),
                                        self.user(rng))
            except OSError:
                conn.close()
                await asyncio.sleep(0.05)
                continue
            if status is None:
                await asyncio.sleep(0.05)
            await asyncio.sleep(max(0.0, 1 / PER_CLIENT_RATE
                                    - (time.monotonic() - started)))

    async def run(self, per_gateway, gateways, seed):
        await asyncio.gather(*(self.client(g, random.Random(seed * 100 + i))
                               for i, g in enumerate(
                                   g for g in gateways
                                   for _ in range(per_gateway))))

    def sold_out_since(self, t):
        """Coupons answered SOLD_OUT to a request sent after `t`."""
        return {a[2] for a in self.timed if a[0] >= t and a[4] == "SOLD_OUT"}


async def load_with_kill(coupons, path, owned_by_n2, seed):
    load = Load(coupons)
    task = asyncio.ensure_future(load.run(3, IDS, seed))
    await asyncio.sleep(PRE_KILL_S)
    sold_before = load.sold_out_since(0)
    pid = int(open(os.path.join(h.RUN_DIR, "n2", "dibs.pid")).read())
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    h.log(f"kill -9 of n2 (pid {pid}) under load, {len(load.answers)} "
          f"requests in; coupons sold out before it: {len(sold_before)}")
    if sold_before & set(owned_by_n2):
        h.fail(f"n2's coupons {sorted(sold_before & set(owned_by_n2))} sold "
               "out before the kill: nothing in flight is tested")
    await asyncio.sleep(KNOWN_DOWN_S + 2)
    # Probes through both survivors: n2's coupons answer at once.
    probe = {g: h.AnswerConnection(PORTS[g]) for g in ("n1", "n3")}
    for i, coupon in enumerate(owned_by_n2[:6]):
        g = ("n1", "n3")[i % 2]
        await load.ask(probe[g], g, coupon, 6_000_000 + i)
    restart = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "bash", CLUSTER_SH, "node", "start", "n2", path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    # Time until n2's coupon issues again through n1.
    serving = None
    probe_user = 7_000_000
    while time.monotonic() - restart < 60:
        probe_user += 1
        status = await load.ask(probe["n1"], "n1", owned_by_n2[0], probe_user)
        if status in (201, 202, 409):
            serving = time.monotonic()
            break
        await asyncio.sleep(0.05)
    out, _ = await proc.communicate()
    if proc.returncode != 0 or serving is None:
        load.stop = True
        await task
        h.fail(f"n2 did not come back: {out.decode()}")
    h.log(f"n2 restarted: its coupons serve again {serving - restart:.2f} s "
          f"after the restart began")
    # Demand goes on until every coupon sold out after n2 came back, each
    # was asked for by DEMAND_FACTOR times its stock of distinct users, and
    # 3 s more (stock released late would be taken by then).
    deadline = time.monotonic() + 120
    all_sold = None
    while True:
        short = [c for c in coupons
                 if len(load.demand[c]) < DEMAND_FACTOR * STOCK]
        unsold = set(coupons) - load.sold_out_since(serving)
        if not short and not unsold:
            all_sold = all_sold or time.monotonic()
            if time.monotonic() - all_sold >= 3:
                break
        if time.monotonic() > deadline:
            load.stop = True
            await task
            h.fail(f"demand did not exceed the stock in time: coupons short "
                   f"of demand {short}, not sold out after the restart "
                   f"{sorted(unsold)}")
        await asyncio.sleep(0.2)
    load.stop = True
    await task
    for c in probe.values():
        c.close()
    demand = [len(load.demand[c]) for c in coupons]
    h.log(f"demand: {len(load.answers)} requests, "
          f"{sum(demand)} (user, coupon) pairs asked for {COUPONS * STOCK} "
          f"coupons in stock ({sum(demand) / (COUPONS * STOCK):.1f}x); "
          f"{min(demand)} to {max(demand)} distinct users per coupon of "
          f"{STOCK}")
    check_dead_owner(load, owned_by_n2, killed, restart)
    # The other coupons kept deciding while n2 was down.
    down = [a for a in load.timed if killed + KNOWN_DOWN_S + 0.5 < a[0] < restart
            and a[2] not in owned_by_n2 and a[1] != "n2"]
    issued = [a for a in down if a[3] in (201, 202)]
    failed = [a for a in down if a[3] not in (201, 202, 409)]
    if not issued or failed:
        h.fail(f"other coupons did not keep issuing while n2 was down: "
               f"{len(issued)} issued, failed {failed[:5]}")
    h.log(f"{len(down)} requests for the other coupons answered while n2 was "
          f"down ({len(issued)} issued, the rest SOLD_OUT or ALREADY_ISSUED), "
          f"none failed")
    return load


def check_dead_owner(load, owned_by_n2, killed, restart):
    """The bound of point 4, over every request for n2's coupons through a
    survivor that was sent between the kill and n2's restart, or was in
    flight at the kill."""
    window = [a for a in load.timed if a[0] < restart
              and (a[0] >= killed or a[0] + a[6] > killed)
              and a[2] in owned_by_n2 and a[1] != "n2"]
    late = [a for a in window if a[0] >= killed + KNOWN_DOWN_S]
    problems = []
    for sent, gateway, coupon, status, code, retry, took in window:
        what = (f"coupon {coupon} via {gateway} sent "
                f"{(sent - killed) * 1000:.0f} ms after the kill: {status} "
                f"{code} in {took * 1000:.0f} ms")
        if status is None or sent + took - max(sent, killed) > IN_FLIGHT_BOUND_S:
            problems.append(f"{what}: not answered within "
                            f"{IN_FLIGHT_BOUND_S:.0f} s")
        elif sent >= killed + KNOWN_DOWN_S:
            if status != 503 or code != "UNAVAILABLE" or not retry \
                    or took * 1000 > DEAD_ANSWER_MS:
                problems.append(f"{what}: not 503 UNAVAILABLE with "
                                f"Retry-After within {DEAD_ANSWER_MS} ms")
        elif status != 503 and sent > killed + 0.1:
            # (Sent before that, n2 may have answered before it died.)
            problems.append(f"{what}: a decision from a dead node")
    if not late:
        problems.append("no request for n2's coupons while it was known down")
    unknown = sum(1 for a in window if a[4] == "OUTCOME_UNKNOWN")
    definite = [a for a in window if a[4] == "UNAVAILABLE"]
    first = min((a[0] + a[6] for a in definite), default=None)
    in_flight = sum(1 for a in window if a[0] < killed)
    waited = sorted(((a[0] + a[6] - max(a[0], killed), a) for a in window),
                    reverse=True)
    h.log(f"n2's coupons through n1 and n3 from the kill: {len(window)} "
          f"requests ({in_flight} in flight at the kill); the slowest "
          "answered " + ", ".join(
              f"{w * 1000:.0f} ms ({a[4]}, sent {(a[0] - killed) * 1000:+.0f}"
              " ms from the kill)" for w, a in waited[:3])
          + f" (bound {IN_FLIGHT_BOUND_S:.0f} s); {unknown} OUTCOME_UNKNOWN, "
          f"{len(definite)} UNAVAILABLE, the first "
          + (f"{(first - killed) * 1000:.0f} ms after the kill" if first
             else "never")
          + f"; sent once known down (>{KNOWN_DOWN_S * 1000:.0f} ms): "
          f"{len(late)}, "
          f"answered in at most "
          f"{max((a[6] for a in late), default=0) * 1000:.1f} ms "
          f"(bound {DEAD_ANSWER_MS} ms)")
    if problems:
        for p in problems[:10]:
            h.log("  " + p)
        h.fail(f"{len(problems)} answers for the dead n2's coupons broke the "
               "bound")


def drained(coupons):
    """Waits until MySQL holds as many rows per coupon as the stock actors
    issued; returns the live views (through n1)."""
    ids = ",".join(map(str, coupons))
    deadline = time.time() + 90
    while True:
        views = {}
        for c in coupons:
            status, body, _ = call("n1", "GET", f"/api/coupons/{c}")
            if status != 200:
                h.fail(f"coupon {c}: {status} {body}")
            views[c] = body
        rows = dict((int(c), int(n)) for c, n in h.sql(
            f"SELECT coupon_id, COUNT(*) FROM user_coupons WHERE coupon_id IN "
            f"({ids}) GROUP BY coupon_id"))
        if all(rows.get(c, 0) == v["issuedQuantity"] for c, v in views.items()):
            break
        if time.time() > deadline:
            h.fail(f"rows never matched the stock actors: {rows} {views}")
        time.sleep(0.5)
    return views


def check_invariants(coupons, load, views):
    ids = ",".join(map(str, coupons))
    tally = {}
    violations = h.check_stored(
        load.answers, {c: STOCK for c in coupons},
        live={c: v["remainingQuantity"] for c, v in views.items()},
        kafka=h.kafka_counts(), tally=tally)
    # Every coupon's demand exceeded its stock, after the fault healed: each
    # must have answered SOLD_OUT, so check_answers held it to STOCK rows
    # and 0 remaining (stranded).
    unsold = sorted(set(coupons) - set(tally["sold_out"]))
    if unsold:
        violations.append(("demand", f"coupons {unsold} never sold out"))
    h.report_checks(violations, tally, "after the run")
    if violations:
        h.fail(f"{len(violations)} violations")
    stocked = h.sql(f"SELECT COUNT(*), SUM(remaining_quantity) FROM "
                    f"coupon_stocks WHERE coupon_id IN ({ids})")[0]
    h.log(f"no stranded stock: {len(tally['sold_out'])} coupons sold out "
          f"with {tally['rows']} rows for {COUPONS * STOCK} in stock, "
          f"{stocked[1]} remaining in coupon_stocks; "
          f"{tally['violations'].get(h.OVER_ISSUE, 0)} over-issued, "
          f"{tally['violations'].get(h.DUPLICATE, 0)} duplicates, "
          f"{tally['phantoms']} phantoms")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    h.log(f"seed {seed} (the clients' coupons and users; --seed S replays "
          "them)")
    h.node("stop")
    path = cluster_file()
    try:
        for name in IDS:
            node("start", name, path)
        check_membership()
        coupons = []
        for i in range(COUPONS):
            status, body, _ = call(IDS[i % 3], "POST", "/api/coupons",
                                   {"name": f"cluster-{i}", "discount": 1,
                                    "totalQuantity": STOCK},
                                   token=h.ADMIN_TOKEN)
            if status != 201:
                h.fail(f"create through {IDS[i % 3]}: {status} {body}")
            coupons.append(body["couponId"])
        for name in IDS:
            for c in coupons:
                status, body, _ = call(name, "GET", f"/api/coupons/{c}")
                if status != 200:
                    h.fail(f"coupon {c} through {name}: {status} {body}")
        owned_by_n2 = [c for c in coupons if call(
            "n2", "GET", f"/admin/api/stock/{c}", token=h.ADMIN_TOKEN)[0] == 200]
        if not owned_by_n2:
            h.fail("n2 owns none of the coupons")
        h.log(f"{COUPONS} coupons created through the three gateways, served "
              f"through each; n2 owns {len(owned_by_n2)}")
        load = asyncio.run(load_with_kill(coupons, path, owned_by_n2, seed))
        check_invariants(coupons, load, drained(coupons))
        # A node reading another configuration refuses to start.
        node("stop", "n2", path)
        bad = node("start", "n2", cluster_file(SHARDS + 1), check=False)
        if bad.returncode == 0:
            h.fail("n2 started with another shard count")
        with open(os.path.join(h.RUN_DIR, "n2", "dibs.log")) as f:
            why = [line for line in f if "cannot join" in line]
        if not why:
            h.fail("n2 did not say why it refused to start")
        h.log("n2 with another shard count refused to start: "
              + json.loads(why[-1])["msg"])
    finally:
        for name in IDS:
            node("stop", name, path, check=False)


if __name__ == "__main__":
    main()
