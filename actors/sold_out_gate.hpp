#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "actors/introspection.hpp"
#include "core/domain.hpp"

namespace dibs {

/// The users who hold a coupon, as a Bloom filter: `may_hold` is true for
/// every user added, and for 0.1-0.5 % of the others (16 to 32 bits per
/// user, as the size rounds up to a power of two; three probes). Written by
/// one thread, its stock actor, and read by any: the bits are atomic words.
class holder_filter {
public:
  /// Room for `users` users at the rate above.
  explicit holder_filter(size_t users);

  void add(user_id_t user);

  bool may_hold(user_id_t user) const;

  /// Bits in the filter.
  size_t size() const {
    return words_.size() * 64;
  }

private:
  static constexpr int probes = 3;

  std::vector<std::atomic<uint64_t>> words_;
  /// Bits minus one (a power of two).
  uint64_t mask_;
};

/// What a coupon's stock actor publishes of its one answer that needs no
/// look at anything but who holds the coupon: once every unit is held, the
/// answer to anyone else is SOLD_OUT. The gateway asks the gate before it
/// sends the actor a message, and answers a sold-out request on its own io
/// thread; a holder (ALREADY_ISSUED, or waiting on Kafka with its first
/// request), a request outside the coupon's window and every request while
/// a unit is free still go to the actor, which decides as before.
///
/// After each message, the actor closes the gate (every holder in its
/// filter) when no unit is left, and opens it when a unit came back (a
/// reservation Kafka did not store); a holder it takes while open goes into
/// the filter at once. A request that read the gate closed just before it
/// opened is answered as it would have been a moment earlier. One gate per
/// actor: a restarted actor has a new one.
class sold_out_gate {
public:
  /// `stats` (may be null) counts the answers the gate gives.
  sold_out_gate(coupon info, std::shared_ptr<stock_stats> stats);

  // -- the gateway ------------------------------------------------------------

  /// True when the actor's answer to `user` at `now` is SOLD_OUT for sure;
  /// the answer is then counted as the actor's are.
  bool answers_sold_out(user_id_t user, epoch_ms now) const;

  // -- the stock actor --------------------------------------------------------

  /// Every unit is held: closes the gate with the holders `for_each` gives
  /// (called with a function of one user id). The first close builds the
  /// filter, sized for the whole stock; a later one adds nothing, as the
  /// actor adds each new holder with `holder_added`.
  template <class ForEach>
  void close(ForEach for_each) {
    if (!filter_) {
      filter_ = std::make_unique<holder_filter>(info_.total_quantity);
      for_each([this](user_id_t user) { filter_->add(user); });
    }
    closed_.store(true, std::memory_order_release);
  }

  /// A unit is free again: the actor decides every request.
  void open() {
    closed_.store(false, std::memory_order_release);
  }

  /// A user took a unit; only while the gate is open.
  void holder_added(user_id_t user) {
    if (filter_)
      filter_->add(user);
  }

  bool closed() const {
    return closed_.load(std::memory_order_acquire);
  }

private:
  const coupon info_;
  const std::shared_ptr<stock_stats> stats_;
  std::atomic<bool> closed_{false};
  /// Set once by the actor, before the gate first closes; read only after
  /// `closed_` was seen true.
  std::unique_ptr<holder_filter> filter_;
};

} // namespace dibs
