#define CAF_SUITE persistence.owner_group

#include "persistence/owner_group.hpp"

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include <caf/test/unit_test.hpp>

#include "test_env.hpp"

using namespace dibs;
using namespace std::chrono_literals;

// Members of the shard owners' group on the real embedded broker started by
// tests/run.sh, on a topic of the test's own (4 partitions).

namespace {

using clock_type = owner_group::clock_type;

/// One member and what its hooks saw.
struct member {
  std::unique_ptr<owner_group> group;
  std::mutex mtx;
  std::set<int32_t> owned;
  size_t lost = 0;

  member(const kafka_settings& kafka, const std::string& name,
         int max_poll_interval_ms = 30'000) {
    owner_group_settings s;
    s.group_id = kafka.topic + ".owners";
    s.member = name;
    s.session_timeout_ms = 2000;
    s.heartbeat_interval_ms = 500;
    s.max_poll_interval_ms = max_poll_interval_ms;
    owner_group::hooks h;
    h.assigned = [this](std::vector<int32_t> ps) {
      std::lock_guard<std::mutex> guard{mtx};
      owned.insert(ps.begin(), ps.end());
    };
    h.revoked = [this](std::vector<int32_t> ps, bool was_lost) {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto p : ps)
        owned.erase(p);
      lost += was_lost ? 1 : 0;
    };
    auto g = owner_group::join(kafka, s, std::move(h));
    CAF_REQUIRE(g);
    group = std::move(*g);
  }

  ~member() {
    // Leaving revokes through the hooks, which use the fields below.
    group.reset();
  }

  std::set<int32_t> holds() {
    std::lock_guard<std::mutex> guard{mtx};
    return owned;
  }
};

/// Waits up to `limit` for `pred`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 20s) {
  auto until = clock_type::now() + limit;
  while (clock_type::now() < until) {
    if (pred())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

const std::set<int32_t> all_partitions{0, 1, 2, 3};

} // namespace

CAF_TEST(members_share_the_partitions_and_the_survivor_takes_them_all) {
  auto kafka = test::test_kafka("test.owners");
  member a{kafka, "a"};
  CAF_REQUIRE(eventually([&] { return a.holds() == all_partitions; }));
  auto b = std::make_unique<member>(kafka, "b");
  // Cooperative: a gives up its share before b gets it, never both.
  CAF_REQUIRE(eventually([&] {
    auto ha = a.holds(), hb = b->holds();
    return ha.size() == 2 && hb.size() == 2;
  }));
  std::set<int32_t> both = a.holds();
  for (auto p : b->holds())
    CAF_CHECK(both.insert(p).second);
  CAF_CHECK(both == all_partitions);
  CAF_CHECK_EQUAL(a.group->assignment().size(), 2u);
  // b leaves: a holds everything again.
  b.reset();
  CAF_CHECK(eventually([&] { return a.holds() == all_partitions; }));
  CAF_CHECK_EQUAL(a.lost, 0u);
}

CAF_TEST(a_member_that_hangs_is_dropped_and_its_partitions_move) {
  auto kafka = test::test_kafka("test.owners");
  // A poll loop stalled past 2 s leaves the group, as a node paused past
  // the session timeout is dropped from it.
  member a{kafka, "a", 2000};
  member b{kafka, "b", 2000};
  CAF_REQUIRE(eventually(
    [&] { return a.holds().size() == 2 && b.holds().size() == 2; }));
  auto stalled_at = clock_type::now();
  b.group->stall_for(5000);
  CAF_REQUIRE(eventually([&] { return a.holds() == all_partitions; }));
  auto moved_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    clock_type::now() - stalled_at)
                    .count();
  CAF_MESSAGE("b's partitions moved to a " << moved_ms << " ms after b hung");
  CAF_CHECK_LESS(moved_ms, 5000);
  // b wakes: the group dropped it, so it loses what it held, and it comes
  // back as a new member that gets its share again.
  CAF_CHECK(eventually([&] { return b.lost > 0; }));
  CAF_CHECK(eventually(
    [&] { return a.holds().size() == 2 && b.holds().size() == 2; }));
}
