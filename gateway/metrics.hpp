#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/histogram.hpp"
#include "gateway/request_rules.hpp"

namespace dibs {

const char* to_string(route r);

/// Request counters by route and status and latency histograms by route,
/// lock-free on the hot path, rendered in Prometheus' text exposition
/// format.
class gateway_metrics {
public:
  /// Counts an answer and how long it took since the request was read.
  void count(route r, unsigned status, std::chrono::microseconds took);

  /// Counts a request the session answered itself with `code` before
  /// closing the connection (a framing error, a limit, too many
  /// connections): it reached no route.
  void refused(ec code);

  /// Answers so far with `status` on route `r`.
  uint64_t answers(route r, unsigned status) const;

  const latency_histogram& latency(route r) const {
    return latency_[static_cast<size_t>(r)];
  }

  std::string render() const;

  static constexpr std::array<unsigned, 16> statuses = {
    200, 201, 202, 400, 401, 403, 404, 405, 409, 413, 414, 429, 431, 503, 505,
    500};

private:
  static size_t slot_of(unsigned status);

  std::array<std::array<std::atomic<uint64_t>, statuses.size()>, route_count>
    counts_{};
  std::array<latency_histogram, route_count> latency_;
  std::array<std::atomic<uint64_t>, statuses.size()> refused_{};
};

} // namespace dibs
