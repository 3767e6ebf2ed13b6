#pragma once

#include <map>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs {

/// Where the writers stand in each partition of the current log: the offset
/// stored in MySQL for this log id, 0 where none is.
caf::expected<std::map<int32_t, int64_t>>
stored_positions(mysql_store& store, kafka_log& scanner, int timeout_ms);

/// How many records lie between the writers' stored offsets and the high
/// watermarks, per partition: the writers' lag, 0 once they drained Kafka.
caf::expected<std::map<int32_t, int64_t>>
unwritten_by_partition(mysql_store& store, kafka_log& scanner, int timeout_ms);

/// The sum of `unwritten_by_partition`.
caf::expected<int64_t> unwritten_count(mysql_store& store, kafka_log& scanner,
                                       int timeout_ms);

/// The distinct issuance ids in the whole topic, per coupon.
caf::expected<std::map<coupon_id_t, size_t>>
distinct_events_per_coupon(kafka_log& scanner, int timeout_ms);

} // namespace dibs
