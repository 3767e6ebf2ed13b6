#pragma once

#include <optional>
#include <string>

#include "cli/scenario.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs::load {

/// Where the node, MySQL and Kafka are.
struct endpoints {
  std::string url = "http://127.0.0.1:8080";
  std::string admin_token;
  mysql_settings mysql;
  kafka_settings kafka;
  /// Read for the bootstrap servers when `kafka.bootstrap_servers` is empty.
  std::string kafka_bootstrap_file;

  /// The Kafka settings with the bootstrap servers filled in; throws
  /// std::runtime_error when there are none.
  kafka_settings kafka_resolved() const;
};

/// `dibsctl load`.
struct load_options {
  endpoints where;
  std::string scenario;
  std::string scenario_dir;
  double duration_scale = 1;
  /// Overrides: peak virtual users, or an open loop at this rate.
  uint32_t vus = 0;
  double rate = 0;
  uint32_t max_connections = 0;
  /// Overrides the scenario's think time when set.
  std::optional<millis> think_time;
  unsigned threads = 1;
  uint64_t seed = 0;
  millis request_timeout{10'000};
  millis lag_interval{500};
  millis drain_timeout{60'000};
  std::string json_path;
  std::string markdown_path;
  std::string ledger_path;
  /// The command line, for the report.
  std::string command;
  bool quiet = false;
};

/// Creates the scenario's coupons, runs its load, waits for the writers to
/// drain, checks integrity and prints the report. Returns the exit status:
/// 0 when every check passed, 1 when one failed, 2 when the run could not
/// happen.
int run_load_command(const load_options& opts);

/// `dibsctl check`: the integrity checks again, for a ledger written by
/// `load --ledger` (the tamper test uses it).
struct check_options {
  endpoints where;
  std::string ledger_path;
  millis drain_timeout{60'000};
  std::string json_path;
};

int run_check_command(const check_options& opts);

/// `dibsctl log-count`: "coupon_id count" lines, the distinct issuance
/// events per coupon in the whole topic.
int run_log_count(const endpoints& where);

} // namespace dibs::load
