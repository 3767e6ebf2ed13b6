#include "cli/integrity.hpp"

#include <algorithm>
#include <unordered_map>

#include <caf/error.hpp>
#include <fmt/format.h>

#include "persistence/mysql_store.hpp"

namespace dibs::load {

bool integrity_report::passed() const {
  return std::all_of(checks.begin(), checks.end(),
                     [](const check& c) { return c.passed; });
}

namespace {

/// Collects offenders: counts them all, describes the first few.
struct offenders {
  uint64_t count = 0;
  std::string detail;

  void add(const std::string& what) {
    if (++count <= 5)
      detail += (detail.empty() ? "" : "; ") + what;
    else if (count == 6)
      detail += "; ...";
  }
};

check make_check(std::string name, std::string rule, const offenders& o,
                 std::string when_ok = "") {
  check c;
  c.name = std::move(name);
  c.rule = std::move(rule);
  c.failures = o.count;
  c.passed = o.count == 0;
  c.detail = c.passed ? std::move(when_ok) : o.detail;
  return c;
}

int64_t to_i64(const std::string& s) {
  return s.empty() ? 0 : std::stoll(s);
}

} // namespace

std::optional<std::string> check_integrity(mysql_store& db,
                                           const integrity_input& in,
                                           integrity_report& out) {
  out = integrity_report{};
  if (in.coupon_ids.empty())
    return "no coupons to check";
  auto ids = fmt::format("{}", fmt::join(in.coupon_ids, ","));
  auto run = [&db](const std::string& sql) {
    auto rows = db.query(sql);
    if (!rows)
      throw std::runtime_error(caf::to_string(rows.error()));
    return std::move(*rows);
  };
  try {
    // The facts per coupon, then the reference's three SQL checks verbatim
    // in spirit: each query returns the offending coupons or pairs.
    std::map<uint32_t, coupon_facts> facts;
    for (auto& r : run(fmt::format(
           "SELECT c.id, c.total_quantity, s.remaining_quantity,"
           " (SELECT COUNT(*) FROM user_coupons uc WHERE uc.coupon_id = c.id)"
           " FROM coupons c LEFT JOIN coupon_stocks s ON s.coupon_id = c.id"
           " WHERE c.id IN ({})",
           ids))) {
      coupon_facts f;
      f.id = static_cast<uint32_t>(to_i64(r[0]));
      f.total = to_i64(r[1]);
      f.remaining = r[2].empty() ? -1 : to_i64(r[2]);
      f.rows = to_i64(r[3]);
      facts[f.id] = f;
    }
    offenders over;
    for (auto& r : run(fmt::format(
           "SELECT c.id, c.total_quantity, COUNT(uc.id) FROM coupons c"
           " JOIN user_coupons uc ON uc.coupon_id = c.id WHERE c.id IN ({})"
           " GROUP BY c.id, c.total_quantity"
           " HAVING COUNT(uc.id) > c.total_quantity",
           ids)))
      over.add(fmt::format("coupon {}: {} rows for {} coupons", r[0], r[2],
                           r[1]));
    out.checks.push_back(make_check(
      "over_issue", "issued rows <= total quantity, for every coupon (SQL)",
      over));

    offenders dups;
    for (auto& r : run(fmt::format(
           "SELECT user_id, coupon_id, COUNT(*) FROM user_coupons"
           " WHERE coupon_id IN ({}) GROUP BY user_id, coupon_id"
           " HAVING COUNT(*) > 1",
           ids)))
      dups.add(fmt::format("user {} holds coupon {} {} times", r[0], r[1],
                           r[2]));
    for (auto& r : run(fmt::format(
           "SELECT issuance_id, COUNT(*) FROM user_coupons"
           " WHERE coupon_id IN ({}) GROUP BY issuance_id HAVING COUNT(*) > 1",
           ids)))
      dups.add(fmt::format("issuance {} is {} rows", r[0], r[1]));
    out.checks.push_back(make_check(
      "duplicates",
      "at most one row per (user, coupon) and per issuance id (SQL)", dups));

    offenders stock;
    for (auto& r : run(fmt::format(
           "SELECT c.id, c.total_quantity, s.remaining_quantity, COUNT(uc.id)"
           " FROM coupons c LEFT JOIN coupon_stocks s ON s.coupon_id = c.id"
           " LEFT JOIN user_coupons uc ON uc.coupon_id = c.id"
           " WHERE c.id IN ({})"
           " GROUP BY c.id, c.total_quantity, s.remaining_quantity"
           " HAVING s.remaining_quantity IS NULL"
           " OR CAST(s.remaining_quantity AS SIGNED)"
           " <> CAST(c.total_quantity AS SIGNED) - COUNT(uc.id)",
           ids)))
      stock.add(fmt::format("coupon {}: remaining {} but {} - {} rows", r[0],
                            r[2].empty() ? "missing" : r[2], r[1], r[3]));
    out.checks.push_back(make_check(
      "stock_consistency",
      "coupon_stocks.remaining_quantity = total_quantity - rows (SQL)",
      stock));

    // The rows, against every answer the generator got.
    std::unordered_map<pair_key, uint64_t, pair_hash> rows;
    std::unordered_map<uint64_t, int64_t> per_user;
    for (auto& r : run(fmt::format("SELECT coupon_id, user_id, issuance_id"
                                   " FROM user_coupons WHERE coupon_id IN ({})",
                                   ids))) {
      pair_key k{static_cast<uint32_t>(to_i64(r[0])),
                 static_cast<uint64_t>(to_i64(r[1]))};
      rows[k] = static_cast<uint64_t>(to_i64(r[2]));
      ++per_user[k.user];
    }
    out.rows = static_cast<int64_t>(rows.size());
    out.distinct_users = static_cast<int64_t>(per_user.size());
    const ledger empty;
    auto& seen = in.seen ? *in.seen : empty;

    offenders lost;
    for (auto& [pair, id] : seen.accepted) {
      auto row = rows.find(pair);
      if (row == rows.end())
        lost.add(fmt::format("issuance {} (user {}, coupon {}) is no row", id,
                             pair.user, pair.coupon));
      else if (row->second != id)
        lost.add(fmt::format("user {}, coupon {}: answered issuance {}, row "
                             "holds {}",
                             pair.user, pair.coupon, id, row->second));
      if (facts.count(pair.coupon))
        ++facts[pair.coupon].accepted;
    }
    out.checks.push_back(make_check(
      "accepted_are_rows",
      "every issuance a client was given (202, 201, ALREADY_ISSUED) is a row "
      "with that id",
      lost,
      fmt::format("{} of {} accepted pairs are rows",
                  seen.accepted.size() - lost.count, seen.accepted.size())));

    offenders phantoms;
    for (auto& [pair, id] : rows) {
      if (seen.accepted.count(pair))
        continue;
      if (seen.undecided.count(pair)) {
        ++out.rows_of_undecided;
        continue;
      }
      phantoms.add(fmt::format("issuance {} (user {}, coupon {}) was never "
                               "accepted",
                               id, pair.user, pair.coupon));
    }
    out.checks.push_back(make_check(
      "no_phantoms",
      "every row is a pair a client was told was issued, or whose request "
      "got no decision (503 OUTCOME_UNKNOWN, timeout, lost connection)",
      phantoms));

    offenders client;
    for (auto& c : seen.conflicts)
      client.add(fmt::format("user {}, coupon {}: told issuance {} and {}",
                             c.pair.user, c.pair.coupon, c.first, c.second));
    for (auto& [id, f] : facts)
      if (f.accepted > f.total)
        client.add(fmt::format("coupon {}: {} users told issued of {}", id,
                               f.accepted, f.total));
    out.checks.push_back(make_check(
      "client_view",
      "one issuance id per pair, and no more pairs told issued than the "
      "total, in the answers",
      client));

    offenders conservation;
    for (auto id : in.coupon_ids)
      if (!facts.count(id))
        conservation.add(fmt::format("coupon {} is not in `coupons`", id));
    for (auto& [id, f] : facts) {
      if (auto i = in.live_remaining.find(id); i != in.live_remaining.end()) {
        f.live_remaining = i->second;
        if (f.live_remaining != f.remaining)
          conservation.add(fmt::format("coupon {}: node says {} remain, MySQL "
                                       "{}",
                                       id, f.live_remaining, f.remaining));
      }
      if (f.total - f.remaining != f.rows)
        conservation.add(fmt::format("coupon {}: total - remaining = {} but "
                                     "{} rows",
                                     id, f.total - f.remaining, f.rows));
      if (in.kafka_events) {
        auto i = in.kafka_events->find(id);
        f.kafka_events = i == in.kafka_events->end() ? 0 : i->second;
        if (f.kafka_events != f.rows)
          conservation.add(fmt::format("coupon {}: {} rows but {} distinct "
                                       "events in Kafka",
                                       id, f.rows, f.kafka_events));
      }
    }
    out.checks.push_back(make_check(
      "conservation",
      in.kafka_events
        ? "total - remaining = rows = distinct Kafka events, and the node's "
          "live stock = MySQL's, for every coupon"
        : "total - remaining = rows, and the node's live stock = MySQL's "
          "(Kafka not read)",
      conservation));

    offenders stranded;
    for (auto& [id, f] : facts) {
      f.sold_out_seen = seen.sold_out.count(id) > 0;
      if (f.sold_out_seen && (f.remaining != 0 || f.live_remaining > 0))
        stranded.add(fmt::format("coupon {} answered SOLD_OUT but {} remain",
                                 id, std::max(f.remaining, f.live_remaining)));
    }
    out.checks.push_back(make_check(
      "no_stranded_stock",
      "a coupon that answered SOLD_OUT ends with 0 remaining", stranded));

    for (auto id : in.coupon_ids)
      if (facts.count(id))
        out.coupons.push_back(facts[id]);
  } catch (const std::exception& e) {
    return std::string{e.what()};
  }
  return std::nullopt;
}

} // namespace dibs::load
