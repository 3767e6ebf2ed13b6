#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gateway/http_session.hpp"

namespace dibs {

/// Accepts connections and starts an `http_session` on its own strand for
/// each.
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(boost::asio::io_context& ioc, session_context& ctx);

  /// Binds and listens; an error if the address is taken or invalid.
  boost::beast::error_code open(const boost::asio::ip::tcp::endpoint& ep);

  void run();

  /// Stops accepting; established sessions go on.
  void stop();

private:
  void do_accept();
  void on_accept(boost::beast::error_code err,
                 boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  session_context& ctx_;
};

} // namespace dibs
