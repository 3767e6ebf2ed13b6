#pragma once

#include <memory>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs {

/// Answers "is this issuance in the log?" for deliveries whose outcome the
/// producer could not tell (possibly stored). It looks in MySQL first (the
/// writers may have committed it already), then reads every partition of
/// the issuance topic from the writers' stored offsets to the high watermark
/// and searches for the issuance id. Runs detached: its calls block.
struct resolver_state {
  static inline const char* name = "dibs.resolver";

  kafka_settings kafka;
  mysql_settings mysql;
  std::unique_ptr<mysql_store> store;
  std::unique_ptr<kafka_log> scanner;

  caf::expected<bool> find(const issuance_event& event);
};

caf::behavior resolver_actor(caf::stateful_actor<resolver_state>* self,
                             kafka_settings kafka, mysql_settings mysql);

} // namespace dibs
