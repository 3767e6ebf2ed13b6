#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dibs::load {

using millis = std::chrono::milliseconds;

/// What one virtual user does per iteration.
enum class flow {
  /// POST .../issue: 202 once the decision is durable in Kafka.
  issue,
  /// POST .../issue?wait=true: 201 once the row is in MySQL.
  issue_wait,
  /// POST .../issue, then GET .../issuances/{user} until ISSUED.
  issue_then_poll,
};

/// k6's ramping stage: move linearly to `target` over `duration`.
struct stage {
  millis duration{0};
  uint32_t target = 0;
};

/// `count` coupons of the same kind, created through the admin API.
struct coupon_group {
  uint32_t count = 1;
  int64_t total_quantity = 0;
  int64_t discount = 1000;
};

/// A load scenario, read from a JSON file of `cli/scenarios/` (the format
/// is documented in `docs/load-test.md`).
struct scenario {
  std::string name;
  std::string description;
  std::vector<coupon_group> coupons;
  /// Users are drawn uniformly from [users_from, users_to].
  uint64_t users_from = 1;
  uint64_t users_to = 1'000'000;
  flow kind = flow::issue;
  /// Pause of a virtual user between iterations.
  millis think_time{0};
  /// `issue_then_poll`: pause between polls, and the most polls per issue.
  millis poll_interval{100};
  uint32_t max_polls = 100;
  /// Closed loop: virtual users over time. A stage of duration 0 jumps.
  std::vector<stage> stages;
  /// Open loop instead, when `rate_per_s` > 0: iterations start at this
  /// fixed rate for `duration`, on at most `max_connections` connections;
  /// latency counts from when an iteration was due, not when it was sent.
  double rate_per_s = 0;
  millis duration{0};
  uint32_t max_connections = 1000;
  /// The reference reports' figures for the same scenario (may be null).
  nlohmann::json reference;

  bool open_loop() const { return rate_per_s > 0; }

  /// How long the load lasts.
  millis total_duration() const;

  /// The virtual users due `elapsed` after the start (closed loop).
  uint32_t target_vus(millis elapsed) const;

  /// The most virtual users at any time (closed loop).
  uint32_t peak_vus() const;

  /// Stretches or shrinks every duration by `factor` (0.01 turns 10 minutes
  /// into 6 seconds).
  void scale_duration(double factor);

  /// Scales every stage's target so that the peak becomes `vus`.
  void set_peak_vus(uint32_t vus);

  /// Turns the scenario into an open loop at `rate` per second for its
  /// whole duration.
  void set_rate(double rate);

  int64_t total_stock() const;
  size_t coupon_count() const;
};

/// "500ms", "30s", "2m", "1h"; throws std::invalid_argument.
millis parse_duration(const std::string& text);

std::string to_string(millis duration);

const char* to_string(flow kind);

/// Throws std::invalid_argument naming the offending field.
scenario parse_scenario(const nlohmann::json& doc);

/// `name_or_path` is a file when it contains a '/' or ends in ".json",
/// else `<dir>/<name>.json`.
scenario load_scenario(const std::string& name_or_path, const std::string& dir);

} // namespace dibs::load
