#pragma once

#include <functional>
#include <memory>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"
#include "persistence/redis_client.hpp"

namespace dibs {

/// The node's MySQL and Redis calls that are not on the issuing path:
/// creating coupons, listing a user's coupons, readiness checks. Runs
/// detached: its calls block.
struct store_state {
  static inline const char* name = "dibs.store";

  /// Spawns and registers the stock actor of a new coupon.
  using spawn_fn = std::function<void(const coupon&)>;

  mysql_settings mysql;
  redis_settings redis;
  kafka_settings kafka;
  spawn_fn spawn_stock;
  std::unique_ptr<mysql_store> store;
  std::unique_ptr<redis_client> cache;
  std::unique_ptr<kafka_log> log;

  /// Opens MySQL if it is not open.
  caf::error connect();

  caf::expected<coupon_view> create(coupon spec);

  caf::expected<std::vector<user_coupon>> holdings(user_id_t user);

  /// True when MySQL, Redis and Kafka all answer.
  bool ready();
};

caf::behavior store_actor(caf::stateful_actor<store_state>* self,
                          mysql_settings mysql, redis_settings redis,
                          kafka_settings kafka,
                          store_state::spawn_fn spawn_stock);

} // namespace dibs
