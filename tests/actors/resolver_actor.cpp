#define CAF_SUITE actors.resolver_actor

#include "actors/resolver_actor.hpp"

#include <atomic>

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
    (*producer)->produce(e, [&](delivery_report rep) {
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
