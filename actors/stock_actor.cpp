#include "actors/stock_actor.hpp"

namespace dibs {

caf::behavior stock_actor(caf::stateful_actor<stock_state>* self, coupon info,
                          std::vector<issuance_event> rows,
                          std::vector<issuance_event> tail, event_sink* sink,
                          caf::actor resolver, stock_settings settings) {
  self->state.init(std::move(info), rows, tail, sink, std::move(resolver),
                   settings);
  return {
    [=](issue_atom, user_id_t user, bool wait) {
      return self->state.issue(user, wait);
    },
    [=](status_atom, user_id_t user) { return self->state.status(user); },
    [=](view_atom) { return self->state.view(); },
    [=](delivered_atom, issuance_id_t id, const delivery_report& rep) {
      self->state.on_delivered(id, rep);
    },
    [=](resolve_atom, issuance_id_t id) { self->state.on_resolve_due(id); },
    [=](committed_atom, const std::vector<issuance_event>& rows) {
      self->state.on_committed(rows);
    },
    [=](expire_atom, user_id_t user) { self->state.on_wait_expired(user); },
  };
}

} // namespace dibs
