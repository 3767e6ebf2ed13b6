#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "gateway/routes.hpp"

namespace dibs {

/// What every session shares: the routes, the limits, the in-flight count.
struct session_context {
  routes& api;
  size_t body_limit_bytes;
  size_t header_limit_bytes;
  std::chrono::milliseconds read_timeout;
  /// A request no actor answered by then gets 503 (an actor died, a
  /// dependency hangs): never a hang.
  std::chrono::milliseconds answer_timeout;
  /// Requests read and not yet answered, for graceful shutdown.
  std::atomic<int64_t> in_flight{0};
};

/// Each io thread runs an io_context of its own and a session lives on one
/// of them, so its handlers never run concurrently: no strands, and a
/// concrete executor type instead of a type-erased one.
using io_executor = boost::asio::io_context::executor_type;
using tcp_socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                                    io_executor>;
using http_stream = boost::beast::basic_stream<boost::asio::ip::tcp,
                                               io_executor>;

/// One HTTP/1.1 keep-alive connection: read a request, route it, write the
/// answer when it comes back, read the next one. A framing error or a limit
/// answers once and closes the connection.
class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(tcp_socket&& socket, session_context& ctx);

  void run();

private:
  void do_read();
  void on_read(boost::beast::error_code err, size_t bytes);
  void on_answer(uint64_t seq, http_response res);
  void on_deadline(uint64_t seq, boost::beast::error_code err);
  void do_write(http_response res, bool close);
  void on_write(bool close, boost::beast::error_code err, size_t bytes);
  void do_close();

  http_stream stream_;
  boost::beast::flat_buffer buffer_;
  session_context& ctx_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>>
    parser_;
  boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
    io_executor>
    deadline_;
  /// Numbers the requests of this connection; an answer or a deadline for
  /// any but the current one is stale and ignored.
  uint64_t seq_ = 0;
  bool answered_ = true;
  /// The answer being written; kept alive until the write completes.
  http_response res_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
};

} // namespace dibs
