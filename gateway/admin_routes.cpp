// The admin routes: the introspection API (gateway/admin/), the console
// page, fault injection and /metrics.

#include <functional>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "actors/fault_injection.hpp"
#include "gateway/admin/admin.hpp"
#include "gateway/metrics_page.hpp"
#include "gateway/routes.hpp"

namespace dibs {

namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

void ok_json(const respond_fn& done, const json& body) {
  auto res = json_response(http::status::ok, body);
  res.set(http::field::cache_control, "no-store");
  done(std::move(res));
}

/// /admin/api/{area}[/{id}].
void introspect(const node& n, const gateway_metrics& metrics,
                const std::vector<std::string_view>& seg,
                const respond_fn& done) {
  using area_fn = std::function<json(const node&, const gateway_metrics&)>;
  static const std::pair<std::string_view, area_fn> areas[] = {
    {"nodes", [](auto& n, auto&) { return admin::nodes(n); }},
    {"overview", [](auto& n, auto& m) { return admin::overview(n, m); }},
    {"stock", [](auto& n, auto&) { return admin::stock_list(n); }},
    {"writers", [](auto& n, auto&) { return admin::writers(n); }},
    {"supervision", [](auto& n, auto&) { return admin::supervision(n); }},
    {"producer", [](auto& n, auto&) { return admin::producer(n); }},
  };
  auto area = seg[2];
  if (seg.size() == 3)
    for (auto& [name, fn] : areas)
      if (name == area)
        return ok_json(done, fn(n, metrics));
  if (seg.size() == 4 && area == "stock") {
    auto id = parse_id(seg[3], max_coupon_id);
    if (!id)
      return done(error_response(ec::bad_request,
                                 "couponId must be a positive integer"));
    if (auto one = admin::stock_one(n, static_cast<coupon_id_t>(*id)))
      return ok_json(done, *one);
    return done(error_response(ec::coupon_not_found,
                               "no stock actor for this coupon here"));
  }
  done(error_response(ec::not_found, "no such introspection route"));
}

/// /console/[{file}]: the console page's files.
void console(const std::vector<std::string_view>& seg, const respond_fn& done) {
  auto asset = admin::console_asset(seg.size() == 1 || seg[1].empty()
                                      ? "index.html"
                                      : seg[1]);
  if (!asset)
    return done(error_response(ec::not_found, "no such file"));
  http_response res{http::status::ok, 11};
  res.set(http::field::content_type,
          boost::beast::string_view{asset->content_type.data(),
                                    asset->content_type.size()});
  res.set(http::field::cache_control, "no-store");
  res.body() = std::string{asset->body};
  res.prepare_payload();
  done(std::move(res));
}

/// POST /admin/faults: `{"fault": NAME, "couponId": ID}`.
void inject(node& n, const http_request& req, const respond_fn& done) {
  if (!n.cfg().node_fault_injection)
    return done(error_response(ec::forbidden, "fault injection is off "
                                              "(node.fault-injection)"));
  auto parsed = parse_object(req.body());
  auto* body = std::get_if<json>(&parsed);
  if (!body || !body->contains("fault") || !(*body)["fault"].is_string())
    return done(error_response(ec::bad_request,
                               "the body must be {\"fault\": NAME, "
                               "\"couponId\": ID}"));
  auto name = (*body)["fault"].get<std::string>();
  auto which = parse_fault(name);
  if (!which)
    return done(error_response(ec::bad_request, "unknown fault " + name));
  coupon_id_t coupon = 0;
  if (body->contains("couponId")) {
    auto v = get_int((*body)["couponId"], 1, max_coupon_id);
    if (!v)
      return done(error_response(ec::bad_request,
                                 "couponId must be a positive integer"));
    coupon = static_cast<coupon_id_t>(*v);
  }
  if (auto err = inject_fault(n, *which, coupon))
    return done(actor_error(err));
  spdlog::warn("fault injected: {} {}", name, coupon);
  done(json_response(http::status::accepted,
                     json{{"fault", name}, {"status", "INJECTED"}}));
}

} // namespace

void register_admin_routes(route_table& table, node& n,
                           gateway_metrics& metrics) {
  table.add(route::metrics, [&n, &metrics](const request_context&,
                                           respond_fn done) {
    http_response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = render_metrics_page(n, metrics);
    res.prepare_payload();
    done(std::move(res));
  });
  table.add(
    route::introspection,
    [&n, &metrics](const request_context& rc, respond_fn done) {
      introspect(n, metrics, rc.match.seg, done);
    },
    true);
  table.add(route::console, [](const request_context& rc, respond_fn done) {
    console(rc.match.seg, done);
  });
  table.add(
    route::faults,
    [&n](const request_context& rc, respond_fn done) {
      inject(n, rc.req, done);
    },
    true);
}

} // namespace dibs
