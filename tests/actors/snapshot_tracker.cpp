#define CAF_SUITE actors.snapshot_tracker

#include "actors/snapshot_tracker.hpp"

#include <cstdint>
#include <vector>

#include <caf/test/unit_test.hpp>

using namespace dibs;

namespace {

constexpr coupon_id_t coupon_of_tests = 7;

issuance_event ev(uint32_t seq) {
  return {make_issuance_id(coupon_of_tests, seq), coupon_of_tests,
          1000 + uint64_t{seq}, 5000 + seq};
}

uint64_t checksum_of(const std::vector<issuance_event>& xs,
                     uint64_t sum = 0) {
  for (auto& x : xs)
    sum = snapshot_checksum(sum, x);
  return sum;
}

/// A tracker started from recovered state: 2 issuances, partition 3,
/// position 40, epoch 9.
struct fixture {
  std::vector<issuance_event> recovered{ev(1), ev(2)};
  snapshot_meta base;
  snapshot_tracker t;

  fixture() {
    base.epoch = 9;
    base.log_id = "log-a";
    base.partition = 3;
    base.position = 40;
    base.count = recovered.size();
    base.checksum = checksum_of(recovered);
    base.chunks = 5; // Whatever a previous owner wrote.
    t.start(base);
  }

  /// The position the next append would write.
  int64_t position() {
    auto [after, events] = t.begin_append();
    t.write_failed();
    return after.position;
  }

  /// Writes `all` whole, and Redis takes it.
  snapshot_meta rewrite_done(const std::vector<issuance_event>& all) {
    auto after = t.begin_rewrite(all);
    t.end_write(snapshot_write::done, after);
    return after;
  }

  /// Writes every pending issuance as an append Redis takes.
  snapshot_meta append_done() {
    auto [after, events] = t.begin_append();
    t.end_write(snapshot_write::done, after);
    return after;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(snapshot_tracker_tests, fixture)

CAF_TEST(a_started_tracker_rewrites_first_and_holds_nothing_pending) {
  CAF_CHECK(t.needs_rewrite());
  CAF_CHECK(!t.writing());
  CAF_CHECK(!t.fenced());
  CAF_CHECK_EQUAL(t.pending(), 0u);
  CAF_CHECK_EQUAL(t.written().epoch, base.epoch);
  CAF_CHECK_EQUAL(t.written().position, base.position);
  // Nothing is in Redis under this epoch yet.
  CAF_CHECK_EQUAL(t.written().chunks, 0u);
  CAF_CHECK_EQUAL(position(), base.position);
}

CAF_TEST(a_report_moves_the_position_to_its_offset) {
  t.on_stored(ev(3), base.partition, 41);
  CAF_CHECK_EQUAL(t.pending(), 1u);
  CAF_CHECK_EQUAL(position(), 41);
  t.on_stored(ev(4), base.partition, 60);
  CAF_CHECK_EQUAL(position(), 60);
}

CAF_TEST(the_position_stays_at_a_record_whose_events_may_not_all_be_here) {
  // Two events of the coupon in the record at 41: their reports come one
  // by one, and a snapshot written between them must not claim the second.
  t.on_stored(ev(3), base.partition, 41);
  CAF_CHECK_EQUAL(position(), 41);
  t.on_stored(ev(4), base.partition, 41);
  CAF_CHECK_EQUAL(position(), 41);
}

CAF_TEST(the_position_never_goes_back_in_a_partition) {
  t.on_stored(ev(3), base.partition, 60);
  t.on_stored(ev(4), base.partition, 45);
  CAF_CHECK_EQUAL(position(), 60);
  t.on_stored(ev(5), base.partition, 10); // Below the recovered position.
  CAF_CHECK_EQUAL(position(), 60);
}

CAF_TEST(an_issuance_the_resolver_found_leaves_the_position) {
  t.on_stored(ev(3), -1, -1);
  CAF_CHECK_EQUAL(t.pending(), 1u);
  CAF_CHECK_EQUAL(position(), base.position);
}

CAF_TEST(the_position_waits_while_an_outcome_is_unresolved) {
  t.on_unresolved();
  t.on_unresolved();
  t.on_stored(ev(3), base.partition, 50);
  CAF_CHECK_EQUAL(position(), base.position);
  t.on_unresolved_settled();
  CAF_CHECK_EQUAL(position(), base.position);
  t.on_unresolved_settled();
  CAF_CHECK_EQUAL(position(), 50);
}

CAF_TEST(settling_with_nothing_unresolved_changes_nothing) {
  t.on_unresolved_settled();
  t.on_unresolved();
  t.on_stored(ev(3), base.partition, 50);
  // The extra settle above must not have cancelled the unresolved one.
  CAF_CHECK_EQUAL(position(), base.position);
}

CAF_TEST(a_report_from_another_partition_starts_the_position_there) {
  t.on_stored(ev(3), base.partition + 1, 5);
  auto [after, events] = t.begin_append();
  CAF_CHECK_EQUAL(after.partition, base.partition + 1);
  CAF_CHECK_EQUAL(after.position, 5);
}

CAF_TEST(an_append_adds_the_pending_issuances_as_one_chunk) {
  t.on_stored(ev(3), base.partition, 41);
  t.on_stored(ev(4), base.partition, 42);
  auto [after, events] = t.begin_append();
  CAF_CHECK(t.writing());
  CAF_CHECK(events == (std::vector<issuance_event>{ev(3), ev(4)}));
  CAF_CHECK_EQUAL(after.epoch, base.epoch);
  CAF_CHECK_EQUAL(after.log_id, base.log_id);
  CAF_CHECK_EQUAL(after.count, base.count + events.size());
  CAF_CHECK_EQUAL(after.checksum, checksum_of(events, base.checksum));
  CAF_CHECK_EQUAL(after.chunks, t.written().chunks + 1);
  CAF_CHECK_EQUAL(after.position, 42);
  // In flight, no longer pending.
  CAF_CHECK_EQUAL(t.pending(), 0u);
}

CAF_TEST(a_done_append_is_what_redis_holds) {
  t.on_stored(ev(3), base.partition, 41);
  auto [after, events] = t.begin_append();
  // Stored while the write runs: pending for the next one.
  t.on_stored(ev(4), base.partition, 42);
  CAF_CHECK_EQUAL(t.pending(), 1u);
  t.end_write(snapshot_write::done, after);
  CAF_CHECK(!t.writing());
  CAF_CHECK(!t.needs_rewrite());
  CAF_CHECK_EQUAL(t.written().count, after.count);
  CAF_CHECK_EQUAL(t.written().checksum, after.checksum);
  CAF_CHECK_EQUAL(t.written().chunks, after.chunks);
  CAF_CHECK_EQUAL(t.pending(), 1u);
  auto [next, more] = t.begin_append();
  CAF_CHECK(more == std::vector<issuance_event>{ev(4)});
  CAF_CHECK_EQUAL(next.chunks, after.chunks + 1);
}

CAF_TEST(a_failed_write_keeps_everything_for_the_retry) {
  t.on_stored(ev(3), base.partition, 41);
  auto written = t.written();
  auto [after, events] = t.begin_append();
  t.write_failed();
  CAF_CHECK(!t.writing());
  CAF_CHECK_EQUAL(t.pending(), 1u);
  CAF_CHECK_EQUAL(t.written().chunks, written.chunks);
  CAF_CHECK_EQUAL(t.written().checksum, written.checksum);
  auto [again, retried] = t.begin_append();
  CAF_CHECK(retried == events);
  CAF_CHECK_EQUAL(again.checksum, after.checksum);
}

CAF_TEST(a_diverged_write_makes_the_next_whole) {
  rewrite_done(recovered);
  CAF_REQUIRE(!t.needs_rewrite());
  t.on_stored(ev(3), base.partition, 41);
  auto written = t.written();
  auto [after, events] = t.begin_append();
  t.end_write(snapshot_write::diverged, after);
  CAF_CHECK(t.needs_rewrite());
  CAF_CHECK(!t.fenced());
  CAF_CHECK_EQUAL(t.pending(), 1u);
  CAF_CHECK_EQUAL(t.written().chunks, written.chunks);
}

CAF_TEST(a_fenced_write_fences_the_tracker) {
  t.on_stored(ev(3), base.partition, 41);
  auto [after, events] = t.begin_append();
  t.end_write(snapshot_write::fenced, after);
  CAF_CHECK(t.fenced());
  CAF_CHECK(!t.writing());
}

CAF_TEST(a_rewrite_holds_every_issuance_in_one_chunk) {
  t.on_stored(ev(3), base.partition, 41);
  auto all = recovered;
  all.push_back(ev(3));
  auto after = t.begin_rewrite(all);
  CAF_CHECK_EQUAL(after.count, all.size());
  CAF_CHECK_EQUAL(after.checksum, checksum_of(all));
  CAF_CHECK_EQUAL(after.chunks, 1u);
  CAF_CHECK_EQUAL(after.position, 41);
  CAF_CHECK_EQUAL(t.pending(), 0u);
  t.end_write(snapshot_write::done, after);
  CAF_CHECK(!t.needs_rewrite());
  CAF_CHECK_EQUAL(t.pending(), 0u);
  CAF_CHECK_EQUAL(t.written().chunks, 1u);
}

CAF_TEST(appends_sum_to_the_checksum_of_a_rewrite) {
  // Rewrite the recovered issuances, append two chunks: Redis then holds
  // what one rewrite of all of them would say, whatever the order.
  rewrite_done(recovered);
  t.on_stored(ev(3), base.partition, 41);
  append_done();
  t.on_stored(ev(5), base.partition, 43);
  t.on_stored(ev(4), base.partition, 42);
  auto last = append_done();
  CAF_CHECK_EQUAL(last.chunks, 3u);
  CAF_CHECK_EQUAL(last.count, 5u);
  snapshot_tracker fresh;
  fresh.start(base);
  auto whole = fresh.begin_rewrite({ev(5), ev(4), ev(3), ev(2), ev(1)});
  CAF_CHECK_EQUAL(last.checksum, whole.checksum);
  CAF_CHECK_EQUAL(last.count, whole.count);
}

CAF_TEST(a_verify_forgets_no_pending_issuance) {
  rewrite_done(recovered);
  t.on_stored(ev(3), base.partition, 41);
  auto after = t.begin_verify();
  CAF_CHECK(t.writing());
  CAF_CHECK_EQUAL(after.chunks, t.written().chunks);
  CAF_CHECK_EQUAL(after.checksum, t.written().checksum);
  CAF_CHECK_EQUAL(t.pending(), 1u);
  t.end_write(snapshot_write::done, after);
  CAF_CHECK_EQUAL(t.pending(), 1u);
}

CAF_TEST(start_forgets_the_previous_life) {
  t.on_stored(ev(3), base.partition, 41);
  t.on_unresolved();
  auto [after, events] = t.begin_append();
  t.end_write(snapshot_write::fenced, after);
  t.start(base);
  CAF_CHECK(!t.fenced());
  CAF_CHECK(!t.writing());
  CAF_CHECK(t.needs_rewrite());
  CAF_CHECK_EQUAL(t.pending(), 0u);
  t.on_stored(ev(4), base.partition, 44);
  CAF_CHECK_EQUAL(position(), 44); // Nothing unresolved any more.
}

CAF_TEST_FIXTURE_SCOPE_END()
