#include "actors/store_actor.hpp"

#include <spdlog/spdlog.h>

namespace dibs {

caf::error store_state::connect() {
  if (store)
    return caf::none;
  auto s = mysql_store::open(mysql);
  if (!s)
    return std::move(s.error());
  store = std::move(*s);
  return caf::none;
}

int64_t store_state::partition_end(coupon_id_t id) {
  constexpr int timeout_ms = 1000;
  if (!log) {
    auto l = kafka_log::scanner(kafka);
    if (!l)
      return 0;
    log = std::move(*l);
  }
  auto parts = log->partitions(timeout_ms);
  if (!parts || parts->empty())
    return 0;
  auto marks = log->watermarks(
    partition_of(id, static_cast<int32_t>(parts->size())), timeout_ms);
  return marks ? marks->second : 0;
}

caf::expected<created_coupon> store_state::create(coupon spec,
                                                  const std::string& key) {
  if (auto err = connect())
    return caf::make_error(ec::unavailable, to_string(err));
  auto c = store->create_coupon(std::move(spec), key);
  if (!c) {
    if (c.error() == ec::idempotency_key_reused
        || c.error() == ec::coupon_ids_exhausted)
      return std::move(c.error());
    store.reset();
    // A connection lost may have taken its COMMIT along: retrying with the
    // same Idempotency-Key is safe, without one not. Any other failure was
    // rolled back.
    return caf::make_error(c.error() == ec::outcome_unknown
                             ? ec::outcome_unknown
                             : ec::unavailable,
                           to_string(c.error()));
  }
  auto id = c->info.id;
  if (c->fresh) {
    created(c->info, partition_end(id));
    spdlog::info("coupon {} created: {} units of '{}'", id,
                 c->info.total_quantity, c->info.name);
  } else if (lacks(id)) {
    // Made by an earlier request with the key, which may have failed
    // after MySQL made it (a COMMIT's answer lost twice) and before it was
    // served. (Owned by another node, it is found by that node's scan.)
    // `serve` decides again under the shards' lock; this check only spares
    // the served coupon's Kafka lookup.
    serve(c->info, partition_end(id));
  }
  return std::move(*c);
}

void store_state::scan() {
  // Ids another node took but has not committed yet stay below the newest
  // committed one for a moment; look back this many.
  constexpr coupon_id_t look_back = 64;
  if (connect())
    return;
  auto from = *newest > look_back ? *newest - look_back : 1;
  auto found = store->load_coupons(from);
  if (!found) {
    store.reset();
    return;
  }
  for (auto& c : *found) {
    if (lacks(c.id))
      serve(c, partition_end(c.id));
    newest = std::max(*newest, c.id);
  }
}

caf::expected<bool> store_state::adopt(coupon_id_t id) {
  if (auto err = connect())
    return caf::make_error(ec::unavailable, to_string(err));
  auto found = store->load_coupons(id);
  if (!found) {
    store.reset();
    return caf::make_error(ec::unavailable, to_string(found.error()));
  }
  if (found->empty() || found->front().id != id)
    return caf::make_error(ec::coupon_not_found, "no such coupon");
  serve(found->front(), partition_end(id));
  return true;
}

caf::expected<std::vector<user_coupon>> store_state::holdings(user_id_t user) {
  if (auto err = connect())
    return caf::make_error(ec::unavailable, to_string(err));
  auto rows = store->user_coupons(user);
  if (!rows)
    return caf::make_error(ec::unavailable, to_string(rows.error()));
  return std::move(*rows);
}

readiness store_state::ready() {
  readiness result;
  result.mysql = !connect() && store->execute("DO 1");
  if (!result.mysql)
    store.reset();
  if (!log) {
    if (auto l = kafka_log::scanner(kafka))
      log = std::move(*l);
  }
  // The topic's metadata comes from a broker: Kafka answers.
  constexpr int kafka_check_timeout_ms = 1000;
  result.kafka = log && log->partitions(kafka_check_timeout_ms);
  if (!result.kafka)
    log.reset();
  if (!redis_conn || redis_conn->broken()) {
    redis_conn.reset();
    if (auto c = redis_client::connect(redis))
      redis_conn = std::move(*c);
  }
  // An error reply (NOAUTH, LOADING) comes from a Redis the node cannot
  // use either.
  result.redis = false;
  if (redis_conn)
    if (auto pong = redis_conn->command({"PING"}))
      result.redis = pong->kind != redis_value::error;
  return result;
}

store_api::behavior_type
store_actor(store_api::stateful_pointer<store_state> self,
                          mysql_settings mysql,
                          kafka_settings kafka, redis_settings redis,
                          store_state::spawn_fn created,
                          store_state::spawn_fn serve,
                          std::function<bool(coupon_id_t)> lacks,
                          std::optional<coupon_id_t> newest) {
  self->state.mysql = std::move(mysql);
  self->state.kafka = std::move(kafka);
  self->state.redis = std::move(redis);
  self->state.created = std::move(created);
  self->state.serve = std::move(serve);
  self->state.lacks = std::move(lacks);
  self->state.newest = newest;
  constexpr std::chrono::seconds scan_interval{1};
  if (newest)
    self->delayed_send(self, scan_interval, scan_atom::value);
  return {
    [=](scan_atom) {
      self->state.scan();
      self->delayed_send(self, scan_interval, scan_atom::value);
    },
    [=](adopt_atom, coupon_id_t id) -> caf::result<bool> {
      auto res = self->state.adopt(id);
      if (!res)
        return std::move(res.error());
      return *res;
    },
    [=](create_atom, coupon& spec, const std::string& key,
        reply_to<created_coupon>& r) {
      r.fn(self->state.create(std::move(spec), key));
    },
    [=](holdings_atom, user_id_t user,
        reply_to<std::vector<user_coupon>>& r) {
      r.fn(self->state.holdings(user));
    },
    [=](ready_atom, reply_to<readiness>& r) { r.fn(self->state.ready()); },
    [=](kafka_atom, const kafka_settings& next) {
      self->state.kafka = next;
      self->state.log.reset();
    },
  };
}

} // namespace dibs
