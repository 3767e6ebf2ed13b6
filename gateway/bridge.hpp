#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>
#include <caf/send.hpp>

#include "actors/protocol.hpp"

namespace dibs {

/// A continuation of the gateway, called with an actor's answer. It runs on
/// a CAF thread and must only hand the answer to the connection's executor.
template <class T>
struct reply_to {
  std::function<void(caf::expected<T>)> fn;
};

/// (forward_atom, caf::actor target, caf::message request,
///  std::chrono::milliseconds timeout, reply_to<T>)
using forward_atom = caf::atom_constant<caf::atom("forward")>;

/// Sends `request` to `target` through `bridge` and calls `done` with the
/// answer, an error, or `request_timeout` after `timeout`. Never blocks.
template <class T>
void ask(const caf::actor& bridge, const caf::actor& target,
         caf::message request, std::chrono::milliseconds timeout,
         std::function<void(caf::expected<T>)> done) {
  caf::anon_send(bridge, forward_atom::value, target, std::move(request),
                 timeout, reply_to<T>{std::move(done)});
}

/// The bridge between Beast's io threads and the actors: it turns each
/// `ask` into a CAF request and its answer into a call of the continuation.
caf::behavior bridge_actor(caf::event_based_actor* self);

} // namespace dibs

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<dibs::issuance>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<dibs::coupon_view>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<std::vector<dibs::user_coupon>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<bool>)
