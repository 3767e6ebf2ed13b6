#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/coupon_directory.hpp"
#include "actors/introspection.hpp"
#include "actors/options.hpp"
#include "actors/protocol.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs {

struct writer_settings {
  size_t batch_max_rows = option_default::writer_batch_max_rows;
  size_t batch_max_ms = option_default::writer_batch_max_ms;
  size_t retry_backoff_ms = option_default::writer_retry_backoff_ms;
};

/// A writer drains the issuance topic into MySQL: it reads a batch (bounded
/// in rows and time), writes it with the consumed offsets in one transaction
/// (`mysql_store::write_batch`), then tells the stock actors which rows are
/// committed. It resumes from the offsets stored in MySQL, never from Kafka's
/// group offsets, so a crash anywhere never loses or double-counts a row.
/// Runs detached: both Kafka polls and MySQL calls block.
struct writer_state {
  static inline const char* name = "dibs.writer";

  kafka_settings kafka;
  mysql_settings mysql;
  writer_settings settings;
  coupon_directory* directory = nullptr;
  /// Set once this writer, or any of its group, got partitions.
  std::atomic<bool>* assigned = nullptr;
  /// Where the writer publishes its figures; null in tests.
  std::shared_ptr<writer_stats> stats;
  /// When the partitions' lag and the rate were last published, and the
  /// rows written by then.
  std::chrono::steady_clock::time_point lag_published;
  std::chrono::steady_clock::time_point rate_since;
  uint64_t rate_rows = 0;

  std::unique_ptr<mysql_store> store;
  std::unique_ptr<kafka_log> log;
  /// Which log the stored offsets belong to.
  log_ref log_id;

  /// A batch MySQL refused, retried before anything new is read.
  std::vector<issuance_event> pending_events;
  std::vector<partition_offset> pending_offsets;
  /// Fences read in the batch, stored with its offsets.
  std::vector<log_fence> pending_fences;

  /// The next offset expected per partition, to notice records the broker
  /// dropped before they were written (retention shorter than the writers'
  /// lag).
  std::map<int32_t, int64_t> expected;


  /// Opens MySQL and joins the group if not done yet.
  caf::error connect();

  /// Where this writer's log starts again: its fences and stored offsets.
  caf::expected<std::pair<std::vector<log_fence>, std::vector<partition_offset>>>
  read_start();

  /// One cycle: retry the pending batch or read and write a new one.
  /// Returns false when the writer should back off before the next cycle.
  bool step();

  /// Sends committed rows to the stock actors that own them.
  void notify(const std::vector<issuance_event>& rows);

  /// Publishes the lag of the assigned partitions, at most every 250 ms,
  /// and the rows written per second, every second.
  void publish_lag();
};

caf::behavior writer_actor(caf::stateful_actor<writer_state>* self,
                           kafka_settings kafka, mysql_settings mysql,
                           writer_settings settings,
                           coupon_directory* directory,
                           std::atomic<bool>* assigned,
                           std::shared_ptr<writer_stats> stats);

} // namespace dibs
