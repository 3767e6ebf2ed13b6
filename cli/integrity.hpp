#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/load_engine.hpp"

namespace dibs {
class mysql_store;
} // namespace dibs

namespace dibs::load {

/// One integrity check and what it found.
struct check {
  std::string name;
  /// The rule, in words.
  std::string rule;
  bool passed = true;
  /// Coupons, pairs or rows breaking the rule.
  uint64_t failures = 0;
  /// The first few offenders, or what was compared.
  std::string detail;
};

/// What each side holds for one coupon at the end of a run.
struct coupon_facts {
  uint32_t id = 0;
  int64_t total = 0;
  /// Rows in `user_coupons`.
  int64_t rows = 0;
  /// `coupon_stocks.remaining_quantity` (-1: no stock row).
  int64_t remaining = -1;
  /// The stock actor's live view (-1: not asked).
  int64_t live_remaining = -1;
  /// Distinct issuance events in Kafka (-1: not read).
  int64_t kafka_events = -1;
  /// Pairs the generator was told were issued.
  int64_t accepted = 0;
  bool sold_out_seen = false;
};

struct integrity_report {
  std::vector<check> checks;
  std::vector<coupon_facts> coupons;
  int64_t rows = 0;
  int64_t distinct_users = 0;
  /// Rows whose request got no decision (503 OUTCOME_UNKNOWN, timeout, lost
  /// connection): resolved by the log.
  int64_t rows_of_undecided = 0;

  bool passed() const;
};

/// Everything the checks compare besides MySQL.
struct integrity_input {
  std::vector<uint32_t> coupon_ids;
  const ledger* seen = nullptr;
  /// coupon → the node's live remainingQuantity, when the node was asked.
  std::map<uint32_t, int64_t> live_remaining;
  /// coupon → distinct issuance events in Kafka, when Kafka was read.
  std::optional<std::map<uint32_t, int64_t>> kafka_events;
};

/// Runs the reference's checks as SQL against MariaDB (over-issue,
/// duplicates, stock consistency), cross-checks them with what the
/// generator saw (every accepted answer is a row, no row for a refused
/// request, one issuance id per pair) and with the node and Kafka
/// (conservation, no stranded stock). Returns an error text when MySQL
/// cannot be queried.
std::optional<std::string> check_integrity(mysql_store& db,
                                           const integrity_input& in,
                                           integrity_report& out);

} // namespace dibs::load
