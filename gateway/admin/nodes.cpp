#include "gateway/admin/admin.hpp"

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
  return json{{"at", format_time(now)}, {"nodes", json::array({self})}};
}

} // namespace dibs::admin
