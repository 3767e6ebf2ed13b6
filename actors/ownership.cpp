#include "actors/ownership.hpp"

#include <algorithm>

#include "persistence/kafka.hpp"

namespace dibs {

ownership::ownership(const cluster* members) {
  set_members(members);
}

void ownership::set_members(const cluster* members) {
  std::lock_guard<std::mutex> guard{mtx_};
  members_ = members;
  learned_.assign(members_ ? members_->map().members().size() : 0, {});
}

void ownership::set_partitions(int32_t partitions) {
  std::lock_guard<std::mutex> guard{mtx_};
  // Once, before anything is served: readers check partitions_ first, so
  // the arrays exist before it says they do.
  local_.reset(new std::atomic<uint64_t>[partitions]);
  remote_.reset(new std::atomic<int32_t>[partitions]);
  for (int32_t i = 0; i < partitions; ++i) {
    local_[i] = 0;
    remote_[i] = -1;
  }
  partitions_.store(partitions, std::memory_order_release);
  recompute();
}

int32_t ownership::shard_of(coupon_id_t id) const {
  return partition_of(id, partitions_);
}

void ownership::serve(int32_t shard, uint64_t epoch) {
  if (shard >= 0 && shard < partitions_)
    local_[shard].store(epoch, std::memory_order_release);
}

void ownership::drop(int32_t shard) {
  serve(shard, 0);
}

std::vector<shard_claim> ownership::served() const {
  std::vector<shard_claim> result;
  for (int32_t i = 0; i < partitions_; ++i)
    if (auto e = epoch(i))
      result.push_back({i, e});
  return result;
}

void ownership::learn(size_t member, const std::vector<uint64_t>& claims) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (member >= learned_.size())
    return;
  std::vector<shard_claim> next;
  for (auto x : claims)
    next.push_back(unpack(x));
  auto same = next.size() == learned_[member].size()
              && std::equal(next.begin(), next.end(), learned_[member].begin(),
                            [](auto& a, auto& b) {
                              return a.shard == b.shard && a.epoch == b.epoch;
                            });
  if (same)
    return;
  learned_[member] = std::move(next);
  recompute();
}

void ownership::forget(size_t member) {
  learn(member, {});
}

std::vector<shard_claim> ownership::claims_of(size_t member) const {
  if (!members_ || member == members_->map().self())
    return served();
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<shard_claim> result;
  if (member < learned_.size())
    for (auto& c : learned_[member])
      if (c.shard >= 0 && c.shard < partitions_
          && remote_[c.shard].load() == static_cast<int32_t>(member))
        result.push_back(c);
  return result;
}

void ownership::recompute() {
  // Two members may both claim a shard for a moment (the old owner's
  // heartbeat answer before it learned it was fenced): the newer epoch is
  // the owner.
  std::vector<std::pair<int32_t, uint64_t>> best(partitions_, {-1, 0});
  for (size_t m = 0; m < learned_.size(); ++m)
    for (auto& c : learned_[m])
      if (c.shard >= 0 && c.shard < partitions_
          && c.epoch > best[c.shard].second)
        best[c.shard] = {static_cast<int32_t>(m), c.epoch};
  for (int32_t i = 0; i < partitions_; ++i)
    remote_[i].store(best[i].first, std::memory_order_release);
}

int32_t ownership::owner_index(int32_t shard) const {
  if (shard < 0 || shard >= partitions_)
    return -1;
  if (epoch(shard) != 0)
    return members_ ? static_cast<int32_t>(members_->map().self()) : 0;
  return remote_[shard].load(std::memory_order_acquire);
}

const cluster::peer_ref* ownership::remote_owner(coupon_id_t id) const {
  if (!members_ || owns(id) || partitions_ == 0)
    return nullptr;
  auto m = remote_[shard_of(id)].load(std::memory_order_acquire);
  return m < 0 ? nullptr : members_->peer(static_cast<size_t>(m));
}

std::string ownership::owner_name(coupon_id_t id) const {
  if (!members_)
    return "";
  auto m = owner_index(partitions_ > 0 ? shard_of(id) : -1);
  return m < 0 ? "" : members_->map().members()[m].id;
}

void ownership::keep_owned(std::vector<coupon>& coupons) const {
  coupons.erase(std::remove_if(coupons.begin(), coupons.end(),
                               [this](const coupon& c) { return !owns(c.id); }),
                coupons.end());
}

caf::error ownership::claim(mysql_store& store,
                            const std::vector<coupon_id_t>& ids) {
  std::vector<coupon_id_t> unclaimed;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto id : ids)
      if (claimed_.count(id) == 0)
        unclaimed.push_back(id);
  }
  if (unclaimed.empty())
    return caf::none;
  auto fresh = store.claim_epochs(unclaimed);
  if (!fresh)
    return std::move(fresh.error());
  std::lock_guard<std::mutex> guard{mtx_};
  claimed_.insert(fresh->begin(), fresh->end());
  return caf::none;
}

void ownership::unclaim(const std::vector<coupon_id_t>& ids) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto id : ids)
    claimed_.erase(id);
}

std::map<coupon_id_t, uint64_t> ownership::epochs() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return claimed_;
}

} // namespace dibs
