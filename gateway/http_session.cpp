#include "gateway/http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "gateway/http_errors.hpp"

namespace dibs {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

http_session::http_session(tcp_socket&& socket, session_context& ctx)
  : stream_(std::move(socket)), ctx_(ctx), deadline_(stream_.get_executor()) {
  stream_.socket().set_option(net::ip::tcp::no_delay{true});
  // Unread bytes never exceed a header block and a body: a longer line (a
  // chunk header, say) fails the read instead of growing the buffer.
  buffer_.max_size(ctx_.header_limit_bytes + ctx_.body_limit_bytes + 1024);
  chunk_header_check_ = check_chunk_header;
  beast::error_code ignored;
  client_ = stream_.socket().remote_endpoint(ignored).address();
  auto open = ++ctx_.connections;
  over_capacity_ = static_cast<size_t>(open) > ctx_.max_connections;
}

http_session::~http_session() {
  --ctx_.connections;
}

void http_session::run() {
  // Start on the session's io thread.
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->over_capacity_)
      return self->refuse(ec::overloaded, "too many connections, retry later");
    self->do_read();
  });
}

void http_session::do_read() {
  parser_.emplace();
  parser_->body_limit(ctx_.body_limit_bytes);
  parser_->header_limit(static_cast<uint32_t>(ctx_.header_limit_bytes));
  parser_->on_chunk_header(chunk_header_check_);
  if (buffer_.size() > 0)
    return read_header();
  // Waits for the next request's first bytes, for the idle timeout.
  stream_.expires_after(ctx_.idle_timeout);
  stream_.async_read_some(
    buffer_.prepare(ctx_.header_limit_bytes),
    [self = shared_from_this()](beast::error_code err, size_t bytes) {
      self->buffer_.commit(bytes);
      self->on_readable(err);
    });
}

void http_session::on_readable(beast::error_code err) {
  if (err)
    return do_close(); // Idle for too long, or the client left.
  read_header();
}

void http_session::read_header() {
  stream_.expires_after(ctx_.header_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&http_session::on_header,
                                                    shared_from_this()));
}

void http_session::on_header(beast::error_code err, size_t bytes) {
  if (err)
    return on_read(err, bytes);
  if (auto r = check_framing(parser_->get(), ctx_.framing))
    return refuse(r->code, std::move(r->message));
  if (parser_->is_done())
    return on_read({}, 0);
  stream_.expires_after(ctx_.body_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&http_session::on_read,
                                             shared_from_this()));
}

void http_session::refuse(ec code, std::string message) {
  version_ = 11;
  do_write(routes::error_response(code, std::move(message)), true);
}

void http_session::on_read(beast::error_code err, size_t) {
  if (err == http::error::end_of_stream || err == beast::error::timeout
      || err == net::error::connection_reset || err == net::error::eof
      || err == net::error::operation_aborted
      || err == net::error::broken_pipe)
    return do_close(); // Gone, or too slow: nothing to answer.
  if (err == http::error::body_limit)
    return refuse(ec::body_too_large, "the request body is too large");
  if (err == http::error::header_limit) {
    // Beast parses the request line as soon as it is whole: without a
    // target, the request line alone was too long.
    if (parser_->get().target().empty())
      return refuse(ec::uri_too_long, "the request line is too long");
    return refuse(ec::headers_too_large, "the request headers are too large");
  }
  if (err)
    // A framing error: what follows on this connection cannot be trusted.
    return refuse(ec::bad_request, "malformed request: " + err.message());
  stream_.expires_never(); // Waiting for the actors is not the client's time.
  auto req = parser_->release();
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  if (static_cast<size_t>(ctx_.in_flight.load()) >= ctx_.max_in_flight)
    return do_write(routes::error_response(ec::overloaded,
                                           "the node is saturated, retry "
                                           "later"),
                    !keep_alive_);
  ++ctx_.in_flight;
  auto seq = ++seq_;
  answered_ = false;
  deadline_.expires_after(ctx_.answer_timeout);
  deadline_.async_wait(beast::bind_front_handler(&http_session::on_deadline,
                                                 shared_from_this(), seq));
  ctx_.api.handle(req, client_, ctx_.on, [self = shared_from_this(), seq](
                                  http_response res) {
    // Called from a CAF thread or inline: continue on the session's thread.
    net::post(self->stream_.get_executor(),
              [self, seq, res = std::move(res)]() mutable {
                self->on_answer(seq, std::move(res));
              });
  });
}

void http_session::on_answer(uint64_t seq, http_response res) {
  if (seq != seq_ || answered_)
    return; // The deadline answered already.
  answered_ = true;
  deadline_.cancel();
  --ctx_.in_flight;
  do_write(std::move(res), !keep_alive_);
}

void http_session::on_deadline(uint64_t seq, beast::error_code err) {
  if (err || seq != seq_ || answered_)
    return;
  // The request went to an actor and may yet take effect there: not a
  // "no", an unknown outcome (a retry learns it).
  on_answer(seq, routes::error_response(
                  ec::outcome_unknown, default_message(ec::outcome_unknown)));
}

void http_session::do_write(http_response res, bool close) {
  res.version(version_);
  res.keep_alive(!close);
  res_ = std::move(res);
  stream_.expires_after(ctx_.body_timeout);
  http::async_write(stream_, res_,
                    beast::bind_front_handler(&http_session::on_write,
                                              shared_from_this(), close));
}

void http_session::on_write(bool close, beast::error_code err, size_t) {
  res_ = {};
  if (err || close)
    return do_close();
  do_read();
}

void http_session::do_close() {
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  stream_.close();
}

} // namespace dibs
