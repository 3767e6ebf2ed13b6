#define CAF_SUITE actors.writer_actor

#include "actors/writer_actor.hpp"

#include <optional>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/test/unit_test.hpp>

#include "actors/config.hpp"
#include "test_env.hpp"

using namespace dibs;
using namespace std::chrono_literals;

// Runs writers against the real embedded Kafka broker and real MariaDB
// started by tests/run.sh, on a topic of the test's own.

namespace {

struct fixture : test::test_store {
  dibs::config cfg;
  std::unique_ptr<caf::actor_system> sys;
  kafka_settings kafka = test::test_kafka("test.writer");
  std::unique_ptr<kafka_producer> producer;
  coupon_directory directory;
  uint32_t next_seq = 1;

  fixture() : test_store("writer test", 10'000) {
    sys = std::make_unique<caf::actor_system>(cfg);
    auto p = kafka_producer::make(kafka);
    CAF_REQUIRE(p);
    producer = std::move(*p);
  }

  ~fixture() {
    producer.reset();
    sys.reset();
  }

  /// Produces `n` issuance events for new users at once (the producer
  /// batches them into few records) and waits until all are acknowledged;
  /// with `other_epoch`, every second event carries that owner epoch.
  void produce(size_t n, uint64_t shard_epoch = 0,
               std::optional<uint64_t> other_epoch = std::nullopt) {
    std::atomic<size_t> stored{0};
    for (size_t i = 0; i < n; ++i) {
      auto seq = next_seq++;
      issuance_event e{make_issuance_id(c.id, seq), c.id, 1000 + seq,
                       now_ms()};
      e.shard_epoch = other_epoch && i % 2 == 1 ? *other_epoch : shard_epoch;
      producer->produce(
        partition_of(c.id, 4), e,
        [&stored](delivery_report rep) {
          if (rep.outcome == delivery_outcome::stored)
            ++stored;
        });
    }
    CAF_REQUIRE_EQUAL(producer->flush(10'000), 0);
    CAF_REQUIRE_EQUAL(stored.load(), n);
  }

  /// Writes a fence of `epoch` into the coupon's partition; its offset.
  int64_t fence(uint64_t epoch) {
    std::optional<delivery_report> rep;
    producer->produce_fence(partition_of(c.id, 4), epoch, "test",
                            [&rep](delivery_report r) { rep = r; });
    CAF_REQUIRE_EQUAL(producer->flush(10'000), 0);
    CAF_REQUIRE(rep && rep->outcome == delivery_outcome::stored);
    return rep->offset;
  }

  caf::actor spawn_writer(std::shared_ptr<writer_stats> stats = nullptr) {
    return sys->spawn<caf::detached>(writer_actor, kafka, test::test_mysql(),
                                     writer_settings{500, 20, 100},
                                     &directory, nullptr, std::move(stats));
  }

  size_t rows() {
    auto r = store->load_issuances(c.id);
    CAF_REQUIRE(r);
    return r->size();
  }

  /// Waits up to 30 s for `n` rows.
  bool wait_rows(size_t n) {
    for (int i = 0; i < 300 && rows() < n; ++i)
      std::this_thread::sleep_for(100ms);
    return rows() == n;
  }

  /// Waits up to 30 s until a writer stored offsets for the test's topic.
  bool wait_for_offsets() {
    auto stored = [&] {
      auto offsets = store->load_offsets(
        log_ref{kafka.topic, producer_log_id()});
      return offsets && !offsets->empty();
    };
    for (int i = 0; i < 300 && !stored(); ++i)
      std::this_thread::sleep_for(100ms);
    return stored();
  }

  /// The cluster id the writers store with their offsets.
  std::string producer_log_id() {
    auto scanner = kafka_log::scanner(kafka);
    CAF_REQUIRE(scanner);
    auto id = (*scanner)->identity(10'000);
    CAF_REQUIRE(id);
    return id->log_id;
  }

  void stop(caf::actor& writer) {
    caf::scoped_actor self{*sys};
    self->send_exit(writer, caf::exit_reason::kill);
    self->wait_for(writer);
    writer = nullptr;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(writer_actor_tests, fixture)

CAF_TEST(restarted_writer_resumes_from_mysql_offsets_exactly_once) {
  produce(1200);
  auto writer = spawn_writer();
  CAF_REQUIRE(wait_rows(1200));
  // The writer dies right after its last commit, with no chance to tell
  // Kafka anything. Its successor starts from the offsets in MySQL.
  stop(writer);
  produce(800);
  writer = spawn_writer();
  CAF_CHECK(wait_rows(2000));
  std::this_thread::sleep_for(1s); // Room for a wrong replay to show.
  CAF_CHECK_EQUAL(rows(), 2000u);
  auto remaining = store->remaining_quantity(c.id);
  CAF_REQUIRE(remaining);
  CAF_CHECK_EQUAL(*remaining, 10'000 - 2000);
  stop(writer);
}

CAF_TEST(writer_replaying_from_the_start_changes_nothing) {
  produce(500);
  auto writer = spawn_writer();
  CAF_REQUIRE(wait_rows(500));
  stop(writer);
  // Forget the stored offsets: the next writer replays the whole topic,
  // as after a crash between the MySQL commit and the offsets (which the
  // single transaction rules out, so this is the worst case).
  CAF_REQUIRE(store->execute("DELETE FROM writer_offsets WHERE topic = '"
                             + kafka.topic + "'"));
  writer = spawn_writer();
  // The replay has happened once the offsets are stored again.
  CAF_REQUIRE(wait_for_offsets());
  CAF_CHECK_EQUAL(rows(), 500u);
  auto remaining = store->remaining_quantity(c.id);
  CAF_REQUIRE(remaining);
  CAF_CHECK_EQUAL(*remaining, 10'000 - 500);
  stop(writer);
}

CAF_TEST(records_of_a_fenced_owner_after_the_fence_are_not_written) {
  produce(100, 1);
  auto at = fence(2);
  // The fenced owner's records after the fence do not count; the new
  // owner's do.
  produce(50, 1);
  produce(30, 2);
  auto writer = spawn_writer();
  CAF_CHECK(wait_rows(130));
  std::this_thread::sleep_for(1s);
  CAF_CHECK_EQUAL(rows(), 130u);
  log_ref log{kafka.topic, producer_log_id()};
  auto fences = store->load_fences(log);
  CAF_REQUIRE(fences);
  CAF_REQUIRE_EQUAL(fences->size(), 1u);
  CAF_CHECK_EQUAL(fences->front().offset, at);
  CAF_CHECK_EQUAL(fences->front().epoch, 2u);
  // A writer starting past the fence knows it from MySQL.
  stop(writer);
  produce(20, 1);
  produce(10, 2);
  writer = spawn_writer();
  CAF_CHECK(wait_rows(140));
  std::this_thread::sleep_for(1s);
  CAF_CHECK_EQUAL(rows(), 140u);
  auto remaining = store->remaining_quantity(c.id);
  CAF_REQUIRE(remaining);
  CAF_CHECK_EQUAL(*remaining, 10'000 - 140);
  stop(writer);
  // Any reader of the whole partition sees the same.
  auto scanner = kafka_log::scanner(kafka);
  CAF_REQUIRE(scanner);
  auto records = (*scanner)->read_to_end(partition_of(c.id, 4), 0, 10'000);
  CAF_REQUIRE(records);
  size_t counted = 0, voided = 0, fenced = 0;
  for (auto& r : *records) {
    counted += r.events.size();
    voided += r.voided;
    fenced += r.fence ? 1 : 0;
  }
  CAF_CHECK_EQUAL(counted, 140u);
  CAF_CHECK_EQUAL(voided, 70u);
  CAF_CHECK_EQUAL(fenced, 1u);
}

CAF_TEST(a_writer_that_cannot_read_the_fences_takes_no_partition) {
  produce(100, 1);
  fence(2);
  produce(50, 1);
  produce(30, 2);
  auto writer = spawn_writer();
  CAF_REQUIRE(wait_rows(130));
  stop(writer);
  // The next writer starts past the fence, which only MySQL then tells it,
  // and MySQL cannot answer where the fences are when it joins.
  produce(20, 1);
  produce(10, 2);
  CAF_REQUIRE(store->execute("RENAME TABLE log_fences TO log_fences_away"));
  struct restore {
    test::test_store& t;
    bool done = false;
    void operator()() {
      if (!done)
        done = static_cast<bool>(
          t.store->execute("RENAME TABLE log_fences_away TO log_fences"));
    }
    ~restore() {
      (*this)();
    }
  } back{*this};
  auto stats = std::make_shared<writer_stats>(0);
  writer = spawn_writer(stats);
  for (int i = 0; i < 300 && stats->refused_assignments == 0; ++i)
    std::this_thread::sleep_for(100ms);
  CAF_CHECK_GREATER(stats->refused_assignments.load(), 0u);
  // Read from a guessed start, the fenced owner's 20 would be rows.
  CAF_CHECK_EQUAL(rows(), 130u);
  back();
  CAF_REQUIRE(back.done);
  CAF_CHECK(wait_rows(140));
  std::this_thread::sleep_for(1s);
  CAF_CHECK_EQUAL(rows(), 140u);
  stop(writer);
}

CAF_TEST(a_record_of_both_owners_after_a_fence_keeps_the_new_owners_events) {
  produce(10, 1);
  auto at = fence(2);
  // Published together, the two owners' events share records: the fenced
  // owner's are voided one by one, the new owner's beside them written.
  produce(200, 1, 2);
  auto writer = spawn_writer();
  CAF_CHECK(wait_rows(110));
  std::this_thread::sleep_for(1s);
  CAF_CHECK_EQUAL(rows(), 110u);
  stop(writer);
  auto scanner = kafka_log::scanner(kafka);
  CAF_REQUIRE(scanner);
  auto records = (*scanner)->read_to_end(partition_of(c.id, 4), 0, 10'000);
  CAF_REQUIRE(records);
  size_t counted = 0, voided = 0, mixed = 0;
  for (auto& r : *records) {
    counted += r.events.size();
    voided += r.voided;
    mixed += r.voided > 0 && !r.events.empty();
    if (r.offset > at)
      for (auto& e : r.events)
        CAF_CHECK_EQUAL(e.shard_epoch, 2u);
  }
  CAF_MESSAGE(records->size() << " records, " << mixed
                              << " with events of both owners");
  CAF_CHECK_EQUAL(counted, 110u);
  CAF_CHECK_EQUAL(voided, 100u);
  CAF_CHECK_GREATER(mixed, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
