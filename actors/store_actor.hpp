#pragma once

#include <functional>
#include <memory>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs {

/// The node's MySQL and Kafka calls that are not on the issuing path:
/// creating coupons, listing a user's coupons, readiness checks. Runs
/// detached: its calls block.
struct store_state {
  static inline const char* name = "dibs.store";

  /// Spawns and registers the stock actor of a new coupon, given the high
  /// watermark of its Kafka partition (0 when unknown): nothing of it lies
  /// below.
  using spawn_fn = std::function<void(const coupon&, int64_t position)>;

  mysql_settings mysql;
  kafka_settings kafka;
  spawn_fn spawn_stock;
  std::unique_ptr<mysql_store> store;
  std::unique_ptr<kafka_log> log;

  /// Opens MySQL if it is not open.
  caf::error connect();

  /// The high watermark of the coupon's partition, 0 if Kafka does not say.
  int64_t partition_end(coupon_id_t id);

  caf::expected<coupon_view> create(coupon spec);

  caf::expected<std::vector<user_coupon>> holdings(user_id_t user);

  /// True when MySQL and Kafka answer. Redis is not asked: without it the
  /// node issues on, only its snapshots wait.
  bool ready();
};

caf::behavior store_actor(caf::stateful_actor<store_state>* self,
                          mysql_settings mysql,
                          kafka_settings kafka,
                          store_state::spawn_fn spawn_stock);

} // namespace dibs
