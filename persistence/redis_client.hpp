#pragma once

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "persistence/error.hpp"

struct redisContext;

namespace dibs {

struct redis_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  int timeout_ms = 500;
};

/// One hiredis connection. Not thread-safe. In this version the node only
/// checks Redis for readiness; stock-actor snapshots build on this client.
class redis_client {
public:
  static caf::expected<std::unique_ptr<redis_client>>
  connect(const redis_settings& settings);

  ~redis_client();

  /// PING; an error when Redis does not answer PONG.
  caf::expected<void> ping();

private:
  redis_client() = default;
  struct context_deleter {
    void operator()(redisContext* ctx) const;
  };
  std::unique_ptr<redisContext, context_deleter> ctx_;
};

} // namespace dibs
