#pragma once

#include <chrono>
#include <functional>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/event_sink.hpp"
#include "actors/protocol.hpp"

namespace dibs {

/// Tunables of a stock actor.
struct stock_settings {
  /// How long a `?wait=true` request waits for the MySQL commit before it is
  /// answered with the ACCEPTED issuance instead.
  std::chrono::milliseconds wait_timeout{2000};
  /// How long after an unknown delivery outcome the log is searched: by then
  /// the producer can no longer have the record in flight.
  std::chrono::milliseconds resolve_grace{2000};
  /// Backoff between attempts when the resolver itself fails.
  std::chrono::milliseconds resolve_retry{1000};
};

/// The state of one coupon's stock actor: the remaining stock, the users who
/// hold the coupon, and the requests waiting on Kafka or MySQL. Every
/// decrement and dedup check of the coupon happens here, one at a time.
class stock_state {
public:
  /// Where a user's issuance stands inside the actor.
  enum class phase : uint8_t {
    /// Reserved; the event is on its way to Kafka.
    pending,
    /// Kafka's answer was "possibly stored": the log decides.
    unresolved,
    /// Durable in Kafka.
    accepted,
    /// Committed in MySQL.
    issued,
  };

  struct holding {
    issuance_event event;
    phase state;
  };

  static inline const char* name = "dibs.stock";

  explicit stock_state(caf::stateful_actor<stock_state>* self);

  /// Sets the coupon and what is already issued: `rows` are in MySQL,
  /// `tail` only in Kafka (accepted, not yet written).
  void init(coupon info, const std::vector<issuance_event>& rows,
            const std::vector<issuance_event>& tail, event_sink* sink,
            caf::actor resolver, stock_settings settings);

  void issue(user_id_t user, bool wait, replier<issuance> reply);

  caf::expected<issuance> status(user_id_t user) const;

  coupon_view view() const;

  void on_delivered(issuance_id_t id, const delivery_report& rep);

  void on_resolve_due(issuance_id_t id);

  void on_resolved(issuance_id_t id, bool found);

  void on_committed(const std::vector<issuance_event>& rows);

  void on_wait_expired(user_id_t user);

  uint32_t remaining() const;

private:
  struct waiter {
    replier<issuance> reply;
    bool wait;
    /// The request that made the reservation; the others are duplicates.
    bool first;
  };

  /// Gives a pending reservation its final outcome.
  void settle(issuance_id_t id, bool stored);

  issuance reply_of(const holding& h) const;

  caf::stateful_actor<stock_state>* self_;
  coupon info_;
  event_sink* sink_ = nullptr;
  caf::actor resolver_;
  stock_settings settings_;
  uint32_t next_seq_ = 1;
  std::unordered_map<user_id_t, holding> holders_;
  struct reservation {
    user_id_t user;
    std::vector<waiter> waiters;
  };

  /// Reservations not yet settled, by issuance id, with who waits on them.
  std::unordered_map<issuance_id_t, reservation> in_flight_;
  /// `?wait=true` requests whose event is in Kafka but not yet in MySQL.
  std::unordered_map<user_id_t, std::vector<replier<issuance>>> commit_waiters_;
};

} // namespace dibs
