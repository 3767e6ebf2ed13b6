#pragma once

// The members of `basic_http_session`: included by http_session.cpp, which
// compiles them for the node's TCP stream, and by the tests that run a
// session on another stream.

#include "gateway/http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>

#include "gateway/http_errors.hpp"

namespace dibs {

template <class Stream>
basic_http_session<Stream>::basic_http_session(Stream&& stream,
                                               session_context& ctx)
  : stream_(std::move(stream)), ctx_(ctx),
    deadline_(stream_.get_executor()) {
  ops::prepare(stream_);
  // Unread bytes never exceed a header block and a body: a longer line (a
  // chunk header, say) fails the read instead of growing the buffer.
  buffer_.max_size(ctx_.header_limit_bytes + ctx_.body_limit_bytes + 1024);
  // A header block fits in the first read.
  buffer_.reserve(ctx_.header_limit_bytes);
  chunk_header_check_ = check_chunk_header;
  client_ = ops::peer(stream_);
  auto open = ++ctx_.connections;
  over_capacity_ = static_cast<size_t>(open) > ctx_.max_connections;
}

template <class Stream>
basic_http_session<Stream>::~basic_http_session() {
  --ctx_.connections;
}

template <class Stream>
void basic_http_session<Stream>::run() {
  // Start on the session's io thread.
  boost::asio::dispatch(stream_.get_executor(),
                        [self = this->shared_from_this()] {
                          ops::watch(self->stream_, self);
                          if (self->over_capacity_)
                            return self->refuse(
                              ec::overloaded,
                              "too many connections, retry later");
                          self->do_read();
                        });
}

template <class Stream>
void basic_http_session<Stream>::do_read() {
  parser_.emplace();
  parser_->body_limit(ctx_.body_limit_bytes);
  parser_->header_limit(static_cast<uint32_t>(ctx_.header_limit_bytes));
  parser_->on_chunk_header(chunk_header_check_);
  // The header is checked before any of the body is parsed.
  parser_->eager(false);
  header_checked_ = false;
  head_ = false;
  if (buffer_.size() > 0)
    return start_request(); // The next request came with the last one.
  // Waits for the next request's first bytes, for the idle timeout.
  expire_in(ctx_.idle_timeout);
  read_more();
}

template <class Stream>
void basic_http_session<Stream>::start_request() {
  // From the request's first byte, its header has this long.
  expire_in(ctx_.header_timeout);
  parse();
}

template <class Stream>
void basic_http_session<Stream>::read_more() {
  namespace http = boost::beast::http;
  // What Beast's read algorithms read at most at a time.
  auto size = boost::beast::read_size(buffer_, 65536);
  if (size == 0)
    return on_read(http::error::buffer_overflow, 0);
  stream_.async_read_some(
    buffer_.prepare(size),
    [self = this->shared_from_this()](boost::beast::error_code err,
                                      size_t bytes) {
      self->buffer_.commit(bytes);
      self->on_readable(err);
    });
}

template <class Stream>
void basic_http_session<Stream>::on_readable(boost::beast::error_code err) {
  namespace http = boost::beast::http;
  if (err == boost::asio::error::eof) {
    // As Beast's read: the end of a request cut short is a malformed
    // request, the end between requests the end of the stream.
    if (!parser_->got_some())
      return on_read(http::error::end_of_stream, 0);
    err = {};
    parser_->put_eof(err);
    return on_read(err, 0);
  }
  if (!parser_->got_some()) {
    if (err)
      return do_close(); // Idle for too long, or the client left.
    return start_request();
  }
  if (err)
    return on_read(err, 0);
  parse();
}

template <class Stream>
void basic_http_session<Stream>::parse() {
  // Beast's parser fed from the session's buffer: the request is usually
  // whole in one read, and parsing it here saves the composed read
  // operations (their work guards, and the post that completes each one).
  namespace http = boost::beast::http;
  for (;;) {
    boost::beast::error_code err;
    auto used = parser_->put(buffer_.data(), err);
    buffer_.consume(used);
    if (err && err != http::error::need_more)
      return on_read(err, 0);
    if (parser_->is_header_done() && !header_checked_) {
      header_checked_ = true;
      head_ = parser_->get().method() == http::verb::head;
      if (auto r = check_framing(parser_->get(), ctx_.framing))
        return refuse(r->code, std::move(r->message));
      if (parser_->chunked())
        header_fields_ = field_count();
      if (!parser_->is_done()) {
        // From the whole header, the body has this long.
        expire_in(ctx_.body_timeout);
        parser_->eager(true);
      }
    }
    // Beast adds a chunked body's trailer fields to the header, past the
    // framing check: a Connection or a token arriving there is not taken.
    if (parser_->is_done() && parser_->chunked()
        && field_count() != header_fields_)
      return refuse(ec::bad_request, "trailer fields are not taken");
    if (parser_->is_done())
      return on_read({}, 0);
    if (err == http::error::need_more || used == 0)
      return read_more();
  }
}

template <class Stream>
void basic_http_session<Stream>::refuse(ec code, std::string message) {
  if (ctx_.on_refused)
    ctx_.on_refused(code);
  version_ = 11;
  do_write(error_response(code, std::move(message)), true);
}

template <class Stream>
void basic_http_session<Stream>::on_read(boost::beast::error_code err,
                                         size_t) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  namespace net = boost::asio;
  if (err == http::error::end_of_stream
      || err == net::error::connection_reset || err == net::error::eof
      || err == net::error::operation_aborted
      || err == net::error::broken_pipe)
    // Gone, or too slow (closed at its deadline): nothing to answer.
    return do_close();
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
  // Waiting for the actors is not the client's time.
  expiry_ = clock::time_point::max();
  auto req = parser_->release();
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  if (static_cast<size_t>(ctx_.in_flight.load()) >= ctx_.max_in_flight)
    return do_write(error_response(ec::overloaded,
                                           "the node is saturated, retry "
                                           "later"),
                    !keep_alive_);
  ++ctx_.in_flight;
  auto seq = ++seq_;
  answered_ = false;
  ctx_.handle(req, client_, ctx_.on,
              [self = this->shared_from_this(), seq](http_response res) {
                // Called from a CAF thread, or inline for an answer that
                // needed no actor: continue on the session's thread, at
                // once when already on it.
                net::dispatch(self->stream_.get_executor(),
                              [self, seq, res = std::move(res)]() mutable {
                                self->on_answer(seq, std::move(res));
                              });
              });
  if (answered_)
    return; // Answered inline: nothing to wait for.
  deadline_.expires_after(ctx_.answer_timeout);
  deadline_.async_wait(beast::bind_front_handler(
    &basic_http_session::on_deadline, this->shared_from_this(), seq));
}

template <class Stream>
void basic_http_session<Stream>::on_answer(uint64_t seq, http_response res) {
  if (seq != seq_ || answered_)
    return; // The deadline answered already.
  answered_ = true;
  deadline_.cancel();
  --ctx_.in_flight;
  do_write(std::move(res), !keep_alive_);
}

template <class Stream>
void basic_http_session<Stream>::on_deadline(uint64_t seq,
                                             boost::beast::error_code err) {
  if (err || seq != seq_ || answered_)
    return;
  // The request went to an actor and may yet take effect there: not a
  // "no", an unknown outcome (a retry learns it).
  on_answer(seq, error_response(
                   ec::outcome_unknown, default_message(ec::outcome_unknown)));
}

template <class Stream>
void basic_http_session<Stream>::do_write(http_response res, bool close) {
  res.version(version_);
  res.keep_alive(!close);
  render_answer(res, out_, !head_);
  expire_in(ctx_.body_timeout);
  boost::asio::async_write(
    stream_, boost::asio::buffer(out_),
    boost::beast::bind_front_handler(&basic_http_session::on_write,
                                     this->shared_from_this(), close));
}

template <class Stream>
void basic_http_session<Stream>::on_write(bool close,
                                          boost::beast::error_code err,
                                          size_t) {
  if (err || close)
    return do_close();
  do_read();
}

template <class Stream>
void basic_http_session<Stream>::expire_in(std::chrono::milliseconds d) {
  expiry_ = clock::now() + d;
}

template <class Stream>
void basic_http_session<Stream>::check_deadline(clock::time_point now) {
  if (now < expiry_)
    return;
  // The operation waiting on the stream ends aborted and closes the
  // session, as a client that left does.
  expiry_ = clock::time_point::max();
  ops::close(stream_);
}

template <class Stream>
void basic_http_session<Stream>::do_close() {
  ops::close(stream_);
}

} // namespace dibs
