#define CAF_SUITE gateway.rate_limiter

#include "gateway/rate_limiter.hpp"

#include <chrono>
#include <cstdint>

#include <caf/test/unit_test.hpp>

using namespace dibs;
using namespace std::chrono_literals;

namespace {

using clock_type = rate_limiter::clock;

/// Any fixed instant: the limiter only looks at differences.
const clock_type::time_point t0 = clock_type::time_point{} + 1h;

/// How many tokens `key` gets at `now`, taking until one is refused.
size_t drain(rate_limiter& limits, uint64_t key, clock_type::time_point now) {
  size_t taken = 0;
  while (!limits.take(key, now))
    ++taken;
  return taken;
}

/// The wait a refused take tells, in milliseconds; -1 when it was not
/// refused.
int64_t wait_ms(rate_limiter& limits, uint64_t key,
                clock_type::time_point now) {
  auto wait = limits.take(key, now);
  return wait ? wait->count() : -1;
}

} // namespace

CAF_TEST(a_new_key_gets_its_burst_at_once) {
  rate_limiter limits{1, 5};
  CAF_CHECK(limits.enabled());
  CAF_CHECK_EQUAL(drain(limits, 7, t0), 5u);
}

CAF_TEST(a_burst_below_one_still_takes_one) {
  rate_limiter limits{1, 0};
  CAF_CHECK_EQUAL(drain(limits, 7, t0), 1u);
}

CAF_TEST(tokens_refill_at_the_rate) {
  // 4 a second: one every 250 ms (binary fractions: no rounding).
  rate_limiter limits{4, 2};
  CAF_CHECK_EQUAL(drain(limits, 7, t0), 2u);
  CAF_CHECK_EQUAL(drain(limits, 7, t0 + 249ms), 0u);
  CAF_CHECK_EQUAL(drain(limits, 7, t0 + 250ms), 1u);
  CAF_CHECK_EQUAL(drain(limits, 7, t0 + 750ms), 2u);
}

CAF_TEST(refilling_stops_at_the_burst) {
  rate_limiter limits{10, 3};
  CAF_CHECK_EQUAL(drain(limits, 7, t0), 3u);
  CAF_CHECK_EQUAL(drain(limits, 7, t0 + 1h), 3u);
}

CAF_TEST(a_refusal_tells_the_wait_until_the_next_token) {
  rate_limiter limits{2, 1}; // One token every 500 ms.
  CAF_CHECK_EQUAL(wait_ms(limits, 7, t0), -1);
  CAF_CHECK_EQUAL(wait_ms(limits, 7, t0), 500);
  CAF_CHECK_EQUAL(wait_ms(limits, 7, t0 + 250ms), 250);
  CAF_CHECK_EQUAL(wait_ms(limits, 7, t0 + 500ms), -1);
}

CAF_TEST(the_wait_told_is_never_too_early) {
  // Rates whose token interval is no whole number of milliseconds: the wait
  // rounds up, so a take after it succeeds and one a millisecond earlier
  // does not.
  for (double per_s : {3.0, 7.0, 0.3}) {
    CAF_MESSAGE("per_s " << per_s);
    rate_limiter limits{per_s, 1};
    CAF_REQUIRE(!limits.take(7, t0));
    auto wait = limits.take(7, t0);
    CAF_REQUIRE(wait);
    auto interval_ms = 1000.0 / per_s;
    CAF_CHECK_GREATER_OR_EQUAL(wait->count(), interval_ms);
    CAF_CHECK_LESS(wait->count(), interval_ms + 1);
    CAF_CHECK(limits.take(7, t0 + *wait - 1ms));
    CAF_CHECK(!limits.take(7, t0 + *wait));
  }
}

CAF_TEST(a_refused_take_costs_nothing) {
  rate_limiter limits{4, 1}; // One token every 250 ms.
  CAF_REQUIRE(!limits.take(7, t0));
  for (auto i = 0; i < 10; ++i)
    CAF_CHECK(limits.take(7, t0 + 125ms));
  CAF_CHECK_EQUAL(drain(limits, 7, t0 + 250ms), 1u);
}

CAF_TEST(each_key_has_its_own_bucket) {
  rate_limiter limits{1, 2};
  CAF_CHECK_EQUAL(drain(limits, 1, t0), 2u);
  CAF_CHECK_EQUAL(drain(limits, 2, t0), 2u);
  CAF_CHECK_EQUAL(drain(limits, uint64_t{1} << 63, t0), 2u);
  CAF_CHECK_EQUAL(drain(limits, 1, t0), 0u);
}

CAF_TEST(a_rate_of_zero_turns_the_limiter_off) {
  rate_limiter limits{0, 1};
  CAF_CHECK(!limits.enabled());
  for (auto i = 0; i < 1000; ++i)
    CAF_CHECK(!limits.take(7, t0));
}

CAF_TEST(keys_below_the_bound_are_all_remembered) {
  rate_limiter limits{1, 1}; // The default bound, 2^20 keys.
  constexpr uint64_t keys = 1000;
  for (uint64_t k = 1; k <= keys; ++k)
    CAF_REQUIRE(!limits.take(k, t0));
  size_t refused = 0;
  for (uint64_t k = 1; k <= keys; ++k)
    refused += limits.take(k, t0) ? 1 : 0;
  CAF_CHECK_EQUAL(refused, keys);
}

CAF_TEST(no_more_keys_than_the_bound_are_held) {
  // A key still held refuses a second take at the same instant; a key the
  // limiter forgot gets a new bucket and takes. A key refused in the second
  // round was held at the end of the first, so at most `max_keys` are.
  constexpr size_t max_keys = 1024;
  constexpr uint64_t keys = 4 * max_keys;
  rate_limiter limits{1, 1, max_keys};
  for (uint64_t k = 1; k <= keys; ++k)
    CAF_REQUIRE(!limits.take(k, t0));
  size_t refused = 0;
  for (uint64_t k = 1; k <= keys; ++k)
    refused += limits.take(k, t0) ? 1 : 0;
  CAF_CHECK_LESS_OR_EQUAL(refused, max_keys);
  CAF_CHECK_GREATER(refused, 0u);
}

CAF_TEST(a_full_shard_forgets_refilled_buckets_before_a_drained_one) {
  // Forgetting a bucket that is not full would hand its key a new burst.
  // One drained key, then many others, each refilled one second after its
  // take while the drained one takes 1,000 s: whenever a shard is full,
  // refilled buckets are there to forget.
  constexpr double per_s = 1;
  constexpr double burst = 1000;
  constexpr size_t max_keys = 1024;
  rate_limiter limits{per_s, burst, max_keys};
  constexpr uint64_t drained = 1;
  CAF_REQUIRE_EQUAL(drain(limits, drained, t0), static_cast<size_t>(burst));
  constexpr uint64_t others = 10 * max_keys;
  constexpr auto step = 10ms;
  auto now = t0 + 1s;
  for (uint64_t k = 0; k < others; ++k, now += step)
    CAF_REQUIRE(!limits.take(drained + 1 + k, now));
  // Remembered: only what refilled since t0.
  auto refilled = std::chrono::duration<double>(now - t0).count() * per_s;
  CAF_REQUIRE_LESS(refilled, burst);
  CAF_CHECK_EQUAL(drain(limits, drained, now),
                  static_cast<size_t>(refilled));
}

// -- address_key --------------------------------------------------------------

CAF_TEST(address_key_is_the_ipv4_address_or_the_ipv6_slash_64) {
  using boost::asio::ip::make_address;
  CAF_CHECK_EQUAL(address_key(make_address("10.0.0.1")), 0x0a000001u);
  // An IPv4-mapped IPv6 address is its IPv4 address.
  CAF_CHECK_EQUAL(address_key(make_address("::ffff:10.0.0.1")), 0x0a000001u);
  // One /64 is one client; another /64 another; apart from every IPv4 key.
  auto a = address_key(make_address("2001:db8:1:2::1"));
  CAF_CHECK_EQUAL(a, address_key(make_address("2001:db8:1:2:ffff::9")));
  CAF_CHECK_NOT_EQUAL(a, address_key(make_address("2001:db8:1:3::1")));
  CAF_CHECK_GREATER_OR_EQUAL(a, uint64_t{1} << 63);
}
