#include "actors/stock_actor.hpp"

namespace dibs {

stock_actor_type::behavior_type
stock_actor(stock_state::pointer self, recovered_stock state, stock_deps deps) {
  self->state.init(state, std::move(deps));
  // Every handler ends with `st.handled()`, as do the response handlers in
  // stock_state: the actor's live figures.
  auto& st = self->state;
  return {
    [=, &st](issue_atom, user_id_t user, bool wait,
             std::string& request_id) -> caf::typed_response_promise<issuance> {
      auto rp = self->make_response_promise<issuance>();
      st.issue(user, wait, replier<issuance>{rp, nullptr},
               std::move(request_id));
      st.handled();
      return rp;
    },
    [=, &st](issue_atom, user_id_t user, bool wait, std::string& request_id,
             reply_to<issuance>& r) {
      st.issue(user, wait, replier<issuance>{{}, std::move(r.fn)},
               std::move(request_id));
      st.handled();
    },
    [=, &st](status_atom, user_id_t user) -> caf::result<issuance> {
      auto res = st.status(user);
      st.handled();
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [=, &st](status_atom, user_id_t user, reply_to<issuance>& r) {
      r.fn(st.status(user));
      st.handled();
    },
    [=, &st](view_atom) -> caf::result<coupon_view> {
      st.handled();
      return st.view();
    },
    [=, &st](view_atom, reply_to<coupon_view>& r) {
      r.fn(st.view());
      st.handled();
    },
    [=, &st](delivered_atom, issuance_id_t id, const delivery_report& rep) {
      st.on_delivered(id, rep);
      st.handled();
    },
    [=, &st](resolve_atom, issuance_id_t id) {
      st.on_resolve_due(id);
      st.handled();
    },
    [=, &st](committed_atom, const std::vector<issuance_event>& rows) {
      st.on_committed(rows);
      st.handled();
    },
    [=, &st](expire_atom, user_id_t user) {
      st.on_wait_expired(user);
      st.handled();
    },
    [=, &st](republish_atom, const std::string& log_id, int32_t partitions) {
      st.republish(log_id, partitions);
      st.handled();
    },
    [=, &st](republished_atom, issuance_id_t id, const delivery_report& rep) {
      st.on_republished(id, rep);
      st.handled();
    },
    [=, &st](snapshot_atom) {
      st.on_snapshot_tick();
      st.handled();
      self->delayed_send(self, self->state.settings().snapshot_interval,
                         snapshot_atom::value);
    },
  };
}

} // namespace dibs
