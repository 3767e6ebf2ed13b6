#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/integrity.hpp"
#include "cli/load_engine.hpp"

namespace dibs::load {

/// The writers' lag at one instant: records in Kafka not yet in MySQL.
struct lag_sample {
  /// Seconds since the load started.
  double at_s = 0;
  int64_t total = 0;
  std::map<int32_t, int64_t> per_partition;
};

/// Latency of one endpoint in milliseconds.
struct latency_ms {
  uint64_t count = 0;
  double avg = 0;
  double min = 0;
  double p50 = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
};

latency_ms summarize(const histogram& h);

/// Everything a load report says.
struct report {
  scenario plan;
  double duration_scale = 1;
  std::string command;
  std::string machine;
  std::string started_at;
  std::string url;
  unsigned threads = 1;
  uint64_t seed = 0;
  run_stats stats;
  std::vector<lag_sample> lag;
  /// Seconds from the last answer until the writers had drained Kafka;
  /// empty when they had not within `drain_timeout_s`.
  std::optional<double> drain_s;
  double drain_timeout_s = 0;
  integrity_report integrity;
  /// Why the integrity checks could not run at all.
  std::optional<std::string> integrity_error;

  /// Drained, and every integrity check ran and passed.
  bool passed() const;
};

/// Seconds from the first request to the last answer.
double run_seconds(const run_stats& stats);

/// Answers per second over `run_seconds`.
double throughput(const run_stats& stats);

/// The latency of every request of the run, all endpoints together.
histogram all_latency(const run_stats& stats);

nlohmann::json to_json(const report& r);

std::string to_markdown(const report& r);

} // namespace dibs::load
