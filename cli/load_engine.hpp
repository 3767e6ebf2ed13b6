#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cli/histogram.hpp"
#include "cli/scenario.hpp"

namespace dibs::load {

using clock = std::chrono::steady_clock;

/// The requests the generator sends, each with its own latency histogram.
enum class endpoint : uint8_t {
  issue,      // POST /api/coupons/{id}/issue
  issue_wait, // POST /api/coupons/{id}/issue?wait=true
  status,     // GET /api/coupons/{id}/issuances/{user}
};
constexpr size_t endpoint_count = 3;
const char* to_string(endpoint x);

/// How one request ended.
enum class outcome : uint8_t {
  accepted,         // 202 ACCEPTED
  issued,           // 201 ISSUED
  sold_out,         // 409 SOLD_OUT
  already_issued,   // 409 ALREADY_ISSUED
  not_open,         // 403 NOT_OPEN
  closed,           // 403 CLOSED
  coupon_not_found, // 404 COUPON_NOT_FOUND
  bad_request,      // 400
  rate_limited,     // 429
  unavailable,      // 503 UNAVAILABLE, NOT_READY, OVERLOADED: definitely not
                    // issued
  outcome_unknown,  // 503 OUTCOME_UNKNOWN: may or may not have been issued
  other_status,     // any other status
  timeout,          // no answer within the request timeout
  transport_error,  // refused, reset or garbled connection
  status_accepted,  // 200 status ACCEPTED (still on its way to MySQL)
  status_issued,    // 200 status ISSUED
  status_not_issued,// 404 NOT_ISSUED
};
constexpr size_t outcome_count = 17;
const char* to_string(outcome x);

/// Whether an outcome leaves it open if the issuance happened.
bool undecided(outcome x);

/// A (coupon, user) pair.
struct pair_key {
  uint32_t coupon;
  uint64_t user;
  bool operator==(const pair_key& other) const {
    return coupon == other.coupon && user == other.user;
  }
};

struct pair_hash {
  size_t operator()(const pair_key& k) const {
    return std::hash<uint64_t>{}(k.user * 0x9E3779B97F4A7C15ull ^ k.coupon);
  }
};

/// What the clients were told, for the integrity checks.
struct ledger {
  /// Pairs answered with an issuance (202, 201, or ALREADY_ISSUED naming
  /// the existing one), with its id.
  std::unordered_map<pair_key, uint64_t, pair_hash> accepted;
  /// Pairs with an issue request whose outcome is unknown (503
  /// OUTCOME_UNKNOWN, no answer within the timeout, a lost connection): a
  /// row for them is neither required nor a phantom. A definite "no" (503
  /// UNAVAILABLE, any other status) is not here: a row for it is a phantom.
  std::unordered_set<pair_key, pair_hash> undecided;
  /// Pairs the clients were told two different issuance ids for.
  struct conflict {
    pair_key pair;
    uint64_t first;
    uint64_t second;
  };
  std::vector<conflict> conflicts;
  /// Coupons some client was told SOLD_OUT: their stock must end at 0.
  std::unordered_set<uint32_t> sold_out;

  void accept(pair_key pair, uint64_t issuance_id);
  void merge(const ledger& other);
};

/// Everything one run measured.
struct run_stats {
  std::array<histogram, endpoint_count> latency;
  std::array<std::array<uint64_t, outcome_count>, endpoint_count> outcomes{};
  /// Answers by HTTP status, per endpoint.
  std::array<std::array<uint64_t, 600>, endpoint_count> statuses{};
  uint64_t iterations = 0;
  /// Open loop: iterations that fell due but never started before the end.
  uint64_t missed = 0;
  /// The most virtual users (connections in the open loop) at once.
  uint32_t peak_vus = 0;
  clock::time_point started;
  clock::time_point last_answer;
  /// Answers completed in each second of the run.
  std::vector<uint64_t> per_second;
  ledger seen;

  uint64_t requests() const;
  uint64_t requests(endpoint x) const;
  uint64_t count(outcome x) const;
  void merge(const run_stats& other);
};

/// Where the node listens.
struct target {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
};

/// Parses "http://host:port" (https is not supported).
target parse_url(const std::string& url);

struct run_options {
  target server;
  scenario plan;
  /// The ids of the coupons the generator created for `plan`.
  std::vector<uint32_t> coupon_ids;
  unsigned threads = 1;
  uint64_t seed = 1;
  millis request_timeout{10'000};
};

/// Live counters the generator updates while it runs, for progress lines.
struct run_progress {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint32_t> vus{0};
};

/// Runs the scenario's load against the node and returns what it measured.
/// Blocks until the last answer (or timeout) of the last iteration.
run_stats run_load(const run_options& opts, run_progress& progress);

} // namespace dibs::load
