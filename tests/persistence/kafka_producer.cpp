#define CAF_SUITE persistence.kafka_producer

#include "persistence/kafka.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <caf/test/unit_test.hpp>

#include "test_env.hpp"

using namespace dibs;

// How the producer batches a partition's events while its record is
// unacknowledged: against the real embedded broker started by tests/run.sh,
// on a topic of the test's own (4 partitions), and against no broker at all.

namespace {

struct fixture {
  kafka_settings kafka = test::test_kafka("test.producer");
  std::unique_ptr<kafka_producer> producer;
  int32_t partition = 1;
  coupon_id_t coupon = 1;
  uint32_t seq = 0;
  std::mutex mtx;
  /// The offset each published issuance was reported stored at.
  std::map<issuance_id_t, int64_t> stored;
  size_t not_stored = 0;

  fixture() {
    auto p = kafka_producer::make(kafka);
    CAF_REQUIRE(p);
    producer = std::move(*p);
    while (partition_of(coupon, 4) != partition)
      ++coupon;
  }

  /// Publishes `n` events of the coupon, one call each, as fast as it can,
  /// and waits for every report.
  void publish(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      ++seq;
      issuance_event e{make_issuance_id(coupon, seq), coupon, seq, now_ms()};
      producer->produce(partition, e,
                        [this, id = e.issuance_id](delivery_report r) {
                          std::lock_guard<std::mutex> guard{mtx};
                          if (r.outcome == delivery_outcome::stored
                              && r.partition == partition)
                            stored[id] = r.offset;
                          else
                            ++not_stored;
                        });
    }
    CAF_REQUIRE_EQUAL(producer->flush(10'000), 0);
  }

  /// The events of the partition, by offset, as a reader of the log sees
  /// them.
  std::map<int64_t, std::vector<issuance_event>> read_back() {
    auto scanner = kafka_log::scanner(kafka);
    CAF_REQUIRE(scanner);
    auto records = (*scanner)->read_to_end(partition, 0, 10'000);
    CAF_REQUIRE(records);
    std::map<int64_t, std::vector<issuance_event>> result;
    for (auto& r : *records)
      result[r.offset] = r.events;
    return result;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(kafka_producer_tests, fixture)

CAF_TEST(events_published_while_a_record_is_unacknowledged_share_one) {
  publish(300);
  CAF_REQUIRE_EQUAL(stored.size(), 300u);
  CAF_REQUIRE_EQUAL(not_stored, 0u);
  auto log = read_back();
  CAF_MESSAGE(300 << " events in " << log.size() << " records");
  // The first went alone; the rest waited for it and went together.
  CAF_CHECK_LESS(log.size(), 30u);
  // Each event is in the record its report named, once.
  std::set<issuance_id_t> seen;
  for (auto& [offset, events] : log)
    for (auto& e : events) {
      CAF_CHECK(seen.insert(e.issuance_id).second);
      CAF_CHECK_EQUAL(stored[e.issuance_id], offset);
    }
  CAF_CHECK_EQUAL(seen.size(), 300u);
}

CAF_TEST(a_record_carries_at_most_max_batch_events) {
  publish(3000);
  CAF_REQUIRE_EQUAL(stored.size(), 3000u);
  size_t largest = 0, events = 0;
  for (auto& [offset, es] : read_back()) {
    largest = std::max(largest, es.size());
    events += es.size();
  }
  CAF_MESSAGE("largest record: " << largest << " events");
  CAF_CHECK_EQUAL(events, 3000u);
  CAF_CHECK_LESS_OR_EQUAL(largest, kafka_producer::max_batch_events);
  CAF_CHECK_GREATER(largest, kafka_producer::max_batch_events / 2);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

/// Settings of a producer with no broker behind it: its first record stays
/// queued in librdkafka, and what comes after it waits in the producer.
kafka_settings no_broker() {
  auto s = option_values{}.kafka_base();
  s.bootstrap_servers = "127.0.0.1:1";
  s.topic = "test.nobroker";
  return s;
}

} // namespace

CAF_TEST(an_event_behind_a_record_in_flight_is_reported_within_the_timeout) {
  // The first record is reported failed after its own timeout, half the
  // message timeout (librdkafka notices it within a second); the second
  // event waited that long, and could not get a record of its own and be
  // reported within the message timeout: it fails with the first.
  auto s = no_broker();
  s.message_timeout_ms = 4000;
  auto producer = kafka_producer::make(s);
  CAF_REQUIRE(producer);
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  std::mutex mtx;
  std::vector<clock::duration> took;
  std::vector<std::string> errors;
  for (uint32_t seq = 1; seq <= 2; ++seq)
    (*producer)->produce(0, issuance_event{make_issuance_id(1, seq), 1, seq, 0},
                         [&](delivery_report r) {
                           std::lock_guard<std::mutex> guard{mtx};
                           took.push_back(clock::now() - start);
                           errors.push_back(r.error);
                         });
  CAF_CHECK_EQUAL((*producer)->flush(5'000), 0);
  std::lock_guard<std::mutex> guard{mtx};
  CAF_REQUIRE_EQUAL(took.size(), 2u);
  auto ms = [](clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  CAF_MESSAGE("reported after " << ms(took[0]) << " and " << ms(took[1])
                                << " ms");
  CAF_CHECK_LESS(ms(took[0]), 4'000);
  CAF_CHECK_LESS(ms(took[1]), 4'000);
  // The second never reached librdkafka: a definite no.
  CAF_CHECK_EQUAL(errors[1], "waited for the partition's previous record "
                             "past half the message timeout");
}

CAF_TEST(a_log_whose_broker_does_not_answer_has_no_identity) {
  // librdkafka's cluster id is empty when no metadata came in time; taken
  // for the log's id, a writer would look up its offsets under "" and read
  // every partition from its start.
  auto scanner = kafka_log::scanner(no_broker());
  CAF_REQUIRE(scanner);
  auto id = (*scanner)->identity(500);
  CAF_CHECK(!id);
}

CAF_TEST(events_waiting_for_a_record_are_failed_when_it_is_given_up) {
  auto producer = kafka_producer::make(no_broker());
  CAF_REQUIRE(producer);
  std::mutex mtx;
  std::vector<delivery_report> reports;
  for (uint32_t seq = 1; seq <= 3; ++seq)
    (*producer)->produce(0, issuance_event{make_issuance_id(1, seq), 1, seq, 0},
                         [&](delivery_report r) {
                           std::lock_guard<std::mutex> guard{mtx};
                           reports.push_back(r);
                         });
  (*producer)->purge();
  // Nothing is sent after a purge: the first record's report does not send
  // the two that waited for it (they would wait out the message timeout).
  CAF_CHECK_EQUAL((*producer)->flush(1'000), 0);
  std::lock_guard<std::mutex> guard{mtx};
  CAF_REQUIRE_EQUAL(reports.size(), 3u);
  size_t given_up = 0;
  for (auto& r : reports) {
    CAF_CHECK(r.outcome == delivery_outcome::failed);
    given_up += r.error == "given up before it was sent";
  }
  CAF_CHECK_EQUAL(given_up, 2u);
  // Nor is anything produced after it.
  std::optional<delivery_report> late;
  (*producer)->produce(0, issuance_event{make_issuance_id(1, 9), 1, 9, 0},
                       [&](delivery_report r) { late = r; });
  CAF_REQUIRE(late);
  CAF_CHECK(late->outcome == delivery_outcome::failed);
  // Refused by the closed producer itself, not handed to librdkafka.
  CAF_CHECK_EQUAL(late->error, "given up before it was sent");
}
