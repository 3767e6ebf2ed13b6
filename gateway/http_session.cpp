#include "gateway/http_session_impl.hpp"

#include <algorithm>
#include <vector>

#include <boost/asio/execution_context.hpp>

namespace dibs {

namespace {

/// Checks the deadlines of an io thread's sessions, every
/// `deadline_check_period` (the shortest of its sessions'): a deadline is a
/// time the session writes, not a timer armed and cancelled around each
/// read and write (Beast's stream did that: two timers per request on the
/// sold-out path, each with its cancelled handler to run). A slow client is
/// cut about one period past its deadline at most (a sweep also waits
/// behind the io thread's other work).
class session_sweeper : public boost::asio::execution_context::service {
public:
  static boost::asio::execution_context::id id;

  explicit session_sweeper(boost::asio::execution_context& ctx)
    : service(ctx),
      timer_(static_cast<boost::asio::io_context&>(ctx).get_executor()) {
    // Empty.
  }

  /// Called on the io thread only, as the sweep runs.
  void add(std::weak_ptr<http_session> s, std::chrono::milliseconds period) {
    sessions_.push_back(std::move(s));
    every_ = std::min(every_, period);
    if (!armed_)
      arm();
  }

private:
  void shutdown() override {
    sessions_.clear();
    boost::system::error_code ignored;
    timer_.cancel(ignored);
  }

  void arm() {
    armed_ = true;
    timer_.expires_after(every_);
    timer_.async_wait([this](boost::system::error_code err) {
      armed_ = false;
      if (!err)
        sweep();
    });
  }

  void sweep() {
    auto now = std::chrono::steady_clock::now();
    // Keeps the living sessions in place; closing one only cancels its
    // operations (their handlers run later), so nothing else runs here.
    size_t kept = 0;
    for (auto& w : sessions_) {
      auto s = w.lock();
      if (!s)
        continue;
      if (&sessions_[kept] != &w)
        sessions_[kept] = std::move(w);
      ++kept;
      s->check_deadline(now);
    }
    sessions_.resize(kept);
    if (!sessions_.empty())
      arm();
  }

  boost::asio::steady_timer timer_;
  std::vector<std::weak_ptr<http_session>> sessions_;
  bool armed_ = false;
  std::chrono::milliseconds every_{100};
};

boost::asio::execution_context::id session_sweeper::id;

} // namespace

std::chrono::milliseconds deadline_check_period(const session_context& ctx) {
  auto shortest = std::min({ctx.idle_timeout, ctx.header_timeout,
                            ctx.body_timeout});
  return std::clamp(shortest / 10, std::chrono::milliseconds{1},
                    std::chrono::milliseconds{100});
}

template <>
struct session_stream<http_stream> {
  static void prepare(http_stream& s) {
    // A socket the peer already reset may refuse it (EINVAL on BSDs): an
    // exception here would leave the io thread's run().
    boost::beast::error_code ignored;
    s.set_option(boost::asio::ip::tcp::no_delay{true}, ignored);
  }

  static boost::asio::ip::address peer(http_stream& s) {
    boost::beast::error_code ignored;
    return s.remote_endpoint(ignored).address();
  }

  static void watch(http_stream& s,
                    const std::shared_ptr<http_session>& session) {
    boost::asio::use_service<session_sweeper>(s.get_executor().context())
      .add(session, session->deadline_check_period());
  }

  static void close(http_stream& s) {
    boost::beast::error_code ignored;
    s.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    s.close(ignored);
  }
};

template class basic_http_session<http_stream>;

} // namespace dibs
