#pragma once

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/stock_state.hpp"

namespace dibs {

/// One actor per coupon. See `stock_state` for what it owns.
caf::behavior stock_actor(caf::stateful_actor<stock_state>* self, coupon info,
                          std::vector<issuance_event> rows,
                          std::vector<issuance_event> tail, event_sink* sink,
                          caf::actor resolver, stock_settings settings);

} // namespace dibs
