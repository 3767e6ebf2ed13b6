#define CAF_SUITE actors.sold_out_gate

#include "actors/sold_out_gate.hpp"

#include <caf/test/unit_test.hpp>

using namespace dibs;

namespace {

constexpr epoch_ms noon = 1'700'000'000'000;

coupon coupon_of(uint32_t total, epoch_ms opens_at = 0,
                 epoch_ms closes_at = 0) {
  return coupon{7, "noon", 1000, total, opens_at, closes_at, 0};
}

/// Closes `gate` with users first..last as the holders.
void close_with(sold_out_gate& gate, user_id_t first, user_id_t last) {
  gate.close([&](auto&& add) {
    for (auto u = first; u <= last; ++u)
      add(u);
  });
}

} // namespace

CAF_TEST(the_filter_holds_every_user_added) {
  holder_filter f{100'000};
  CAF_CHECK_GREATER_OR_EQUAL(f.size(), 1'600'000u);
  for (user_id_t u = 1; u <= 100'000; ++u)
    f.add(u * 7919);
  size_t missed = 0;
  for (user_id_t u = 1; u <= 100'000; ++u)
    missed += f.may_hold(u * 7919) ? 0 : 1;
  CAF_CHECK_EQUAL(missed, 0u);
}

CAF_TEST(the_filter_lets_few_others_through) {
  holder_filter f{100'000};
  for (user_id_t u = 1; u <= 100'000; ++u)
    f.add(u);
  size_t passed = 0;
  for (user_id_t u = 1'000'001; u <= 1'100'000; ++u)
    passed += f.may_hold(u) ? 1 : 0;
  CAF_MESSAGE(passed << " of 100,000 others may hold");
  // At most about 0.5 %: 16 bits or more per user, three probes.
  CAF_CHECK_LESS(passed, 1'000u);
}

CAF_TEST(an_open_gate_answers_nothing) {
  sold_out_gate gate{coupon_of(3), nullptr};
  CAF_CHECK(!gate.closed());
  CAF_CHECK(!gate.answers_sold_out(42, noon));
}

CAF_TEST(a_closed_gate_answers_sold_out_to_all_but_the_holders) {
  auto stats = std::make_shared<stock_stats>(coupon_of(1000));
  sold_out_gate gate{coupon_of(1000), stats};
  close_with(gate, 1, 1000);
  size_t sold_out = 0;
  for (user_id_t u = 1; u <= 1000; ++u)
    sold_out += gate.answers_sold_out(u, noon) ? 1 : 0;
  CAF_CHECK_EQUAL(sold_out, 0u);
  for (user_id_t u = 1001; u <= 2000; ++u)
    sold_out += gate.answers_sold_out(u, noon) ? 1 : 0;
  CAF_CHECK_GREATER(sold_out, 980u);
  // Each counted as the actor counts its own.
  auto counted = stats->outcomes[static_cast<size_t>(issue_outcome::sold_out)]
                   .load();
  CAF_CHECK_EQUAL(counted, sold_out);
  gate.open();
  CAF_CHECK(!gate.answers_sold_out(1500, noon));
}

CAF_TEST(a_holder_added_while_open_is_kept_out_after_closing_again) {
  sold_out_gate gate{coupon_of(2), nullptr};
  close_with(gate, 1, 2);
  CAF_REQUIRE(gate.answers_sold_out(3, noon));
  // User 2's reservation failed, user 3 took the unit.
  gate.open();
  gate.holder_added(3);
  close_with(gate, 1, 1); // The filter exists: nothing is added.
  CAF_CHECK(!gate.answers_sold_out(3, noon));
  CAF_CHECK(!gate.answers_sold_out(1, noon));
}

CAF_TEST(outside_the_window_the_actor_answers) {
  sold_out_gate gate{coupon_of(1, noon - 1000, noon + 1000), nullptr};
  close_with(gate, 1, 1);
  CAF_CHECK(gate.answers_sold_out(2, noon));
  CAF_CHECK(!gate.answers_sold_out(2, noon - 1001)); // NOT_OPEN
  CAF_CHECK(!gate.answers_sold_out(2, noon + 1000)); // CLOSED
}
