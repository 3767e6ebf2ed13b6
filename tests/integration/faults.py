"""Fault injection on real processes under load. `dibsctl load` drives
hundred-coupons at full pressure (demand far above the stock of its 100-unit
coupons), with its ledger of every answer, while this test kill -9s and
restarts processes at random instants: the node (several times), mariadbd,
redis-server and the embedded Kafka broker (which comes back empty); SIGSTOPs and SIGCONTs mariadbd, redis-server and the
embedded Kafka broker; and, through the node's fault-injection route, crashes
a stock actor, a writer and the snapshotter (the supervisor restarts them)
and raises a fatal error in the Kafka producer (it is replaced). When the
load ends, dibsctl waits for the writers to drain and runs its integrity checks
against every answer the clients got: nothing over-issued, no duplicates,
nothing acknowledged lost, no phantoms, conservation exact, no stranded
stock.

    python3 tests/integration/faults.py [--seed S] [--seconds N]
"""

import argparse
import os
import random
import signal
import subprocess
import time

import harness as h


def deps(command):
    subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config", "deps.sh"),
                    command], check=True, capture_output=True)


def inject(fault, **extra):
    status, body, _ = h.call("POST", "/admin/faults", {"fault": fault, **extra},
                             token=h.ADMIN_TOKEN)
    if status != 202:
        h.fail(f"injecting {fault}: {status} {body}")


def follows_kafka(bootstrap):
    """The node is ready and writes to the brokers in `bootstrap`."""
    try:
        ready, _, _ = h.call("GET", "/readyz")
        status, body, _ = h.call("GET", "/metrics")
    except OSError:
        return False  # The node is restarting.
    return ready == 200 and status == 200 and any(
        line.startswith("dibs_kafka_log_info{")
        and f'bootstrap="{bootstrap}"' in line for line in body.splitlines())


def kill_broker(rng):
    """kill -9 of the embedded broker: it comes back empty on new ports. The
    fault ends once the node has followed it (and published again what MySQL
    lacks): losing the node as well before that is the window a replicated
    Kafka closes (docs/recovery.md), not one this test should open."""
    h.kill9("kafka")
    time.sleep(rng.uniform(0.5, 2))
    deps("start")
    with open(os.path.join(h.RUN_DIR, "kafka.bootstrap")) as f:
        bootstrap = f.read().strip()
    deadline = time.time() + 30
    while not follows_kafka(bootstrap):
        if time.time() > deadline:
            h.fail("the node did not follow the restarted broker within 30 s")
        time.sleep(0.1)
    time.sleep(2)


def crash_stock(rng):
    """Crashes the stock actor of one of the load's busiest coupons. The
    next fault may follow at once: a broker coming back empty before the
    actor's restart (seed 77354008) is what the node's ledger of accepted
    issuances is for (docs/recovery.md)."""
    rows = h.sql("SELECT id FROM coupons ORDER BY id DESC LIMIT 100")
    inject("crash-stock", couponId=int(rng.choice(rows)[0]))


FAULTS = {
    "kill -9 node, restart": lambda rng: (h.kill9("node"),
                                          time.sleep(rng.uniform(0.2, 1.5)),
                                          h.node("start")),
    "kill -9 mariadbd, restart": lambda rng: (h.kill9("mariadb"),
                                              time.sleep(rng.uniform(0.5, 2)),
                                              deps("start")),
    "SIGSTOP mariadbd 3 s": lambda rng: (os.kill(h.pid_of("mariadb"), signal.SIGSTOP),
                                         time.sleep(3),
                                         os.kill(h.pid_of("mariadb"), signal.SIGCONT)),
    "kill -9 redis-server, restart": lambda rng: (h.kill9("redis"),
                                                  time.sleep(rng.uniform(0.5, 2)),
                                                  deps("start")),
    "crash a stock actor": crash_stock,
    "crash a writer": lambda rng: inject("crash-writer"),
    "crash the snapshotter": lambda rng: inject("crash-snapshotter"),
    "fatal error in the Kafka producer": lambda rng: inject("producer-fatal"),
    "SIGSTOP redis-server 2 s": lambda rng: (os.kill(h.pid_of("redis"), signal.SIGSTOP),
                                             time.sleep(2),
                                             os.kill(h.pid_of("redis"), signal.SIGCONT)),
    # Longer than the producer's message timeout (5 s): deliveries fail or
    # end "possibly stored", and the stock actors resolve them from the log.
    "kill -9 the Kafka broker, restart": kill_broker,
    "SIGSTOP the Kafka broker 7 s": lambda rng: (os.kill(h.pid_of("kafka"), signal.SIGSTOP),
                                                 time.sleep(7),
                                                 os.kill(h.pid_of("kafka"), signal.SIGCONT)),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--seconds", type=float, default=150)
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    h.log(f"seed {seed}")
    h.node("start")
    load = h.Load("faults-report", args.seconds, 100, "--seed", str(seed))
    # Node kills three times, the others once each, at random instants
    # over the first half of the run, one after the other (node restarts and
    # the broker's take seconds each, so the last ones land later). The
    # rest of the run keeps the demand going while the last faults heal (a
    # restarted mariadbd took ~20 s in CI, and a "possibly stored" record
    # waits for it): a reservation released after the load ended would be
    # stock no client asked for again.
    schedule = ["kill -9 node, restart"] * 3 + [
        f for f in FAULTS if f != "kill -9 node, restart"]
    rng.shuffle(schedule)
    # The generator first creates its coupons; faults start after that.
    start = time.time() + 3
    slot = (args.seconds * 0.5 - 3) / len(schedule)
    # A fault may take up to ~30 s (the broker's took 28 s in CI): one that
    # would begin later than this is skipped, so that the demand still
    # outlasts the last fault by 30 s.
    last_start = args.seconds - 45
    skipped = []
    for i, fault in enumerate(schedule):
        at = i * slot + rng.uniform(0.5, slot * 0.5)
        time.sleep(max(0, start + at - time.time()))
        began = time.time() - start + 3
        if began > last_start:
            skipped.append(fault)
            continue
        h.log(f"{began:6.1f} s  {fault}")
        FAULTS[fault](rng)
        took = time.time() - start + 3 - began
        if took >= 1:
            h.log(f"         (took {took:.1f} s)")
    if skipped:
        h.log(f"skipped, the schedule having overrun: {', '.join(skipped)}")
    healing = args.seconds - (time.time() - start + 3)
    h.log(f"last fault over; the load goes on {healing:.0f} s while it heals")
    if healing < 30:
        h.fail(f"the faults overran their schedule: only {healing:.0f} s of "
               "demand after them (a stranded-stock failure would be the "
               "test's, not the node's)")
    problem = load.finish()
    if problem:
        h.fail(f"{problem} (seed {seed})")
    h.log("every invariant held through the faults")


if __name__ == "__main__":
    main()
