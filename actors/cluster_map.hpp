#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/settings.hpp>

#include "core/domain.hpp"

namespace dibs {

/// One node of a cluster as the cluster configuration names it.
struct member {
  /// Unique, stable: shards are assigned by it.
  std::string id;
  /// Where its gateway listens (host:port).
  std::string http_host;
  uint16_t http_port = 0;
  /// Where its actors take messages from other nodes (CAF's middleman).
  std::string actor_host;
  uint16_t actor_port = 0;
};

/// Who owns which coupon: coupons map to a fixed number of shards by hash,
/// shards to members by rendezvous hashing (each shard goes to the member
/// whose hash with it is highest), so a member joining or leaving moves
/// only the shards it gains or loses. A pure function of the configuration:
/// every node computes the same map, and no two nodes can both believe they
/// own a shard while they share a configuration (`fingerprint`).
class cluster_map {
public:
  /// A map over `members` (at least one, unique ids and addresses) with
  /// `shards` shards (at least as many as members, at most 65,536), seen
  /// from the member named `self`.
  static caf::expected<cluster_map> make(std::vector<member> members,
                                         uint32_t shards,
                                         const std::string& self);

  /// Reads `cluster.nodes` (a list of `{id, http, actor}`), `cluster.shards`
  /// and `cluster.self` from a CAF configuration. No nodes: no cluster, an
  /// empty map.
  static caf::expected<cluster_map> from_config(const caf::settings& cfg,
                                                uint32_t shards,
                                                const std::string& self);

  /// Not configured: a single node serving every coupon.
  bool empty() const {
    return members_.empty();
  }

  uint32_t shard_of(coupon_id_t coupon) const;

  /// Index into `members()` of the shard's owner.
  size_t owner_of_shard(uint32_t shard) const {
    return owners_[shard];
  }

  size_t owner_of(coupon_id_t coupon) const {
    return owners_[shard_of(coupon)];
  }

  /// This node owns the coupon (always, without a cluster).
  bool owns(coupon_id_t coupon) const {
    return empty() || owner_of(coupon) == self_;
  }

  const std::vector<member>& members() const {
    return members_;
  }

  size_t self() const {
    return self_;
  }

  uint32_t shards() const {
    return static_cast<uint32_t>(owners_.size());
  }

  /// The shards `member` owns, ascending.
  std::vector<uint32_t> shards_of(size_t member) const;

  /// A hash of the members (ids and addresses, in order) and the shard
  /// count: nodes refuse peers whose fingerprint differs.
  uint64_t fingerprint() const {
    return fingerprint_;
  }

private:
  std::vector<member> members_;
  std::vector<uint16_t> owners_;
  size_t self_ = 0;
  uint64_t fingerprint_ = 0;
};

/// Rendezvous weight of a member for a shard; exposed for the tests.
uint64_t rendezvous_weight(const std::string& member_id, uint32_t shard);

} // namespace dibs
