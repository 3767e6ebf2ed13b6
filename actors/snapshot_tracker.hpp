#pragma once

#include <cstddef>
#include <vector>

#include "persistence/snapshot_store.hpp"

namespace dibs {

/// A stock actor's bookkeeping of its Redis snapshot: what Redis holds, the
/// issuances stored in Kafka since, and how far into the coupon's partition
/// the snapshot reaches. Pure logic; the actor does the messaging.
///
/// The position rule: delivery reports of one partition arrive in offset
/// order, so once the report of offset `o` came, every issuance of the
/// coupon below `o` was reported and is held here. Not those at `o`: a
/// record carries several events, whose reports reach the actor one by
/// one, so the position is `o` itself and recovery reads that record again
/// (it drops what the snapshot holds by issuance id). An issuance whose
/// outcome is unknown may sit anywhere in the log: while one is unresolved
/// the position stays where it was.
class snapshot_tracker {
public:
  /// Starts from recovered state: `base` describes every issuance the actor
  /// holds (epoch, log, partition, position, count, checksum); nothing of it
  /// is in Redis under this epoch yet, so the first write is whole.
  void start(snapshot_meta base);

  /// An issuance is durable; `offset` is -1 when it was found by the
  /// resolver rather than reported.
  void on_stored(const issuance_event& e, int32_t partition, int64_t offset);

  /// A delivery report said "possibly stored": the position waits.
  void on_unresolved() {
    ++unresolved_;
  }

  /// An unresolved issuance was settled either way.
  void on_unresolved_settled();

  /// Issuances stored since the last write.
  size_t pending() const {
    return pending_.size() - in_flight_;
  }

  bool writing() const {
    return writing_;
  }

  /// The next write must be whole.
  bool needs_rewrite() const {
    return rewrite_;
  }

  /// Snapshot writes are refused: a newer epoch owns the coupon.
  bool fenced() const {
    return fenced_;
  }

  /// Begins an append of every pending issuance: returns them and the meta
  /// Redis will hold after the write.
  std::pair<snapshot_meta, std::vector<issuance_event>> begin_append();

  /// Begins a check that Redis still holds what this tracker wrote (an
  /// append of nothing); `diverged` makes the next write whole.
  snapshot_meta begin_verify();

  /// Begins a whole write of `all` (every issuance the actor holds as
  /// stored): returns the meta Redis will hold after it.
  snapshot_meta begin_rewrite(const std::vector<issuance_event>& all);

  /// The write begun last ended with `result`; `after` is what begin_*
  /// returned.
  void end_write(snapshot_write result, const snapshot_meta& after);

  /// The write begun last failed (Redis unreachable): retried later.
  void write_failed();

  /// What Redis holds, as far as this tracker knows.
  const snapshot_meta& written() const {
    return written_;
  }

private:
  snapshot_meta written_;
  /// Stored since the last write; the first `in_flight_` are being written.
  std::vector<issuance_event> pending_;
  size_t in_flight_ = 0;
  int32_t partition_ = -1;
  int64_t position_ = 0;
  /// The highest offset any delivery report gave.
  int64_t reported_ = 0;
  size_t unresolved_ = 0;
  bool writing_ = false;
  bool rewrite_ = true;
  bool fenced_ = false;
};

} // namespace dibs
