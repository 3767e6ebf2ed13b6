#include "gateway/http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace dibs {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

http_session::http_session(tcp_socket&& socket, session_context& ctx)
  : stream_(std::move(socket)), ctx_(ctx), deadline_(stream_.get_executor()) {
  stream_.socket().set_option(net::ip::tcp::no_delay{true});
}

void http_session::run() {
  // Start on the session's io thread.
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&http_session::do_read,
                                          shared_from_this()));
}

void http_session::do_read() {
  parser_.emplace();
  parser_->body_limit(ctx_.body_limit_bytes);
  parser_->header_limit(static_cast<uint32_t>(ctx_.header_limit_bytes));
  stream_.expires_after(ctx_.read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&http_session::on_read,
                                             shared_from_this()));
}

void http_session::on_read(beast::error_code err, size_t) {
  if (err == http::error::end_of_stream || err == beast::error::timeout
      || err == net::error::connection_reset || err == net::error::eof)
    return do_close();
  if (err) {
    // A framing or limit error: answer once, then close, since what follows
    // on this connection cannot be trusted.
    ec code = ec::bad_request;
    std::string message = "malformed request: " + err.message();
    if (err == http::error::body_limit) {
      code = ec::body_too_large;
      message = "the request body is too large";
    }
    auto res = routes::error_response(code, message);
    if (err == http::error::header_limit) {
      res.result(http::status::request_header_fields_too_large);
      res.body() = R"({"code":"HEADERS_TOO_LARGE","message":"the request )"
                   R"(headers are too large"})";
      res.prepare_payload();
    }
    if (err == net::error::operation_aborted || err == net::error::broken_pipe)
      return do_close();
    version_ = 11;
    return do_write(std::move(res), true);
  }
  stream_.expires_never(); // Waiting for the actors is not the client's time.
  auto req = parser_->release();
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  ++ctx_.in_flight;
  auto seq = ++seq_;
  answered_ = false;
  deadline_.expires_after(ctx_.answer_timeout);
  deadline_.async_wait(beast::bind_front_handler(&http_session::on_deadline,
                                                 shared_from_this(), seq));
  ctx_.api.handle(req, [self = shared_from_this(), seq](http_response res) {
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
  on_answer(seq, routes::error_response(ec::unavailable,
                                        "no answer in time, retry later"));
}

void http_session::do_write(http_response res, bool close) {
  res.version(version_);
  res.keep_alive(!close);
  res_ = std::move(res);
  stream_.expires_after(ctx_.read_timeout);
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
