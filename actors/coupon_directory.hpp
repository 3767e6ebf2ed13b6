#pragma once

#include <functional>
#include <iterator>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/actor.hpp>
#include <caf/send.hpp>

#include "actors/protocol.hpp"
#include "actors/sold_out_gate.hpp"
#include "core/domain.hpp"

namespace dibs {

/// Which stock actor owns which coupon on this node. Read on every request
/// by the gateway's io threads, written only when a coupon is created, the
/// node starts or the supervisor replaces a crashed stock actor, hence a
/// reader-writer lock rather than an actor round trip.
class coupon_directory {
public:
  /// The coupon's stock actor, or an invalid handle.
  stock_api find(coupon_id_t id) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = actors_.find(id);
    return i != actors_.end() ? i->second.actor : stock_api{};
  }

  /// A coupon's stock actor and its sold-out gate (may be null).
  struct entry {
    stock_api actor;
    std::shared_ptr<const sold_out_gate> gate;
  };

  /// The coupon's stock actor with its gate; an invalid handle and no gate
  /// when none serves it here.
  entry find_entry(coupon_id_t id) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = actors_.find(id);
    return i != actors_.end() ? i->second : entry{};
  }

  /// Registers or replaces the coupon's stock actor and its gate (may be
  /// null).
  void set(coupon_id_t id, stock_api hdl,
           std::shared_ptr<const sold_out_gate> gate = nullptr) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    actors_.insert_or_assign(id, entry{std::move(hdl), std::move(gate)});
    recovering_.erase(id);
  }

  /// The coupon's stock actor died and is being recovered: `find` gives no
  /// handle and `recovering` is true until `set` installs the new one.
  void set_recovering(coupon_id_t id) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    actors_.erase(id);
    recovering_.insert(id);
  }

  /// The coupon has a stock actor here, or one being recovered: one read of
  /// both, so a recovered actor installed meanwhile is not missed.
  bool holds(coupon_id_t id) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return actors_.count(id) > 0 || recovering_.count(id) > 0;
  }

  bool recovering(coupon_id_t id) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return recovering_.count(id) > 0;
  }

  std::vector<stock_api> all() const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    std::vector<stock_api> result;
    for (auto& kvp : actors_)
      result.push_back(kvp.second.actor);
    return result;
  }

  /// Where committed rows of a coupon no actor here serves go: its owner in
  /// a cluster. Set once, before the writers start.
  using forward_fn
    = std::function<void(coupon_id_t, std::vector<issuance_event>)>;
  void set_forward(forward_fn fn) {
    forward_ = std::move(fn);
  }

  /// Hands committed rows to the coupon's stock actor, here or on its owner.
  void committed(coupon_id_t id, std::vector<issuance_event> rows) const {
    if (auto hdl = find(id))
      caf::anon_send(hdl, committed_atom::value, std::move(rows));
    else if (forward_)
      forward_(id, std::move(rows));
  }

  /// Removes the coupons `pred` selects (their actors and their recovery
  /// marks) and returns their actors.
  template <class Pred>
  std::vector<stock_api> take_if(Pred pred) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    std::vector<stock_api> result;
    for (auto i = actors_.begin(); i != actors_.end();)
      if (pred(i->first)) {
        result.push_back(std::move(i->second.actor));
        i = actors_.erase(i);
      } else {
        ++i;
      }
    for (auto i = recovering_.begin(); i != recovering_.end();)
      i = pred(*i) ? recovering_.erase(i) : std::next(i);
    return result;
  }

  /// Drops every handle; the actor system cannot shut down while any lives.
  void clear() {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    actors_.clear();
    recovering_.clear();
  }

private:
  mutable std::shared_mutex mtx_;
  std::unordered_map<coupon_id_t, entry> actors_;
  std::unordered_set<coupon_id_t> recovering_;
  forward_fn forward_;
};

} // namespace dibs
