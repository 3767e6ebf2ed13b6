"""Three Kafka brokers on loopback (deps.sh with DIBS_KAFKA_BROKERS=3:
replication 3, min.insync.replicas=2), a node on them with
kafka.replication-factor=3, and one broker kill -9'd under load: issuing
goes on after at most a leader election's pause, and nothing acknowledged
is lost. Then the broker is started again and rejoins.

The brokers and the node get a run folder of their own
(`<run folder>/kafka3`, brokers on 19200-19205) beside the tests' MariaDB
and Redis, whose rows and answers the checks read as usual; the tests'
one-broker node is stopped first (it holds the HTTP port) and the three
brokers are stopped at the end.

Four client threads issue two coupons to new users the whole time. Checks,
all counted: requests were accepted after the kill (issuing went on), the
longest gap between two acceptances around the kill (the pause, printed),
and harness.check_stored against every answer: every told id a row exactly
once, no row for a definite "no", the stock right in MySQL and the node.

    python3 tests/integration/broker_cluster.py
"""

import os
import signal
import subprocess
import sys
import time

import harness as h

RUN3 = os.path.join(h.RUN_DIR, "kafka3")
ENV3 = dict(os.environ, DIBS_RUN_DIR=RUN3, DIBS_KAFKA_BROKERS="3",
            DIBS_KAFKA_PORT="19200", DIBS_HTTP_PORT=str(h.HTTP_PORT),
            DIBS_ADMIN_TOKEN=h.ADMIN_TOKEN,
            DIBS_NODE_ARGS="--node.fault-injection "
                           "--kafka.replication-factor=3 "
                           # Partitions led by each of the three brokers.
                           "--kafka.partitions=6")
ANSWERS = h.Answers()


def script(name, *args, env=ENV3):
    done = subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config", name),
                           *args], env=env, capture_output=True, text=True,
                          timeout=180)
    if done.returncode != 0:
        h.fail(f"{name} {' '.join(args)} exited {done.returncode}: "
               f"{(done.stdout + done.stderr).strip()}")


def broker_pid(i):
    with open(os.path.join(RUN3, "kafka", str(i), "kafka.pid")) as f:
        return int(f.read().strip())


def accepted_times():
    return sorted(t for _, _, s, _, t in ANSWERS.since() if s in (201, 202))


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    # The tests' node holds the HTTP port; this test runs its own.
    h.node("stop")
    try:
        t0 = time.time()
        script("deps.sh", "start", "kafka")
        h.log(f"three brokers serving after {time.time() - t0:.1f} s")
        script("node.sh", "start")
        totals = {}
        a = h.create_coupon("broker-cluster-a", 1_000_000)
        b = h.create_coupon("broker-cluster-b", 1_000_000)
        totals[a] = totals[b] = 1_000_000
        clients = h.Clients(ANSWERS, [a, b], 1)
        deadline = time.time() + 30
        while len(accepted_times()) < 200:
            if time.time() > deadline:
                h.fail("fewer than 200 acceptances in 30 s on three brokers")
            time.sleep(0.1)
        # The broker that leads partition 0 of the issuance topic is the
        # likeliest to matter, but any one will do: kill the second.
        victim = broker_pid(2)
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        h.log(f"broker 2 (pid {victim}) kill -9'd after "
              f"{len(accepted_times())} acceptances")
        time.sleep(8)
        after = [t for t in accepted_times() if t > killed_at]
        if len(after) < 50:
            h.fail(f"only {len(after)} acceptances in the 8 s after one "
                   "broker of three was killed: issuing did not go on")
        around = [t for t in accepted_times() if t > killed_at - 1]
        pause = max((y - x for x, y in zip(around, around[1:])), default=0)
        h.log(f"{len(after)} acceptances in the 8 s after the kill; the "
              f"longest gap between two around it {pause * 1000:.0f} ms")
        t0 = time.time()
        script("deps.sh", "start", "kafka")
        h.log(f"broker 2 back after {time.time() - t0:.1f} s")
        time.sleep(3)
        clients.stop()
        h.wait_drained([a, b])
        live = {c: h.call("GET", f"/api/coupons/{c}")[1]["remainingQuantity"]
                for c in (a, b)}
        tally = h.require_stored(ANSWERS, totals, live,
                                 "one broker of three lost")
        h.log(f"lost {tally['lost']} of {tally['acknowledged']} acknowledged "
              "with one broker of three kill -9'd and restarted")
    finally:
        subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config",
                                             "node.sh"), "stop"], env=ENV3,
                       capture_output=True, timeout=120)
        subprocess.run(["bash", os.path.join(h.ROOT, "cluster-config",
                                             "deps.sh"), "stop"], env=ENV3,
                       capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
