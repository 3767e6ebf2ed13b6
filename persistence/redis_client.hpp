#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "core/error.hpp"

struct redisContext;

namespace dibs {

struct redis_settings {
  std::string host;
  uint16_t port = 0;
  int timeout_ms = 500;
};

/// One reply of Redis, copied out of hiredis. An error reply is a value of
/// kind `error`, not a failed call: the connection is still fine.
struct redis_value {
  enum kind_t : uint8_t { nil, integer, string, status, array, error };
  kind_t kind = nil;
  int64_t number = 0;
  /// The text of a string, status or error reply (binary-safe).
  std::string text;
  std::vector<redis_value> elements;
};

/// One hiredis connection. Not thread-safe. A failed call (timeout, lost
/// connection) leaves it broken: open a new one.
class redis_client {
public:
  /// One command, its arguments as binary-safe strings.
  using command_args = std::vector<std::string>;

  static caf::expected<std::unique_ptr<redis_client>>
  connect(const redis_settings& settings);

  ~redis_client();

  /// Sends every command at once, then reads every reply (one round trip).
  caf::expected<std::vector<redis_value>>
  pipeline(const std::vector<command_args>& commands);

  /// One command, one reply.
  caf::expected<redis_value> command(const command_args& args);

  /// A call failed at the connection level; this client is unusable.
  bool broken() const;

private:
  redis_client() = default;
  struct context_deleter {
    void operator()(redisContext* ctx) const;
  };
  std::unique_ptr<redisContext, context_deleter> ctx_;
};

} // namespace dibs
