#include "core/histogram.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace dibs {

void latency_histogram::record(std::chrono::microseconds took) {
  auto us = static_cast<uint64_t>(std::max<int64_t>(took.count(), 0));
  auto i = static_cast<size_t>(
    std::lower_bound(bounds_us.begin(), bounds_us.end(), us)
    - bounds_us.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(us, std::memory_order_relaxed);
}

std::array<uint64_t, latency_histogram::bucket_count>
latency_histogram::counts() const {
  std::array<uint64_t, bucket_count> result{};
  for (size_t i = 0; i < bucket_count; ++i)
    result[i] = buckets_[i].load(std::memory_order_relaxed);
  return result;
}

uint64_t latency_histogram::quantile_us(
  const std::array<uint64_t, bucket_count>& counts, double q) {
  uint64_t total = 0;
  for (auto n : counts)
    total += n;
  if (total == 0)
    return 0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total));
  uint64_t seen = 0;
  for (size_t i = 0; i < bounds_us.size(); ++i) {
    seen += counts[i];
    if (seen > rank)
      return bounds_us[i];
  }
  return bounds_us.back();
}

void latency_histogram::render(std::string& out, const char* name,
                               const std::string& labels) const {
  auto counts = this->counts();
  auto sep = labels.empty() ? "" : ",";
  // Read apart from the buckets, the total may run ahead of them: the
  // +Inf bucket and _count are both the buckets' sum, so they agree.
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_us.size(); ++i) {
    cumulative += counts[i];
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                       static_cast<double>(bounds_us[i]) / 1e6, cumulative);
  }
  cumulative += counts.back();
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep,
                     cumulative);
  auto braces = labels.empty() ? std::string{} : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n", name, braces,
                     static_cast<double>(sum_us()) / 1e6);
  out += fmt::format("{}_count{} {}\n", name, braces, cumulative);
}

void render_family(std::string& out, const char* name, const char* type,
                   const char* help) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n", name, help, type);
}

} // namespace dibs
