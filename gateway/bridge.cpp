#include "gateway/bridge.hpp"

namespace dibs {

namespace {

template <class T>
auto forwarder(caf::event_based_actor* self) {
  return [self](forward_atom, const caf::actor& target, caf::message& request,
                std::chrono::milliseconds timeout, reply_to<T>& reply) {
    if (!target) {
      reply.fn(caf::make_error(ec::unavailable, "no such actor"));
      return;
    }
    self->request(target, timeout, std::move(request))
      .then([fn = reply.fn](T& x) { fn(std::move(x)); },
            [fn = reply.fn](caf::error& err) { fn(std::move(err)); });
  };
}

} // namespace

caf::behavior bridge_actor(caf::event_based_actor* self) {
  return {
    forwarder<issuance>(self),
    forwarder<coupon_view>(self),
    forwarder<std::vector<user_coupon>>(self),
    forwarder<bool>(self),
  };
}

} // namespace dibs
