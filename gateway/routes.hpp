#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <caf/actor.hpp>

#include "actors/node.hpp"
#include "gateway/metrics.hpp"
#include "gateway/rate_limiter.hpp"

namespace dibs {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response
  = boost::beast::http::response<boost::beast::http::string_body>;

/// Answers a request, possibly later and from another thread.
using respond_fn = std::function<void(http_response)>;

/// The v1 API: parses and validates each request, sends it to the actor
/// that owns the answer with a `reply_to` continuation (no actor hop in
/// between), and renders the answer as JSON.
class routes {
public:
  routes(node& n, std::string admin_token, gateway_metrics& metrics);

  /// Routes one request; `done` is called at most once, from any thread. An
  /// actor that dies first never calls it: the session's deadline answers.
  void handle(const http_request& req, const boost::asio::ip::address& client,
              exposure on, respond_fn done);

  /// Renders an error answer: `{"code", "message"}` plus Retry-After on 503.
  static http_response error_response(ec code, std::string message);

private:
  void create_coupon(const http_request& req, respond_fn done);
  void get_coupon(coupon_id_t id, respond_fn done);
  void issue(coupon_id_t id, const http_request& req, bool wait,
             const boost::asio::ip::address& client, std::string request_id,
             respond_fn done);
  void issuance_status(coupon_id_t id, user_id_t user, respond_fn done);
  void user_coupons(user_id_t user, respond_fn done);
  void readyz(respond_fn done);
  void inject_fault(const http_request& req, const respond_fn& done);
  /// /console/[{file}]: the console page's files.
  void console(const std::vector<std::string_view>& seg,
               const respond_fn& done);
  /// /admin/api/{area}[/{id}]: the introspection API (gateway/admin/).
  void introspect(const std::vector<std::string_view>& seg,
                  const respond_fn& done);

  /// The answer when no stock actor owns a coupon id.
  http_response no_stock_actor(coupon_id_t id) const;

  /// Sends (atom, xs..., reply) to the coupon's stock actor, or (atom, id,
  /// xs..., reply) to the peer actor of its owner in a cluster. Answers at
  /// once when neither can take it: 503 for an owner that is down, the
  /// `no_stock_actor` answer here.
  template <class Atom, class Reply, class... Ts>
  void to_owner(coupon_id_t id, const respond_fn& done, Atom atom,
                Reply reply, Ts&&... xs);

  /// The request's `X-Request-Id` when it is a valid one
  /// (`is_request_id`), else a new one: 15 characters, unique per node.
  std::string request_id_of(const http_request& req);

  /// Checks the admin token: none on success, else unauthorized/forbidden.
  ec authorize(const http_request& req) const;

  node& node_;
  std::string admin_token_;
  gateway_metrics& metrics_;
  /// Issue requests per user id and per client address.
  rate_limiter user_limits_;
  rate_limiter address_limits_;
  /// Generated request ids: a random prefix per process, then a counter.
  std::string id_prefix_;
  std::atomic<uint64_t> next_id_{0};
};

} // namespace dibs
