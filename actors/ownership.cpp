#include "actors/ownership.hpp"

#include <algorithm>

namespace dibs {

const std::string& ownership::owner_name(coupon_id_t id) const {
  static const std::string single;
  if (!members_)
    return single;
  auto& map = members_->map();
  return map.members()[map.owner_of(id)].id;
}

void ownership::keep_owned(std::vector<coupon>& coupons) const {
  coupons.erase(std::remove_if(coupons.begin(), coupons.end(),
                               [this](const coupon& c) { return !owns(c.id); }),
                coupons.end());
}

caf::error ownership::claim(mysql_store& store,
                            const std::vector<coupon_id_t>& ids) {
  std::vector<coupon_id_t> unclaimed;
  for (auto id : ids)
    if (claimed_.count(id) == 0)
      unclaimed.push_back(id);
  if (unclaimed.empty())
    return caf::none;
  // A single node's first claim takes every coupon in one statement.
  auto fresh = members_ || !claimed_.empty() ? store.claim_epochs(unclaimed)
                                             : store.claim_epochs();
  if (!fresh)
    return std::move(fresh.error());
  claimed_.insert(fresh->begin(), fresh->end());
  return caf::none;
}

} // namespace dibs
