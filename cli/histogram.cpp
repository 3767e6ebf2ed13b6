#include "cli/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace dibs::load {

namespace {

constexpr uint64_t sub_count = uint64_t{1} << histogram::sub_bucket_bits;
constexpr uint64_t half_count = sub_count / 2;

/// Position of the highest set bit; `value` > 0.
unsigned msb(uint64_t value) {
  return 63u - static_cast<unsigned>(__builtin_clzll(value));
}

} // namespace

// Layout: indexes [0, sub_count) hold the values themselves. Above, bucket
// k ≥ 1 covers [2^(S+k-1), 2^(S+k)) in half_count slots of width 2^k.

size_t histogram::index_of(uint64_t value) {
  value = std::min(value, highest_trackable);
  if (value < sub_count)
    return static_cast<size_t>(value);
  auto shift = msb(value) - sub_bucket_bits + 1;
  auto sub = value >> shift; // in [half_count, sub_count)
  return static_cast<size_t>(sub_count + (shift - 1) * half_count
                             + (sub - half_count));
}

uint64_t histogram::lowest_of(size_t index) {
  if (index < sub_count)
    return index;
  auto shift = (index - sub_count) / half_count + 1;
  auto sub = (index - sub_count) % half_count + half_count;
  return sub << shift;
}

uint64_t histogram::highest_of(size_t index) {
  if (index < sub_count)
    return index;
  auto shift = (index - sub_count) / half_count + 1;
  return lowest_of(index) + (uint64_t{1} << shift) - 1;
}

histogram::histogram() : counts_(index_of(highest_trackable) + 1, 0) {
  // Empty.
}

void histogram::record(uint64_t micros) {
  ++counts_[index_of(micros)];
  min_ = count_ == 0 ? micros : std::min(min_, micros);
  max_ = std::max(max_, micros);
  ++count_;
  sum_ += micros;
}

void histogram::merge(const histogram& other) {
  if (other.count_ == 0)
    return;
  for (size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

double histogram::mean() const {
  return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
}

uint64_t histogram::percentile(double percent) const {
  if (count_ == 0)
    return 0;
  percent = std::clamp(percent, 0.0, 100.0);
  // The epsilon keeps 99.9 % of 1,000 at rank 999 despite binary fractions.
  auto rank = static_cast<uint64_t>(
    std::ceil(percent * static_cast<double>(count_) / 100.0 - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank)
      return std::min(highest_of(i), max_);
  }
  return max_;
}

} // namespace dibs::load
