"""The Python invariant checks (harness.check_answers, harness.check_stored)
must be able to fail, as integration.integrity_tamper proves for `dibsctl
check`.

1. Fabricated answers and rows: a consistent world passes; then one thing
   at a time is broken, and exactly the expected kinds of violation must be
   reported, each kind at least once over the cases: an over-issue, a
   duplicate pair, a duplicate issuance id, a lost row, a row with another
   id than the one told, an ALREADY_ISSUED without its row, a phantom for
   every kind of definite "no" (503 UNAVAILABLE, NOT_READY, OVERLOADED, a
   503 without a code, 429, SOLD_OUT) and for a pair never asked for,
   conservation broken in MySQL's stock, in the node's live stock, in
   Kafka's count, a missing stock row and a missing coupon, stranded stock,
   two ids told for one pair, more users told yes than the total. And the
   one excuse: a row for a pair whose answer was 503 OUTCOME_UNKNOWN or no
   answer at all is no phantom.
2. Against MariaDB, as integrity_tamper does: a real node issues two
   coupons (one sold out, one not; requests answered 503 while its stock
   actor is crashed: OUTCOME_UNKNOWN, then UNAVAILABLE) and check_stored
   passes; then a row is deleted, a duplicate inserted, a stock count
   changed, a row added for a user told SOLD_OUT, for each user told 503
   (a phantom for UNAVAILABLE, excused for OUTCOME_UNKNOWN) and for a user
   nobody asked for, a total changed: each must be reported as expected,
   and after each repair the check must pass again.

The counts printed are counted.

    python3 tests/integration/checkers_tamper.py
"""

import time

import harness as h

YES = lambda i: {"issuanceId": i, "status": "ACCEPTED"}  # noqa: E731


def err(code, **extra):
    return dict(code=code, message="...", **extra)


class World:
    """Fabricated answers, rows and stock, as check_answers takes them."""

    def __init__(self):
        # Coupon 1: 3 in stock, sold out. Coupon 2: 10 in stock, 2 issued,
        # one of them to a request answered OUTCOME_UNKNOWN.
        self.answers = [
            (1, 10, 202, YES(101)), (1, 11, 201, YES(102)),
            (1, 12, 202, YES(103)), (1, 13, 409, err("SOLD_OUT")),
            (1, 10, 409, err("ALREADY_ISSUED", issuanceId=101)),
            (2, 20, 202, YES(201)),
            (2, 21, 503, err("OUTCOME_UNKNOWN")),   # became a row: excused
            (2, 22, None, {}),                      # no answer: excused
            (2, 23, 503, err("UNAVAILABLE")),
            (2, 24, 503, err("NOT_READY")),
            (2, 25, 503, err("OVERLOADED")),
            (2, 26, 429, err("RATE_LIMITED")),
            (2, 28, 503, {}),                       # 503 without a code
        ]
        self.rows = [(1, 10, 101), (1, 11, 102), (1, 12, 103), (2, 20, 201),
                     (2, 21, 202)]
        self.coupons = {1: {"total": 3, "remaining": 0, "live": 0},
                        2: {"total": 10, "remaining": 8, "live": 8}}
        self.kafka = {1: 3, 2: 2}

    def add_row(self, coupon, user, issuance):
        """A row, with the stock counts moved to agree with it."""
        self.rows.append((coupon, user, issuance))
        self.coupons[coupon]["remaining"] -= 1
        self.coupons[coupon]["live"] -= 1
        self.kafka[coupon] += 1

    def drop_row(self, coupon, user):
        self.rows = [r for r in self.rows if r[:2] != (coupon, user)]
        self.coupons[coupon]["remaining"] += 1
        self.coupons[coupon]["live"] += 1
        self.kafka[coupon] -= 1

    def check(self):
        tally = {}
        return h.check_answers(self.answers, self.rows, self.coupons,
                               self.kafka, tally), tally


def fabricated_cases():
    """(what, change to a World, the violation kinds it must give)."""
    def case(what, kinds):
        def wrap(change):
            cases.append((what, change, set(kinds)))
            return change
        return wrap
    cases = []

    @case("a row and its yes past the total", {h.OVER_ISSUE})
    def _(w):
        w.answers.append((1, 14, 202, YES(104)))
        w.add_row(1, 14, 104)

    @case("a pair twice (no unique key)", {h.DUPLICATE, h.OVER_ISSUE,
                                           h.CONSERVATION})
    def _(w):
        w.rows.append((1, 10, 105))

    @case("an issuance id twice", {h.DUPLICATE, h.LOST})
    def _(w):
        w.rows = [(1, 11, 101) if r[:2] == (1, 11) else r for r in w.rows]

    @case("an acknowledged row deleted", {h.LOST})
    def _(w):
        w.drop_row(2, 20)

    @case("an acknowledged row deleted from a sold-out coupon",
          {h.LOST, h.STRANDED})
    def _(w):
        w.drop_row(1, 12)

    @case("a row with another id than the one told", {h.LOST})
    def _(w):
        w.rows = [(1, 11, 999) if r[:2] == (1, 11) else r for r in w.rows]

    @case("ALREADY_ISSUED without its row", {h.LOST})
    def _(w):
        w.answers.append((2, 27, 409, err("ALREADY_ISSUED", issuanceId=777)))

    for user, said in ((23, "503 UNAVAILABLE"), (24, "503 NOT_READY"),
                       (25, "503 OVERLOADED"), (28, "503 without a code"),
                       (26, "429 RATE_LIMITED"), (99, "nothing (never asked)")):
        case(f"a row for a pair told {said}", {h.PHANTOM})(
            lambda w, user=user: w.add_row(2, user, 2000 + user))

    @case("a row for a pair told SOLD_OUT", {h.PHANTOM, h.OVER_ISSUE})
    def _(w):
        w.add_row(1, 13, 113)

    @case("the OUTCOME_UNKNOWN that became a row answered UNAVAILABLE "
          "instead", {h.PHANTOM})
    def _(w):
        w.answers = [(c, u, 503, err("UNAVAILABLE")) if (c, u) == (2, 21)
                     else a for a in w.answers for c, u in [a[:2]]]

    @case("a row for the unanswered pair (excused)", set())
    def _(w):
        w.add_row(2, 22, 222)

    @case("MySQL's remaining changed", {h.CONSERVATION})
    def _(w):
        w.coupons[2]["remaining"] += 1
        w.coupons[2]["live"] += 1

    @case("the node's live stock differs from MySQL's", {h.CONSERVATION})
    def _(w):
        w.coupons[2]["live"] -= 1

    @case("Kafka holds another count", {h.CONSERVATION})
    def _(w):
        w.kafka[2] += 1

    @case("no coupon_stocks row", {h.CONSERVATION})
    def _(w):
        w.coupons[2]["remaining"] = None

    @case("the coupon missing from `coupons`", {h.CONSERVATION})
    def _(w):
        w.coupons[2] = {"total": None, "remaining": None}

    @case("sold out with a unit never issued", {h.STRANDED})
    def _(w):
        w.answers = [a for a in w.answers if a[:2] != (1, 12)]
        w.drop_row(1, 12)

    @case("sold out but the node still has stock", {h.STRANDED,
                                                    h.CONSERVATION})
    def _(w):
        w.coupons[1]["live"] = 1

    @case("one pair told two issuance ids", {h.CLIENT_VIEW})
    def _(w):
        w.answers.append((1, 10, 409, err("ALREADY_ISSUED", issuanceId=555)))

    @case("more users told yes than the total", {h.OVER_ISSUE, h.LOST})
    def _(w):
        w.answers.append((1, 14, 202, YES(104)))

    return cases


def fabricated():
    base, tally = World().check()
    if base:
        h.fail(f"the consistent world fails: {base}")
    # Its one row of an unknown outcome (user 21), none of a definite no.
    if (tally["rows_of_unknown"], tally["phantoms"],
            tally["acknowledged"]) != (1, 0, 4):
        h.fail(f"the consistent world's tally is off: {tally}")
    seen = set()
    cases = fabricated_cases()
    for what, change, kinds in cases:
        w = World()
        change(w)
        found, _ = w.check()
        got = {k for k, _ in found}
        if got != kinds:
            h.fail(f"{what}: reported {sorted(got)} {found}, expected "
                   f"{sorted(kinds)}")
        seen |= got
        h.log(f"  {what}: {sorted(got) or 'nothing, as it must'}"
              + (f" — {found[0][1]}" if found else ""))
    missing = set(h.KINDS) - seen
    if missing:
        h.fail(f"no case made these checks fail: {sorted(missing)}")
    h.log(f"fabricated: the consistent world passes; {len(cases)} tamperings "
          f"each reported as expected, every one of the {len(seen)} kinds "
          "failed at least once")


class Issued:
    """A real node's answers to the test's requests."""

    def __init__(self):
        self.answers = []

    def issue(self, coupon, user):
        status, body, _ = h.call("POST", f"/api/coupons/{coupon}/issue",
                                 {"userId": user})
        body = body if isinstance(body, dict) else {}
        self.answers.append((coupon, user, status, body))
        return status, body


def stored():
    """Issues two coupons on a real node; returns (answers, totals, live,
    {"unknown"/"no": (user of C2 told 503 so, its code)})."""
    h.node("start")
    c1 = h.create_coupon("checkers-tamper-sold-out", 5)
    c2 = h.create_coupon("checkers-tamper-open", 10)
    got = Issued()
    for user in range(1, 9):
        got.issue(c1, user)
    got.issue(c1, 1)  # ALREADY_ISSUED
    for user in range(1, 4):
        got.issue(c2, user)
    # A 503 from the node itself: C2's stock actor crashed, then asked at
    # once (it answers 503 while the actor is being restarted).
    h.inject_fault("crash-stock", c2)
    # The first request may reach the dead actor (503 OUTCOME_UNKNOWN: no
    # answer came); once the node knows, 503 UNAVAILABLE (definite). Both
    # are kept: a row for the first is excused, for the second a phantom.
    told_503 = {}  # "unknown" / "no" -> (user, code)
    deadline = time.time() + 3
    user = 49
    while "no" not in told_503 and time.time() < deadline:
        user += 1
        status, body = got.issue(c2, user)
        if status == 503:
            told_503.setdefault(h.outcome_of(status, body),
                                (user, body.get("code")))
        elif status not in (201, 202):
            h.fail(f"C2 after the crash: {status} {body}")
        time.sleep(0.01)
    if not told_503:
        h.fail("C2's crashed stock actor was never answered 503")
    h.log("C2's crashed stock actor answered 503: " + ", ".join(
        f"{code} to user {u}" for u, code in told_503.values()))
    deadline = time.time() + 30
    while h.call("GET", f"/api/coupons/{c2}")[0] != 200:
        if time.time() > deadline:
            h.fail("C2's stock actor never came back")
        time.sleep(0.2)
    totals = {c1: 5, c2: 10}
    views = h.wait_drained(totals)
    live = {c: v["remainingQuantity"] for c, v in views.items()}
    statuses = sorted({s for _, _, s, _ in got.answers})
    h.log(f"a real node: {len(got.answers)} answers (statuses {statuses}) "
          f"on coupons {c1} and {c2}")
    return got.answers, totals, live, told_503


def database():
    answers, totals, live, told_503 = stored()
    c1, c2 = totals

    def check():
        tally = {}
        found = h.check_stored(answers, totals, live=live, tally=tally)
        return {k for k, _ in found}, found, tally

    def expect(what, kinds):
        got, found, _ = check()
        if got != kinds:
            h.fail(f"{what}: reported {sorted(got)} {found}, expected "
                   f"{sorted(kinds)}")
        h.log(f"  {what}: {sorted(got) or 'nothing, as it must'}"
              + (f" — {found[0][1]}" if found else ""))

    got, found, tally = check()
    if got:
        h.fail(f"untouched: {found}")
    h.report_checks(found, tally, "untouched")
    steps = 0

    def tamper(what, kinds, do, undo):
        nonlocal steps
        do()
        try:
            expect(what, kinds)
        finally:
            undo()
        expect(f"{what}, repaired", set())
        steps += 1

    row = h.sql("SELECT id, coupon_id, user_id, issuance_id, issued_at FROM "
                f"user_coupons WHERE coupon_id = {c1} LIMIT 1")[0]
    tamper("a row of the sold-out coupon deleted",
           {h.LOST, h.CONSERVATION, h.STRANDED},
           lambda: h.sql(f"DELETE FROM user_coupons WHERE id = {row[0]}"),
           lambda: h.sql(
               "INSERT INTO user_coupons (id, coupon_id, user_id, issuance_id,"
               f" issued_at) VALUES ({row[0]}, {row[1]}, {row[2]}, {row[3]},"
               f" '{row[4]}')"))
    other = h.sql("SELECT user_id, issuance_id FROM user_coupons "
                  f"WHERE coupon_id = {c2} LIMIT 1")[0]
    fake = 990_000_000_000

    def duplicate():
        h.sql("ALTER TABLE user_coupons DROP INDEX uq_user_coupon")
        h.sql("INSERT INTO user_coupons (coupon_id, user_id, issuance_id, "
              f"issued_at) VALUES ({c2}, {other[0]}, {fake}, NOW())")

    def no_duplicate():
        h.sql(f"DELETE FROM user_coupons WHERE issuance_id = {fake}")
        h.sql("ALTER TABLE user_coupons ADD UNIQUE KEY uq_user_coupon "
              "(user_id, coupon_id)")
    tamper("a duplicate inserted", {h.DUPLICATE, h.CONSERVATION}, duplicate,
           no_duplicate)

    def stock(coupon, by):
        return lambda: h.sql("UPDATE coupon_stocks SET remaining_quantity = "
                             f"remaining_quantity + ({by}) "
                             f"WHERE coupon_id = {coupon}")
    tamper("the open coupon's stock count changed", {h.CONSERVATION},
           stock(c2, 1), stock(c2, -1))
    tamper("the sold-out coupon's stock count changed",
           {h.CONSERVATION, h.STRANDED}, stock(c1, 1), stock(c1, -1))

    def row_for(coupon, user, issuance, consistent):
        def do():
            h.sql("INSERT INTO user_coupons (coupon_id, user_id, issuance_id,"
                  f" issued_at) VALUES ({coupon}, {user}, {issuance}, NOW())")
            if consistent:
                stock(coupon, -1)()

        def undo():
            h.sql(f"DELETE FROM user_coupons WHERE issuance_id = {issuance}")
            if consistent:
                stock(coupon, 1)()
        return do, undo
    sold_out_user = next(u for c, u, s, b in answers
                         if c == c1 and b.get("code") == "SOLD_OUT")
    tamper(f"a row for user {sold_out_user}, told SOLD_OUT",
           {h.PHANTOM, h.OVER_ISSUE, h.CONSERVATION},
           *row_for(c1, sold_out_user, fake + 1, False))
    for kind, (user, code) in sorted(told_503.items()):
        if kind == "unknown" and h.sql(
                f"SELECT COUNT(*) FROM user_coupons WHERE coupon_id = {c2} "
                f"AND user_id = {user}")[0][0] != "0":
            # The request may have been issued after all: nothing to insert.
            h.log(f"  user {user}'s 503 {code} became a row")
            continue
        tamper(f"a row (and the stock lowered) for user {user}, told 503 "
               f"{code}" + (": a phantom" if kind == "no" else ": excused"),
               {h.PHANTOM, h.CONSERVATION} if kind == "no"
               else {h.CONSERVATION},
               *row_for(c2, user, fake + 2, True))
    if "no" not in told_503:
        h.log("  (the node answered no definite 503 while C2's actor was "
              "down: the fabricated cases above cover it)")
    tamper("a row (and the stock lowered) nobody asked for",
           {h.PHANTOM, h.CONSERVATION},
           *row_for(c2, 4_000_000_000, fake + 3, True))
    tamper("a total changed in `coupons`", {h.CONSERVATION},
           lambda: h.sql("UPDATE coupons SET total_quantity = 11 "
                         f"WHERE id = {c2}"),
           lambda: h.sql("UPDATE coupons SET total_quantity = 10 "
                         f"WHERE id = {c2}"))
    h.log(f"MariaDB: {steps} tamperings each reported as expected, each "
          "repair passing again")


def main():
    fabricated()
    database()
    h.log("every Python invariant check failed where it must and passed "
          "where it must")


if __name__ == "__main__":
    main()
