"""Three dibs nodes on loopback sharing the coupons (issue 7).

1. The nodes start from one cluster file (written for the test ports) and
   find each other: every node's /admin/api/nodes lists three members up,
   the same owner for every shard, each shard owned once.
2. Coupons created through one gateway are served through all three (the
   owner adopted the ones it owns; the others forward).
3. Load through all three gateways at once, then node n2 is kill -9'd
   mid-load: requests for its coupons answer 503 with Retry-After within
   the heartbeat timeout and quickly after, through every gateway, while
   the other coupons keep issuing; n2 restarts, recovers its coupons
   (snapshot + Kafka tail) and serves them again.
4. After the load: the invariants of PRODUCT.md in SQL — no coupon
   over-issued, no user twice on a coupon, every acknowledged issuance a
   row with the id the client was told, and no stranded stock (each
   coupon's remaining + issued = total, issued = its rows).
5. A node started with a cluster file that disagrees (another shard count)
   refuses to start.
"""

import asyncio
import json
import os
import random
import signal
import subprocess
import time

import harness as h

BASE_HTTP = h.HTTP_PORT + 100
BASE_ACTOR = h.HTTP_PORT - 4000 + 100
IDS = ["n1", "n2", "n3"]
PORTS = {n: BASE_HTTP + i + 1 for i, n in enumerate(IDS)}
SHARDS = 64
HEARTBEAT_TIMEOUT_MS = 1000
COUPONS = 24
PER_CLIENT_RATE = 50
STOCK = 2000
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
heartbeat-interval-ms=200
heartbeat-timeout-ms={HEARTBEAT_TIMEOUT_MS}
forward-timeout-ms=3000
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
    """Clients on every gateway issuing random users on random coupons, each
    at most PER_CLIENT_RATE requests a second (three nodes and the clients
    share two cores: at full pressure a restarted node would recover
    slowly for lack of CPU, which is not what this test is about); keeps
    every answer."""

    def __init__(self, coupons):
        self.coupons = coupons
        self.acked = {}  # (coupon, user) -> issuance id
        self.answers = []  # (time, gateway, coupon, status, seconds)
        self.stop = False
        self.next_user = 1_000_000

    async def client(self, gateway):
        conn = h.Connection(PORTS[gateway])
        while not self.stop:
            coupon = random.choice(self.coupons)
            self.next_user += 1
            user = self.next_user
            started = time.monotonic()
            try:
                status, payload = await conn.request(
                    "POST", f"/api/coupons/{coupon}/issue",
                    json.dumps({"userId": user}).encode())
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                conn.close()
                await asyncio.sleep(0.05)
                continue
            took = time.monotonic() - started
            self.answers.append((time.monotonic(), gateway, coupon, status, took))
            if status in (201, 202):
                self.acked[(coupon, user)] = json.loads(payload)["issuanceId"]
            await asyncio.sleep(max(0.0, 1 / PER_CLIENT_RATE - took))

    async def run(self, per_gateway, gateways):
        await asyncio.gather(*(self.client(g) for g in gateways
                               for _ in range(per_gateway)))


async def load_with_kill(coupons, path, owned_by_n2):
    load = Load(coupons)
    task = asyncio.ensure_future(load.run(3, IDS))
    await asyncio.sleep(4)
    pid = int(open(os.path.join(h.RUN_DIR, "n2", "dibs.pid")).read())
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    h.log(f"kill -9 of n2 (pid {pid}) under load")
    await asyncio.sleep(HEARTBEAT_TIMEOUT_MS / 1000 + 2)
    # n2's coupons: 503 at once through the survivors; the others issue.
    probe = h.Connection(PORTS["n1"])
    slow = []
    for coupon in owned_by_n2[:5]:
        started = time.monotonic()
        status, payload = await probe.request(
            "POST", f"/api/coupons/{coupon}/issue", b'{"userId":42}')
        took = time.monotonic() - started
        if status != 503:
            h.fail(f"coupon {coupon} of the dead n2: {status} {payload}")
        slow.append(took)
    h.log(f"n2's coupons answer 503 through n1 in at most "
          f"{max(slow) * 1000:.1f} ms")
    restart = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "bash", CLUSTER_SH, "node", "start", "n2", path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    # Time until n2's coupon issues again through n1.
    serving = None
    while time.monotonic() - restart < 60:
        status, _ = await probe.request(
            "POST", f"/api/coupons/{owned_by_n2[0]}/issue",
            json.dumps({"userId": 7_000_000 + int(time.monotonic() * 1000) % 1_000_000}).encode())
        if status in (201, 202, 409):
            serving = time.monotonic() - restart
            break
        await asyncio.sleep(0.05)
    out, _ = await proc.communicate()
    if proc.returncode != 0 or serving is None:
        h.fail(f"n2 did not come back: {out.decode()}")
    h.log(f"n2 restarted: its coupons serve again {serving:.2f} s after the "
          f"restart began")
    await asyncio.sleep(3)
    load.stop = True
    await task
    dead = [a for a in load.answers if a[0] > killed + HEARTBEAT_TIMEOUT_MS / 1000 + 0.5
            and a[0] < restart and a[2] not in owned_by_n2]
    if not dead or any(a[3] not in (201, 202) for a in dead):
        h.fail("other coupons did not keep issuing while n2 was down: "
               f"{[a for a in dead if a[3] not in (201, 202)][:5]}")
    h.log(f"{len(dead)} requests for the other coupons answered while n2 was "
          f"down, none failed")
    return load


def check_invariants(coupons, load):
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
    for c, v in views.items():
        if v["issuedQuantity"] > STOCK:
            h.fail(f"coupon {c} over-issued: {v}")
        if v["remainingQuantity"] + v["issuedQuantity"] != STOCK:
            h.fail(f"coupon {c} has stranded stock: {v}")
    dups = h.sql(f"SELECT coupon_id, user_id FROM user_coupons WHERE coupon_id "
                 f"IN ({ids}) GROUP BY coupon_id, user_id HAVING COUNT(*) > 1")
    if dups:
        h.fail(f"users twice on a coupon: {dups}")
    stored = {(int(c), int(u)): int(i) for c, u, i in h.sql(
        f"SELECT coupon_id, user_id, issuance_id FROM user_coupons WHERE coupon_id IN "
        f"({ids})")}
    lost = [(k, v) for k, v in load.acked.items() if stored.get(k) != v]
    if lost:
        h.fail(f"{len(lost)} acknowledged issuances lost or changed: {lost[:5]}")
    h.log(f"after the run: {sum(rows.values())} rows, {len(load.acked)} "
          f"acknowledged all stored with their ids, 0 over-issued, "
          f"0 duplicates, no stranded stock")


def main():
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
        load = asyncio.run(load_with_kill(coupons, path, owned_by_n2))
        check_invariants(coupons, load)
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
