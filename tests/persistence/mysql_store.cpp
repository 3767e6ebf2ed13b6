#define CAF_SUITE persistence.mysql_store

#include "persistence/mysql_store.hpp"

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <mutex>
#include <thread>

#include <signal.h>
#include <sys/types.h>

#include <caf/test/unit_test.hpp>

#include "test_env.hpp"

using namespace dibs;

namespace {

struct fixture : test::test_store {
  log_ref topic{"test.topic." + std::to_string(now_ms()), "cluster-a"};

  fixture() : test_store("exactly once", 100) {
    // Nothing else.
  }

  issuance_event event(uint32_t seq, user_id_t user) {
    return issuance_event{make_issuance_id(c.id, seq), c.id, user,
                          now_ms()};
  }

  size_t rows() {
    auto r = store->load_issuances(c.id);
    CAF_REQUIRE(r);
    return r->size();
  }

  int64_t remaining() {
    auto v = store->remaining_quantity(c.id);
    CAF_REQUIRE(v);
    return *v;
  }

  int64_t offset(int32_t partition) {
    auto offsets = store->load_offsets(topic);
    CAF_REQUIRE(offsets);
    for (auto& o : *offsets)
      if (o.partition == partition)
        return o.next_offset;
    return -1;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(mysql_store_tests, fixture)

CAF_TEST(batch_lowers_stock_by_rows_inserted) {
  std::vector<issuance_event> batch{event(1, 11), event(2, 12), event(3, 13)};
  auto n = store->write_batch(topic, batch, {{0, 3}});
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 3u);
  CAF_CHECK_EQUAL(rows(), 3u);
  CAF_CHECK_EQUAL(remaining(), 97);
  CAF_CHECK_EQUAL(offset(0), 3);
}

CAF_TEST(replayed_batch_after_commit_changes_nothing) {
  // A writer that crashed right after its commit, and somehow read the same
  // records again, replays the batch: nothing may change.
  std::vector<issuance_event> batch{event(1, 21), event(2, 22)};
  CAF_REQUIRE(store->write_batch(topic, batch, {{1, 2}}));
  auto again = store->write_batch(topic, batch, {{1, 2}});
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(*again, 0u);
  CAF_CHECK_EQUAL(rows(), 2u);
  CAF_CHECK_EQUAL(remaining(), 98);
  CAF_CHECK_EQUAL(offset(1), 2);
}

CAF_TEST(overlapping_batch_counts_only_new_rows) {
  CAF_REQUIRE(store->write_batch(topic, {event(1, 31), event(2, 32)}, {{2, 2}}));
  // The old tail plus new records, and a republished event twice.
  auto n = store->write_batch(
    topic, {event(2, 32), event(3, 33), event(4, 34), event(4, 34)}, {{2, 5}});
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 2u);
  CAF_CHECK_EQUAL(rows(), 4u);
  CAF_CHECK_EQUAL(remaining(), 96);
  CAF_CHECK_EQUAL(offset(2), 5);
}

CAF_TEST(second_issuance_for_same_user_is_not_a_row) {
  CAF_REQUIRE(store->write_batch(topic, {event(1, 41)}, {{3, 1}}));
  // The same (user, coupon) under another issuance id must never land.
  auto n = store->write_batch(topic, {event(2, 41)}, {{3, 2}});
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 0u);
  CAF_CHECK_EQUAL(rows(), 1u);
  CAF_CHECK_EQUAL(remaining(), 99);
}

CAF_TEST(failed_batch_leaves_nothing_behind) {
  // The offsets statement is the last of the batch; a topic name longer than
  // its column makes it fail after the rows and the stock were written.
  log_ref long_topic{std::string(300, 't'), "cluster-a"};
  auto n = store->write_batch(long_topic, {event(1, 51), event(2, 52)},
                              {{4, 2}});
  CAF_CHECK(!n);
  CAF_CHECK_EQUAL(rows(), 0u);
  CAF_CHECK_EQUAL(remaining(), 100);
  // The store is usable afterwards.
  CAF_CHECK(store->write_batch(topic, {event(2, 52)}, {{4, 1}}));
  CAF_CHECK_EQUAL(rows(), 1u);
  CAF_CHECK_EQUAL(offset(4), 1);
}

CAF_TEST(offsets_of_another_log_are_not_offsets_of_this_one) {
  CAF_REQUIRE(store->write_batch(topic, {event(1, 61)}, {{5, 40}}));
  CAF_CHECK_EQUAL(offset(5), 40);
  // The broker restarted empty: same topic, new cluster id.
  auto old = topic;
  topic.log_id = "cluster-b";
  CAF_CHECK_EQUAL(offset(5), -1);
  CAF_REQUIRE(store->write_batch(topic, {event(2, 62)}, {{5, 1}}));
  CAF_CHECK_EQUAL(offset(5), 1);
  topic = old;
  CAF_CHECK_EQUAL(offset(5), -1);
}

CAF_TEST(a_server_that_stops_answering_fails_the_call_within_its_timeout) {
  auto settings = test::test_mysql();
  settings.io_timeout_s = 2;
  auto opened = mysql_store::open(settings);
  CAF_REQUIRE(opened);
  auto& stalled = **opened;
  CAF_REQUIRE(stalled.remaining_quantity(c.id));
  pid_t mariadbd = 0;
  std::ifstream{test::env_or("DIBS_RUN_DIR", ".run/test")
                + "/mysql/mysqld.pid"}
    >> mariadbd;
  CAF_REQUIRE_GREATER(mariadbd, 0);
  // The server stops answering (SIGSTOP). Whatever happens here, it runs
  // again after 15 s: a call with no timeout returns then, and succeeds.
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  CAF_REQUIRE_EQUAL(::kill(mariadbd, SIGSTOP), 0);
  std::thread resume{[&] {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_for(guard, std::chrono::seconds{15}, [&] { return done; });
    ::kill(mariadbd, SIGCONT);
  }};
  auto start = std::chrono::steady_clock::now();
  auto during = stalled.remaining_quantity(c.id);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  {
    std::lock_guard<std::mutex> guard{mtx};
    done = true;
  }
  cv.notify_one();
  resume.join();
  CAF_MESSAGE("the call returned after " << took << " ms");
  // It failed, within its timeouts (a read, then the reconnect's), well
  // before the server ran again.
  CAF_CHECK(!during);
  CAF_CHECK_LESS(took, 12'000);
  // The connection is made again once the server answers.
  CAF_CHECK(stalled.remaining_quantity(c.id));
}

CAF_TEST_FIXTURE_SCOPE_END()
