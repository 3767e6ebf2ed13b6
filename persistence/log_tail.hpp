#pragma once

#include <vector>

#include <caf/expected.hpp>

#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs {

/// The issuance events in Kafka that the writers have not committed to MySQL
/// yet: every partition read from the offset stored in `writer_offsets` for
/// this log (from its start when none is) to its high watermark.
caf::expected<std::vector<issuance_event>>
unwritten_tail(mysql_store& store, kafka_log& scanner, int timeout_ms);

/// How many records lie between the writers' stored offsets and the high
/// watermarks: 0 once the writers have drained Kafka.
caf::expected<int64_t> unwritten_count(mysql_store& store, kafka_log& scanner,
                                       int timeout_ms);

} // namespace dibs
