#define CAF_SUITE actors.cluster_map

#include "actors/cluster_map.hpp"

#include <caf/test/unit_test.hpp>

#include <map>

#include <caf/actor_system_config.hpp>

using namespace dibs;

namespace {

std::vector<member> nodes(size_t n) {
  std::vector<member> result;
  for (size_t i = 1; i <= n; ++i)
    result.push_back(member{"n" + std::to_string(i), "127.0.0.1",
                            static_cast<uint16_t>(8080 + i), "127.0.0.1",
                            static_cast<uint16_t>(4240 + i)});
  return result;
}

cluster_map make(std::vector<member> members, uint32_t shards,
                 const std::string& self = "n1") {
  auto m = cluster_map::make(std::move(members), shards, self);
  CAF_REQUIRE(m);
  return std::move(*m);
}

} // namespace

CAF_TEST(every node computes the same owners) {
  auto a = make(nodes(3), 256, "n1");
  auto b = make(nodes(3), 256, "n3");
  CAF_CHECK_EQUAL(a.fingerprint(), b.fingerprint());
  size_t owned_by_a = 0, owned_by_b = 0;
  for (coupon_id_t c = 1; c <= 10'000; ++c) {
    CAF_REQUIRE_EQUAL(a.owner_of(c), b.owner_of(c));
    owned_by_a += a.owns(c);
    owned_by_b += b.owns(c);
    // Exactly one member owns each coupon.
    CAF_REQUIRE_EQUAL(a.owns(c), a.owner_of(c) == 0);
  }
  CAF_CHECK_GREATER(owned_by_a, 0u);
  CAF_CHECK_GREATER(owned_by_b, 0u);
}

CAF_TEST(the map is a fixed function of the configuration) {
  // Pinned values: a change to the hash would move every coupon of a running
  // cluster, so it must be deliberate.
  auto m = make(nodes(3), 256);
  CAF_CHECK_EQUAL(m.shard_of(1), m.shard_of(1));
  std::vector<size_t> owners;
  for (coupon_id_t c = 1; c <= 8; ++c)
    owners.push_back(m.owner_of(c));
  auto again = make(nodes(3), 256);
  for (coupon_id_t c = 1; c <= 8; ++c)
    CAF_CHECK_EQUAL(again.owner_of(c), owners[c - 1]);
  CAF_CHECK_EQUAL(rendezvous_weight("n1", 0), rendezvous_weight("n1", 0));
  CAF_CHECK_NOT_EQUAL(rendezvous_weight("n1", 0), rendezvous_weight("n2", 0));
}

CAF_TEST(shards spread evenly over the members) {
  for (size_t n : {2u, 3u, 5u}) {
    auto m = make(nodes(n), 1024);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      auto owned = m.shards_of(i).size();
      total += owned;
      // Within 25 % of an even share.
      CAF_CHECK_GREATER(owned, 1024 / n * 3 / 4);
      CAF_CHECK_LESS(owned, 1024 / n * 5 / 4);
    }
    CAF_CHECK_EQUAL(total, 1024u);
  }
  // Coupons spread over the shards too.
  auto m = make(nodes(3), 64);
  std::map<uint32_t, size_t> per_shard;
  for (coupon_id_t c = 1; c <= 64'000; ++c)
    ++per_shard[m.shard_of(c)];
  CAF_CHECK_EQUAL(per_shard.size(), 64u);
  for (auto& [shard, count] : per_shard)
    CAF_CHECK_LESS(count, 1'300u);
}

CAF_TEST(a member leaving moves only its own shards) {
  auto three = make(nodes(3), 512);
  auto members = nodes(3);
  members.erase(members.begin() + 1); // n2 leaves.
  auto two = make(members, 512);
  for (uint32_t s = 0; s < 512; ++s) {
    auto before = three.members()[three.owner_of_shard(s)].id;
    auto after = two.members()[two.owner_of_shard(s)].id;
    if (before != "n2")
      CAF_REQUIRE_EQUAL(before, after);
  }
  // And one joining takes shards only: nothing moves between the others.
  auto four = make(nodes(4), 512);
  size_t moved = 0;
  for (uint32_t s = 0; s < 512; ++s) {
    auto before = three.members()[three.owner_of_shard(s)].id;
    auto after = four.members()[four.owner_of_shard(s)].id;
    if (before != after) {
      CAF_REQUIRE_EQUAL(after, "n4");
      ++moved;
    }
  }
  CAF_CHECK_GREATER(moved, 512u / 4 * 3 / 4);
  CAF_CHECK_LESS(moved, 512u / 4 * 5 / 4);
}

CAF_TEST(the fingerprint changes with members addresses and shards) {
  auto base = make(nodes(3), 256).fingerprint();
  CAF_CHECK_NOT_EQUAL(make(nodes(3), 257).fingerprint(), base);
  CAF_CHECK_NOT_EQUAL(make(nodes(4), 256).fingerprint(), base);
  auto moved = nodes(3);
  moved[2].actor_port = 5000;
  CAF_CHECK_NOT_EQUAL(make(moved, 256).fingerprint(), base);
  auto renamed = nodes(3);
  renamed[0].id = "m1";
  CAF_CHECK_NOT_EQUAL(make(renamed, 256, "m1").fingerprint(), base);
}

CAF_TEST(bad configurations are refused) {
  CAF_CHECK(!cluster_map::make({}, 16, "n1"));
  CAF_CHECK(!cluster_map::make(nodes(3), 2, "n1"));
  CAF_CHECK(!cluster_map::make(nodes(3), 70'000, "n1"));
  CAF_CHECK(!cluster_map::make(nodes(3), 16, "n9"));
  auto twice = nodes(3);
  twice[1].id = "n1";
  CAF_CHECK(!cluster_map::make(twice, 16, "n1"));
  auto same_port = nodes(3);
  same_port[1].actor_port = same_port[0].actor_port;
  CAF_CHECK(!cluster_map::make(same_port, 16, "n1"));
}

CAF_TEST(the nodes are read from a CAF configuration) {
  caf::settings cfg;
  caf::config_value::list list;
  for (auto& m : nodes(3)) {
    caf::config_value::dictionary d;
    d["id"] = m.id;
    d["http"] = m.http_host + ":" + std::to_string(m.http_port);
    d["actor"] = m.actor_host + ":" + std::to_string(m.actor_port);
    list.emplace_back(std::move(d));
  }
  caf::put(cfg, "cluster.nodes", list);
  auto m = cluster_map::from_config(cfg, 256, "n2");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->self(), 1u);
  CAF_CHECK_EQUAL(m->fingerprint(), make(nodes(3), 256).fingerprint());
  CAF_CHECK_EQUAL(m->members()[2].actor_port, 4243u);
  // No nodes: no cluster, every coupon local.
  auto none = cluster_map::from_config(caf::settings{}, 256, "");
  CAF_REQUIRE(none);
  CAF_CHECK(none->empty());
  CAF_CHECK(none->owns(12345));
  // A bad address is refused.
  caf::config_value::dictionary bad;
  bad["id"] = std::string{"n4"};
  bad["http"] = std::string{"127.0.0.1"};
  bad["actor"] = std::string{"127.0.0.1:4244"};
  list.emplace_back(std::move(bad));
  caf::put(cfg, "cluster.nodes", list);
  CAF_CHECK(!cluster_map::from_config(cfg, 256, "n2"));
}
