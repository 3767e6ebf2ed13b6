#pragma once

#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/http_session.hpp"

namespace dibs {

/// Accepts connections on the first io_context and starts an
/// `http_session` for each, handing them to the io_contexts in turn.
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(std::vector<boost::asio::io_context*> iocs, session_context& ctx);

  /// Binds and listens; an error if the address is taken or invalid.
  boost::beast::error_code open(const boost::asio::ip::tcp::endpoint& ep);

  void run();

  /// Stops accepting; established sessions go on.
  void stop();

private:
  void do_accept();
  void on_accept(boost::beast::error_code err, tcp_socket socket);

  std::vector<boost::asio::io_context*> iocs_;
  size_t next_ = 0;
  boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, io_executor>
    acceptor_;
  /// Paces accepting after an error such as running out of descriptors,
  /// which would otherwise repeat at once, forever.
  boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
    io_executor>
    backoff_;
  session_context& ctx_;
};

} // namespace dibs
