#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/histogram.hpp"

namespace dibs {

/// Counters of the node's actors (snapshots, recovery, supervision), written
/// by the actors with relaxed atomics and rendered on `GET /metrics` in
/// Prometheus' text format beside the gateway's request counters.
struct node_metrics {
  std::atomic<uint64_t> snapshot_appends{0};
  std::atomic<uint64_t> snapshot_rewrites{0};
  std::atomic<uint64_t> snapshot_failures{0};
  std::atomic<uint64_t> snapshot_fenced{0};
  /// 1 while Redis refuses snapshot writes.
  std::atomic<uint64_t> snapshots_paused{0};
  /// Stock actors recovered from their snapshot, and rebuilt from MySQL
  /// because the snapshot was absent, corrupt, stale or could not be
  /// completed from Kafka.
  std::atomic<uint64_t> recovered_from_snapshot{0};
  std::atomic<uint64_t> recovered_from_mysql{0};
  /// Milliseconds the last recovery of the node's stock took.
  std::atomic<uint64_t> recovery_ms{0};
  /// Restarts by the supervisor of crashed stock actors and writers.
  std::atomic<uint64_t> stock_restarts{0};
  std::atomic<uint64_t> writer_restarts{0};
  std::atomic<uint64_t> producer_restarts{0};
  /// Snapshotter and resolver.
  std::atomic<uint64_t> other_restarts{0};
  /// Times the node followed Kafka to a new log (a cluster replaced, a
  /// broker formatted anew) and published again what MySQL may lack.
  std::atomic<uint64_t> kafka_log_changes{0};
  /// How long a snapshot write to Redis took, failed ones included.
  latency_histogram snapshot_latency;

  std::string render() const;
};

} // namespace dibs
