#include "gateway/listener.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <spdlog/spdlog.h>

namespace dibs {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

listener::listener(std::vector<net::io_context*> iocs, session_context& ctx)
  : iocs_(std::move(iocs)), acceptor_(iocs_.front()->get_executor()),
    backoff_(iocs_.front()->get_executor()), ctx_(ctx) {
  // Empty.
}

beast::error_code listener::open(const tcp::endpoint& ep) {
  beast::error_code err;
  acceptor_.open(ep.protocol(), err);
  if (!err)
    acceptor_.set_option(net::socket_base::reuse_address(true), err);
  if (!err)
    acceptor_.bind(ep, err);
  if (!err)
    acceptor_.listen(net::socket_base::max_listen_connections, err);
  return err;
}

void listener::run() {
  do_accept();
}

void listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor_.close(ignored);
    self->backoff_.cancel();
  });
}

void listener::do_accept() {
  auto& ioc = *iocs_[next_++ % iocs_.size()];
  acceptor_.async_accept(ioc.get_executor(),
                         beast::bind_front_handler(&listener::on_accept,
                                                   shared_from_this()));
}

void listener::on_accept(beast::error_code err, tcp_socket socket) {
  if (err == net::error::operation_aborted)
    return;
  if (err) {
    spdlog::warn("accept: {}", err.message());
    constexpr std::chrono::milliseconds accept_backoff{50};
    backoff_.expires_after(accept_backoff);
    backoff_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec)
        self->do_accept();
    });
    return;
  }
  std::make_shared<http_session>(http_stream{std::move(socket)}, ctx_)->run();
  do_accept();
}

} // namespace dibs
