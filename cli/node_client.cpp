#include "cli/node_client.hpp"

#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "persistence/mysql_store.hpp"

namespace dibs::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct node_client::impl {
  target server;
  asio::io_context ioc;
  tcp::socket sock{ioc};
  beast::flat_buffer buf;

  void connect() {
    tcp::resolver resolver{ioc};
    asio::connect(sock, resolver.resolve(server.host,
                                         std::to_string(server.port)));
    sock.set_option(tcp::no_delay{true});
  }
};

node_client::node_client(target server, std::string admin_token)
  : impl_(std::make_unique<impl>()), admin_token_(std::move(admin_token)) {
  impl_->server = std::move(server);
}

node_client::~node_client() = default;

node_client::answer node_client::call(const std::string& method,
                                      const std::string& path,
                                      const nlohmann::json& body, bool admin,
                                      const std::string& idempotency_key) {
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, impl_->server.host);
  if (!body.is_null()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body.dump();
  }
  if (admin)
    req.set(http::field::authorization, "Bearer " + admin_token_);
  if (!idempotency_key.empty())
    req.set("Idempotency-Key", idempotency_key);
  req.prepare_payload();
  // A kept-alive connection the node closed meanwhile gets one more try.
  for (int attempt = 0;; ++attempt) {
    beast::error_code err;
    try {
      if (!impl_->sock.is_open())
        impl_->connect();
      http::write(impl_->sock, req);
      http::response<http::string_body> res;
      http::read(impl_->sock, impl_->buf, res);
      if (!res.keep_alive())
        impl_->sock.close(err);
      answer result;
      result.status = static_cast<int>(res.result_int());
      result.body = nlohmann::json::parse(res.body(), nullptr, false);
      return result;
    } catch (const boost::system::system_error& e) {
      impl_->sock.close(err);
      impl_->buf.clear();
      if (attempt > 0)
        throw std::runtime_error(fmt::format("{} {} on {}:{}: {}", method, path,
                                             impl_->server.host,
                                             impl_->server.port, e.what()));
    }
  }
}

uint32_t node_client::create_coupon(const std::string& name,
                                    int64_t total_quantity, int64_t discount) {
  auto res = call("POST", "/api/coupons",
                  {{"name", name},
                   {"discount", discount},
                   {"totalQuantity", total_quantity}},
                  true, mysql_store::new_token());
  if (res.status != 201 || !res.body.contains("couponId"))
    throw std::runtime_error(
      fmt::format("creating coupon {} answered {} {}", name, res.status,
                  res.body.dump()));
  return res.body["couponId"].get<uint32_t>();
}

nlohmann::json node_client::coupon(uint32_t id) {
  auto res = call("GET", fmt::format("/api/coupons/{}", id));
  if (res.status != 200)
    throw std::runtime_error(fmt::format("GET coupon {} answered {}", id,
                                         res.status));
  return res.body;
}

} // namespace dibs::load
