#define CAF_SUITE actors.ownership

#include "actors/ownership.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/test/unit_test.hpp>

#include "actors/cluster_fakes.hpp"
#include "persistence/kafka.hpp"

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

/// A coupon id of each shard of `n`.
std::vector<coupon_id_t> one_per_shard(const ownership& o) {
  std::vector<coupon_id_t> out(o.partitions(), 0);
  for (coupon_id_t id = 1; std::count(out.begin(), out.end(), 0) > 0; ++id)
    if (out[o.shard_of(id)] == 0)
      out[o.shard_of(id)] = id;
  return out;
}

CAF_TEST(a_node_serves_exactly_the_shards_it_took_over) {
  ownership single;
  CAF_CHECK(!single.owns(1)); // Nothing before the partitions are known.
  single.set_partitions(6);
  auto ids = one_per_shard(single);
  for (auto id : ids)
    CAF_CHECK(!single.owns(id));
  single.serve(2, 7);
  single.serve(4, 1);
  for (int32_t p = 0; p < 6; ++p) {
    CAF_CHECK_EQUAL(single.owns(ids[p]), p == 2 || p == 4);
    CAF_CHECK_EQUAL(single.epoch(p), p == 2 ? 7u : p == 4 ? 1u : 0u);
    // A single node never forwards.
    CAF_CHECK(single.remote_owner(ids[p]) == nullptr);
  }
  auto served = single.served();
  CAF_REQUIRE_EQUAL(served.size(), 2u);
  CAF_CHECK(served[0].shard == 2 && served[0].epoch == 7);
  CAF_CHECK(served[1].shard == 4 && served[1].epoch == 1);
  single.drop(2);
  CAF_CHECK(!single.owns(ids[2]));
  CAF_CHECK(single.owns(ids[4]));
  auto all = coupons(300);
  single.keep_owned(all);
  for (auto& c : all)
    CAF_CHECK_EQUAL(single.shard_of(c.id), 4);
  CAF_CHECK_EQUAL(single.owner_name(ids[4]), "");
}

CAF_TEST(a_shard_of_the_partition_of_the_coupons_records) {
  ownership o;
  o.set_partitions(6);
  for (coupon_id_t id = 1; id < 500; ++id)
    CAF_CHECK_EQUAL(o.shard_of(id), partition_of(id, 6));
}

CAF_TEST(claims_pack_into_one_number_and_back) {
  for (auto c : {shard_claim{0, 1}, shard_claim{65535, 0xFFFFFFFFFFFF},
                 shard_claim{17, 123456789}}) {
    auto back = ownership::unpack(ownership::pack(c));
    CAF_CHECK_EQUAL(back.shard, c.shard);
    CAF_CHECK_EQUAL(back.epoch, c.epoch);
  }
}

CAF_TEST_FIXTURE_SCOPE(members, fixture)

CAF_TEST(coupons_go_to_the_member_that_says_it_serves_their_shard) {
  auto me = member("n1"); // Index 0 of three_members().
  ownership o{me.get()};
  o.set_partitions(6);
  auto ids = one_per_shard(o);
  // Nobody known yet: nothing to forward to, nothing served here.
  for (auto id : ids) {
    CAF_CHECK(o.remote_owner(id) == nullptr);
    CAF_CHECK_EQUAL(o.owner_name(id), "");
  }
  o.serve(0, 1);
  o.learn(1, {ownership::pack({1, 3}), ownership::pack({2, 3})});
  o.learn(2, {ownership::pack({3, 1}), ownership::pack({4, 1})});
  CAF_CHECK(o.remote_owner(ids[0]) == nullptr);
  CAF_CHECK_EQUAL(o.owner_name(ids[0]), "n1");
  // (The peers are not started here: the index of the member is what
  // `remote_owner` hands to `cluster::peer`.)
  CAF_CHECK_EQUAL(o.owner_index(0), 0);
  CAF_CHECK_EQUAL(o.owner_index(1), 1);
  CAF_CHECK_EQUAL(o.owner_name(ids[2]), "n2");
  CAF_CHECK_EQUAL(o.owner_index(3), 2);
  CAF_CHECK_EQUAL(o.owner_name(ids[4]), "n3");
  CAF_CHECK_EQUAL(o.owner_index(5), -1); // Moving: nobody.
  CAF_CHECK_EQUAL(o.owner_name(ids[5]), "");
  CAF_CHECK_EQUAL(o.claims_of(1).size(), 2u);
  CAF_CHECK_EQUAL(o.claims_of(0).size(), 1u);
  // n3 took shard 2 over from n2, whose heartbeat still claims it: the
  // newer epoch is the owner.
  o.learn(2, {ownership::pack({2, 4}), ownership::pack({3, 1}),
              ownership::pack({4, 1})});
  CAF_CHECK_EQUAL(o.owner_index(2), 2);
  CAF_CHECK_EQUAL(o.claims_of(1).size(), 1u);
  // n3 is down: its shards are nobody's until someone says otherwise.
  o.forget(2);
  CAF_CHECK_EQUAL(o.owner_index(3), -1);
  CAF_CHECK_EQUAL(o.owner_index(2), 1); // n2's stale claim.
  // A shard served here is never forwarded, whatever others say.
  o.learn(1, {ownership::pack({0, 9})});
  CAF_CHECK(o.remote_owner(ids[0]) == nullptr);
  CAF_CHECK_EQUAL(o.owner_index(0), 0);
  CAF_CHECK(o.owns(ids[0]));
}

CAF_TEST_FIXTURE_SCOPE_END()
