#include "gateway/routes.hpp"

#include <chrono>

namespace dibs {

namespace http = boost::beast::http;

routes::routes(node& n, std::string admin_token, gateway_metrics& metrics)
  : admin_token_(std::move(admin_token)), metrics_(metrics) {
  register_coupon_routes(table_, n);
  register_health_routes(table_, n);
  register_admin_routes(table_, n, metrics);
}

void routes::handle(const http_request& req,
                    const boost::asio::ip::address& client, exposure on,
                    respond_fn done) {
  auto m = match_route(req.method(),
                       {req.target().data(), req.target().size()}, on);
  auto started = std::chrono::steady_clock::now();
  auto given = req["X-Request-Id"];
  auto request_id = ids_.of({given.data(), given.size()});
  // Counts the answer under its route and tags it with the request id
  // before passing it on; answers may come later, from another thread.
  // Called once, on the path that answers: it takes `done` over. An actor
  // may answer, or drop the answer, after the routes are gone (the node
  // stopping): the answer refers to the metrics, which outlive the actors.
  auto counted = [metrics = &metrics_, r = m.r, &done, started, &request_id] {
    return [metrics, r, done = std::move(done), started,
            request_id](http_response res) {
      metrics->count(r, res.result_int(),
                      std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started));
      res.set("X-Request-Id", request_id);
      done(std::move(res));
    };
  };
  if (m.refused) {
    auto res = error_response(m.refused->code, std::move(m.refused->message));
    if (!m.allow.empty())
      res.set(http::field::allow, {m.allow.data(), m.allow.size()});
    return counted()(std::move(res));
  }
  auto& entry = table_[m.r];
  if (!entry.handle)
    return counted()(error_response(ec::not_found, "no such route"));
  if (entry.needs_admin_token) {
    auto field = req[http::field::authorization];
    auto code = check_admin_token({field.data(), field.size()}, admin_token_);
    if (code != ec::none)
      return counted()(
        error_response(code, code == ec::unauthorized ? "admin token required"
                                                      : "admin token rejected"));
  }
  entry.handle(request_context{req, m, client, request_id},
               answered_if_dropped(counted()));
}

} // namespace dibs
