#pragma once

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/event_sink.hpp"
#include "actors/node_metrics.hpp"
#include "actors/protocol.hpp"

namespace dibs {

/// Watches the node's Kafka producer and replaces it after a fatal error
/// (fenced, broken idempotence): a new producer is made and installed in
/// the sink; the old one reports its outstanding records (failed or
/// possibly stored, which the stock actors handle) and is destroyed.
/// Runs detached: making and destroying a producer block.
struct producer_guard_state {
  static inline const char* name = "dibs.producer";

  kafka_settings kafka;
  kafka_sink* sink = nullptr;
  node_metrics* metrics = nullptr;

  /// Replaces the producer if it is fatally broken.
  void check();
};

caf::behavior producer_guard(caf::stateful_actor<producer_guard_state>* self,
                             kafka_settings kafka, kafka_sink* sink,
                             node_metrics* metrics);

} // namespace dibs
