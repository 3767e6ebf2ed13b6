#include "actors/stock_actor.hpp"

namespace dibs {

caf::behavior stock_actor(caf::stateful_actor<stock_state>* self,
                          recovered_stock state, stock_deps deps) {
  self->state.init(state, std::move(deps));
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
    [=](republish_atom, const std::string& log_id, int32_t partitions) {
      self->state.republish(log_id, partitions);
    },
    [=](republished_atom, issuance_id_t id, const delivery_report& rep) {
      self->state.on_republished(id, rep);
    },
    [=](snapshot_atom) {
      self->state.on_snapshot_tick();
      self->delayed_send(self, self->state.settings().snapshot_interval,
                         snapshot_atom::value);
    },
  };
}

} // namespace dibs
