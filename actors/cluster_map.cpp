#include "actors/cluster_map.hpp"

#include <algorithm>
#include <set>

#include <caf/config_value.hpp>
#include <caf/sec.hpp>
#include <fmt/format.h>

namespace dibs {

namespace {

/// SplitMix64's finalizer: a fixed, well-mixed 64-bit hash, the same on
/// every machine and compiler (unlike std::hash).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// FNV-1a over bytes.
uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

caf::error bad_config(std::string what) {
  return caf::make_error(caf::sec::invalid_argument,
                         "cluster configuration: " + std::move(what));
}

/// "host:port" into its parts.
bool split_address(const std::string& text, std::string& host,
                   uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto value = std::stoul(digits);
  if (value == 0 || value > 65535)
    return false;
  host = text.substr(0, colon);
  port = static_cast<uint16_t>(value);
  return true;
}

} // namespace

uint64_t rendezvous_weight(const std::string& member_id, uint32_t shard) {
  return mix(fnv1a(member_id) ^ mix(shard));
}

caf::expected<cluster_map> cluster_map::make(std::vector<member> members,
                                             uint32_t shards,
                                             const std::string& self) {
  if (members.empty())
    return bad_config("no nodes");
  if (shards < members.size() || shards > 65536)
    return bad_config(fmt::format("{} shards for {} nodes: need at least one "
                                  "per node and at most 65536",
                                  shards, members.size()));
  std::set<std::string> ids, addresses;
  for (auto& m : members) {
    if (m.id.empty())
      return bad_config("a node without an id");
    if (!ids.insert(m.id).second)
      return bad_config("node id " + m.id + " twice");
    for (auto addr : {fmt::format("{}:{}", m.http_host, m.http_port),
                      fmt::format("{}:{}", m.actor_host, m.actor_port)})
      if (!addresses.insert(addr).second)
        return bad_config("address " + addr + " twice");
  }
  cluster_map result;
  auto i = std::find_if(members.begin(), members.end(),
                        [&](const member& m) { return m.id == self; });
  if (i == members.end())
    return bad_config("cluster.self '" + self + "' is none of the nodes");
  result.self_ = static_cast<size_t>(i - members.begin());
  result.owners_.resize(shards);
  for (uint32_t s = 0; s < shards; ++s) {
    size_t best = 0;
    uint64_t best_weight = 0;
    for (size_t m = 0; m < members.size(); ++m) {
      auto w = rendezvous_weight(members[m].id, s);
      // Ties (never seen with 64-bit weights) go to the smaller id.
      if (m == 0 || w > best_weight
          || (w == best_weight && members[m].id < members[best].id)) {
        best = m;
        best_weight = w;
      }
    }
    result.owners_[s] = static_cast<uint16_t>(best);
  }
  uint64_t fp = fnv1a(std::to_string(shards));
  for (auto& m : members)
    fp = fnv1a(fmt::format("|{}|{}:{}|{}:{}", m.id, m.http_host, m.http_port,
                           m.actor_host, m.actor_port),
               fp);
  result.fingerprint_ = fp;
  result.members_ = std::move(members);
  return result;
}

caf::expected<cluster_map> cluster_map::from_config(const caf::settings& cfg,
                                                    uint32_t shards,
                                                    const std::string& self) {
  auto list = caf::get_if<caf::config_value::list>(&cfg, "cluster.nodes");
  if (!list || list->empty())
    return cluster_map{};
  std::vector<member> members;
  for (auto& entry : *list) {
    auto* fields = caf::get_if<caf::config_value::dictionary>(&entry);
    if (!fields)
      return bad_config("each of cluster.nodes must be {id=, http=, actor=}");
    auto text = [&](const char* key) -> const std::string* {
      auto i = fields->find(key);
      return i != fields->end() ? caf::get_if<std::string>(&i->second)
                                : nullptr;
    };
    auto *id = text("id"), *http = text("http"), *actor = text("actor");
    if (!id || !http || !actor)
      return bad_config("each of cluster.nodes needs the strings id, http "
                        "and actor");
    member m;
    m.id = *id;
    if (!split_address(*http, m.http_host, m.http_port)
        || !split_address(*actor, m.actor_host, m.actor_port))
      return bad_config("node " + *id + ": addresses must be host:port");
    members.push_back(std::move(m));
  }
  return make(std::move(members), shards, self);
}

uint32_t cluster_map::shard_of(coupon_id_t coupon) const {
  if (owners_.empty())
    return 0;
  return static_cast<uint32_t>(mix(coupon) % owners_.size());
}

std::vector<uint32_t> cluster_map::shards_of(size_t m) const {
  std::vector<uint32_t> result;
  for (uint32_t s = 0; s < owners_.size(); ++s)
    if (owners_[s] == m)
      result.push_back(s);
  return result;
}

} // namespace dibs
