#pragma once

#include <functional>
#include <optional>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/event_sink.hpp"
#include "actors/node_metrics.hpp"
#include "actors/protocol.hpp"

namespace dibs {

/// Watches the node's Kafka producer and replaces it after a fatal error
/// (fenced, broken idempotence) or when Kafka moved to another log (other
/// brokers in the bootstrap file, another cluster id behind the same
/// address): a new producer is made and installed in the
/// sink; the old one reports its outstanding records (failed or possibly
/// stored, which the stock actors handle) before it is destroyed.
/// Runs detached: making a producer and flushing the old one block.
struct producer_guard_state {
  static inline const char* name = "dibs.producer";

  /// What the guard asks of the node.
  struct hooks {
    /// The current Kafka settings.
    std::function<kafka_settings()> current;
    /// New settings when Kafka moved, else none.
    std::function<std::optional<kafka_settings>()> moved;
    /// Called when Kafka moved, before a producer for the new settings is
    /// made: nothing may be published into the new log before the node
    /// is ready for it.
    std::function<void()> leaving;
    /// Called once the producer for the new settings is installed.
    std::function<void(const kafka_settings&)> follow;
  };

  kafka_sink* sink = nullptr;
  node_metrics* metrics = nullptr;
  hooks node;
  size_t ticks = 0;

  /// Replaces the producer if it is fatally broken or Kafka moved.
  void check();

private:
  /// Installs a producer for `settings`; false if none could be made.
  bool replace(const kafka_settings& settings, const char* why);
};

caf::behavior producer_guard(caf::stateful_actor<producer_guard_state>* self,
                             kafka_sink* sink, node_metrics* metrics,
                             producer_guard_state::hooks node);

} // namespace dibs
