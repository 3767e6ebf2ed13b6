#include "actors/resolver_actor.hpp"

#include "persistence/log_tail.hpp"

namespace dibs {

namespace {

constexpr int scan_timeout_ms = 10'000;

} // namespace

caf::expected<bool> resolver_state::find(const issuance_event& event) {
  if (!store) {
    auto s = mysql_store::open(mysql);
    if (!s)
      return std::move(s.error());
    store = std::move(*s);
  }
  if (!scanner) {
    auto l = kafka_log::scanner(kafka);
    if (!l)
      return std::move(l.error());
    scanner = std::move(*l);
  }
  auto in_mysql = store->has_issuance(event.issuance_id);
  if (!in_mysql)
    return std::move(in_mysql.error());
  if (*in_mysql)
    return true;
  // Only the coupon's partition: with the writers behind (MySQL was down),
  // reading all of them took tens of seconds on the embedded broker.
  auto tail = unwritten_tail(*store, *scanner, event.coupon_id,
                             scan_timeout_ms);
  if (!tail)
    return std::move(tail.error());
  for (auto& e : *tail)
    if (e.issuance_id == event.issuance_id)
      return true;
  return false;
}

caf::behavior resolver_actor(caf::stateful_actor<resolver_state>* self,
                             kafka_settings kafka, mysql_settings mysql) {
  self->state.kafka = std::move(kafka);
  self->state.mysql = std::move(mysql);
  return {
    [=](resolve_atom, const issuance_event& event) -> caf::result<bool> {
      auto found = self->state.find(event);
      if (!found)
        return std::move(found.error());
      return *found;
    },
  };
}

} // namespace dibs
