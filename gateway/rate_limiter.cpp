#include "gateway/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace dibs {

rate_limiter::rate_limiter(double per_s, double burst, size_t max_keys)
  : per_s_(per_s), burst_(std::max(burst, 1.0)),
    max_per_shard_(std::max<size_t>(max_keys / shard_count, 16)) {
  // Empty.
}

std::optional<std::chrono::milliseconds>
rate_limiter::take(uint64_t key, clock::time_point now) {
  if (!enabled())
    return std::nullopt;
  // Spread neighbouring keys (user ids 1, 2, 3 ...) over the shards.
  auto& s = shards_[(key * 0x9e3779b97f4a7c15ULL) >> 58];
  std::lock_guard<std::mutex> guard{s.mtx};
  auto refilled = [&](const bucket& b) {
    auto elapsed = std::chrono::duration<double>(now - b.at).count();
    return std::min(burst_, b.tokens + elapsed * per_s_);
  };
  auto i = s.buckets.find(key);
  if (i == s.buckets.end()) {
    if (s.buckets.size() >= max_per_shard_) {
      // Erasing leaves the other iterators of a flat_hash_map valid.
      for (auto j = s.buckets.begin(); j != s.buckets.end();)
        if (refilled(j->second) >= burst_)
          s.buckets.erase(j++);
        else
          ++j;
      if (s.buckets.size() >= max_per_shard_)
        s.buckets.erase(s.buckets.begin());
    }
    i = s.buckets.emplace(key, bucket{burst_, now}).first;
  }
  auto& b = i->second;
  b.tokens = refilled(b);
  b.at = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  auto wait_s = (1.0 - b.tokens) / per_s_;
  return std::chrono::milliseconds{
    static_cast<int64_t>(std::ceil(wait_s * 1000.0))};
}

uint64_t address_key(const boost::asio::ip::address& a) {
  if (a.is_v4())
    return a.to_v4().to_uint();
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return a.to_v6().to_v4().to_uint();
  uint64_t key = 0;
  auto bytes = a.to_v6().to_bytes();
  for (size_t i = 0; i < 8; ++i)
    key = key << 8 | bytes[i];
  return key | (uint64_t{1} << 63);
}

} // namespace dibs
