#pragma once

#include <functional>
#include <memory>
#include <optional>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"
#include "persistence/redis_client.hpp"

namespace dibs {

/// The node's MySQL and Kafka calls that are not on the issuing path:
/// creating coupons, listing a user's coupons, readiness checks. Runs
/// detached: its calls block.
struct store_state {
  static inline const char* name = "dibs.store";

  /// Takes a coupon and the high watermark of its Kafka partition (0 when
  /// unknown): nothing of it lies below.
  using spawn_fn = std::function<void(const coupon&, int64_t position)>;

  mysql_settings mysql;
  kafka_settings kafka;
  /// A coupon this node just created: served here or by its owner.
  spawn_fn created;
  /// A coupon found in MySQL or to adopt: gets a stock actor if this node
  /// owns it and has none.
  spawn_fn serve;
  /// This node owns the coupon and has no stock actor for it.
  std::function<bool(coupon_id_t)> lacks;
  std::unique_ptr<mysql_store> store;
  std::unique_ptr<kafka_log> log;

  /// Opens MySQL if it is not open.
  caf::error connect();

  /// The high watermark of the coupon's partition, 0 if Kafka does not say.
  int64_t partition_end(coupon_id_t id);

  /// Makes the coupon (or finds the one made with the same idempotency
  /// key, which may be empty) and hands it to `created`.
  caf::expected<created_coupon> create(coupon spec, const std::string& key);

  /// In a cluster: coupons with ids above this may have been created by
  /// other nodes; `scan` looks for them.
  std::optional<coupon_id_t> newest;

  /// Hands every coupon created since the last scan to `serve`. Ids are taken from MySQL
  /// in order but may commit out of it: the scan looks back a little.
  void scan();

  /// A coupon another node created that this one owns: its stock actor.
  caf::expected<bool> adopt(coupon_id_t id);

  caf::expected<std::vector<user_coupon>> holdings(user_id_t user);

  /// Asks MySQL, Kafka and Redis whether they answer.
  readiness ready();

  redis_settings redis;
  std::unique_ptr<redis_client> redis_conn;
};

/// With `newest`, it scans MySQL every second for coupons the node lacks
/// (created by other nodes, or while their shard was moving), and takes
/// (adopt_atom, coupon_id_t) -> bool.
store_api::behavior_type
store_actor(store_api::stateful_pointer<store_state> self,
                          mysql_settings mysql,
                          kafka_settings kafka, redis_settings redis,
                          store_state::spawn_fn created,
                          store_state::spawn_fn serve,
                          std::function<bool(coupon_id_t)> lacks,
                          std::optional<coupon_id_t> newest);

} // namespace dibs
