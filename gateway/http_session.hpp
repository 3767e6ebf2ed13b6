#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "gateway/request_rules.hpp"
#include "gateway/answers.hpp"

namespace dibs {

/// Routes one request and answers it through `respond_fn`, at most once,
/// possibly later and from any thread (`routes::handle` in the node).
using request_handler
  = std::function<void(const http_request&, const boost::asio::ip::address&,
                       exposure, respond_fn)>;

/// What every session shares: the routes, the limits, the counts.
struct session_context {
  request_handler handle;
  /// The routes this listener serves.
  exposure on;
  size_t body_limit_bytes;
  size_t header_limit_bytes;
  framing_limits framing;
  /// No request starts on a connection for this long: it is closed.
  std::chrono::milliseconds idle_timeout;
  /// From a request's first byte to its whole header, and from the header
  /// to the whole body; also the limit for the client to take an answer.
  std::chrono::milliseconds header_timeout;
  std::chrono::milliseconds body_timeout;
  /// A request no actor answered by then gets 503 (a dependency hangs):
  /// never a hang.
  std::chrono::milliseconds answer_timeout;
  size_t max_connections;
  size_t max_in_flight;
  /// Told the code of each answer the session gives itself before closing
  /// the connection: a framing error or a limit (400, 413, 414, 431, 505)
  /// or too many connections (503). Empty: not told.
  std::function<void(ec)> on_refused = {};
  /// Requests read and not yet answered (overload, graceful shutdown).
  std::atomic<int64_t> in_flight{0};
  /// Open sessions.
  std::atomic<int64_t> connections{0};
};

/// Each io thread runs an io_context of its own and a session lives on one
/// of them, so its handlers never run concurrently: no strands, and a
/// concrete executor type instead of a type-erased one.
using io_executor = boost::asio::io_context::executor_type;
using tcp_socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                                    io_executor>;
/// A plain socket: the session keeps its deadlines itself (the sweeper),
/// so Beast's `basic_stream` (its timeout bookkeeping on every read and
/// write) has nothing to do.
using http_stream = tcp_socket;

/// How often a sweeper checks the deadlines of sessions under `ctx`: ten
/// times a second, or ten times within the shortest of its idle, header
/// and body timeouts when that is under a second (no more often than once a
/// millisecond), so a client is cut within about a tenth of its timeout.
std::chrono::milliseconds deadline_check_period(const session_context& ctx);

/// What a session does to its stream besides reading and writing: set it
/// up, tell the peer's address, have its deadline watched (`watch`), close
/// it. Specialized for `http_stream` in http_session.cpp, where a sweeper
/// per io thread checks its sessions' deadlines (`deadline_check_period`);
/// tests specialize it for Beast's test stream.
template <class Stream>
struct session_stream;

template <>
struct session_stream<http_stream>;

/// One HTTP/1.1 keep-alive connection: wait for a request (idle timeout),
/// read its header (header timeout), check its framing, read its body (body
/// timeout), route it, write the answer when it comes back, read the next
/// one. A framing error or a limit answers once and closes the connection,
/// so nothing behind it on the connection runs.
///
/// A template on the stream only so tests can run it on Beast's test
/// stream; the node runs `http_session`, compiled once in http_session.cpp.
template <class Stream>
class basic_http_session
  : public std::enable_shared_from_this<basic_http_session<Stream>> {
public:
  basic_http_session(Stream&& stream, session_context& ctx);

  ~basic_http_session();

  void run();

  using clock = std::chrono::steady_clock;

  /// Closes the connection when the current deadline (idle, header, body,
  /// or the client taking its answer) has passed; the operation waiting on
  /// the stream then ends aborted. Called on the session's io thread.
  void check_deadline(clock::time_point now);

  /// `deadline_check_period` of the session's context.
  std::chrono::milliseconds deadline_check_period() const {
    return dibs::deadline_check_period(ctx_);
  }

private:
  using ops = session_stream<Stream>;

  void do_read();
  /// A request's first bytes are here: its header deadline starts.
  void start_request();
  /// Reads what the stream has, then parses it.
  void read_more();
  void on_readable(boost::beast::error_code err);
  /// Feeds the parser what the buffer holds: checks the framing once the
  /// header is whole, answers once the request is, reads on otherwise.
  void parse();
  void on_read(boost::beast::error_code err, size_t bytes);
  /// Answers a framing or limit error and closes.
  void refuse(ec code, std::string message);
  void on_answer(uint64_t seq, http_response res);
  void on_deadline(uint64_t seq, boost::beast::error_code err);
  void do_write(http_response res, bool close);
  void on_write(bool close, boost::beast::error_code err, size_t bytes);
  void do_close();
  /// The connection must make progress within `d`.
  void expire_in(std::chrono::milliseconds d);

  Stream stream_;
  boost::beast::flat_buffer buffer_;
  session_context& ctx_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>>
    parser_;
  boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
    io_executor>
    deadline_;
  /// The connection is closed past this (`check_deadline`); never while
  /// an actor holds the request (the answer deadline is `deadline_`).
  clock::time_point expiry_ = clock::time_point::max();
  /// Numbers the requests of this connection; an answer or a deadline for
  /// any but the current one is stale and ignored.
  uint64_t seq_ = 0;
  bool answered_ = true;
  /// The current request's header has passed `check_framing`.
  bool header_checked_ = false;
  /// A chunked request's fields when its header was checked.
  size_t header_fields_ = 0;
  size_t field_count() const {
    auto& fields = parser_->get();
    return static_cast<size_t>(std::distance(fields.begin(), fields.end()));
  }
  /// The answer being written, as bytes; kept until the write completes,
  /// and its capacity for the next answer.
  std::string out_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  /// The current request is a HEAD (known once its header is read): no
  /// answer to it has a body, a refusal's neither.
  bool head_ = false;
  /// `check_chunk_header`; Beast keeps a reference to it.
  std::function<void(std::uint64_t, boost::beast::string_view,
                     boost::beast::error_code&)>
    chunk_header_check_;
  /// The client's address, for per-address limits.
  boost::asio::ip::address client_;
  /// Past `max_connections`: answered 503 and closed.
  bool over_capacity_ = false;
};

using http_session = basic_http_session<http_stream>;

extern template class basic_http_session<http_stream>;

} // namespace dibs
