#include "persistence/redis_client.hpp"

#include <hiredis/hiredis.h>

namespace dibs {

namespace {

redis_value copy_reply(const redisReply* r) {
  redis_value v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.kind = redis_value::integer;
      v.number = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      v.kind = r->type == REDIS_REPLY_STRING   ? redis_value::string
               : r->type == REDIS_REPLY_STATUS ? redis_value::status
                                               : redis_value::error;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.kind = redis_value::array;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i)
        v.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      break;
  }
  return v;
}

} // namespace

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

bool redis_client::broken() const {
  return ctx_->err != 0;
}

caf::expected<std::vector<redis_value>>
redis_client::pipeline(const std::vector<command_args>& commands) {
  auto fail = [this](const char* what) {
    return caf::make_error(ec::storage_failure,
                           std::string{"redis "} + what + ": " + ctx_->errstr);
  };
  if (broken())
    return fail("connection");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& cmd : commands) {
    argv.clear();
    lens.clear();
    for (auto& arg : cmd) {
      argv.push_back(arg.data());
      lens.push_back(arg.size());
    }
    if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()),
                               argv.data(), lens.data())
        != REDIS_OK)
      return fail("append");
  }
  std::vector<redis_value> result;
  result.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || !raw)
      return fail("reply");
    std::unique_ptr<redisReply, void (*)(void*)> reply{
      static_cast<redisReply*>(raw), freeReplyObject};
    result.push_back(copy_reply(reply.get()));
  }
  return result;
}

caf::expected<redis_value> redis_client::command(const command_args& args) {
  auto replies = pipeline({args});
  if (!replies)
    return std::move(replies.error());
  return std::move(replies->front());
}

} // namespace dibs
