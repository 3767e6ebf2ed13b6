#define CAF_SUITE persistence.fence_watch

#include "persistence/fence_watch.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/test/unit_test.hpp>

#include "test_env.hpp"

using namespace dibs;
using namespace std::chrono_literals;

// Reading back an owner's records on the real embedded broker started by
// tests/run.sh, on a topic of the test's own (4 partitions).

namespace {

using verdict = fence_watch::verdict;

struct fixture {
  kafka_settings kafka = test::test_kafka("test.fences");
  std::unique_ptr<kafka_producer> producer;
  std::unique_ptr<fence_watch> watch;
  std::mutex mtx;
  std::vector<std::tuple<int32_t, int64_t, uint64_t>> fenced;
  int32_t partition = 2;
  uint32_t seq = 0;

  fixture() {
    auto p = kafka_producer::make(kafka);
    CAF_REQUIRE(p);
    producer = std::move(*p);
    auto w = fence_watch::make(kafka, [this](int32_t p, int64_t at,
                                             uint64_t epoch) {
      std::lock_guard<std::mutex> guard{mtx};
      fenced.emplace_back(p, at, epoch);
    });
    CAF_REQUIRE(w);
    watch = std::move(*w);
  }

  /// Writes a fence of `epoch` into the partition; its offset.
  int64_t fence(uint64_t epoch) {
    std::optional<delivery_report> rep;
    producer->produce_fence(partition, epoch, "test",
                            [&rep](delivery_report r) { rep = r; });
    CAF_REQUIRE_EQUAL(producer->flush(10'000), 0);
    CAF_REQUIRE(rep && rep->outcome == delivery_outcome::stored);
    return rep->offset;
  }

  /// Publishes `n` events of `epoch` for a coupon of the partition; their
  /// offsets.
  std::vector<int64_t> publish(size_t n, uint64_t epoch) {
    coupon_id_t coupon = 1;
    while (partition_of(coupon, 4) != partition)
      ++coupon;
    std::vector<int64_t> offsets(n, -1);
    for (size_t i = 0; i < n; ++i) {
      issuance_event e{make_issuance_id(coupon, ++seq), coupon, seq, now_ms()};
      e.shard_epoch = epoch;
      producer->produce(partition, e, [&offsets, i](delivery_report r) {
        if (r.outcome == delivery_outcome::stored)
          offsets[i] = r.offset;
      });
    }
    CAF_REQUIRE_EQUAL(producer->flush(10'000), 0);
    for (auto o : offsets)
      CAF_REQUIRE_GREATER_OR_EQUAL(o, 0);
    return offsets;
  }

  /// The verdicts on `offsets`, records of `epoch`, waiting up to 10 s for
  /// all of them.
  std::vector<verdict> confirm(const std::vector<int64_t>& offsets,
                               uint64_t epoch) {
    auto results = std::make_shared<std::vector<std::atomic<int>>>(
      offsets.size());
    for (auto& r : *results)
      r = -1;
    for (size_t i = 0; i < offsets.size(); ++i)
      watch->confirm(partition, offsets[i], epoch, [results, i](verdict v) {
        (*results)[i] = static_cast<int>(v);
      });
    auto done = [&] {
      for (auto& r : *results)
        if (r < 0)
          return false;
      return true;
    };
    for (int i = 0; i < 500 && !done(); ++i)
      std::this_thread::sleep_for(20ms);
    std::vector<verdict> out;
    for (auto& r : *results) {
      CAF_REQUIRE_GREATER_OR_EQUAL(r.load(), 0);
      out.push_back(static_cast<verdict>(r.load()));
    }
    return out;
  }

  /// Holds the watch's thread in a verdict's callback: the verdict of the
  /// record two after a fence of the fixture's partition (watched from it),
  /// which only the watch's read decides (the record before it is
  /// confirmed by nobody). It outlives the test body: the thread leaves
  /// the callback after the body let it go.
  struct gate {
    std::mutex mtx;
    std::condition_variable cv;
    bool held = false, release = false, left = false;
    /// Offsets whose verdicts came, in the order they came, the held one
    /// when it leaves the callback.
    std::vector<int64_t> order;
    int64_t fence = -1;

    void let_go() {
      std::unique_lock<std::mutex> guard{mtx};
      release = true;
      cv.notify_all();
      cv.wait_for(guard, 10s, [&] { return left || !held; });
    }
  };

  /// Lets the held thread go when a test leaves, by a failed check too
  /// (the fixture's watch joins its thread).
  struct letting_go {
    std::shared_ptr<gate> g;
    ~letting_go() {
      g->let_go();
    }
  };

  std::shared_ptr<gate> hold_the_watch_thread() {
    auto g = std::make_shared<gate>();
    g->fence = fence(1);
    watch->watch(partition, g->fence, 1);
    watch->confirm(partition, g->fence + 2, 1, [g](verdict) {
      std::unique_lock<std::mutex> guard{g->mtx};
      g->held = true;
      g->cv.notify_all();
      g->cv.wait(guard, [&] { return g->release; });
      g->order.push_back(g->fence + 2);
      g->left = true;
      g->cv.notify_all();
    });
    publish(2, 1);
    bool held;
    {
      std::unique_lock<std::mutex> guard{g->mtx};
      held = g->cv.wait_for(guard, 10s, [&] { return g->held; });
    }
    if (!held)
      g->let_go();
    CAF_REQUIRE(held);
    return g;
  }

  static size_t count(const std::vector<verdict>& vs, verdict v) {
    return static_cast<size_t>(std::count(vs.begin(), vs.end(), v));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(fence_watch_tests, fixture)

CAF_TEST(an_owners_records_count_once_read_back) {
  watch->watch(partition, fence(1), 1);
  auto vs = confirm(publish(50, 1), 1);
  CAF_CHECK_EQUAL(count(vs, verdict::counts), 50u);
  CAF_CHECK_EQUAL(watch->fenced_at(partition), -1);
  CAF_CHECK_EQUAL(watch->waiting(), 0u);
}

CAF_TEST(records_after_a_newer_owners_fence_do_not_count) {
  watch->watch(partition, fence(1), 1);
  auto before = publish(10, 1);
  // A newer owner took the shard over while this one did not know.
  auto at = fence(2);
  auto after = publish(10, 1);
  auto vs = confirm(after, 1);
  CAF_CHECK_EQUAL(count(vs, verdict::fenced), 10u);
  // What was in the log before the fence counts, even when asked later.
  vs = confirm(before, 1);
  CAF_CHECK_EQUAL(count(vs, verdict::counts), 10u);
  CAF_CHECK_EQUAL(watch->fenced_at(partition), at);
  std::lock_guard<std::mutex> guard{mtx};
  CAF_REQUIRE_EQUAL(fenced.size(), 1u);
  CAF_CHECK_EQUAL(std::get<1>(fenced.front()), at);
  CAF_CHECK_EQUAL(std::get<2>(fenced.front()), 2u);
}

CAF_TEST(an_older_fence_or_the_owners_own_does_not_fence_it) {
  watch->watch(partition, fence(3), 3);
  fence(3);
  fence(2);
  auto vs = confirm(publish(5, 3), 3);
  CAF_CHECK_EQUAL(count(vs, verdict::counts), 5u);
  CAF_CHECK_EQUAL(watch->fenced_at(partition), -1);
}

CAF_TEST(an_owners_record_after_its_own_is_decided_without_a_read) {
  watch->watch(partition, fence(1), 1);
  CAF_REQUIRE_EQUAL(count(confirm(publish(1, 1), 1), verdict::counts), 1u);
  // The watch's one thread is held in a verdict's callback of partition 3,
  // and reads nothing more until it is let go.
  auto watched = partition;
  partition = 3;
  auto g = hold_the_watch_thread();
  letting_go on_exit{g};
  // Records of partition 2 now: each follows the owner's own, so each is
  // decided within its confirm, with no read.
  partition = watched;
  auto offsets = publish(10, 1);
  auto verdicts = std::make_shared<std::vector<std::atomic<int>>>(10);
  size_t decided = 0;
  for (size_t i = 0; i < offsets.size(); ++i) {
    (*verdicts)[i] = -1;
    watch->confirm(partition, offsets[i], 1, [verdicts, i](verdict x) {
      (*verdicts)[i] = static_cast<int>(x);
    });
    decided += (*verdicts)[i] == static_cast<int>(verdict::counts) ? 1 : 0;
  }
  auto read_to = watch->read_to(partition);
  g->let_go();
  CAF_CHECK_EQUAL(decided, 10u);
  CAF_CHECK_LESS_OR_EQUAL(read_to, offsets.front());
}

CAF_TEST(a_records_verdict_does_not_overtake_the_one_before) {
  // The watch's thread is delivering the verdict of a record it read when
  // the report of the owner's next record comes: decided at once (it
  // follows the owner's own), its verdict still comes second. (The
  // owner's snapshot position assumes its records are told stored in
  // offset order.)
  auto g = hold_the_watch_thread();
  letting_go on_exit{g};
  auto next = publish(1, 1);
  CAF_REQUIRE_EQUAL(next.front(), g->fence + 3);
  watch->confirm(partition, next.front(), 1, [g, o = next.front()](verdict) {
    std::lock_guard<std::mutex> guard{g->mtx};
    g->order.push_back(o);
    g->cv.notify_all();
  });
  g->let_go();
  std::vector<int64_t> order;
  {
    std::unique_lock<std::mutex> guard{g->mtx};
    g->cv.wait_for(guard, 10s, [&] { return g->order.size() == 2; });
    order = g->order;
  }
  CAF_CHECK_EQUAL(order, (std::vector<int64_t>{g->fence + 2, g->fence + 3}));
}

CAF_TEST(reports_out_of_order_are_told_in_offset_order) {
  // Two producers report (the one replaced after a fatal error, and its
  // successor): the later record's report first. Neither is read back
  // yet (the watch's thread is held), so the first report waits for the
  // record before it, and the second decides both, in offset order.
  auto watched = partition;
  partition = 3;
  auto g = hold_the_watch_thread();
  letting_go on_exit{g};
  partition = watched;
  watch->watch(partition, fence(1), 1);
  auto offsets = publish(2, 1);
  struct told {
    std::mutex mtx;
    std::vector<int64_t> order;
  };
  auto t = std::make_shared<told>();
  auto note = [t](int64_t o) {
    return [t, o](verdict) {
      std::lock_guard<std::mutex> guard{t->mtx};
      t->order.push_back(o);
    };
  };
  watch->confirm(partition, offsets[1], 1, note(offsets[1]));
  watch->confirm(partition, offsets[0], 1, note(offsets[0]));
  std::lock_guard<std::mutex> guard{t->mtx};
  CAF_CHECK_EQUAL(t->order, (std::vector<int64_t>{offsets[0], offsets[1]}));
}

CAF_TEST(the_watch_goes_only_after_a_delivery_under_way_ends) {
  // A report's verdict is being delivered (its function runs on the
  // reporting thread) when the watch is destroyed: the verdicts the
  // destructor gives out (`unknown` to what still waits) fall to that
  // delivery, and the destructor waits for it.
  auto at = fence(1);
  watch->watch(partition, at, 1);
  auto first = publish(1, 1).front();
  struct state {
    std::mutex mtx;
    std::condition_variable cv;
    bool in = false, release = false;
    int left = -1;
  };
  auto s = std::make_shared<state>();
  std::thread reporting{[&] {
    watch->confirm(partition, first, 1, [s](verdict) {
      std::unique_lock<std::mutex> guard{s->mtx};
      s->in = true;
      s->cv.notify_all();
      s->cv.wait(guard, [&] { return s->release; });
    });
  }};
  bool in;
  {
    std::unique_lock<std::mutex> guard{s->mtx};
    in = s->cv.wait_for(guard, 10s, [&] { return s->in; });
    s->release = !in;
    s->cv.notify_all();
  }
  if (!in)
    reporting.join();
  CAF_REQUIRE(in);
  // Waits for records never written: undecided until the watch goes.
  watch->confirm(partition, first + 100, 1, [s](verdict v) {
    std::lock_guard<std::mutex> guard{s->mtx};
    s->left = static_cast<int>(v);
  });
  int left_when_gone = -2;
  std::thread destroying{[&] {
    watch.reset();
    std::lock_guard<std::mutex> guard{s->mtx};
    left_when_gone = s->left;
  }};
  std::this_thread::sleep_for(200ms);
  {
    std::lock_guard<std::mutex> guard{s->mtx};
    s->release = true;
    s->cv.notify_all();
  }
  destroying.join();
  reporting.join();
  CAF_CHECK_EQUAL(left_when_gone, static_cast<int>(verdict::unknown));
}

CAF_TEST(a_partition_not_watched_gives_no_verdict_but_unknown) {
  auto vs = confirm(publish(3, 1), 1);
  CAF_CHECK_EQUAL(count(vs, verdict::unknown), 3u);
  watch->watch(partition, fence(1), 1);
  // A record not written yet waits; giving the shard up answers it.
  std::atomic<int> v{-1};
  watch->confirm(partition, 1'000'000, 1, [&v](verdict x) {
    v = static_cast<int>(x);
  });
  std::this_thread::sleep_for(200ms);
  CAF_CHECK_EQUAL(v.load(), -1);
  CAF_CHECK_EQUAL(watch->waiting(), 1u);
  watch->unwatch(partition);
  CAF_CHECK_EQUAL(v.load(), static_cast<int>(verdict::unknown));
}

CAF_TEST(a_partition_watched_twice_before_the_watch_applies_it_is_read_back) {
  // A takeover watches its fences, and a shard of a new log given up and
  // recovered at once is watched again: the watch's thread may find both
  // at one look (seen in integration.broker_restart; librdkafka refused the
  // assignment and nothing was read back).
  auto at = fence(1);
  watch->watch(partition, at, 1);
  watch->unwatch(partition);
  watch->watch(partition, at, 1);
  auto vs = confirm(publish(5, 1), 1);
  CAF_CHECK_EQUAL(count(vs, verdict::counts), 5u);
  // Watched twice again once it is read: the last watch counts.
  at = fence(2);
  watch->watch(partition, at, 2);
  watch->watch(partition, at, 2);
  vs = confirm(publish(5, 2), 2);
  CAF_CHECK_EQUAL(count(vs, verdict::counts), 5u);
  CAF_CHECK_EQUAL(watch->waiting(), 0u);
}

CAF_TEST(a_record_of_an_earlier_epoch_is_left_to_the_log) {
  watch->watch(partition, fence(1), 1);
  auto before = publish(1, 1);
  // The shard given up and taken again: this owner's newer fence.
  watch->watch(partition, fence(2), 2);
  // A record stamped before (a replaced producer's, reported late) lands
  // after that fence, where every reader voids it: not a yes.
  auto late = publish(1, 1);
  CAF_CHECK_EQUAL(count(confirm(late, 1), verdict::unknown), 1u);
  CAF_CHECK_EQUAL(count(confirm(before, 1), verdict::unknown), 1u);
  // The late record is a gap to this epoch's own: they wait for its read.
  CAF_CHECK_EQUAL(count(confirm(publish(3, 2), 2), verdict::counts), 3u);
  CAF_CHECK_EQUAL(watch->fenced_at(partition), -1);
  CAF_CHECK_EQUAL(watch->waiting(), 0u);
}

CAF_TEST(after_kafka_moved_the_new_log_is_read_back) {
  watch->watch(partition, fence(1), 1);
  CAF_CHECK_EQUAL(count(confirm(publish(2, 1), 1), verdict::counts), 2u);
  // Kafka moved: another log (here another topic of the same broker).
  kafka = test::test_kafka("test.fences.moved");
  CAF_REQUIRE(!watch->follow(kafka));
  auto p = kafka_producer::make(kafka);
  CAF_REQUIRE(p);
  producer = std::move(*p);
  watch->watch(partition, fence(1), 1);
  // A newer owner's fence, then a record of this one's: a gap the read
  // decides. The old log holds an own record at those offsets.
  auto at = fence(2);
  CAF_CHECK_EQUAL(count(confirm(publish(1, 1), 1), verdict::fenced), 1u);
  CAF_CHECK_EQUAL(watch->fenced_at(partition), at);
}

CAF_TEST_FIXTURE_SCOPE_END()
