"""Three dibs nodes on loopback sharing the coupons, and failover (issues
7 and 17).

1. The nodes start from one cluster file (written for the test ports),
   find each other and share the shards (the issuance topic's partitions,
   assigned by the shard owners' Kafka group): every node's
   /admin/api/nodes lists three members up, the same owner and epoch for
   every shard, each shard owned once.
2. Coupons created through one gateway are served through all three (the
   owner adopted the ones it owns; the others forward). A creation sent
   again with its Idempotency-Key through each gateway answers the one
   coupon made, with its owner's live stock.
3. Demand far above the stock: clients on all three gateways ask for
   random coupons as ever new users (a twentieth from a small pool of
   users who come back), until every coupon has been asked for by at least
   DEMAND_FACTOR times its stock of distinct users and has sold out after
   the faults below healed. Every request's answer is kept (probes too),
   with the node that decided it (X-Dibs-Owner).
4. Node n2 is kill -9'd mid-load, while every coupon still has stock. The
   group drops it after cluster.session-timeout-ms (SESSION_TIMEOUT_MS);
   the survivors fence its shards, recover their coupons and serve them.
   Every one of n2's coupons must give decisions through the survivors
   within FAILOVER_BOUND_S of the kill (PRODUCT's target is 5 s; the bound
   leaves room for three nodes and the clients on two cores), and until
   then every answer for them is a 503 with Retry-After, within
   IN_FLIGHT_BOUND_S. The other coupons keep issuing meanwhile.
5. n3 is stopped (SIGSTOP) for STOP_S, past the session timeout: n1 takes
   its shards over and issues them; then n3 is continued. Whatever n3 had
   queued goes out after n1's fences and must not count, and n3 must not
   tell anybody yes for it.
6. n2 restarts and takes its share back (a clean handover from the
   others).
7. After the load, with the writers drained: PRODUCT.md's invariants 1-6
   through harness.check_stored against every answer: no coupon
   over-issued, no user twice on a coupon, every acknowledged issuance a
   row with the id the client was told, no phantom (a row whose pair got
   only definite "no"s: only OUTCOME_UNKNOWN or no answer excuses one),
   total - remaining = rows = the node's live stock = distinct Kafka
   events, and no stranded stock: every coupon's demand exceeded its stock,
   so each must end with exactly STOCK rows in MySQL and 0 remaining in
   coupon_stocks (counted, not derived from the node's own arithmetic).
   Every yes names the node that decided it (X-Dibs-Owner); a yes of a
   node fenced out would not count, so "0 lost acknowledged" is also
   "never two deciders at once".
8. A node started with a cluster file that disagrees (another shard count)
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
SESSION_TIMEOUT_MS = 2000
# The bounds of point 4 above.
FAILOVER_BOUND_S = 8
IN_FLIGHT_BOUND_S = FORWARD_TIMEOUT_MS / 1000 + 1
STOP_S = 5
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
session-timeout-ms={SESSION_TIMEOUT_MS}
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


def call(name, method, path, body=None, token=None, headers=None):
    return h.call(method, path, body, token=token, headers=headers,
                  port=PORTS[name])


def keyed_creation_through_each():
    """A coupon created through n1 with an Idempotency-Key and sent again
    through each gateway: every answer names the one coupon made, the
    repeats with its owner's live view, forwarded where it is elsewhere."""
    key = f"cluster-keyed-{time.time_ns()}"
    spec = {"name": key, "discount": 1, "totalQuantity": 2}
    answers = []

    def create(name):
        status, body, hdrs = call(name, "POST", "/api/coupons", spec,
                                  token=h.ADMIN_TOKEN,
                                  headers={"Idempotency-Key": key})
        answers.append((name, status, body.get("couponId"),
                        body.get("remainingQuantity"),
                        hdrs.get("Idempotent-Replayed")))

    create("n1")
    cid = answers[0][2]
    # One unit issued: the repeats show it.
    status, body, _ = call("n1", "POST", f"/api/coupons/{cid}/issue",
                           {"userId": 1})
    if status not in (201, 202):
        h.fail(f"issuing the keyed coupon {cid}: {status} {body}")
    for name in IDS:
        create(name)
    made = h.sql(f"SELECT COUNT(*) FROM coupons WHERE name = '{key}'")
    want = [("n1", 201, cid, 2, None)] + [(n, 201, cid, 1, "true")
                                           for n in IDS]
    if made != [["1"]] or answers != want:
        h.fail(f"a keyed creation sent through each gateway: {made} coupons, "
               f"answers {answers}")
    h.log(f"a keyed creation sent through n1 and again through each "
          f"gateway made one coupon ({cid}, owned by "
          f"{[n for n in IDS if served_by(n, [cid])]})")


def owners_seen():
    """Every node's view: {node: {member: [(shard, epoch), ...]}} and the
    health each node sees."""
    views, health = {}, {}
    for name in IDS:
        status, body, _ = call(name, "GET", "/admin/api/nodes",
                               token=h.ADMIN_TOKEN)
        if status != 200 or len(body.get("nodes", [])) != 3:
            return None, None, (name, status, body)
        views[name] = {m["id"]: sorted((x["shard"], x["epoch"])
                                       for x in m["shards"])
                       for m in body["nodes"]}
        health[name] = {m["id"]: m["health"] for m in body["nodes"]}
        partitions = body["shards"]["count"]
    return views, health, partitions


def check_membership(limit_s=30):
    """Waits until every node sees the three members up and the same owner
    and epoch for every shard, each shard owned once; returns the map."""
    deadline = time.time() + limit_s
    while True:
        views, health, partitions = owners_seen()
        problem = None
        if views is None:
            problem = f"/admin/api/nodes: {partitions}"
        elif any(v not in ("up", "ready", "joining")
                 for hs in health.values() for v in hs.values()):
            problem = f"health {health}"
        else:
            first = views[IDS[0]]
            every = sorted(sh for claims in first.values() for sh, _ in claims)
            if any(v != first for v in views.values()):
                problem = f"the nodes see other owners: {views}"
            elif every != list(range(partitions)):
                problem = f"shards not owned exactly once: {first}"
        if problem is None:
            break
        if time.time() > deadline:
            h.fail(f"membership did not settle in {limit_s} s: {problem}")
        time.sleep(0.2)
    h.log("three members up on every node; shards "
          + ", ".join(f"{n} {[f'{s}@{e}' for s, e in c]}"
                      for n, c in first.items())
          + " — the same map everywhere")
    return first


def decision(status, code):
    return status in (201, 202) or code in ("ALREADY_ISSUED", "SOLD_OUT")


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
                           "retry-after" in headers, took,
                           headers.get("x-dibs-owner")))
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


def pid_of(name):
    return int(open(os.path.join(h.RUN_DIR, name, "dibs.pid")).read())


def served_by(name, coupons):
    """The coupons whose stock actor lives on node `name` now."""
    return [c for c in coupons if call(
        name, "GET", f"/admin/api/stock/{c}", token=h.ADMIN_TOKEN)[0] == 200]


async def wait_decisions(load, coupons, gateways, since, limit_s):
    """Waits until every coupon of `coupons` gave a decision through one of
    `gateways` to a request sent after `since`; returns {coupon: seconds
    from `since` to that answer} (missing: none within `limit_s`)."""
    while True:
        first = {}
        for sent, g, c, status, code, _, took, _ in load.timed:
            if sent >= since and g in gateways and c in coupons \
                    and decision(status, code):
                at = sent + took - since
                first[c] = min(first.get(c, at), at)
        if len(first) == len(coupons) or time.monotonic() - since > limit_s:
            return first
        await asyncio.sleep(0.1)


async def load_with_failover(coupons, path, owned_by, seed):
    load = Load(coupons)
    task = asyncio.ensure_future(load.run(3, IDS, seed))
    await asyncio.sleep(PRE_KILL_S)
    sold_before = load.sold_out_since(0)
    owned_by_n2 = owned_by["n2"]
    # -- kill -9 of n2 -------------------------------------------------------
    pid = pid_of("n2")
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    h.log(f"kill -9 of n2 (pid {pid}) under load, {len(load.answers)} "
          f"requests in; coupons sold out before it: {len(sold_before)}")
    if sold_before & set(owned_by_n2):
        h.fail(f"n2's coupons {sorted(sold_before & set(owned_by_n2))} sold "
               "out before the kill: nothing in flight is tested")
    back = await wait_decisions(load, owned_by_n2, ("n1", "n3"), killed,
                                FAILOVER_BOUND_S + 5)
    check_failover(load, "n2", owned_by_n2, ("n1", "n3"), killed, back)
    # -- SIGSTOP of n3 past the session timeout --------------------------------
    owned_by_n3 = served_by("n3", coupons)
    if not owned_by_n3:
        h.fail("n3 serves none of the coupons after n2's takeover")
    n3 = pid_of("n3")
    os.kill(n3, signal.SIGSTOP)
    stopped = time.monotonic()
    h.log(f"SIGSTOP of n3 (pid {n3}), which serves {len(owned_by_n3)} "
          f"coupons, for {STOP_S} s")
    taken = await wait_decisions(load, owned_by_n3, ("n1",), stopped, STOP_S)
    os.kill(n3, signal.SIGCONT)
    continued = time.monotonic()
    if len(taken) != len(owned_by_n3):
        h.fail(f"while n3 was stopped n1 gave no decision for coupons "
               f"{sorted(set(owned_by_n3) - set(taken))}")
    h.log(f"n1 issued all {len(taken)} of n3's coupons while n3 was stopped, "
          f"from {min(taken.values()):.2f} s to {max(taken.values()):.2f} s "
          "after the stop; n3 continued")
    # -- n2 restarts and takes its share back ----------------------------------
    restart = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "bash", CLUSTER_SH, "node", "start", "n2", path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        load.stop = True
        await task
        h.fail(f"n2 did not come back: {out.decode()}")
    serving = None
    while time.monotonic() - restart < 60:
        if served_by("n2", coupons):
            serving = time.monotonic()
            break
        await asyncio.sleep(0.2)
    if serving is None:
        load.stop = True
        await task
        h.fail("n2 came back but took no shard back within 60 s")
    h.log(f"n2 restarted: it serves shards again {serving - restart:.2f} s "
          "after the restart began")
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
    demand = [len(load.demand[c]) for c in coupons]
    h.log(f"demand: {len(load.answers)} requests, "
          f"{sum(demand)} (user, coupon) pairs asked for {COUPONS * STOCK} "
          f"coupons in stock ({sum(demand) / (COUPONS * STOCK):.1f}x); "
          f"{min(demand)} to {max(demand)} distinct users per coupon of "
          f"{STOCK}")
    check_deciders(load)
    return load


def check_failover(load, dead, coupons, survivors, killed, back):
    """Point 4: every coupon of the dead node serves again through the
    survivors within the bound; meanwhile its answers are 503s with
    Retry-After, none later than IN_FLIGHT_BOUND_S; the other coupons kept
    deciding."""
    problems = []
    missing = sorted(set(coupons) - set(back))
    if missing:
        problems.append(f"coupons {missing} gave no decision within "
                        f"{FAILOVER_BOUND_S + 5} s of the kill")
    slow = {c: t for c, t in back.items() if t > FAILOVER_BOUND_S}
    if slow:
        problems.append(f"coupons served again later than "
                        f"{FAILOVER_BOUND_S} s after the kill: {slow}")
    until = killed + max(back.values(), default=0)
    window = [a for a in load.timed if a[2] in coupons and a[1] in survivors
              and (a[0] >= killed or a[0] + a[6] > killed) and a[0] <= until]
    for sent, gateway, coupon, status, code, retry, took, _ in window:
        what = (f"coupon {coupon} via {gateway} sent "
                f"{(sent - killed) * 1000:.0f} ms after the kill: {status} "
                f"{code} in {took * 1000:.0f} ms")
        if status is None or took > IN_FLIGHT_BOUND_S:
            problems.append(f"{what}: not answered within "
                            f"{IN_FLIGHT_BOUND_S:.0f} s")
        elif not decision(status, code) and (status != 503 or not retry):
            problems.append(f"{what}: neither a decision nor a 503 with "
                            "Retry-After")
    others = [a for a in load.timed if killed < a[0] < until
              and a[2] not in coupons and a[1] in survivors]
    failed = [a for a in others if not decision(a[3], a[4])]
    if not others or failed:
        problems.append(f"other coupons did not keep deciding: {len(others)} "
                        f"asked, failed {failed[:5]}")
    times = sorted(back.values())
    h.log(f"{dead}'s {len(coupons)} coupons serve again through "
          f"{' and '.join(survivors)}: median "
          f"{times[len(times) // 2] if times else 0:.2f} s, worst "
          f"{times[-1] if times else 0:.2f} s after the kill (bound "
          f"{FAILOVER_BOUND_S} s); meanwhile {len(window)} answers for them, "
          f"{sum(1 for a in window if a[3] == 503)} of them 503; "
          f"{len(others)} answers for the other coupons, all decisions")
    if problems:
        for p in problems[:10]:
            h.log("  " + p)
        h.fail(f"failover of {dead} broke its bounds")


def check_deciders(load):
    """Every yes names the node that decided it (X-Dibs-Owner); counts the
    hand-overs between deciders per coupon. That no two nodes decided one
    coupon at once is what check_stored shows: a yes from a node fenced
    out would be a record that does not count, an acknowledged issuance
    that is not a row."""
    yes = defaultdict(list)
    for sent, g, c, status, code, _, took, owner in load.timed:
        if status not in (201, 202):  # A yes: issued, or accepted.
            continue
        if owner is None:
            h.fail(f"a yes for coupon {c} via {g} without X-Dibs-Owner")
        yes[c].append((sent + took, owner))
    switches = 0
    for answers in yes.values():
        answers.sort()
        switches += sum(1 for a, b in zip(answers, answers[1:])
                        if a[1] != b[1])
    h.log(f"deciders: {sum(len(a) for a in yes.values())} yes answers, "
          f"{switches} changes of decider over {len(yes)} coupons")


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
        owned_by = {n: served_by(n, coupons) for n in IDS}
        if not owned_by["n2"]:
            h.fail("n2 owns none of the coupons")
        h.log(f"{COUPONS} coupons created through the three gateways, served "
              f"through each; n1, n2, n3 own "
              f"{', '.join(str(len(owned_by[n])) for n in IDS)}")
        keyed_creation_through_each()
        load = asyncio.run(load_with_failover(coupons, path, owned_by, seed))
        check_membership()
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
