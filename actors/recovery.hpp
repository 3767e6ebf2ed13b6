#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "actors/node_metrics.hpp"
#include "actors/stock_state.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"
#include "persistence/snapshot_store.hpp"

namespace dibs {

/// A good snapshot further behind the writers' position in its partition
/// than this many records, and than a tenth of the issuances it holds, is
/// passed over for MySQL's rows: a record read from Kafka costs about ten
/// times a row loaded from MySQL (docs/recovery.md), and the partition is
/// read from the oldest position any of its coupons needs, so an idle
/// coupon's old snapshot would have every coupon's records there read
/// again. Below this many, reading the records cost less than a second
/// when a record was one issuance; a record now carries up to
/// `kafka_producer::max_batch_events` (a busy partition's records carry
/// more), so this bounds the reading less tightly than it did.
constexpr int64_t max_snapshot_lag_records = 100'000;

/// Why a loaded snapshot cannot serve the owner of `epoch` reading `log_id`,
/// whose coupon lives in `partition` with Kafka holding offsets from `low`
/// on and the writers at `written`; empty when it can. `max_lag` is
/// `max_snapshot_lag_records` but in the simulation.
std::string snapshot_problem(const loaded_snapshot& loaded, uint64_t epoch,
                             const std::string& log_id, int32_t partition,
                             int64_t low, int64_t written,
                             int64_t max_lag = max_snapshot_lag_records);

/// Whether `loaded` is a good snapshot of the previous owner epoch, taken on
/// a Kafka log other than `log_id`: that log is gone (the cluster was
/// replaced) and the accepted issuances the snapshot holds may be nowhere
/// else.
bool of_lost_log(const loaded_snapshot& loaded, uint64_t epoch,
                 const std::string& log_id);

/// Adds to `st.unlogged` each issuance of `held` whose user `st` holds
/// nothing for; returns how many.
size_t adopt_held(recovered_stock& st, const std::vector<issuance_event>& held);

/// The committed issuances of a coupon recovered from its snapshot: the
/// snapshot's own plus the records at or past its position in `committed`
/// (offset and event, below the writers' offset), without those in `tail`
/// (past the writers' offset: accepted, not committed).
std::vector<issuance_event>
rows_from_snapshot(const snapshot& snap,
                   const std::vector<std::pair<int64_t, issuance_event>>& committed,
                   const std::vector<issuance_event>& tail);

/// Rebuilds the state of stock actors before they serve.
///
/// For each coupon: load its Redis snapshot and check it (checksum and
/// format, written under the epoch before `epochs[coupon]`, for this Kafka
/// log, in the coupon's partition, at a position Kafka still holds, not
/// far behind the writers). A good snapshot plus the coupon's records in
/// Kafka from its position on is the state. Otherwise (absent, corrupt, stale, unreachable Redis) the state is
/// rebuilt from MySQL's rows plus the records past the writers' offsets.
/// Either way the stock comes from the issuances, never from the total.
/// A good snapshot of a lost log adds what MySQL and the log lack of it to
/// `unlogged`, to be published again (`of_lost_log`, `adopt_held`).
///
/// Records before the writers' offsets are committed rows (ISSUED), records
/// after them are only in Kafka (ACCEPTED).
///
/// `snapshots` may be null (Redis down): every coupon is rebuilt.
caf::expected<std::vector<recovered_stock>>
recover_stock(const std::vector<coupon>& coupons,
              const std::map<coupon_id_t, uint64_t>& epochs,
              mysql_store& store, kafka_log& scanner,
              snapshot_store* snapshots, node_metrics& metrics,
              int timeout_ms);

} // namespace dibs
