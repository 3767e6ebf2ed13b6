#include "actors/producer_guard.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

namespace dibs {

namespace {

constexpr auto check_interval = std::chrono::milliseconds(100);
/// Whether Kafka moved is asked every tenth check (it reads a file).
/// A node whose follow of a new log fails keeps asking, and so replaces
/// its producer, once a second until it succeeds.
constexpr size_t moved_check_ticks = 10;

} // namespace

bool producer_guard_state::replace(const kafka_settings& settings,
                                   const char* why) {
  auto next = kafka_producer::make(settings);
  if (!next) {
    spdlog::error("cannot replace the Kafka producer ({}): {}; retrying", why,
                  to_string(next.error()));
    return false;
  }
  auto old = sink->replace(std::move(*next));
  metrics->producer_restarts.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("Kafka producer replaced: {}", why);
  // Every record it still holds is reported (stored, failed or possibly
  // stored) within its message timeout; only then may it go. A producer
  // whose brokers are gone may keep some past that (seen: 84 after the
  // mock broker's kill -9, before dibs ran on Apache Kafka): destroyed with
  // them, their delivery reports never came, and their stock actors held
  // the units forever. Purged, each is reported failed or possibly stored,
  // and resolved from there.
  if (auto n = old->flush(settings.message_timeout_ms + 1000); n > 0) {
    spdlog::error("the old Kafka producer still holds {} records: purging "
                  "them",
                  n);
    old->purge();
    if (auto left = old->flush(1000); left > 0)
      spdlog::error("the old Kafka producer still holds {} records after "
                    "purging them",
                    left);
  }
  return true;
}

void producer_guard_state::check() {
  if (sink->current()->fatal()) {
    replace(node.current(), "fatal error");
    return;
  }
  if (++ticks % moved_check_ticks != 0)
    return;
  auto next = node.moved();
  if (!next)
    return;
  node.leaving();
  if (replace(*next, "Kafka moved"))
    node.follow(*next);
}

caf::behavior producer_guard(caf::stateful_actor<producer_guard_state>* self,
                             kafka_sink* sink, node_metrics* metrics,
                             producer_guard_state::hooks node) {
  self->state.sink = sink;
  self->state.metrics = metrics;
  self->state.node = std::move(node);
  self->send(self, check_atom::value);
  return {
    [=](check_atom) {
      self->state.check();
      self->delayed_send(self, check_interval, check_atom::value);
    },
  };
}

} // namespace dibs
