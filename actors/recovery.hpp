#pragma once

#include <map>
#include <vector>

#include <caf/expected.hpp>

#include "actors/node_metrics.hpp"
#include "actors/stock_state.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"
#include "persistence/snapshot_store.hpp"

namespace dibs {

/// Rebuilds the state of stock actors before they serve.
///
/// For each coupon: load its Redis snapshot and check it (checksum and
/// format, written under the epoch before `epochs[coupon]`, for this Kafka
/// log, in the coupon's partition, at a position Kafka still holds). A good
/// snapshot plus the coupon's records in Kafka from its position on is the
/// state. Otherwise (absent, corrupt, stale, unreachable Redis) the state is
/// rebuilt from MySQL's rows plus the records past the writers' offsets.
/// Either way the stock comes from the issuances, never from the total.
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
