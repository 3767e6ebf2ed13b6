#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/records.hpp"
#include "persistence/redis_client.hpp"

namespace dibs {

/// A stock actor's state as Redis keeps it: every issuance of the coupon the
/// actor knew durable in Kafka, and how far into Kafka that knowledge goes.
///
/// In Redis a snapshot is two keys: `dibs:snap:{coupon}:meta`, a hash with
/// the fields below, and `dibs:snap:{coupon}:chunks`, a list of binary
/// chunks of issuances, one chunk per write (only what was added since the
/// previous write). Writes run as Lua scripts, so each is atomic, fenced by
/// the epoch, and idempotent when retried.
struct snapshot_meta {
  /// The owner epoch it was written under (`mysql_store::claim_epochs`).
  uint64_t epoch = 0;
  /// The Kafka log (`log_ref::log_id`) the position belongs to.
  std::string log_id;
  /// The coupon's partition.
  int32_t partition = -1;
  /// Every issuance of the coupon at an offset below this is in the
  /// snapshot.
  int64_t position = 0;
  /// Issuances in the snapshot.
  uint64_t count = 0;
  /// Order-independent checksum of the issuances (`snapshot_checksum`).
  uint64_t checksum = 0;
  /// Chunks in the list.
  uint64_t chunks = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_meta& x) {
  return f(caf::meta::type_name("snapshot_meta"), x.epoch, x.log_id,
           x.partition, x.position, x.count, x.checksum, x.chunks);
}

struct snapshot {
  snapshot_meta meta;
  std::vector<issuance_event> events;
};

/// Adds one issuance to a checksum; the order of additions does not matter.
uint64_t snapshot_checksum(uint64_t sum, const issuance_event& e);

/// What a write did.
enum class snapshot_write : uint8_t {
  /// Written (or found already written by an earlier attempt).
  done,
  /// The snapshot in Redis is missing or is not the one this writer
  /// extends (flushed, rewritten, corrupted): write it whole.
  diverged,
  /// A newer epoch owns the snapshot: this writer must stop.
  fenced,
};

/// Why a loaded snapshot cannot be used; `ok` when it can.
enum class snapshot_fault : uint8_t { ok, absent, corrupt };

struct loaded_snapshot {
  snapshot_fault fault = snapshot_fault::absent;
  /// What was wrong, for the log.
  std::string reason;
  snapshot snap;
};

/// Snapshots of stock actors in Redis, over one connection. Not thread-safe.
class snapshot_store {
public:
  static caf::expected<std::unique_ptr<snapshot_store>>
  connect(const redis_settings& settings);

  /// Reads and verifies the snapshot of a coupon: format, chunk count,
  /// issuance count, coupon of every issuance, checksum.
  caf::expected<loaded_snapshot> load(coupon_id_t coupon);

  /// Appends `added` as one chunk to the snapshot that has
  /// `after.chunks - 1` chunks and was written under `after.epoch`; `after`
  /// describes the snapshot once `added` is in it. With nothing added it
  /// only checks that Redis still holds the snapshot `after` describes.
  caf::expected<snapshot_write> append(coupon_id_t coupon,
                                       const snapshot_meta& after,
                                       const std::vector<issuance_event>& added);

  /// Replaces the snapshot with `events` as its one chunk, unless a newer
  /// epoch owns it.
  caf::expected<snapshot_write> rewrite(coupon_id_t coupon,
                                        const snapshot_meta& meta,
                                        const std::vector<issuance_event>& events);

  /// Deletes a coupon's snapshot (tests and tools).
  caf::expected<void> erase(coupon_id_t coupon);

  /// Sets one field of a snapshot's meta hash as is (fault-injection tests
  /// and tools).
  caf::expected<void> set_meta(coupon_id_t coupon, const std::string& field,
                               const std::string& value);

  bool broken() const {
    return redis_->broken();
  }

  static std::string meta_key(coupon_id_t coupon);
  static std::string chunks_key(coupon_id_t coupon);

private:
  explicit snapshot_store(std::unique_ptr<redis_client> redis)
    : redis_(std::move(redis)) {
  }

  std::unique_ptr<redis_client> redis_;
};

} // namespace dibs
