#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>

#include "gateway/routes.hpp"

namespace dibs {

/// What every session shares: the routes, the limits, the in-flight count.
struct session_context {
  routes& api;
  size_t body_limit_bytes;
  size_t header_limit_bytes;
  std::chrono::milliseconds read_timeout;
  /// Requests read and not yet answered, for graceful shutdown.
  std::atomic<int64_t> in_flight{0};
};

/// One HTTP/1.1 keep-alive connection: read a request, route it, write the
/// answer when it comes back, read the next one. A framing error or a limit
/// answers once and closes the connection.
class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(boost::asio::ip::tcp::socket&& socket, session_context& ctx);

  void run();

private:
  void do_read();
  void on_read(boost::beast::error_code err, size_t bytes);
  void on_answer(http_response res);
  void do_write(http_response res, bool close);
  void on_write(bool close, boost::beast::error_code err, size_t bytes);
  void do_close();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  session_context& ctx_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>>
    parser_;
  /// The answer being written; kept alive until the write completes.
  std::shared_ptr<http_response> res_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
};

} // namespace dibs
