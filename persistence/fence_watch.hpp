#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/kafka.hpp"

namespace RdKafka {
class KafkaConsumer;
} // namespace RdKafka

namespace dibs {

/// Reads back the partitions this node owns, from its own fence on, so that
/// it tells a client yes only for a record that counts: one with no fence
/// of a newer owner before it in its partition (a record is known once it
/// is read, or is one of the owner's own: `confirm`). A node the group dropped
/// without knowing it (paused, then woken) keeps publishing; the new owner
/// fenced the partition first, so this reader finds that fence before any
/// of those records and they are refused, never acknowledged. No clock is
/// trusted: the order of the log decides.
class fence_watch {
public:
  /// What reading a record back said of it.
  enum class verdict : uint8_t {
    /// No newer fence before it: it counts.
    counts,
    /// A newer owner's fence is before it: it does not count.
    fenced,
    /// The partition is not watched (given up, never taken): the record
    /// may count or not; the log tells later.
    unknown,
  };
  using verdict_fn = std::function<void(verdict)>;

  /// A newer owner fenced `partition` at `offset` with `epoch` (the watch
  /// thread).
  using fenced_fn
    = std::function<void(int32_t partition, int64_t offset, uint64_t epoch)>;

  static caf::expected<std::unique_ptr<fence_watch>>
  make(const kafka_settings& kafka, fenced_fn on_fenced);

  /// Stops reading; every record waiting for its verdict gets `unknown`.
  ~fence_watch();

  /// Reads `partition` from `from` on (this owner's own fence, of `epoch`).
  void watch(int32_t partition, int64_t from, uint64_t epoch);

  /// Stops reading `partition`; records waiting on it get `unknown`.
  void unwatch(int32_t partition);

  /// Reads another log from now on (Kafka moved): nothing is watched
  /// any more, records waiting get `unknown`, and what is watched next is
  /// read from `kafka`'s brokers and topic.
  caf::error follow(const kafka_settings& kafka);

  /// Calls `done` (on whichever thread delivers the partition's verdicts
  /// then: this one, the watch's, or another's) with the verdict on the
  /// owner's own event record at `offset` of `partition` (its delivery
  /// report's), stamped with `epoch`, once every record before it is
  /// known: read back, or another record of its own confirmed here. An
  /// owner alone on its partition publishes record after record, so each
  /// is decided as its report comes, without waiting for the read; a gap
  /// (a record it did not write, a newer owner's fence among them) waits
  /// for the read. A record of another epoch than the watch's is
  /// `unknown`: the partition was given up and watched again since it was
  /// stamped, and where it landed against the newer fence decides it.
  void confirm(int32_t partition, int64_t offset, uint64_t epoch,
               verdict_fn done);

  /// Where a newer owner fenced `partition`, or -1.
  int64_t fenced_at(int32_t partition) const;

  /// Everything of `partition` before this offset was read; -1 when it is
  /// not watched.
  int64_t read_to(int32_t partition) const;

  /// Records waiting for their verdict.
  size_t waiting() const;

private:
  fence_watch() = default;
  void run();

  struct part {
    read_back state;
    std::map<int64_t, std::vector<verdict_fn>> waiting;
  };

  using verdicts = std::vector<std::pair<verdict_fn, verdict>>;

  /// Delivers what can be decided in `p` (mtx_ held): moves the callbacks
  /// and their verdicts into `out`.
  static void decide(part& p, verdicts& out);

  /// Moves every waiting callback of `p` into `out` with `unknown` (mtx_
  /// held): the partition is no longer read as it was.
  static void unknown_all(part& p, verdicts& out);

  /// Takes the waiting records' callbacks of every watched partition, each
  /// with `unknown`, and forgets the partitions (mtx_ held).
  std::map<int32_t, verdicts> drop_all();

  /// Calls the functions of `out`, verdicts of `partition` decided under
  /// `guard` (mtx_, held again on return), outside the lock and after the
  /// partition's verdicts decided before them. Verdicts are decided on
  /// several threads (the watch's, the producer's reports in `confirm`,
  /// callers of `watch`, `unwatch`, `follow`): delivered as they came, a
  /// record's could overtake the one before it, and the owner's snapshot
  /// position pass a record not yet told stored.
  void deliver(std::unique_lock<std::mutex>& guard, int32_t partition,
               verdicts out);

  /// A partition's verdicts decided and not delivered yet, and whether a
  /// thread is delivering them (`deliver`). Kept when the partition is
  /// no longer watched: its entries are few, and a thread may be using one.
  struct delivery {
    std::deque<std::pair<verdict_fn, verdict>> ready;
    bool busy = false;
  };

  fenced_fn on_fenced_;
  /// Read by the watch's thread only.
  std::string topic_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  mutable std::mutex mtx_;
  /// The log `follow` gave, for the watch's thread to switch to.
  std::unique_ptr<RdKafka::KafkaConsumer> next_consumer_;
  std::string next_topic_;
  std::map<int32_t, part> parts_;
  std::map<int32_t, delivery> deliveries_;
  /// A delivery ended (`deliver`), for the destructor.
  std::condition_variable delivered_;
  /// Partitions to start or stop reading, applied by the watch thread.
  std::vector<std::pair<int32_t, int64_t>> to_assign_;
  std::vector<int32_t> to_unassign_;
  std::atomic<bool> running_{true};
  std::thread thread_;
};

} // namespace dibs
