#pragma once

// How issuances are stored in Kafka: the record's encoding, the log's
// identity and positions in it.

#include <cstdint>
#include <optional>
#include <string>

#include "core/domain.hpp"

namespace dibs {

/// Which log the writers read: the topic and the identity of the Kafka
/// cluster that holds it. Another cluster behind the same address (a broker
/// wiped and formatted anew) is a new log: offsets stored for another log id
/// mean nothing there.
struct log_ref {
  std::string topic;
  std::string log_id;
};

/// Where a partition of the issuance topic was read up to: the next offset.
struct partition_offset {
  int32_t partition = 0;
  int64_t next_offset = 0;
};

/// Serializes an event as the JSON value of its Kafka record.
std::string encode(const issuance_event& x);

/// Parses a Kafka record value; nullopt when it is not an issuance event.
std::optional<issuance_event> decode_issuance(const void* data, size_t size);

} // namespace dibs
