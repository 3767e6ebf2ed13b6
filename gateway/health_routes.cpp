// /healthz: the process answers. /readyz: the node takes issuances.

#include <string>
#include <vector>

#include <caf/send.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gateway/routes.hpp"

namespace dibs {

namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

void readyz(node& n, respond_fn done) {
  if (!n.ready())
    return done(error_response(ec::not_ready, "recovering or stopping"));
  if (!n.writers_assigned())
    return done(error_response(ec::not_ready,
                               "writers are joining their consumer group"));
  // Ready when what issuing needs answers; without Redis the node issues on
  // and only its snapshots wait, so Redis is named as degraded instead.
  caf::anon_send(n.store(), ready_atom::value,
                 reply_to<readiness>{[done](caf::expected<readiness> res) {
                   if (!res)
                     return done(error_response(ec::not_ready,
                                                "readiness check failed"));
                   std::vector<std::string> down;
                   for (auto [name, up] : {std::pair{"mysql", res->mysql},
                                           std::pair{"kafka", res->kafka},
                                           std::pair{"redis", res->redis}})
                     if (!up)
                       down.push_back(name);
                   if (!res->mysql || !res->kafka)
                     return done(error_response(
                       ec::not_ready, fmt::format("unreachable: {}",
                                                  fmt::join(down, ", "))));
                   done(json_response(http::status::ok,
                                      json{{"status", "ready"},
                                           {"degraded", std::move(down)}}));
                 }});
}

} // namespace

void register_health_routes(route_table& table, node& n) {
  table.add(route::healthz, [](const request_context&, respond_fn done) {
    done(json_response(http::status::ok, json{{"status", "ok"}}));
  });
  table.add(route::readyz, [&n](const request_context&, respond_fn done) {
    readyz(n, std::move(done));
  });
}

} // namespace dibs
