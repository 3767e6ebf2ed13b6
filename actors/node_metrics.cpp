#include "actors/node_metrics.hpp"

#include <fmt/format.h>

namespace dibs {

std::string node_metrics::render() const {
  std::string out;
  auto emit = [&out](const char* name, const char* type, const char* help,
                     const std::atomic<uint64_t>& value,
                     const char* labels = "") {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0}{3} {4}\n", name,
                       help, type, labels,
                       value.load(std::memory_order_relaxed));
  };
  emit("dibs_snapshot_writes_total", "counter",
       "Snapshot chunks appended to Redis.", snapshot_appends);
  emit("dibs_snapshot_rewrites_total", "counter",
       "Snapshots written whole (after recovery or divergence).",
       snapshot_rewrites);
  emit("dibs_snapshot_failures_total", "counter",
       "Snapshot writes Redis did not take.", snapshot_failures);
  emit("dibs_snapshot_fenced_total", "counter",
       "Snapshot writes refused because a newer owner epoch holds the "
       "coupon.",
       snapshot_fenced);
  emit("dibs_snapshots_paused", "gauge",
       "1 while Redis is unreachable and snapshots wait.", snapshots_paused);
  emit("dibs_stock_recoveries_total", "counter",
       "Stock actors recovered, by source.", recovered_from_snapshot,
       "{source=\"snapshot\"}");
  out += fmt::format("dibs_stock_recoveries_total{{source=\"mysql\"}} {}\n",
                     recovered_from_mysql.load(std::memory_order_relaxed));
  emit("dibs_recovery_duration_ms", "gauge",
       "How long the last recovery of the node's stock took.", recovery_ms);
  emit("dibs_supervisor_restarts_total", "counter",
       "Actors the supervisor restarted after a crash, by kind.",
       stock_restarts, "{kind=\"stock\"}");
  out += fmt::format("dibs_supervisor_restarts_total{{kind=\"writer\"}} {}\n",
                     writer_restarts.load(std::memory_order_relaxed));
  out += fmt::format("dibs_supervisor_restarts_total{{kind=\"producer\"}} {}\n",
                     producer_restarts.load(std::memory_order_relaxed));
  out += fmt::format("dibs_supervisor_restarts_total{{kind=\"other\"}} {}\n",
                     other_restarts.load(std::memory_order_relaxed));
  emit("dibs_kafka_log_changes_total", "counter",
       "Times the node followed Kafka to another log (another cluster "
       "or other brokers) and published again the accepted issuances "
       "MySQL may lack.",
       kafka_log_changes);
  render_family(out, "dibs_snapshot_duration_seconds", "histogram",
                "How long a snapshot write to Redis took, failed ones "
                "included.");
  snapshot_latency.render(out, "dibs_snapshot_duration_seconds");
  return out;
}

} // namespace dibs
