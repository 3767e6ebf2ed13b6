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
      auto rp = self->make_response_promise<issuance>();
      self->state.issue(user, wait, replier<issuance>{rp, nullptr});
      return rp;
    },
    [=](issue_atom, user_id_t user, bool wait, reply_to<issuance>& r) {
      self->state.issue(user, wait, replier<issuance>{{}, std::move(r.fn)});
    },
    [=](status_atom, user_id_t user) -> caf::result<issuance> {
      auto res = self->state.status(user);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [=](status_atom, user_id_t user, reply_to<issuance>& r) {
      r.fn(self->state.status(user));
    },
    [=](view_atom) { return self->state.view(); },
    [=](view_atom, reply_to<coupon_view>& r) { r.fn(self->state.view()); },
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
