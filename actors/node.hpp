#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/cluster.hpp"
#include "actors/config.hpp"
#include "actors/coupon_directory.hpp"
#include "actors/event_sink.hpp"
#include "actors/introspection.hpp"
#include "actors/node_metrics.hpp"
#include "actors/ownership.hpp"
#include "actors/service_handle.hpp"
#include "actors/stock_state.hpp"
#include "actors/supervisor.hpp"
#include "persistence/fence_watch.hpp"
#include "persistence/owner_group.hpp"

namespace dibs {

/// One dibs node: the Kafka producer, the stock actors, the writers, the
/// resolver, the snapshotter, the store actor and their supervisor, wired
/// together. The gateway talks to it.
class node {
public:
  using clock_type = std::chrono::steady_clock;

  node(caf::actor_system& sys, const config& cfg);

  ~node();

  /// Creates the schema, starts the writers, the snapshotter, the resolver
  /// and the supervisor that restarts them, then joins the shard owners'
  /// group and takes over the shards it assigns (`take_over`). Blocks until
  /// they are served, or the group assigned none within a few session
  /// timeouts; `ready()` turns true at the end. On an error nothing was
  /// spawned and it may be called again.
  caf::error start();

  /// A shard this node took over.
  struct takeover {
    int32_t shard = 0;
    uint64_t epoch = 0;
    /// Wall-clock ms when it served the shard.
    epoch_ms at = 0;
    /// From the group's assignment to serving.
    int64_t took_ms = 0;
    /// Of which fencing (epoch, fence record, its place in MySQL).
    int64_t fence_ms = 0;
    size_t coupons = 0;
  };

  /// The latest takeovers, oldest first.
  std::vector<takeover> takeovers() const;

  /// The shards the owners' group assigns this node now (served or being
  /// taken over).
  std::vector<int32_t> assigned_shards() const;

  /// Stops taking new issuances (readiness turns false); in-flight ones
  /// still complete.
  void begin_drain() {
    ready_ = false;
  }

  /// Flushes the producer, waits until the writers have drained Kafka into
  /// MySQL (bounded by `node.drain-timeout-ms`), then stops every actor.
  void stop();

  /// The coupon's stock actor or an invalid handle.
  stock_api stock(coupon_id_t id) const {
    return directory_.find(id);
  }

  /// The coupon's stock actor with its sold-out gate, or an invalid handle
  /// and no gate.
  coupon_directory::entry stock_entry(coupon_id_t id) const {
    return directory_.find_entry(id);
  }

  /// Who serves each coupon.
  const ownership& owners() const {
    return ownership_;
  }

  /// The cluster this node is a member of; null for a single node.
  const cluster* members() const {
    return cluster_.get();
  }

  /// Publishes this node's endpoint and connects to the other members,
  /// waiting up to a heartbeat timeout for them. An error when the endpoint
  /// cannot be published or a member reads another configuration: the node
  /// must not start. Nothing to do for a single node.
  caf::error join_cluster();

  /// The coupon's stock actor crashed and is being recovered.
  bool recovering(coupon_id_t id) const {
    return directory_.recovering(id);
  }

  store_api store() const {
    return store_;
  }

  /// The services the supervisor keeps running; invalid handles while the
  /// node is not started.
  caf::actor resolver() const {
    return resolver_.get();
  }

  caf::actor snapshotter() const {
    return snapshotter_.get();
  }

  /// The writer `index` < `node.writer-count`, or an invalid handle.
  caf::actor writer(size_t index) const;

  /// Stops serving the shard of `coupon` as if a newer owner had fenced
  /// it, while the owners' group goes on assigning it here (fault
  /// injection); `coupon_not_found` when this node has no such coupon,
  /// `not_found` when it does not serve its shard.
  caf::error drop_shard_of(coupon_id_t coupon);

  /// The next fence of the shard of `coupon` fails after it was stored
  /// in the log (fault injection); `coupon_not_found` when this node has
  /// no such coupon.
  caf::error fail_next_fence_of(coupon_id_t coupon);

  /// Recovered and not stopping: takes issuances.
  bool ready() const {
    return ready_.load();
  }

  /// The writers hold their partitions, so committed rows follow at once.
  /// Joining the group takes well under a second on Apache Kafka.
  bool writers_assigned() const {
    return writers_assigned_.load();
  }

  const config& cfg() const {
    return cfg_;
  }

  caf::actor_system& system() {
    return sys_;
  }

  node_metrics& metrics() {
    return metrics_;
  }

  const node_metrics& metrics() const {
    return metrics_;
  }

  /// When this node was made (process start, near enough).
  epoch_ms started_at() const {
    return started_at_;
  }

  /// The live figures of the stock actors, writers and supervisor.
  const introspection& figures() const {
    return figures_;
  }

  /// The Kafka sink, with its in-flight count and delivery latency; null
  /// while the node is not started.
  std::shared_ptr<const kafka_sink> sink() const {
    return std::atomic_load(&sink_);
  }

  /// The Kafka log the node writes to: bootstrap servers and log id.
  std::pair<std::string, std::string> kafka_log_names() const;

private:
  // -- the steps of `start`, in order ------------------------------------------

  /// Reads where Kafka is, opens MySQL and creates the schema, creates the
  /// topic and the producer.
  caf::expected<std::unique_ptr<mysql_store>> open_storage();

  /// Reads the Kafka log's identity and partition count.
  caf::error read_log(kafka_log& scanner);

  /// Joins the shard owners' group and waits for the first shards it
  /// assigns to be served.
  caf::error join_owners();

  /// Takes `shards` over (the taker thread): raises each one's epoch,
  /// fences it, recovers its coupons (`recover_stock`: Redis snapshot plus
  /// Kafka, or MySQL plus the Kafka tail, read to its end) and serves them.
  /// Retries what failed while the group still assigns it.
  void take_over(std::vector<int32_t> shards,
                 clock_type::time_point assigned_at);

  /// Stops serving `shards`: records waiting to be read back report
  /// unknown, and their stock actors stop (the group's or the taker
  /// thread).
  void give_up(const std::vector<int32_t>& shards, const char* why);

  /// `give_up` with shards_mtx_ held. With `park`, the actors are kept,
  /// refusing every issuance, until the shards are fenced in a new log
  /// (`park_for_move`).
  void give_up_locked(const std::vector<int32_t>& shards, const char* why,
                      bool park);

  /// A shard given up for a move of Kafka with its actors kept.
  struct parked_shard {
    /// The epoch it had.
    uint64_t epoch;
    /// Every epoch in (epoch, own_to] was claimed by this node since: a
    /// takeover that failed after its claim retries with the next epoch,
    /// and may have left its fence in the new log. MySQL hands epochs out
    /// in order, so a claim that is not the next one was another's.
    uint64_t own_to;
  };

  /// Raises `p`'s epoch in MySQL and fences the shard with it in the
  /// Kafka log (shards_mtx_ held). The epoch of a parked shard counts in
  /// its `own_to`, whatever happens to the fence.
  caf::expected<log_fence> fence_shard(mysql_store& store, const log_ref& log,
                                       int32_t p);

  /// Kafka moves to another log: every shard this node serves or parks
  /// is parked until it is fenced in the new log (before a producer for
  /// the new log exists, so that nothing of this node's precedes its
  /// fence there).
  void park_for_move();

  /// The parked shard `p`, fenced in the new log by `f`, is still this
  /// node's as it was when parked: every epoch since was claimed here
  /// (`f.epoch` is its `own_to`), and every record before the fence is a
  /// fence of one of them (shards_mtx_ held). An error when Kafka could
  /// not tell (the takeover retries).
  caf::expected<bool> own_since_park(int32_t p, const parked_shard& parked,
                                     const log_fence& f, kafka_log& scanner);

  /// Hands the shards the group assigns this node to the taker thread, to
  /// be fenced in the new log once the node follows it.
  void retake_assigned();

  /// Serves again, with a new epoch fenced in the new log, the relogged
  /// shards of `fences` still this node's (`own_since_park`): nobody wrote
  /// there before, so the actors' state is complete, and they publish
  /// again what MySQL lacks; removes them from `fences`. Gives the others
  /// up, to be recovered. An error when Kafka could not tell, with the
  /// shards not looked at yet left in `fences` (shards_mtx_ held).
  caf::error resume_relogged(std::map<int32_t, log_fence>& fences,
                             kafka_log& scanner,
                             clock_type::time_point assigned_at);

  /// Keeps `t` among the latest takeovers (introspection).
  void record_takeover(takeover t);

  /// Queues `shards` for the taker thread.
  void queue_takeover(std::vector<int32_t> shards);

  /// The taker thread's loop.
  void run_taker();

  /// Queues the takeover of every shard the owners' group has assigned
  /// this node for longer than a rebalance takes but that nobody serves
  /// here: whatever left it so (a takeover lost to a race, a give-up the
  /// group never followed), the group's word is what counts (the taker
  /// thread, when idle).
  void retake_unserved();

  /// Stops taking shards over and leaves the owners' group.
  void stop_shards();

  /// Destroys the producer, the fence watch and the sink, in the order
  /// their callbacks need.
  void close_sink();

  /// The supervisor and the services it keeps running: resolver,
  /// snapshotter, producer guard.
  void spawn_services();

  /// The store actor; it scans for coupons newer than `newest` that this
  /// node serves and lacks: created by another member, or while their
  /// shard was moving.
  void spawn_store_actor(coupon_id_t newest);

  /// The writers, supervised.
  void spawn_writers();

  void spawn_stock(recovered_stock state);

  /// Spawns the coupon's stock actor with a new sold-out gate and puts both
  /// in the directory.
  stock_api spawn_stock_actor(recovered_stock state,
                              std::shared_ptr<stock_stats> stats,
                              std::shared_ptr<accepted_ledger> ledger);

  /// Hands an actor to the supervisor.
  void supervise(child_spec spec);

  /// Recovers one coupon's stock actor after its crash (supervisor thread),
  /// with what `ledger` kept of the crashed actor's accepted issuances.
  caf::expected<caf::actor>
  restart_stock(coupon_id_t id, std::shared_ptr<accepted_ledger> ledger);

  caf::actor spawn_writer(size_t index);

  /// The current Kafka settings.
  kafka_settings kafka() const {
    std::lock_guard<std::mutex> guard{kafka_mtx_};
    return kafka_;
  }

  /// Kafka settings to follow when the log changed: the producer sees
  /// another cluster id behind the same address, or the bootstrap file
  /// names other brokers; else none. Producer guard's thread.
  std::optional<kafka_settings> kafka_moved() const;

  /// Moves the node to a new Kafka log (producer guard's thread, after the
  /// new producer is installed): writers and resolver restart on it, the
  /// store actor reads it, every stock actor publishes again what it
  /// accepted that MySQL may lack.
  void follow_log(const kafka_settings& next);

  /// The state of a new coupon's stock actor: full stock, owner epoch 1,
  /// nothing of it in Kafka below `position` (its partition's high
  /// watermark at creation).
  recovered_stock new_stock(const coupon& info, int64_t position) const;

  /// A coupon was created here: served here if this node owns it, else
  /// adopted by its owner. Store actor's thread.
  void on_created(const coupon& info, int64_t position);

  /// Spawns the coupon's `new_stock` actor if this node `lacks` it.
  void serve(const coupon& info, int64_t position);

  /// This node serves the coupon's shard, or keeps it parked.
  bool serves_or_parks(coupon_id_t id) const;
  /// `serves_or_parks` with shards_mtx_ held.
  bool serves_or_parks_locked(coupon_id_t id) const;

  /// This node serves (or parks) the coupon and has no stock actor for it,
  /// nor one being recovered.
  bool lacks(coupon_id_t id) const;
  /// `lacks` with shards_mtx_ held.
  bool lacks_locked(coupon_id_t id) const;

  caf::actor_system& sys_;
  const config& cfg_;
  /// Null for a single node.
  std::unique_ptr<cluster> cluster_;
  ownership ownership_;
  /// Where Kafka is now; replaced when the node follows another log.
  mutable std::mutex kafka_mtx_;
  kafka_settings kafka_;
  stock_settings stock_settings_;
  /// Set and reset with atomic_store: the gateway reads it any time.
  std::shared_ptr<kafka_sink> sink_;
  coupon_directory directory_;
  service_handle resolver_;
  service_handle snapshotter_;
  caf::actor supervisor_;
  service_handle producer_guard_;
  store_api store_;
  /// The Kafka log and its partition count, for new coupons' snapshots.
  std::string log_id_;
  int32_t partition_count_ = 0;
  const epoch_ms started_at_ = now_ms();
  node_metrics metrics_;
  introspection figures_;
  /// Replaced by the supervisor's thread when one crashes.
  mutable std::mutex writers_mtx_;
  std::vector<caf::actor> writers_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> writers_assigned_{false};
  /// Reads back what the node publishes (`kafka_sink`).
  std::unique_ptr<fence_watch> watch_;
  std::unique_ptr<owner_group> group_;
  /// `group_` once `join` returned it, for the taker thread.
  std::atomic<owner_group*> group_ready_{nullptr};
  /// Takeovers and give-ups, one at a time.
  mutable std::mutex shards_mtx_;
  /// Assignments waiting for the taker thread.
  std::mutex taker_mtx_;
  std::condition_variable taker_cv_;
  std::deque<std::pair<std::vector<int32_t>, clock_type::time_point>>
    taker_queue_;
  bool taker_stop_ = false;
  /// Shards the fence watch saw another owner fence, with that owner's
  /// epoch, to be given up unless served at a newer one since.
  std::vector<std::pair<int32_t, uint64_t>> fenced_;
  /// Batches queued or being taken over.
  std::atomic<size_t> taking_{0};
  std::thread taker_;
  /// The taker thread's connection.
  std::unique_ptr<mysql_store> taker_store_;
  /// Since when each shard assigned here is served by nobody here (the
  /// taker thread).
  std::map<int32_t, clock_type::time_point> unserved_since_;
  /// The group's rebalance count when those clocks started.
  uint64_t unserved_rebalances_ = 0;
  /// From `park_for_move` until the node follows the new log.
  std::atomic<bool> moving_{false};
  mutable std::mutex takeovers_mtx_;
  std::deque<takeover> takeovers_;
  /// The parked shards (shards_mtx_): each is fenced in the new log before
  /// it serves again (`resume_relogged`).
  std::map<int32_t, parked_shard> parked_;
  /// The tokens of shard claims whose call failed (shards_mtx_): the
  /// server may have committed one, and its retry carries the same token
  /// so as not to raise the epoch twice (`fence_shard`).
  std::map<int32_t, std::string> unsettled_claims_;
  /// The shard whose next fence fails once stored (`fail_next_fence_of`),
  /// or -1.
  std::atomic<int32_t> fail_fence_shard_{-1};
};

} // namespace dibs
