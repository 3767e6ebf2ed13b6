#include "gateway/admin/admin.hpp"

#include <fmt/format.h>

namespace dibs::admin {

json nodes(const node& n) {
  auto [bootstrap, log_id] = n.kafka_log_names();
  auto& cfg = n.cfg();
  auto now = now_ms();
  const char* health = n.ready() ? (n.writers_assigned() ? "ready" : "joining")
                                 : "recovering";
  json self{{"id", cfg.node_id},
            {"self", true},
            {"http", cfg.http_address + ":" + std::to_string(cfg.http_port)},
            {"health", health},
            {"ready", n.ready()},
            {"writersAssigned", n.writers_assigned()},
            {"startedAt", time_or_null(n.started_at())},
            {"uptimeS", static_cast<double>(now - n.started_at()) / 1000.0},
            {"stockActors", n.figures().all_stock().size()},
            {"writers", cfg.writer_count},
            {"kafka", {{"bootstrap", bootstrap}, {"logId", log_id}}},
            {"redis", cfg.redis_host + ":" + std::to_string(cfg.redis_port)},
            {"mysql", cfg.mysql_host + ":" + std::to_string(cfg.mysql_port)
                        + "/" + cfg.mysql_database}};
  auto shards_json = [](const std::vector<shard_claim>& claims) {
    auto out = json::array();
    for (auto& c : claims)
      out.push_back(json{{"shard", c.shard}, {"epoch", c.epoch}});
    return out;
  };
  auto takeovers = json::array();
  for (auto& t : n.takeovers())
    takeovers.push_back(json{{"shard", t.shard},
                             {"epoch", t.epoch},
                             {"at", time_or_null(t.at)},
                             {"tookMs", t.took_ms},
                             {"fenceMs", t.fence_ms},
                             {"coupons", t.coupons}});
  self["takeovers"] = std::move(takeovers);
  self["assignedShards"] = n.assigned_shards();
  auto& owners = n.owners();
  auto shard_info = json{{"count", owners.partitions()},
                         {"group", n.cfg().kafka_topic + ".owners"}};
  auto list = json::array();
  auto* members = n.members();
  if (!members) {
    auto served = owners.served();
    self["shardCount"] = served.size();
    self["shards"] = shards_json(served);
    list.push_back(std::move(self));
    return json{{"at", format_time(now)}, {"shards", shard_info},
                {"nodes", list}};
  }
  // A cluster: every member with its health and shards, in the
  // configuration's order.
  auto& map = members->map();
  for (size_t i = 0; i < map.members().size(); ++i) {
    auto& m = map.members()[i];
    auto shards = owners.claims_of(i);
    json entry;
    if (i == map.self()) {
      entry = self;
    } else {
      auto& st = *members->peer(i)->status;
      auto last = st.last_heartbeat_ms.load();
      // Up, but a heartbeat answer is late: suspected.
      auto late = now - last > 2 * static_cast<int64_t>(
                                     cfg.cluster_heartbeat_interval_ms);
      entry = json{{"id", m.id},
                   {"self", false},
                   {"http", m.http_host + ":" + std::to_string(m.http_port)},
                   {"health", st.conflict ? "conflict"
                              : !st.up    ? "down"
                              : late      ? "suspected"
                                          : "up"},
                   {"lastHeartbeatAt", time_or_null(last)},
                   {"heartbeatRttUs", st.rtt_us.load()},
                   {"forwarded", st.forwarded.load()},
                   {"connects", st.connects.load()},
                   {"downs", st.downs.load()}};
    }
    entry["actor"] = m.actor_host + ":" + std::to_string(m.actor_port);
    entry["shardCount"] = shards.size();
    entry["shards"] = shards_json(shards);
    list.push_back(std::move(entry));
  }
  return json{{"at", format_time(now)},
              {"shards", shard_info},
              {"cluster", {{"fingerprint", fmt::format("{:016x}",
                                                       map.fingerprint())}}},
              {"nodes", list}};
}

} // namespace dibs::admin
