#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace dibs {

/// A latency histogram with fixed buckets from 50 µs to 10 s, lock-free on
/// the recording side, rendered as a Prometheus histogram in seconds.
class latency_histogram {
public:
  /// Upper bounds of the buckets in microseconds; +Inf follows.
  static constexpr std::array<uint64_t, 16> bounds_us = {
    50,     100,     250,     500,     1'000,     2'500,     5'000,
    10'000, 25'000,  50'000,  100'000, 250'000,   500'000,   1'000'000,
    2'500'000, 10'000'000};

  static constexpr size_t bucket_count = bounds_us.size() + 1;

  void record(std::chrono::microseconds took);

  /// Counts per bucket (not cumulative), the last one past every bound.
  std::array<uint64_t, bucket_count> counts() const;

  uint64_t count() const {
    return count_.load(std::memory_order_relaxed);
  }

  /// The sum of every recorded latency in microseconds.
  uint64_t sum_us() const {
    return sum_us_.load(std::memory_order_relaxed);
  }

  /// The upper bound of the bucket holding quantile `q` (0..1) of `counts`
  /// in microseconds: 0 without counts, the last bound when past every one.
  static uint64_t quantile_us(const std::array<uint64_t, bucket_count>& counts,
                              double q);

  /// Appends `name_bucket`, `name_sum` and `name_count` lines with `labels`
  /// (`key="value",...` or empty); HELP and TYPE are the caller's.
  void render(std::string& out, const char* name,
              const std::string& labels = {}) const;

private:
  std::array<std::atomic<uint64_t>, bucket_count> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

/// Appends the HELP and TYPE lines of a metric family.
void render_family(std::string& out, const char* name, const char* type,
                   const char* help);

} // namespace dibs
