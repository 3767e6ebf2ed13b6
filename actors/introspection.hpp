#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/histogram.hpp"
#include "core/domain.hpp"

namespace dibs {

// Live figures of the node's actors for the introspection routes, the
// console and `/metrics`. Each actor writes its own figures as it works
// (relaxed atomics; a mutex only for short histories), so reading them
// never sends a message, never waits on a busy actor and never disturbs
// issuing. The figures outlive the actor: a restarted actor carries on
// with the same object, which counts its restarts.

/// The answers a stock actor gives to issue requests.
enum class issue_outcome : uint8_t {
  issued,
  accepted,
  already_issued,
  sold_out,
  not_open,
  closed,
  unavailable,
};

constexpr size_t issue_outcome_count = 7;

const char* to_string(issue_outcome x);

/// Where a stock actor stands.
enum class actor_phase : uint8_t { recovering, running, crashed };

const char* to_string(actor_phase x);

/// One coupon's stock actor.
class stock_stats {
public:
  struct point {
    epoch_ms at;
    uint32_t remaining;
  };

  struct answer {
    epoch_ms at;
    user_id_t user;
    issue_outcome outcome;
  };

  /// Points of stock over time kept: one per second at most, 10 minutes.
  static constexpr size_t history_points = 600;
  /// Latest answers kept.
  static constexpr size_t recent_answers = 50;

  explicit stock_stats(coupon info) : info(std::move(info)) {
  }

  /// The coupon: id, name, total, window.
  const coupon info;

  std::atomic<actor_phase> phase{actor_phase::recovering};
  std::atomic<uint32_t> remaining{0};
  /// Holders by where their issuance stands: reserved and on its way to
  /// Kafka, "possibly stored" and being resolved, durable in Kafka, in
  /// MySQL.
  std::atomic<uint32_t> pending{0};
  std::atomic<uint32_t> unresolved{0};
  std::atomic<uint32_t> accepted{0};
  std::atomic<uint32_t> committed{0};
  /// Reservations whose outcome in Kafka is not settled (acknowledgement
  /// awaited, or "possibly stored" and being resolved), whatever their
  /// holder's phase: the writers may have committed the record first.
  std::atomic<uint32_t> in_flight{0};
  /// Messages the actor handled, and its mailbox's depth when it last
  /// handled one.
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> mailbox{0};
  /// The last snapshot Redis took: its Kafka position, issuances, when.
  std::atomic<int64_t> snapshot_position{-1};
  std::atomic<uint64_t> snapshot_count{0};
  std::atomic<epoch_ms> snapshot_at{0};
  std::atomic<uint32_t> restarts{0};
  std::array<std::atomic<uint64_t>, issue_outcome_count> outcomes{};
  /// "Possibly stored" reservations the log settled: found (stored) or not
  /// (the unit went back).
  std::atomic<uint64_t> resolved_stored{0};
  std::atomic<uint64_t> resolved_not_stored{0};

  /// Counts an answer and keeps it among the recent ones.
  void record(issue_outcome x, user_id_t user, epoch_ms now);

  /// Adds a point of stock over time when a second has passed since the
  /// last one or the stock changed after a quiet second.
  void sample(epoch_ms now);

  std::vector<point> history() const;
  std::vector<answer> recent() const;

private:
  mutable std::mutex mtx_;
  std::deque<point> history_;
  std::deque<answer> recent_;
};

/// One writer.
struct writer_stats {
  explicit writer_stats(size_t index) : index(index) {
  }

  const size_t index;
  std::atomic<actor_phase> phase{actor_phase::recovering};
  std::atomic<uint64_t> rows{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> last_batch_rows{0};
  std::atomic<uint64_t> failed_batches{0};
  /// Assignments taken as none, since MySQL could not say where to start.
  std::atomic<uint64_t> refused_assignments{0};
  std::atomic<epoch_ms> last_commit{0};
  std::atomic<uint32_t> restarts{0};
  /// Rows written per second over the last second or so.
  std::atomic<double> rows_per_s{0};
  /// How long writing a batch to MySQL took.
  latency_histogram batch_latency;

  struct partition_lag {
    int32_t partition;
    /// The next offset to write, the log's end, the difference.
    int64_t next;
    int64_t end;
    int64_t lag;
  };

  void set_partitions(std::vector<partition_lag> parts);
  std::vector<partition_lag> partitions() const;

private:
  mutable std::mutex mtx_;
  std::vector<partition_lag> partitions_;
};

/// One child of the supervisor, as the supervisor last saw it.
struct child_view {
  std::string name;
  std::string kind;
  std::string state; // "running", "restarting", "crash loop"
  size_t crashes_in_a_row = 0;
  uint64_t restarts = 0;
  epoch_ms started = 0;
  /// The latest restarts, oldest first: when, and the reason of the crash.
  struct restart {
    epoch_ms at;
    std::string reason;
  };
  std::vector<restart> history;
};

/// The supervisor's tree, published by the supervisor on every change.
class supervision_board {
public:
  static constexpr size_t history_per_child = 10;

  void set(std::string name, child_view view);
  void erase(const std::string& name);
  std::vector<child_view> children() const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, child_view> children_;
};

/// Every figure of a node, by coupon and writer.
class introspection {
public:
  /// The figures of a coupon, made on first use and kept across restarts.
  std::shared_ptr<stock_stats> stock(const coupon& info);

  /// The figures of a coupon if it has any.
  std::shared_ptr<stock_stats> find_stock(coupon_id_t coupon) const;

  std::vector<std::shared_ptr<stock_stats>> all_stock() const;

  std::shared_ptr<writer_stats> writer(size_t index);

  std::vector<std::shared_ptr<writer_stats>> all_writers() const;

  supervision_board& supervision() {
    return supervision_;
  }

  const supervision_board& supervision() const {
    return supervision_;
  }

  /// Appends the figures as Prometheus metrics: issue outcomes, each stock
  /// actor's stock and mailbox, each writer's rows, batches and lag.
  void render(std::string& out) const;

private:
  mutable std::mutex mtx_;
  std::map<coupon_id_t, std::shared_ptr<stock_stats>> stock_;
  std::vector<std::shared_ptr<writer_stats>> writers_;
  supervision_board supervision_;
};

} // namespace dibs
