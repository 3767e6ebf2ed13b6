#define CAF_SUITE actors.recovery

#include "actors/recovery.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/test/unit_test.hpp>

using namespace dibs;

namespace {

constexpr coupon_id_t coupon_of_tests = 7;

/// An issuance of the tests' coupon: sequence `seq`, to user `user`.
issuance_event ev(uint32_t seq, user_id_t user) {
  return {make_issuance_id(coupon_of_tests, seq), coupon_of_tests, user,
          1000 + seq};
}

std::vector<issuance_id_t> ids_of(const std::vector<issuance_event>& xs) {
  std::vector<issuance_id_t> ids;
  for (auto& x : xs)
    ids.push_back(x.issuance_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<issuance_id_t> ids_of_seqs(std::vector<uint32_t> seqs) {
  std::vector<issuance_id_t> ids;
  for (auto s : seqs)
    ids.push_back(make_issuance_id(coupon_of_tests, s));
  std::sort(ids.begin(), ids.end());
  return ids;
}

/// What the next owner of the tests' coupon expects: it holds epoch 5, the
/// coupon is in partition 2 of log "log-a", Kafka holds offsets from 100.
struct owner {
  uint64_t epoch = 5;
  std::string log_id = "log-a";
  int32_t partition = 2;
  int64_t low = 100;
  /// The writers' position in the partition.
  int64_t written = 100;

  /// A good snapshot for this owner, written by the previous one.
  loaded_snapshot good() const {
    loaded_snapshot s;
    s.fault = snapshot_fault::ok;
    s.snap.meta.epoch = epoch - 1;
    s.snap.meta.log_id = log_id;
    s.snap.meta.partition = partition;
    s.snap.meta.position = low;
    s.snap.events = {ev(1, 11), ev(2, 12)};
    return s;
  }

  std::string problem(const loaded_snapshot& s) const {
    return snapshot_problem(s, epoch, log_id, partition, low, written);
  }

  bool lost_log(const loaded_snapshot& s) const {
    return of_lost_log(s, epoch, log_id);
  }
};

} // namespace

// -- snapshot_problem --------------------------------------------------------

CAF_TEST(a_snapshot_of_the_previous_epoch_log_and_partition_serves) {
  owner o;
  CAF_CHECK_EQUAL(o.problem(o.good()), "");
  auto ahead = o.good();
  ahead.snap.meta.position = o.low + 1000;
  CAF_CHECK_EQUAL(o.problem(ahead), "");
}

CAF_TEST(an_absent_or_corrupt_snapshot_does_not_serve) {
  owner o;
  loaded_snapshot absent;
  CAF_CHECK_EQUAL(o.problem(absent), "no snapshot");
  auto corrupt = o.good();
  corrupt.fault = snapshot_fault::corrupt;
  corrupt.reason = "checksum mismatch";
  CAF_CHECK_EQUAL(o.problem(corrupt), "corrupt snapshot (checksum mismatch)");
}

CAF_TEST(a_snapshot_of_another_epoch_does_not_serve) {
  owner o;
  auto expected = "expected " + std::to_string(o.epoch - 1);
  for (auto epoch : {o.epoch - 2, o.epoch, o.epoch + 1}) {
    auto s = o.good();
    s.snap.meta.epoch = epoch;
    CAF_CHECK_EQUAL(o.problem(s), "snapshot of epoch " + std::to_string(epoch)
                                    + ", " + expected);
  }
}

CAF_TEST(a_snapshot_of_another_log_or_partition_does_not_serve) {
  owner o;
  auto other_log = o.good();
  other_log.snap.meta.log_id = "log-b";
  CAF_CHECK_EQUAL(o.problem(other_log), "snapshot of another Kafka log");
  auto other_partition = o.good();
  other_partition.snap.meta.partition = o.partition + 1;
  CAF_CHECK_EQUAL(o.problem(other_partition),
                  "snapshot of partition "
                    + std::to_string(o.partition + 1));
}

CAF_TEST(a_snapshot_below_what_kafka_holds_does_not_serve) {
  owner o;
  auto s = o.good();
  s.snap.meta.position = o.low - 1;
  CAF_CHECK_EQUAL(o.problem(s), "Kafka no longer holds the snapshot's "
                                "position");
}

CAF_TEST(a_snapshot_far_behind_the_writers_does_not_serve) {
  // An idle coupon's snapshot, its partition since filled by another.
  owner o;
  o.written = o.low + max_snapshot_lag_records;
  CAF_CHECK_EQUAL(o.problem(o.good()), "");
  o.written += 1;
  CAF_CHECK_EQUAL(o.problem(o.good()),
                  "snapshot " + std::to_string(max_snapshot_lag_records + 1)
                    + " records behind the writers' position");
  // A snapshot of ten times more issuances than that may lag by a tenth
  // of them: its rows would take as long from MySQL.
  auto large = o.good();
  large.snap.meta.count = 10 * (max_snapshot_lag_records + 1);
  CAF_CHECK_EQUAL(o.problem(large), "");
  large.snap.meta.count = 10 * (max_snapshot_lag_records + 1) - 1;
  CAF_CHECK_EQUAL(o.problem(large),
                  "snapshot " + std::to_string(max_snapshot_lag_records + 1)
                    + " records behind the writers' position");
}

// -- of_lost_log -------------------------------------------------------------

CAF_TEST(a_good_snapshot_of_another_log_is_of_a_lost_log) {
  owner o;
  auto s = o.good();
  s.snap.meta.log_id = "log-gone";
  CAF_CHECK(o.lost_log(s));
}

CAF_TEST(a_snapshot_of_this_log_or_another_epoch_or_corrupt_is_not) {
  owner o;
  CAF_CHECK(!o.lost_log(o.good()));
  auto s = o.good();
  s.snap.meta.log_id = "log-gone";
  auto stale = s;
  stale.snap.meta.epoch = o.epoch - 2;
  CAF_CHECK(!o.lost_log(stale));
  auto corrupt = s;
  corrupt.fault = snapshot_fault::corrupt;
  CAF_CHECK(!o.lost_log(corrupt));
  auto absent = s;
  absent.fault = snapshot_fault::absent;
  CAF_CHECK(!o.lost_log(absent));
}

// -- adopt_held --------------------------------------------------------------

CAF_TEST(adopt_held_adds_the_users_the_stock_holds_nothing_for) {
  recovered_stock st;
  st.rows = {ev(1, 11)};
  st.tail = {ev(2, 12)};
  st.unlogged = {ev(3, 13)};
  // Users 11, 12 and 13 hold an issuance already (another one, even);
  // 14 and 15 do not.
  std::vector<issuance_event> held{ev(1, 11), ev(20, 12), ev(21, 13),
                                   ev(4, 14), ev(5, 15)};
  CAF_CHECK_EQUAL(adopt_held(st, held), 2u);
  CAF_CHECK(ids_of(st.unlogged) == ids_of_seqs({3, 4, 5}));
  CAF_CHECK_EQUAL(st.rows.size(), 1u);
  CAF_CHECK_EQUAL(st.tail.size(), 1u);
}

CAF_TEST(adopt_held_takes_one_issuance_per_user) {
  recovered_stock st;
  CAF_CHECK_EQUAL(adopt_held(st, {ev(1, 11), ev(2, 11)}), 1u);
  CAF_CHECK(ids_of(st.unlogged) == ids_of_seqs({1}));
  // Again: nothing more.
  CAF_CHECK_EQUAL(adopt_held(st, {ev(1, 11)}), 0u);
  CAF_CHECK_EQUAL(adopt_held(st, {}), 0u);
  CAF_CHECK_EQUAL(st.unlogged.size(), 1u);
}

// -- rows_from_snapshot ------------------------------------------------------

CAF_TEST(the_rows_are_the_snapshots_issuances_without_the_tail) {
  snapshot snap;
  snap.meta.position = 50;
  snap.events = {ev(1, 11), ev(2, 12), ev(3, 13)};
  // Issuance 3 is past the writers' offset: accepted, not committed.
  auto rows = rows_from_snapshot(snap, {}, {ev(3, 13), ev(4, 14)});
  CAF_CHECK(ids_of(rows) == ids_of_seqs({1, 2}));
}

CAF_TEST(committed_records_from_the_position_on_are_added_once) {
  snapshot snap;
  snap.meta.position = 50;
  snap.events = {ev(1, 11), ev(2, 12)};
  std::vector<std::pair<int64_t, issuance_event>> committed{
    {10, ev(9, 19)},  // Below the position: the snapshot holds what counts.
    {49, ev(1, 11)},
    {50, ev(2, 12)},  // Held by the snapshot already.
    {50, ev(3, 13)},  // At the position: new.
    {51, ev(4, 14)},
    {52, ev(4, 14)},  // A repeated record (a producer retry).
    {53, ev(5, 15)},  // In the tail as well: not committed for this owner.
  };
  auto rows = rows_from_snapshot(snap, committed, {ev(5, 15)});
  CAF_CHECK(ids_of(rows) == ids_of_seqs({1, 2, 3, 4}));
  CAF_CHECK_EQUAL(rows.size(), 4u);
}

CAF_TEST(an_empty_snapshot_takes_every_committed_record_past_its_position) {
  snapshot snap;
  snap.meta.position = 0;
  std::vector<std::pair<int64_t, issuance_event>> committed{
    {0, ev(1, 11)}, {1, ev(2, 12)}, {2, ev(1, 11)}};
  auto rows = rows_from_snapshot(snap, committed, {});
  CAF_CHECK(ids_of(rows) == ids_of_seqs({1, 2}));
  CAF_CHECK_EQUAL(rows.size(), 2u);
}
