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

caf::expected<coupon_view> store_state::create(coupon spec) {
  if (auto err = connect())
    return caf::make_error(ec::unavailable, to_string(err));
  auto c = store->create_coupon(std::move(spec));
  if (!c)
    return caf::make_error(ec::unavailable, to_string(c.error()));
  spawn_stock(*c, partition_end(c->id));
  spdlog::info("coupon {} created: {} units of '{}'", c->id, c->total_quantity,
               c->name);
  return coupon_view{*c, c->total_quantity, 0};
}

caf::expected<std::vector<user_coupon>> store_state::holdings(user_id_t user) {
  if (auto err = connect())
    return caf::make_error(ec::unavailable, to_string(err));
  auto rows = store->user_coupons(user);
  if (!rows)
    return caf::make_error(ec::unavailable, to_string(rows.error()));
  return std::move(*rows);
}

bool store_state::ready() {
  if (connect() || !store->execute("DO 1")) {
    store.reset();
    return false;
  }
  if (!log) {
    auto l = kafka_log::scanner(kafka);
    if (!l)
      return false;
    log = std::move(*l);
  }
  // The topic's metadata comes from a broker: Kafka answers.
  constexpr int kafka_check_timeout_ms = 1000;
  if (!log->partitions(kafka_check_timeout_ms)) {
    log.reset();
    return false;
  }
  return true;
}

caf::behavior store_actor(caf::stateful_actor<store_state>* self,
                          mysql_settings mysql,
                          kafka_settings kafka,
                          store_state::spawn_fn spawn_stock) {
  self->state.mysql = std::move(mysql);
  self->state.kafka = std::move(kafka);
  self->state.spawn_stock = std::move(spawn_stock);
  return {
    [=](create_atom, coupon& spec, reply_to<coupon_view>& r) {
      r.fn(self->state.create(std::move(spec)));
    },
    [=](holdings_atom, user_id_t user,
        reply_to<std::vector<user_coupon>>& r) {
      r.fn(self->state.holdings(user));
    },
    [=](ready_atom, reply_to<bool>& r) { r.fn(self->state.ready()); },
    [=](kafka_atom, const kafka_settings& next) {
      self->state.kafka = next;
      self->state.log.reset();
    },
  };
}

} // namespace dibs
