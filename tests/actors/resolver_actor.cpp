#define CAF_SUITE actors.resolver_actor

#include "actors/resolver_actor.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>

#include <caf/test/unit_test.hpp>

#include "test_env.hpp"

using namespace dibs;

// The resolver's search for a possibly stored record, against the real
// embedded broker and MariaDB started by tests/run.sh.

namespace {

struct fixture : test::test_store {
  resolver_state resolver;

  fixture() : test_store("resolver test", 10) {
    resolver.kafka = test::test_kafka("test.resolver");
    resolver.mysql = test::test_mysql();
  }

  issuance_event event(uint32_t seq) {
    return issuance_event{make_issuance_id(c.id, seq), c.id, 500 + seq,
                          now_ms()};
  }

  void produce(const issuance_event& e) {
    auto producer = kafka_producer::make(resolver.kafka);
    CAF_REQUIRE(producer);
    std::atomic<bool> stored{false};
    // test_kafka's topics have 4 partitions.
    (*producer)->produce(partition_of(e.coupon_id, 4), e,
                         [&](delivery_report rep) {
      stored = rep.outcome == delivery_outcome::stored;
    });
    CAF_REQUIRE_EQUAL((*producer)->flush(10'000), 0);
    CAF_REQUIRE(stored.load());
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(resolver_tests, fixture)

CAF_TEST(record_in_the_log_but_not_in_mysql_is_found) {
  produce(event(1));
  produce(event(2));
  auto found = resolver.find(event(2));
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
}

CAF_TEST(record_never_stored_is_not_found) {
  produce(event(1));
  auto found = resolver.find(event(3));
  CAF_REQUIRE(found);
  CAF_CHECK(!*found);
}

CAF_TEST(record_already_written_to_mysql_is_found) {
  // The writers committed it and the log moved on: MySQL answers.
  auto e = event(4);
  CAF_REQUIRE(store->write_batch(log_ref{resolver.kafka.topic, "elsewhere"},
                                 {e}, {}));
  auto found = resolver.find(e);
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

/// A log of one partition and the writers' MySQL, where the writer commits
/// everything it has not written yet right after the resolver's first read,
/// whichever read that is.
struct committing_reads : issuance_reads {
  std::vector<issuance_event> log;
  size_t written_offset = 0;
  std::vector<issuance_event> rows;
  int reads = 0;

  void after_read() {
    if (++reads != 1)
      return;
    for (; written_offset < log.size(); ++written_offset)
      rows.push_back(log[written_offset]);
  }

  caf::expected<std::pair<int32_t, int64_t>> written(coupon_id_t) override {
    auto result = std::make_pair(int32_t{0},
                                 static_cast<int64_t>(written_offset));
    after_read();
    return result;
  }

  caf::expected<bool> committed(const issuance_event& e) override {
    auto result = std::any_of(rows.begin(), rows.end(), [&](auto& r) {
      return r.issuance_id == e.issuance_id && r.user_id == e.user_id;
    });
    after_read();
    return result;
  }

  /// Records from `hidden_from` on are appended but not readable yet (the
  /// high watermark below them) until a probe is stored.
  size_t hidden_from = SIZE_MAX;
  int probes = 0;

  caf::error readable(int32_t) override {
    ++probes;
    hidden_from = SIZE_MAX;
    return caf::none;
  }

  caf::expected<std::vector<issuance_event>>
  read_from(coupon_id_t, int32_t, int64_t offset) override {
    auto end = log.begin() + std::min(hidden_from, log.size());
    std::vector<issuance_event> result(log.begin() + offset, end);
    after_read();
    return result;
  }
};

} // namespace

CAF_TEST(record_committed_between_the_reads_is_found) {
  // The record is past the writers' offset when the lookup starts, and a
  // writer commits it (moving the offset past it) between two reads.
  committing_reads reads;
  for (uint32_t seq = 1; seq <= 3; ++seq)
    reads.log.push_back(issuance_event{make_issuance_id(7, seq), 7, 100 + seq,
                                       now_ms()});
  reads.written_offset = 1;
  auto found = find_issuance(reads, reads.log[2]);
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
  CAF_CHECK_EQUAL(reads.written_offset, 3u);
}

CAF_TEST(another_users_record_with_the_same_issuance_id_is_not_this_one) {
  // An old owner's record that never landed (or landed past a newer
  // owner's fence): the newer owner, not knowing it, gave its issuance id
  // to another user. Neither that user's record in the log nor its row in
  // MySQL is this record.
  committing_reads reads;
  auto id = make_issuance_id(7, 3);
  reads.log.push_back(issuance_event{make_issuance_id(7, 1), 7, 101, now_ms()});
  reads.log.push_back(issuance_event{id, 7, 202, now_ms()});
  issuance_event lost{id, 7, 101, now_ms()};
  reads.written_offset = 1;
  auto found = find_issuance(reads, lost);
  CAF_REQUIRE(found);
  CAF_CHECK(!*found);
  // Committed meanwhile (after the first read): now in MySQL.
  CAF_CHECK_EQUAL(reads.written_offset, 2u);
  found = find_issuance(reads, lost);
  CAF_REQUIRE(found);
  CAF_CHECK(!*found);
  // The other user's own record is found.
  found = find_issuance(reads, reads.log[1]);
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
}

CAF_TEST(a_record_appended_but_not_yet_readable_is_found) {
  // A follower in sync but not fetching holds the high watermark below the
  // record its leader appended: the search stores a probe first, and
  // reads once the watermark is past it.
  committing_reads reads;
  reads.log.push_back(issuance_event{make_issuance_id(7, 1), 7, 101, now_ms()});
  reads.log.push_back(issuance_event{make_issuance_id(7, 2), 7, 102, now_ms()});
  reads.written_offset = 0;
  reads.reads = 1; // No commit between the reads.
  reads.hidden_from = 1;
  auto found = find_issuance(reads, reads.log[1]);
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
  CAF_CHECK_EQUAL(reads.probes, 1);
}

CAF_TEST_FIXTURE_SCOPE(resolver_cache_tests, fixture)

CAF_TEST(a_search_reads_only_what_came_after_the_last_one) {
  auto a = event(11);
  auto b = event(12);
  produce(a);
  auto found = resolver.find(a);
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
  auto p = partition_of(c.id, static_cast<int32_t>(
                                resolver.scanner->partitions(10'000)->size()));
  auto end_before = resolver.tails[p].end;
  CAF_CHECK(end_before > 0);
  // A record stored after the first search is found by the next one, which
  // reads on from where the first stopped.
  produce(b);
  found = resolver.find(b);
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
  // b, and the second search's probe.
  CAF_CHECK_EQUAL(resolver.tails[p].end, end_before + 2);
  found = resolver.find(event(13));
  CAF_REQUIRE(found);
  CAF_CHECK(!*found);
  // What the cache keeps is what the log holds: a known record still is.
  found = resolver.find(a);
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
}

CAF_TEST(a_failed_probe_is_tried_again_with_a_new_producer) {
  // The producer of the probes in a fatal state (an idempotent producer
  // whose broker lost what it stored): the search fails, and the next one
  // probes with a new producer.
  auto e = event(21);
  produce(e);
  auto found = resolver.find(e);
  CAF_REQUIRE(found && *found);
  CAF_REQUIRE(resolver.prober);
  resolver.prober->inject_fatal_error();
  found = resolver.find(e);
  CAF_CHECK(!found);
  found = resolver.find(e);
  CAF_REQUIRE(found);
  CAF_CHECK(*found);
}

CAF_TEST_FIXTURE_SCOPE_END()
