// libFuzzer target: bytes off a connection through what the gateway does
// with them before the node is asked. Beast's request parser with the
// session's limits and chunk check, the framing rules on the header, the
// body, the route match (on each kind of listener) and, for the issue
// route, the body's decoding. Several requests may follow each other, as on
// a keep-alive connection; a framing error ends the connection as it does
// in http_session.
//
// Besides the sanitizers' findings, it traps when a result breaks what the
// routes rely on: a matched route's ids in range, a refusal with a 4xx or
// 5xx code.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "actors/options.hpp"
#include "gateway/http_errors.hpp"
#include "gateway/request_rules.hpp"

namespace http = boost::beast::http;
using namespace dibs;

namespace {

// The node's defaults.
const size_t header_limit = option_values{}.http_header_limit_bytes;
const size_t body_limit = option_values{}.http_body_limit_bytes;

void require(bool ok) {
  if (!ok)
    __builtin_trap();
}

void check_refusal(const refusal& r) {
  auto status = static_cast<unsigned>(status_of(r.code));
  require(status >= 400 && status < 600);
  require(!r.message.empty());
}

void route_request(const http::request<http::string_body>& req) {
  std::string_view target{req.target().data(), req.target().size()};
  for (auto on : {exposure::all, exposure::public_only, exposure::admin_only}) {
    auto m = match_route(req.method(), target, on);
    if (m.refused) {
      check_refusal(*m.refused);
      continue;
    }
    require(m.r != route::unmatched);
    require(!m.seg.empty());
    if (on == exposure::public_only)
      require(!is_admin_route(m.r));
    if (on == exposure::admin_only)
      require(is_admin_route(m.r) || m.r == route::healthz
              || m.r == route::readyz);
    if (m.r == route::get_coupon || m.r == route::issue
        || m.r == route::issuance_status)
      require(m.coupon >= 1 && m.coupon <= max_coupon_id);
    if (m.r == route::issuance_status || m.r == route::user_coupons)
      require(m.user >= 1 && m.user <= max_user_id);
    if (m.r == route::issue) {
      auto decoded = decode_issue_body(req.body());
      if (auto* r = std::get_if<refusal>(&decoded))
        check_refusal(*r);
      else
        require(std::get<user_id_t>(decoded) >= 1
                && std::get<user_id_t>(decoded) <= max_user_id);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest{reinterpret_cast<const char*>(data), size};
  auto chunk_check = check_chunk_header;
  while (!rest.empty()) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(header_limit));
    parser.body_limit(body_limit);
    parser.on_chunk_header(chunk_check);
    parser.eager(false);
    boost::beast::error_code err;
    // The header first, then the framing rules, then the body.
    while (!parser.is_header_done() && !rest.empty()) {
      auto used = parser.put(boost::asio::buffer(rest.data(), rest.size()), err);
      rest.remove_prefix(used);
      if (err == http::error::need_more && used == 0)
        return 0; // The connection would wait for more.
      if (err && err != http::error::need_more)
        return 0; // Answered with an error, the connection closed.
    }
    if (!parser.is_header_done())
      return 0;
    if (auto r = check_framing(parser.get(), framing_limits{})) {
      check_refusal(*r);
      return 0;
    }
    parser.eager(true);
    while (!parser.is_done() && !rest.empty()) {
      auto used = parser.put(boost::asio::buffer(rest.data(), rest.size()), err);
      rest.remove_prefix(used);
      if (err == http::error::need_more && used == 0)
        return 0;
      if (err && err != http::error::need_more)
        return 0;
    }
    if (!parser.is_done()) {
      // The stream ended: Beast finishes a body that runs to the end.
      parser.put_eof(err);
      if (err)
        return 0;
    }
    route_request(parser.get());
  }
  return 0;
}
