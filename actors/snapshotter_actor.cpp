#include "actors/snapshotter_actor.hpp"

#include <spdlog/spdlog.h>

namespace dibs {

namespace {

/// After a failure, writes fail fast for this long before Redis is tried
/// again: a stopped Redis would cost each write the full client timeout.
constexpr auto pause_backoff = std::chrono::milliseconds(1000);

} // namespace

void snapshotter_state::pause(const caf::error& err) {
  store.reset();
  retry_at = std::chrono::steady_clock::now() + pause_backoff;
  metrics->snapshot_failures.fetch_add(1, std::memory_order_relaxed);
  if (!paused) {
    paused = true;
    metrics->snapshots_paused = 1;
    spdlog::warn("snapshots paused, issuing continues: {}", to_string(err));
  }
}

caf::expected<snapshot_write>
snapshotter_state::write(coupon_id_t coupon, const snapshot_meta& meta,
                         const std::vector<issuance_event>& events,
                         bool whole) {
  if (paused && std::chrono::steady_clock::now() < retry_at) {
    metrics->snapshot_failures.fetch_add(1, std::memory_order_relaxed);
    return caf::make_error(ec::unavailable, "snapshots paused");
  }
  if (!store) {
    auto s = snapshot_store::connect(redis);
    if (!s) {
      pause(s.error());
      return std::move(s.error());
    }
    store = std::move(*s);
  }
  auto started = std::chrono::steady_clock::now();
  auto res = whole ? store->rewrite(coupon, meta, events)
                   : store->append(coupon, meta, events);
  metrics->snapshot_latency.record(
    std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started));
  if (!res) {
    pause(res.error());
    return std::move(res.error());
  }
  if (paused) {
    paused = false;
    metrics->snapshots_paused = 0;
    spdlog::info("snapshots resumed");
  }
  if (*res == snapshot_write::done && (whole || !events.empty()))
    (whole ? metrics->snapshot_rewrites : metrics->snapshot_appends)
      .fetch_add(1, std::memory_order_relaxed);
  else if (*res == snapshot_write::fenced)
    metrics->snapshot_fenced.fetch_add(1, std::memory_order_relaxed);
  return *res;
}

caf::behavior snapshotter_actor(caf::stateful_actor<snapshotter_state>* self,
                                redis_settings redis, node_metrics* metrics) {
  self->state.redis = std::move(redis);
  self->state.metrics = metrics;
  return {
    [=](save_atom, coupon_id_t coupon, const snapshot_meta& meta,
        const std::vector<issuance_event>& events,
        bool whole) -> caf::result<snapshot_write> {
      auto res = self->state.write(coupon, meta, events, whole);
      if (!res)
        return std::move(res.error());
      return *res;
    },
  };
}

} // namespace dibs
