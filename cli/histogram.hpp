#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dibs::load {

/// A high-dynamic-range histogram of latencies in microseconds, after Gil
/// Tene's HdrHistogram: every value below 16,384 µs (16 ms) is counted at
/// exactly its own microsecond; above, values share buckets whose width is
/// at most 1/8,192 of the value (0.012 %), up to 2^32 µs (71 minutes).
/// Count, sum, min and max are kept exactly. Percentiles are ranks, not
/// interpolations: `percentile(99)` is the value of the request at rank
/// ceil(0.99 × count), reported as its bucket's highest value and never
/// above the recorded maximum. Not thread-safe: one per thread, then merge.
class histogram {
public:
  /// Values below 2^sub_bucket_bits are exact.
  static constexpr unsigned sub_bucket_bits = 14;
  /// Larger values count as this (the maximum stays exact).
  static constexpr uint64_t highest_trackable = (uint64_t{1} << 32) - 1;

  histogram();

  void record(uint64_t micros);

  /// Adds every value recorded in `other`.
  void merge(const histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const;

  /// The value at or below which `percent` % of the recorded values lie
  /// (0 < percent ≤ 100); 0 when empty.
  uint64_t percentile(double percent) const;

  /// Index of the bucket counting `value`; the inverse gives the bucket's
  /// lowest and highest value. Public for the tests.
  static size_t index_of(uint64_t value);
  static uint64_t lowest_of(size_t index);
  static uint64_t highest_of(size_t index);

private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  // Microsecond sums of 2^64 would take 584,000 years of latency.
  uint64_t sum_ = 0;
};

} // namespace dibs::load
