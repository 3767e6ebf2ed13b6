#pragma once

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/stock_state.hpp"

namespace dibs {

/// One actor per coupon. See `stock_state` for what it owns.
stock_actor_type::behavior_type
stock_actor(stock_state::pointer self, recovered_stock state, stock_deps deps);

} // namespace dibs
