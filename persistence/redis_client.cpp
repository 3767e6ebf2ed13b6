#include "persistence/redis_client.hpp"

#include <hiredis/hiredis.h>

namespace dibs {

void redis_client::context_deleter::operator()(redisContext* ctx) const {
  redisFree(ctx);
}

caf::expected<std::unique_ptr<redis_client>>
redis_client::connect(const redis_settings& s) {
  timeval tv{s.timeout_ms / 1000, (s.timeout_ms % 1000) * 1000};
  std::unique_ptr<redis_client> self{new redis_client};
  self->ctx_.reset(redisConnectWithTimeout(s.host.c_str(), s.port, tv));
  if (!self->ctx_)
    return caf::make_error(ec::storage_failure, "redis: out of memory");
  if (self->ctx_->err)
    return caf::make_error(ec::storage_failure,
                           std::string{"redis connect: "} + self->ctx_->errstr);
  redisSetTimeout(self->ctx_.get(), tv);
  return self;
}

redis_client::~redis_client() = default;

caf::expected<void> redis_client::ping() {
  auto* raw = static_cast<redisReply*>(redisCommand(ctx_.get(), "PING"));
  if (!raw)
    return caf::make_error(ec::storage_failure,
                           std::string{"redis ping: "} + ctx_->errstr);
  std::unique_ptr<redisReply, void (*)(void*)> reply{raw, freeReplyObject};
  if (reply->type != REDIS_REPLY_STATUS || std::string{reply->str} != "PONG")
    return caf::make_error(ec::storage_failure, "redis ping: unexpected reply");
  return caf::unit;
}

} // namespace dibs
