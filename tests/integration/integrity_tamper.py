"""The integrity checker must be able to fail. A short load run writes its
ledger (every issuance the clients were told of); then MariaDB is tampered
with, one way at a time — a row deleted, a duplicate inserted, a stock count
changed, a phantom row added — and `dibsctl check` must exit 1 naming the
broken checks; after each repair it must pass again.

    python3 tests/integration/integrity_tamper.py
"""

import json
import os

import harness as h

LEDGER = os.path.join(h.RUN_DIR, "tamper-ledger.json")
REPORT = os.path.join(h.RUN_DIR, "tamper-check.json")


def check():
    """Runs `dibsctl check`; returns (exit status, names of failed checks)."""
    proc = h.dibsctl("check", "--ledger", LEDGER, "--json", REPORT,
                     "--drain-timeout-s", "2", check=False)
    if proc.returncode not in (0, 1):
        h.fail(f"dibsctl check exited {proc.returncode}: {proc.stderr}")
    integrity = json.load(open(REPORT))
    failed = {c["name"] for c in integrity["checks"] if not c["passed"]}
    return proc.returncode, failed


def expect_failure(what, must_fail):
    status, failed = check()
    if status != 1 or not must_fail <= failed:
        h.fail(f"{what}: exit {status}, failed checks {sorted(failed)}, "
               f"expected at least {sorted(must_fail)}")
    h.log(f"{what}: the checker fails as it must: {sorted(failed)}")


def expect_pass(what):
    status, failed = check()
    if status != 0:
        h.fail(f"{what}: exit {status}, failed {sorted(failed)}")


def main():
    h.node("start")
    proc = h.dibsctl("load", "--scenario", "sync-rush", "--duration-scale",
                     "0.005", "--quiet", "--ledger", LEDGER, check=False)
    if proc.returncode != 0:
        h.fail(f"the load run itself failed: {proc.stdout[-2000:]}")
    coupon = json.load(open(LEDGER))["couponIds"][0]
    expect_pass("untouched")

    # 1. A row deleted: an accepted issuance is missing.
    row = h.sql(f"SELECT id, coupon_id, user_id, issuance_id, issued_at FROM "
                f"user_coupons WHERE coupon_id = {coupon} LIMIT 1")[0]
    h.sql(f"DELETE FROM user_coupons WHERE id = {row[0]}")
    expect_failure("a row deleted",
                   {"accepted_are_rows", "stock_consistency", "conservation"})
    h.sql("INSERT INTO user_coupons (id, coupon_id, user_id, issuance_id, "
          f"issued_at) VALUES ({row[0]}, {row[1]}, {row[2]}, {row[3]}, '{row[4]}')")
    expect_pass("the row restored")

    # 2. A duplicate: the same user holds the coupon twice (the unique key
    # is dropped for it, as a schema without it would allow).
    h.sql("ALTER TABLE user_coupons DROP INDEX uq_user_coupon")
    h.sql("INSERT INTO user_coupons (coupon_id, user_id, issuance_id, issued_at)"
          f" VALUES ({row[1]}, {row[2]}, {int(row[3]) + 999_999}, NOW())")
    expect_failure("a duplicate inserted", {"duplicates"})
    h.sql(f"DELETE FROM user_coupons WHERE issuance_id = {int(row[3]) + 999_999}")
    h.sql("ALTER TABLE user_coupons ADD UNIQUE KEY uq_user_coupon (user_id, coupon_id)")
    expect_pass("the duplicate removed")

    # 3. A stock count changed.
    h.sql("UPDATE coupon_stocks SET remaining_quantity = remaining_quantity + 1"
          f" WHERE coupon_id = {coupon}")
    expect_failure("a stock count changed",
                   {"stock_consistency", "conservation", "no_stranded_stock"})
    h.sql("UPDATE coupon_stocks SET remaining_quantity = remaining_quantity - 1"
          f" WHERE coupon_id = {coupon}")
    expect_pass("the stock count restored")

    # 4. A phantom: a row nobody was told about, past the total.
    h.sql("INSERT INTO user_coupons (coupon_id, user_id, issuance_id, issued_at)"
          f" VALUES ({coupon}, 4000000000, 999999999999, NOW())")
    expect_failure("a phantom row inserted", {"no_phantoms", "over_issue"})
    h.sql("DELETE FROM user_coupons WHERE issuance_id = 999999999999")
    expect_pass("the phantom removed")
    h.log("the integrity checker failed on every tampering and passed after "
          "every repair")


if __name__ == "__main__":
    main()
