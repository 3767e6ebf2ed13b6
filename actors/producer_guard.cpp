#include "actors/producer_guard.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

namespace dibs {

namespace {

constexpr auto check_interval = std::chrono::milliseconds(100);

} // namespace

void producer_guard_state::check() {
  if (!sink->current()->fatal())
    return;
  auto next = kafka_producer::make(kafka);
  if (!next) {
    spdlog::error("cannot replace the fatally failed Kafka producer: {}; "
                  "retrying",
                  to_string(next.error()));
    return;
  }
  auto old = sink->replace(std::move(*next));
  metrics->producer_restarts.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("Kafka producer replaced after a fatal error");
  // Its outstanding records are reported (as failed or possibly stored)
  // before it is gone.
  old->flush(0);
}

caf::behavior producer_guard(caf::stateful_actor<producer_guard_state>* self,
                             kafka_settings kafka, kafka_sink* sink,
                             node_metrics* metrics) {
  self->state.kafka = std::move(kafka);
  self->state.sink = sink;
  self->state.metrics = metrics;
  self->send(self, poll_atom::value);
  return {
    [=](poll_atom) {
      self->state.check();
      self->delayed_send(self, check_interval, poll_atom::value);
    },
  };
}

} // namespace dibs
