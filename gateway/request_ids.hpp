#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace dibs {

/// The id each request is logged and answered under (`X-Request-Id`).
class request_ids {
public:
  /// Draws the node's random prefix.
  request_ids();

  /// `given` when it is a valid request id (`is_request_id`), else a new
  /// one: 15 characters, unique per node.
  std::string of(std::string_view given);

private:
  /// A random prefix per process, then a counter.
  std::string prefix_;
  std::atomic<uint64_t> next_{0};
};

} // namespace dibs
