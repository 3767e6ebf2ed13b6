#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/cluster.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs {

/// A shard a node serves, at the epoch it took it over with.
struct shard_claim {
  int32_t shard = 0;
  uint64_t epoch = 0;
};

/// Who serves each coupon, and under which epoch: the one place that
/// answers "is this coupon mine?". A coupon's shard is its partition of the
/// issuance topic. The shard owners' group (`owner_group`) assigns shards
/// to nodes; a node serves a shard once it fenced it and recovered its
/// coupons (`serve`) and stops when the group takes it away or a newer
/// owner fenced it (`drop`). The other members say which shards they serve
/// in their heartbeat answers (`learn`): a coupon of a shard another member
/// serves goes to that member's peer actor; one of a shard nobody serves
/// now (moving) gets 503.
///
/// Read on every request by the gateway's threads: the table is atomics,
/// sized once when the partition count is known.
class ownership {
public:
  /// `members` is null for a single node; it outlives this object.
  explicit ownership(const cluster* members = nullptr);

  /// Sets the cluster once it exists (before anything is served).
  void set_members(const cluster* members);

  /// Sizes the table for `partitions` shards; nothing is served before.
  void set_partitions(int32_t partitions);

  int32_t partitions() const {
    return partitions_;
  }

  /// The coupon's shard: its partition of the issuance topic.
  int32_t shard_of(coupon_id_t id) const;

  /// This node serves the coupon now.
  bool owns(coupon_id_t id) const {
    return partitions_ > 0 && epoch(shard_of(id)) != 0;
  }

  /// The epoch this node serves `shard` with, 0 when it does not.
  uint64_t epoch(int32_t shard) const {
    return shard >= 0 && shard < partitions_
             ? local_[shard].load(std::memory_order_acquire)
             : 0;
  }

  /// This node serves `shard` from now on, with `epoch`.
  void serve(int32_t shard, uint64_t epoch);

  /// This node no longer serves `shard`.
  void drop(int32_t shard);

  /// The shards this node serves.
  std::vector<shard_claim> served() const;

  /// What member `index` says it serves (its heartbeat answer), packed by
  /// `pack`.
  void learn(size_t member, const std::vector<uint64_t>& claims);

  /// Member `index` is down: it serves nothing.
  void forget(size_t member);

  /// What member `index` serves as far as this node knows (this node's
  /// own index: what it serves).
  std::vector<shard_claim> claims_of(size_t member) const;

  static uint64_t pack(const shard_claim& c) {
    return (static_cast<uint64_t>(c.shard) << 48) | (c.epoch & 0xFFFFFFFFFFFF);
  }

  static shard_claim unpack(uint64_t x) {
    return {static_cast<int32_t>(x >> 48), x & 0xFFFFFFFFFFFF};
  }

  /// The peer actor of the member serving the coupon when another one
  /// does; null when this node serves it or nobody is known to.
  const cluster::peer_ref* remote_owner(coupon_id_t id) const;

  /// The id of the member serving the coupon: this node's, another's, or
  /// "" when nobody is known to.
  std::string owner_name(coupon_id_t id) const;

  /// The index of the member serving `shard`, -1 for none known; this
  /// node's own index when it serves it.
  int32_t owner_index(int32_t shard) const;

  /// Drops the coupons this node does not serve.
  void keep_owned(std::vector<coupon>& coupons) const;

  /// Claims an owner epoch in MySQL for each coupon of `ids` this process
  /// has not claimed yet; on success every one of them has its epoch in
  /// `epochs()`. Epochs this process claimed in an attempt that failed
  /// later are still its own: no actor ran under them, so the snapshots
  /// written under the epoch before stay trusted. Claiming again would make
  /// every snapshot look stale and rebuild each coupon from MySQL.
  caf::error claim(mysql_store& store, const std::vector<coupon_id_t>& ids);

  /// Forgets the claims of coupons given up: taken again, they are claimed
  /// anew.
  void unclaim(const std::vector<coupon_id_t>& ids);

  /// The owner epochs this process claimed, by coupon.
  std::map<coupon_id_t, uint64_t> epochs() const;

private:
  /// Recomputes the remote owner of every shard (mtx_ held).
  void recompute();

  const cluster* members_;
  /// 0 until `set_partitions`.
  std::atomic<int32_t> partitions_{0};
  /// The epoch this node serves each shard with, 0 for none.
  std::unique_ptr<std::atomic<uint64_t>[]> local_;
  /// The member serving each shard as far as heartbeats tell, -1 for none.
  std::unique_ptr<std::atomic<int32_t>[]> remote_;
  mutable std::mutex mtx_;
  /// What each member said it serves.
  std::vector<std::vector<shard_claim>> learned_;
  /// The owner epochs this process claimed.
  std::map<coupon_id_t, uint64_t> claimed_;
};

} // namespace dibs
