#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/domain.hpp"

// What the gateway accepts of a request, as pure functions of its bytes: the
// framing of its header, the ids in its path, its JSON body. No node, no
// actor: the fuzz targets (tests/fuzz/) call them as the routes do.
namespace dibs {

/// A refusal: the error code (and with it the status) and why.
struct refusal {
  ec code;
  std::string message;
};

struct framing_limits {
  /// Longest request target (path and query); longer → 414.
  size_t max_target_bytes = 2048;
  /// Most header fields; more → 431.
  size_t max_header_fields = 64;
};

/// Checks the framing of a request header Beast parsed. Beast 1.74 accepts
/// some framings that later versions and RFC 9112 refuse, and a proxy in
/// front of dibs might read differently — request smuggling. Refused:
/// an HTTP version other than 1.0 and 1.1; Transfer-Encoding on HTTP/1.0;
/// a Transfer-Encoding other than exactly `chunked`, or more than one;
/// Transfer-Encoding with Content-Length; more than one Content-Length
/// (even equal), or one that is a list; on HTTP/1.1 no Host or more than
/// one; too long a target; too many fields.
std::optional<refusal>
check_framing(const boost::beast::http::request_header<>& header,
              const framing_limits& limits);

/// The gateway's routes; also the labels of its metrics.
enum class route : uint8_t {
  create_coupon,
  get_coupon,
  issue,
  issuance_status,
  user_coupons,
  healthz,
  readyz,
  metrics,
  faults,
  introspection,
  console,
  unmatched,
};

constexpr size_t route_count = static_cast<size_t>(route::unmatched) + 1;

/// Which routes a listener serves. With a separate admin listener
/// (`http.admin-port`), the public one serves no admin route and the admin
/// one nothing but them; the health routes are on both.
enum class exposure : uint8_t { all, public_only, admin_only };

/// The admin routes: the introspection API, the console, fault injection
/// and /metrics. (`POST /api/coupons` takes the admin token too, but is
/// part of the public API.)
bool is_admin_route(route r);

/// What a request's method and target say, before the node is asked.
struct route_match {
  route r = route::unmatched;
  /// The path after its leading '/', split at '/'; views into the target.
  std::vector<std::string_view> seg;
  coupon_id_t coupon = 0;
  user_id_t user = 0;
  /// `?wait=true` on the issue route.
  bool wait = false;
  /// The request is answered with this: a wrong method (405), a bad id or
  /// query (400), no such route or not on this listener (404). Token checks
  /// come after a match and are not here.
  std::optional<refusal> refused;
  /// The methods the route takes, when `refused` is a wrong method (405):
  /// the answer's Allow field.
  std::string_view allow;
};

/// Matches a request to its route. A method that the route does not take
/// is refused before anything else of the request is looked at.
route_match match_route(boost::beast::http::verb method,
                        std::string_view target, exposure on);

/// Longest chunk extensions taken: Beast 1.74 takes a chunk header line of
/// any length otherwise.
constexpr size_t max_chunk_extension_bytes = 128;

/// Beast's chunk-header callback: refuses longer chunk extensions.
void check_chunk_header(std::uint64_t size, boost::beast::string_view extensions,
                        boost::beast::error_code& err);

/// The path split at '/', after the leading one.
std::vector<std::string_view> split_path(std::string_view path);

/// A positive decimal id no larger than `max`; no signs, spaces or leading
/// zeros.
std::optional<uint64_t> parse_id(std::string_view text, uint64_t max);

/// Nesting deeper than this is refused.
constexpr size_t max_json_depth = 16;

/// Parses a JSON object body strictly: valid UTF-8 without a byte order
/// mark, at most `max_json_depth` deep, no key twice in an object. The
/// refusal says why.
std::variant<nlohmann::json, refusal> parse_object(std::string_view body);

/// A JSON integer in [lo, hi]; floats, strings and booleans are not.
std::optional<int64_t> get_int(const nlohmann::json& j, int64_t lo,
                               int64_t hi);

/// The body of `POST /api/coupons/{id}/issue`: exactly `{"userId": N}`.
/// The body clients send is read by `read_plain_issue_body`, any other by
/// `decode_issue_json`, whose answer it is either way.
std::variant<user_id_t, refusal> decode_issue_body(std::string_view body);

/// `decode_issue_body` through `parse_object`: the answer for every body,
/// and the refusal of a wrong one.
std::variant<user_id_t, refusal> decode_issue_json(std::string_view body);

/// The user of a body of the one shape a client sends, `{"userId":N}` with
/// N in 1..2^53-1 written without sign, fraction, exponent or leading zero,
/// and JSON's whitespace around any token; nothing for every other body,
/// valid or not. Read without building a JSON tree: the parser's tree and
/// key sets were half of the allocations of an issue request.
std::optional<user_id_t> read_plain_issue_body(std::string_view body);

/// Longest coupon name, in bytes.
constexpr size_t max_name_length = 200;

/// Most units a coupon may have.
constexpr uint32_t max_total_quantity = 100'000'000;

/// The body of `POST /api/coupons`: `name` (1 to `max_name_length` bytes),
/// `discount` (a non-negative integer), `totalQuantity` (1 to
/// `max_total_quantity`), optional `opensAt` and `closesAt` (ISO-8601 UTC or
/// null; closing after opening), nothing else. The coupon has no id yet.
std::variant<coupon, refusal> decode_coupon_body(std::string_view body);

/// The `Idempotency-Key` of `POST /api/coupons`: empty without the field;
/// else the field given once, 1 to 64 characters of [A-Za-z0-9._-] (as a
/// request id, `is_request_id`).
std::variant<std::string, refusal>
read_idempotency_key(const boost::beast::http::request_header<>& header);

/// Checks an `Authorization` header against the admin token: `none` for
/// `Bearer <token>`, `unauthorized` without the header, else `forbidden`
/// (also for every header while the token is empty). The comparison takes
/// the same time whatever the first differing byte.
ec check_admin_token(std::string_view authorization, std::string_view token);

} // namespace dibs
