#define CAF_SUITE actors.ownership

#include "actors/ownership.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/test/unit_test.hpp>

#include "actors/cluster_fakes.hpp"

using namespace dibs;
using dibs::testing::three_members;

namespace {

std::vector<coupon> coupons(coupon_id_t n) {
  std::vector<coupon> out(n);
  for (coupon_id_t i = 0; i < n; ++i)
    out[i].id = i + 1;
  return out;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};

  /// Member `self` of the three, its shard map as the node builds it.
  std::unique_ptr<cluster> member(const std::string& self) {
    auto map = cluster_map::make(three_members(), 16, self);
    CAF_REQUIRE(map);
    return std::make_unique<cluster>(sys, std::move(*map), cluster_settings{});
  }
};

} // namespace

CAF_TEST(a_single_node_owns_every_coupon) {
  ownership single{nullptr};
  auto all = coupons(50);
  single.keep_owned(all);
  CAF_CHECK_EQUAL(all.size(), 50u);
  for (auto& c : all) {
    CAF_CHECK(single.owns(c.id));
    CAF_CHECK(single.remote_owner(c.id) == nullptr);
    CAF_CHECK_EQUAL(single.owner_name(c.id), "");
  }
}

CAF_TEST_FIXTURE_SCOPE(members, fixture)

CAF_TEST(each_coupon_has_exactly_one_owner_among_the_members) {
  auto names = three_members();
  std::vector<std::unique_ptr<cluster>> members;
  for (auto& m : names)
    members.push_back(member(m.id));
  size_t kept = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    ownership mine{members[i].get()};
    auto all = coupons(300);
    mine.keep_owned(all);
    kept += all.size();
    // Some of the 16 shards each, and only its own.
    CAF_CHECK_GREATER(all.size(), 0u);
    for (auto& c : all) {
      CAF_CHECK(mine.owns(c.id));
      CAF_CHECK_EQUAL(mine.owner_name(c.id), names[i].id);
    }
  }
  CAF_CHECK_EQUAL(kept, 300u);
  // Every member names the same owner for a coupon.
  for (coupon_id_t id = 1; id <= 300; ++id) {
    ownership a{members[0].get()};
    ownership c{members[2].get()};
    CAF_CHECK_EQUAL(a.owner_name(id), c.owner_name(id));
    CAF_CHECK_EQUAL(a.owns(id) + ownership{members[1].get()}.owns(id)
                      + c.owns(id),
                    1);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
