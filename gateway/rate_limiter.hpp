#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

#include <absl/container/flat_hash_map.h>
#include <boost/asio/ip/address.hpp>

namespace dibs {

/// Token buckets by key (a user id, a client address): `per_s` tokens a
/// second up to `burst`. Thread-safe: the keys spread over shards, each
/// with its own mutex. Bounded: a full shard first forgets the buckets that
/// have refilled (they hold nothing a new bucket would not), then any.
class rate_limiter {
public:
  using clock = std::chrono::steady_clock;

  /// `per_s` 0 turns the limiter off.
  rate_limiter(double per_s, double burst, size_t max_keys = 1 << 20);

  bool enabled() const {
    return per_s_ > 0;
  }

  /// Takes a token for `key`; without one left, how long until there is.
  std::optional<std::chrono::milliseconds> take(uint64_t key,
                                                clock::time_point now);

private:
  struct bucket {
    double tokens;
    clock::time_point at;
  };

  struct shard {
    std::mutex mtx;
    /// Open addressing: a new key (most requests of a rush bring one)
    /// costs no allocation, and a lookup one cache line or two.
    absl::flat_hash_map<uint64_t, bucket> buckets;
  };

  static constexpr size_t shard_count = 64;

  double per_s_;
  double burst_;
  size_t max_per_shard_;
  std::array<shard, shard_count> shards_;
};

/// The rate limiter's key of a client: an IPv4 address, or the /64 prefix of
/// an IPv6 one (a host usually holds a whole /64), marked apart.
uint64_t address_key(const boost::asio::ip::address& a);

} // namespace dibs
