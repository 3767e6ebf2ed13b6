#pragma once

#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>

#include "persistence/records.hpp"

namespace dibs {

/// Which stock actor owns which coupon on this node. Read on every request
/// by the gateway's io threads, written only when a coupon is created or the
/// node starts, hence a reader-writer lock rather than an actor round trip.
class coupon_directory {
public:
  /// The coupon's stock actor, or an invalid handle.
  caf::actor find(coupon_id_t id) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = actors_.find(id);
    return i != actors_.end() ? i->second : caf::actor{};
  }

  void add(coupon_id_t id, caf::actor hdl) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    actors_.emplace(id, std::move(hdl));
  }

  std::vector<caf::actor> all() const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    std::vector<caf::actor> result;
    for (auto& kvp : actors_)
      result.push_back(kvp.second);
    return result;
  }

  /// Drops every handle; the actor system cannot shut down while any lives.
  void clear() {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    actors_.clear();
  }

private:
  mutable std::shared_mutex mtx_;
  std::unordered_map<coupon_id_t, caf::actor> actors_;
};

} // namespace dibs
