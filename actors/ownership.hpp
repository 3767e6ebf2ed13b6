#pragma once

#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/cluster.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs {

/// Who serves each coupon, and under which owner epoch: the one place that
/// answers "is this coupon mine?". A single node owns every coupon; a member
/// of a cluster owns the coupons of its shards (`cluster_map`) and reaches
/// the others through their owner's peer actor.
class ownership {
public:
  /// `members` is null for a single node; it outlives this object.
  explicit ownership(const cluster* members) : members_(members) {
  }

  /// This node serves the coupon.
  bool owns(coupon_id_t id) const {
    return !members_ || members_->map().owns(id);
  }

  /// The peer actor of the member serving the coupon when it is another
  /// one; null when this node serves it.
  const cluster::peer_ref* remote_owner(coupon_id_t id) const {
    return owns(id) ? nullptr : members_->owner_of(id);
  }

  /// The id of the member serving the coupon ("" for a single node).
  const std::string& owner_name(coupon_id_t id) const;

  /// Drops the coupons another member serves.
  void keep_owned(std::vector<coupon>& coupons) const;

  /// Claims an owner epoch in MySQL for each coupon of `ids` this process
  /// has not claimed yet; on success every one of them has its epoch in
  /// `epochs()`. Epochs this process claimed in an attempt that failed
  /// later are still its own: no actor ran under them, so the snapshots
  /// written under the epoch before stay trusted. Claiming again would make
  /// every snapshot look stale and rebuild each coupon from MySQL.
  caf::error claim(mysql_store& store, const std::vector<coupon_id_t>& ids);

  /// The owner epochs this process claimed, by coupon.
  const std::map<coupon_id_t, uint64_t>& epochs() const {
    return claimed_;
  }

private:
  const cluster* members_;
  /// The owner epochs this process claimed.
  std::map<coupon_id_t, uint64_t> claimed_;
};

} // namespace dibs
