"""Each load scenario of cli/scenarios, shortened to seconds, against a real
node (real Redis, MariaDB and embedded Kafka) through `dibsctl load`: its
integrity section must pass, and what it reports is cross-checked here with
SQL of our own.

    python3 tests/integration/load_scenarios.py
"""

import json
import os

import harness as h

# (scenario, extra arguments): each run lasts a few seconds.
RUNS = [
    ("sync-rush", ["--duration-scale", "0.01"]),
    ("async-poll", ["--duration-scale", "0.005"]),
    ("hundred-coupons", ["--duration-scale", "0.01"]),
    ("hot-coupon", ["--duration-scale", "0.04"]),
    # The open loop: a fixed arrival rate instead of virtual users.
    ("hot-coupon", ["--duration-scale", "0.03", "--rate", "3000"]),
]


def run(name, args):
    out = os.path.join(h.RUN_DIR, f"report-{name}.json")
    proc = h.dibsctl("load", "--scenario", name, "--quiet", "--seed", "7",
                     "--json", out, *args, check=False)
    if proc.returncode != 0:
        h.log(proc.stdout[-3000:], proc.stderr[-3000:])
        h.fail(f"{name}: dibsctl load exited {proc.returncode}")
    report = json.load(open(out))
    if "## Integrity" not in proc.stdout or "**Result: PASSED**" not in proc.stdout:
        h.fail(f"{name}: the Markdown report lacks its verdict")
    return report


def cross_check(name, report):
    integrity = report["integrity"]
    if not report["passed"] or not integrity["passed"]:
        h.fail(f"{name}: report not passed: {integrity}")
    names = {c["name"] for c in integrity["checks"]}
    expected = {"over_issue", "duplicates", "stock_consistency",
                "accepted_are_rows", "no_phantoms", "client_view",
                "conservation", "no_stranded_stock"}
    if names != expected:
        h.fail(f"{name}: checks {names}")
    coupons = {c["couponId"]: c for c in integrity["coupons"]}
    ids = ",".join(map(str, coupons))
    rows = dict((int(c), int(n)) for c, n in h.sql(
        f"SELECT coupon_id, COUNT(*) FROM user_coupons WHERE coupon_id IN ({ids})"
        " GROUP BY coupon_id"))
    stock = dict((int(c), int(n)) for c, n in h.sql(
        f"SELECT coupon_id, remaining_quantity FROM coupon_stocks"
        f" WHERE coupon_id IN ({ids})"))
    for cid, c in coupons.items():
        if rows.get(cid, 0) != c["rows"] or stock[cid] != c["remaining"]:
            h.fail(f"{name}: coupon {cid} reported {c}, SQL says rows "
                   f"{rows.get(cid, 0)} remaining {stock[cid]}")
        if c["total"] - c["remaining"] != c["rows"]:
            h.fail(f"{name}: coupon {cid} does not add up: {c}")
    accepted = sum(
        e["outcomes"].get("accepted", 0) + e["outcomes"].get("issued", 0)
        for e in report["endpoints"].values())
    if accepted > sum(rows.values()) or integrity["acceptedPairs"] != sum(rows.values()) - integrity["rowsOfUndecidedRequests"]:
        h.fail(f"{name}: {accepted} accepted answers, "
               f"{integrity['acceptedPairs']} pairs, {sum(rows.values())} rows")
    if report["requests"] <= 0 or report["drainS"] is None:
        h.fail(f"{name}: nothing measured: {report['requests']} requests")
    h.log(f"{name}: "
          f"{report['requests']} requests, {report['throughputPerS']:.0f} req/s, "
          f"p99 {report['latencyMs']['p99']:.2f} ms, {sum(rows.values())} rows, "
          f"drained in {report['drainS']:.2f} s: integrity passed")


def main():
    h.node("start")
    for name, args in RUNS:
        report = run(name, args)
        cross_check(name, report)
        if name == "sync-rush" and report["integrity"]["rows"] != 450:
            h.fail("sync-rush: demand far above 450 must issue exactly 450")
        if name == "hot-coupon" and report["integrity"]["rows"] != 1000:
            h.fail("hot-coupon: demand far above 1,000 must issue exactly 1,000")
        if name == "async-poll" and "status" not in report["endpoints"]:
            h.fail("async-poll: no status polls")
    h.log("every scenario passed its integrity checks")


if __name__ == "__main__":
    main()
