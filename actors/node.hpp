#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/config.hpp"
#include "actors/coupon_directory.hpp"
#include "actors/event_sink.hpp"
#include "actors/node_metrics.hpp"
#include "actors/stock_state.hpp"

namespace dibs {

/// One dibs node: the Kafka producer, the stock actors, the writers, the
/// resolver and the store actor, wired together. The gateway talks to it.
class node {
public:
  node(caf::actor_system& sys, const config& cfg);

  ~node();

  /// Creates the schema, rebuilds every stock actor from MySQL plus the
  /// Kafka tail the writers have not committed, then starts the writers.
  /// Blocks; call before the gateway listens.
  caf::error start();

  /// Stops taking new issuances (readiness turns false); in-flight ones
  /// still complete.
  void begin_drain() {
    ready_ = false;
  }

  /// Flushes the producer, waits until the writers have drained Kafka into
  /// MySQL (bounded by `node.drain-timeout-ms`), then stops every actor.
  void stop();

  /// The coupon's stock actor or an invalid handle.
  caf::actor stock(coupon_id_t id) const {
    return directory_.find(id);
  }

  caf::actor store() const {
    return store_;
  }

  /// Recovered and not stopping: takes issuances.
  bool ready() const {
    return ready_.load();
  }

  /// The writers hold their partitions, so committed rows follow at once.
  /// Joining the group takes ~3 s with the embedded broker.
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

private:
  void spawn_stock(recovered_stock state);

  /// The stock actor of a coupon created while the node runs.
  void spawn_new_stock(const coupon& info);

  caf::actor_system& sys_;
  const config& cfg_;
  kafka_settings kafka_;
  stock_settings stock_settings_;
  std::unique_ptr<kafka_producer> producer_;
  std::unique_ptr<kafka_sink> sink_;
  coupon_directory directory_;
  caf::actor resolver_;
  caf::actor snapshotter_;
  caf::actor store_;
  /// The Kafka log and its partition count, for new coupons' snapshots.
  std::string log_id_;
  int32_t partition_count_ = 0;
  node_metrics metrics_;
  std::vector<caf::actor> writers_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> writers_assigned_{false};
};

} // namespace dibs
