#pragma once

#include <chrono>
#include <memory>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/node_metrics.hpp"
#include "actors/protocol.hpp"
#include "persistence/snapshot_store.hpp"

namespace dibs {

/// Writes the stock actors' snapshots to Redis, one write at a time, so no
/// stock actor ever waits on Redis. When Redis fails it says so once (log,
/// `dibs_snapshots_paused`), refuses writes at once for a short backoff
/// instead of timing out on each, and says so again when Redis is back.
/// Runs detached: hiredis calls block.
struct snapshotter_state {
  static inline const char* name = "dibs.snapshotter";

  redis_settings redis;
  node_metrics* metrics = nullptr;
  std::unique_ptr<snapshot_store> store;
  /// While paused, writes fail without trying until this instant.
  std::chrono::steady_clock::time_point retry_at;
  bool paused = false;

  caf::expected<snapshot_write> write(coupon_id_t coupon,
                                      const snapshot_meta& meta,
                                      const std::vector<issuance_event>& events,
                                      bool whole);

private:
  void pause(const caf::error& err);
};

caf::behavior snapshotter_actor(caf::stateful_actor<snapshotter_state>* self,
                                redis_settings redis, node_metrics* metrics);

} // namespace dibs
