"""Each load scenario of cli/scenarios, shortened to seconds, run by Locust
(cli/locust/locustfile.py, the second load generator beside `dibsctl
load`) against a real node: Locust must count no failure, and every
201/202 it got must be a row in MySQL, with no coupon over-issued and each
coupon's stock adding up.

    python3 tests/integration/locust_scenarios.py
"""

import csv
import os
import subprocess

import harness as h

LOCUST = os.path.join(h.BUILD_DIR, "locust", "bin", "locust")
LOCUSTFILE = os.path.join(h.ROOT, "cli", "locust", "locustfile.py")

# (scenario, duration scale, units the demand must sell out or None).
RUNS = [
    ("sync-rush", "0.01", 450),
    ("async-poll", "0.005", None),
    ("hundred-coupons", "0.01", None),
    ("hot-coupon", "0.04", 1000),
]


def run(name, scale):
    """Runs the scenario; returns (requests by name, accepted pairs)."""
    prefix = os.path.join(h.RUN_DIR, f"locust-{name}")
    accepted_file = prefix + "-accepted.txt"
    env = dict(os.environ, DIBS_SCENARIO=name, DIBS_DURATION_SCALE=scale,
               DIBS_ADMIN_TOKEN=h.ADMIN_TOKEN, DIBS_ACCEPTED=accepted_file)
    proc = subprocess.run(
        [LOCUST, "-f", LOCUSTFILE, "--headless", "--only-summary",
         "--host", h.BASE, "--csv", prefix],
        env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        h.log(proc.stdout[-3000:], proc.stderr[-3000:])
        h.fail(f"{name}: locust exited {proc.returncode}")
    counts = {}
    with open(prefix + "_stats.csv") as f:
        for row in csv.DictReader(f):
            counts[row["Name"]] = (int(row["Request Count"]),
                                   int(row["Failure Count"]))
    accepted = set()
    with open(accepted_file) as f:
        for line in f:
            coupon, user, _ = line.split()
            if (int(coupon), int(user)) in accepted:
                h.fail(f"{name}: user {user} accepted twice for coupon {coupon}")
            accepted.add((int(coupon), int(user)))
    return counts, accepted


def check(name, counts, accepted, sells_out, first_id):
    requests, failures = counts.get("Aggregated", (0, 0))
    if requests <= 0 or failures != 0:
        h.fail(f"{name}: {requests} requests, {failures} failures: {counts}")
    coupons = {int(c): int(t) for c, t in h.sql(
        "SELECT id, total_quantity FROM coupons WHERE id >= "
        f"{first_id} AND name LIKE 'locust-{name}-%'")}
    if not coupons or any(c not in coupons for c, _ in accepted):
        h.fail(f"{name}: accepted pairs outside its coupons {sorted(coupons)}")
    views = h.wait_drained(list(coupons))
    ids = ",".join(map(str, coupons))
    rows = {(int(c), int(u)) for c, u in h.sql(
        f"SELECT coupon_id, user_id FROM user_coupons WHERE coupon_id IN ({ids})")}
    missing = accepted - rows
    if missing:
        h.fail(f"{name}: {len(missing)} accepted pairs have no row, "
               f"e.g. {sorted(missing)[:5]}")
    stock = {int(c): int(r) for c, r in h.sql(
        "SELECT coupon_id, remaining_quantity FROM coupon_stocks "
        f"WHERE coupon_id IN ({ids})")}
    for c, total in coupons.items():
        held = sum(1 for cc, _ in rows if cc == c)
        if held > total or total - stock[c] != held \
                or views[c]["issuedQuantity"] != held:
            h.fail(f"{name}: coupon {c} total {total}, remaining {stock[c]}, "
                   f"rows {held}, live {views[c]}")
    if sells_out is not None and len(rows) != sells_out:
        h.fail(f"{name}: demand far above {sells_out} issued {len(rows)}")
    h.log(f"{name}: {requests} requests ({counts}), {len(accepted)} accepted, "
          f"{len(rows)} rows: every accepted pair is a row, no coupon over")


def main():
    if not os.path.exists(LOCUST):
        h.fail(f"no {LOCUST}: bash cluster-config/install.sh --tests")
    h.node("start")
    for name, scale, sells_out in RUNS:
        first_id = int(h.sql("SELECT COALESCE(MAX(id), 0) + 1 FROM coupons")[0][0])
        counts, accepted = run(name, scale)
        check(name, counts, accepted, sells_out, first_id)
    h.log("every scenario ran under Locust and its answers are in MySQL")


if __name__ == "__main__":
    main()
