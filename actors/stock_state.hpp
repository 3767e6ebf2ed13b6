#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include <caf/actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/accepted_ledger.hpp"
#include "actors/event_sink.hpp"
#include "actors/introspection.hpp"
#include "actors/options.hpp"
#include "actors/protocol.hpp"
#include "actors/service_handle.hpp"
#include "actors/snapshot_tracker.hpp"
#include "actors/sold_out_gate.hpp"

namespace dibs {

/// Tunables of a stock actor.
struct stock_settings {
  /// How long a `?wait=true` request waits for the MySQL commit before it is
  /// answered with the ACCEPTED issuance instead.
  std::chrono::milliseconds wait_timeout{option_default::http_wait_timeout_ms};
  /// How long after an unknown delivery outcome the log is searched: by then
  /// the producer can no longer have the record in flight.
  std::chrono::milliseconds resolve_grace{
    option_default::kafka_resolve_grace_ms};
  /// Backoff between attempts when the resolver itself fails.
  std::chrono::milliseconds resolve_retry{1000};
  /// A request to the resolver or the snapshotter that got no answer by
  /// then (the actor crashed with it) fails and is tried again.
  std::chrono::milliseconds service_timeout{30'000};
  /// A snapshot is written once this many issuances are pending...
  size_t snapshot_every_events = option_default::snapshot_every_events;
  /// ...or this long after the last one, whichever comes first.
  std::chrono::milliseconds snapshot_interval{
    option_default::snapshot_interval_ms};
};

/// What recovery hands a stock actor: its coupon, what is issued, and where
/// its snapshot starts.
struct recovered_stock {
  coupon info;
  /// Issuances committed in MySQL.
  std::vector<issuance_event> rows;
  /// Issuances durable in Kafka, not yet in MySQL.
  std::vector<issuance_event> tail;
  /// The new owner epoch, the log, the coupon's partition and the position
  /// up to which `rows` and `tail` hold every issuance of the coupon in it;
  /// count and checksum are filled in by the actor.
  snapshot_meta snapshot;
  /// Issuances durable in a Kafka log that is lost (from its snapshot, or
  /// what a crashed predecessor held), not in MySQL: accepted, and
  /// published again into the current log (MySQL drops repeats by
  /// issuance id).
  std::vector<issuance_event> unlogged;
};

/// The actors and objects a stock actor talks to.
struct stock_deps {
  event_sink* sink = nullptr;
  const service_handle* resolver = nullptr;
  /// Writes snapshots to Redis; null in tests that do not snapshot.
  const service_handle* snapshotter = nullptr;
  stock_settings settings;
  /// Where the actor publishes its figures; null in tests that do not
  /// look.
  std::shared_ptr<stock_stats> stats;
  /// Where the actor keeps its accepted issuances for a successor; null in
  /// tests that do not crash it.
  std::shared_ptr<accepted_ledger> ledger;
  /// Where the actor publishes its SOLD_OUT answer for the gateway; null
  /// in tests that do not look.
  std::shared_ptr<sold_out_gate> gate;
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

  /// What the actor keeps of a user who holds the coupon: 16 bytes beside
  /// the user id in a flat table, as a coupon may have millions of holders.
  /// The issuance id is the coupon's with `seq`; a holder's request id is
  /// kept apart until MySQL holds its row (`request_ids_`).
  struct holding {
    epoch_ms issued_at;
    uint32_t seq;
    phase state;
  };
  static_assert(sizeof(holding) == 16);

  static inline const char* name = "dibs.stock";

  /// The actor this state belongs to.
  using pointer = stock_actor_type::stateful_pointer<stock_state>;

  explicit stock_state(pointer self);

  /// Sets the coupon and what is already issued, then writes a whole
  /// snapshot under the new epoch.
  void init(const recovered_stock& state, stock_deps deps);

  /// Decides an issuance; `request_id` goes into the event (tracing).
  void issue(user_id_t user, bool wait, replier<issuance> reply,
             std::string request_id = {});

  caf::expected<issuance> status(user_id_t user) const;

  coupon_view view() const;

  void on_delivered(issuance_id_t id, const delivery_report& rep);

  void on_resolve_due(issuance_id_t id);

  void on_resolved(issuance_id_t id, bool found);

  void on_committed(const std::vector<issuance_event>& rows);

  void on_wait_expired(user_id_t user);

  /// Writes the snapshot when anything is pending and no write is running;
  /// whole when the tracker says so. With `verify` and nothing pending, it
  /// checks that Redis still holds the snapshot (it may have restarted
  /// empty) and rewrites it if not.
  void write_snapshot(bool verify = false);

  /// The snapshot timer fired.
  void on_snapshot_tick();

  /// Kafka moved to another log: publishes again every issuance that
  /// is accepted but not known committed (MySQL drops repeats by issuance
  /// id), and bases the snapshot on the new log.
  void republish(const std::string& log_id, int32_t partition_count);

  /// The outcome of publishing `id` again; a failure is retried at the
  /// next snapshot tick.
  void on_republished(issuance_id_t id, const delivery_report& rep);

  uint32_t remaining() const;

  /// Whether `user` holds the coupon or has a reservation on it.
  bool holds(user_id_t user) const {
    return holders_.contains(user);
  }

  /// Holders in `p`.
  uint32_t holders_in(phase p) const {
    return by_phase_[static_cast<size_t>(p)];
  }

  /// Publishes the actor's figures after a message (cheap: relaxed stores),
  /// and closes or opens its sold-out gate when the stock ran out or a unit
  /// came back.
  void handled();

  const stock_settings& settings() const {
    return settings_;
  }

private:
  struct waiter {
    replier<issuance> reply;
    bool wait;
    /// The request that made the reservation; the others are duplicates.
    bool first;
  };

  /// Gives a pending reservation its final outcome; `partition` and
  /// `offset` are -1 unless a delivery report gave them.
  void settle(issuance_id_t id, bool stored, int32_t partition = -1,
              int64_t offset = -1);

  /// Every issuance durable in Kafka or MySQL, but those being published
  /// again.
  std::vector<issuance_event> stored_events() const;

  /// The issuance id of `h`.
  issuance_id_t id_of(const holding& h) const;

  /// What a client is told of `h`: ISSUED once committed, else ACCEPTED.
  static issuance_status status_of(const holding& h);

  /// The issuance `h` of `user`, with its request id while kept.
  issuance_event event_of(user_id_t user, const holding& h) const;

  /// The request id of `user`'s issuance while kept, else empty.
  std::string_view request_id_of(user_id_t user) const;

  issuance reply_of(user_id_t user, const holding& h) const;

  /// Moves a holder to `p`, keeping the counts by phase.
  void set_phase(user_id_t user, holding& h, phase p);

  /// Closes the sold-out gate when no unit is free, opens it when one is.
  void update_gate();

  /// Counts an answer to an issue request in the actor's figures.
  void count_answer(issue_outcome x, user_id_t user);
  void count_answer(const issuance& x);

  pointer self_;
  coupon info_;
  event_sink* sink_ = nullptr;
  const service_handle* resolver_ = nullptr;
  const service_handle* snapshotter_ = nullptr;
  stock_settings settings_;
  snapshot_tracker snap_;
  /// Publishes every issuance in `republishing_` (again).
  void retry_republish();

  /// Publishes `e` again into the current log.
  void publish_again(const issuance_event& e);

  using republish_map = std::unordered_map<issuance_id_t, user_id_t>;

  /// `i` is stored in the log or committed: out of `republishing_`, into
  /// the snapshot.
  republish_map::iterator end_republishing(republish_map::iterator i);

  /// After the log moved, starts the snapshot over on the new log once
  /// nothing of before the move is unsettled or being published again.
  void rebase_snapshot();

  /// Accepted issuances being published again into a new Kafka log, until
  /// stored there. The snapshot leaves them out until then: recovery takes
  /// a snapshot's issuance that is not in the log's tail as committed.
  republish_map republishing_;
  /// One of them failed: publish the rest again at the next tick.
  bool republish_due_ = false;
  /// Failures of publishing again and of delivery since the last tick,
  /// each with the last error: logged once a tick, not once an issuance
  /// (an outage fails every record, thousands a second).
  struct failures {
    size_t count = 0;
    std::string last_error;

    void add(const std::string& error) {
      ++count;
      last_error = error;
    }
  };
  failures republish_failed_;
  failures not_stored_;
  /// Reservations in flight when the log moved, until settled.
  std::unordered_set<issuance_id_t> before_move_;
  /// Set from the log's move until the snapshot starts over on the new
  /// log; no snapshot is written meanwhile.
  std::optional<snapshot_meta> moved_to_;
  /// Snapshot ticks since the last check that Redis holds the snapshot.
  size_t ticks_since_verify_ = 0;
  uint32_t next_seq_ = 1;
  /// Every user who holds the coupon or has a reservation on it.
  absl::flat_hash_map<user_id_t, holding, user_hash> holders_;
  /// The request ids of holders whose row is not yet known committed, for
  /// the log lines and the records that name them; MySQL's row holds it
  /// after that.
  std::unordered_map<user_id_t, std::string> request_ids_;
  /// Holders per phase.
  std::array<uint32_t, 4> by_phase_{};
  std::shared_ptr<stock_stats> stats_;
  std::shared_ptr<accepted_ledger> ledger_;
  std::shared_ptr<sold_out_gate> gate_;
  struct reservation {
    user_id_t user;
    std::vector<waiter> waiters;
    /// Its outcome is unknown: it holds the snapshot's position back until
    /// it is settled.
    bool held = false;
  };

  /// Reservations not yet settled, by issuance id, with who waits on them.
  std::unordered_map<issuance_id_t, reservation> in_flight_;
  /// `?wait=true` requests whose event is in Kafka but not yet in MySQL.
  std::unordered_map<user_id_t, std::vector<replier<issuance>>> commit_waiters_;
};

} // namespace dibs
