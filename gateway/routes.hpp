#pragma once

#include <array>
#include <functional>
#include <string>

#include <boost/asio/ip/address.hpp>

#include "actors/node.hpp"
#include "gateway/answers.hpp"
#include "gateway/metrics.hpp"
#include "gateway/request_ids.hpp"
#include "gateway/request_rules.hpp"

namespace dibs {

/// What a route's handler gets of a request.
struct request_context {
  const http_request& req;
  /// The route and what its path held.
  const route_match& match;
  const boost::asio::ip::address& client;
  const std::string& request_id;
};

/// Answers a request of its route; calls `done` at most once, from any
/// thread.
using route_handler = std::function<void(const request_context&, respond_fn)>;

/// Which handler answers each route, and whether it takes the admin token.
class route_table {
public:
  struct entry {
    route_handler handle;
    bool needs_admin_token = false;
  };

  void add(route r, route_handler handle, bool needs_admin_token = false) {
    entries_[static_cast<size_t>(r)] = {std::move(handle), needs_admin_token};
  }

  const entry& operator[](route r) const {
    return entries_[static_cast<size_t>(r)];
  }

private:
  std::array<entry, route_count> entries_;
};

// Each area registers its routes (gateway/<area>_routes.cpp).

/// The coupon API: create, read, issue, issuance status, a user's coupons.
void register_coupon_routes(route_table& table, node& n);

/// /healthz and /readyz.
void register_health_routes(route_table& table, node& n);

/// The introspection API, the console page, fault injection and /metrics.
void register_admin_routes(route_table& table, node& n,
                           gateway_metrics& metrics);

/// The gateway's front door: matches a request to its route
/// (`match_route`), refuses what the rules refuse, checks the admin token
/// where the route takes it, names the request (`X-Request-Id`), counts
/// the answer under its route, and hands the rest to the route's handler.
class routes {
public:
  routes(node& n, std::string admin_token, gateway_metrics& metrics);

  /// Routes one request; `done` is called at most once, from any thread. An
  /// actor that stops holding it drops the handler's continuation: that
  /// answers 503 OUTCOME_UNKNOWN then (`answered_if_dropped`); one that
  /// never answers nor drops it is left to the session's deadline.
  void handle(const http_request& req, const boost::asio::ip::address& client,
              exposure on, respond_fn done);

private:
  std::string admin_token_;
  gateway_metrics& metrics_;
  request_ids ids_;
  route_table table_;
};

} // namespace dibs
