#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs {

/// The three reads that tell whether an issuance is stored, each a separate
/// call to MySQL or Kafka: writers may commit between any two of them.
class issuance_reads {
public:
  virtual ~issuance_reads() = default;

  /// Where the writers stand in the coupon's partition: its partition and
  /// the offset stored in MySQL (with the rows, in one transaction) from
  /// which on nothing is committed yet.
  virtual caf::expected<std::pair<int32_t, int64_t>>
  written(coupon_id_t coupon) = 0;

  /// Whether MySQL holds the event's row: its issuance id, for its user.
  virtual caf::expected<bool> committed(const issuance_event& event) = 0;

  /// Makes readable what `partition`'s leader appended before now: stores
  /// a probe record (acks=all) and waits for it. With replicas, a record
  /// the leader appended is readable only once the high watermark passes
  /// it, which a follower still in sync but not fetching holds back: a
  /// record whose request timed out can sit there, unreadable, and become
  /// readable (and count) later. The probe is stored only once the high
  /// watermark is past it, and so past every record appended before it.
  virtual caf::error readable(int32_t partition) = 0;

  /// The coupon's events in `partition` from `offset` to the high watermark.
  virtual caf::expected<std::vector<issuance_event>>
  read_from(coupon_id_t coupon, int32_t partition, int64_t offset) = 0;
};

/// Whether `event` is stored, in MySQL or in the log. The order of the reads
/// makes the answer immune to writers committing meanwhile: the offset is
/// read first, so a record below it was committed before MySQL is asked,
/// and a record at or past it is in the part of the log read last. (Asking
/// MySQL first lets a commit between the two reads move the offset past the
/// record: neither read sees it, and a stored unit would be sold again.)
caf::expected<bool> find_issuance(issuance_reads& reads,
                                  const issuance_event& event);

/// Answers "is this issuance in the log?" for deliveries whose outcome the
/// producer could not tell (possibly stored), with `find_issuance` over
/// MySQL and the coupon's partition of the issuance topic. Runs detached:
/// its calls block.
struct resolver_state {
  static inline const char* name = "dibs.resolver";

  /// The records of one partition read so far, from `from` up to `end`:
  /// the log below its high watermark never changes, so the next search
  /// reads only what came after `end`. Without it each search read the
  /// writers' whole unwritten tail again, and with the writers far behind
  /// (MariaDB down) no search finished within its timeout while stock
  /// actors kept asking again.
  struct tail_cache {
    int64_t from = 0;
    int64_t end = 0;
    std::vector<std::pair<int64_t, issuance_event>> events;
  };

  /// Records kept per partition at most; past it the cache starts over.
  static constexpr size_t max_cached_records = 1'000'000;

  kafka_settings kafka;
  mysql_settings mysql;
  std::unique_ptr<mysql_store> store;
  std::unique_ptr<kafka_log> scanner;
  /// Stores the probes (`issuance_reads::readable`); made again after a
  /// probe failed.
  std::unique_ptr<kafka_producer> prober;
  /// By partition; the resolver is replaced when Kafka moves to another
  /// log, and the cache with it.
  std::map<int32_t, tail_cache> tails;

  caf::expected<bool> find(const issuance_event& event);
};

caf::behavior resolver_actor(caf::stateful_actor<resolver_state>* self,
                             kafka_settings kafka, mysql_settings mysql);

} // namespace dibs
