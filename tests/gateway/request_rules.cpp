#define CAF_SUITE gateway.request_rules

#include "gateway/request_rules.hpp"
#include "seeded_edits.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <caf/test/unit_test.hpp>

#include "gateway/metrics.hpp" // to_string(route), for the checks' output.

using namespace dibs;

namespace http = boost::beast::http;
using verb = http::verb;
using json = nlohmann::json;

namespace {

/// The code of a refusal; `ec::none` for none.
ec code_of(const std::optional<refusal>& r) {
  return r ? r->code : ec::none;
}

/// The message of a refusal; empty for none.
std::string message_of(const std::optional<refusal>& r) {
  return r ? r->message : std::string{};
}

/// The refusal `decode_issue_body` or `parse_object` returned, if any.
template <class T>
std::optional<refusal> refusal_in(const std::variant<T, refusal>& x) {
  if (auto r = std::get_if<refusal>(&x))
    return *r;
  return std::nullopt;
}

/// A request header as Beast's parser would hand it over: `fields` are
/// added in order, repeats kept.
struct header_builder {
  http::request<http::empty_body> req;

  explicit header_builder(unsigned version = 11, std::string target = "/") {
    req.method(verb::get);
    req.version(version);
    req.target(target);
  }

  header_builder& with(http::field name, std::string value) {
    req.insert(name, value);
    return *this;
  }

  header_builder& with(std::string name, std::string value) {
    req.insert(name, value);
    return *this;
  }

  header_builder& host() {
    return with(http::field::host, "dibs.example");
  }

  std::optional<refusal> check(framing_limits limits = {}) const {
    return check_framing(req, limits);
  }
};

/// `levels` containers nested in one another, the outermost an object.
std::string nested(size_t levels) {
  std::string body = "{\"a\":";
  for (size_t i = 1; i < levels; ++i)
    body += '[';
  body += "1";
  for (size_t i = 1; i < levels; ++i)
    body += ']';
  return body + "}";
}

} // namespace

// -- framing -----------------------------------------------------------------

CAF_TEST(an_http_11_request_with_one_host_passes) {
  CAF_CHECK_EQUAL(code_of(header_builder{11}.host().check()), ec::none);
}

CAF_TEST(an_http_10_request_needs_no_host) {
  CAF_CHECK_EQUAL(code_of(header_builder{10}.check()), ec::none);
}

CAF_TEST(versions_other_than_10_and_11_are_refused_with_505) {
  for (unsigned version : {9u, 12u, 20u}) {
    auto r = header_builder{version}.host().check();
    CAF_CHECK_EQUAL(code_of(r), ec::version_not_supported);
    CAF_CHECK_EQUAL(message_of(r), "only HTTP/1.0 and 1.1");
  }
}

CAF_TEST(a_target_one_byte_over_the_limit_is_refused_with_414) {
  framing_limits limits;
  limits.max_target_bytes = 16;
  auto at_limit = "/" + std::string(limits.max_target_bytes - 1, 'a');
  CAF_CHECK_EQUAL(code_of(header_builder{11, at_limit}.host().check(limits)),
                  ec::none);
  auto r = header_builder{11, at_limit + "a"}.host().check(limits);
  CAF_CHECK_EQUAL(code_of(r), ec::uri_too_long);
  CAF_CHECK_EQUAL(message_of(r), "the request target is too long");
}

CAF_TEST(one_field_over_the_limit_is_refused_with_431) {
  framing_limits limits;
  limits.max_header_fields = 4;
  header_builder h{11};
  h.host(); // Host counts as a field.
  for (size_t i = 1; i < limits.max_header_fields; ++i)
    h.with("x-field-" + std::to_string(i), "v");
  CAF_CHECK_EQUAL(code_of(h.check(limits)), ec::none);
  h.with("x-one-more", "v");
  auto r = h.check(limits);
  CAF_CHECK_EQUAL(code_of(r), ec::headers_too_large);
  CAF_CHECK_EQUAL(message_of(r), "too many header fields");
}

CAF_TEST(chunked_is_the_one_transfer_encoding_taken_on_http_11) {
  using f = http::field;
  CAF_CHECK_EQUAL(
    code_of(header_builder{11}.host().with(f::transfer_encoding, "chunked")
              .check()),
    ec::none);
  CAF_CHECK_EQUAL(
    code_of(header_builder{11}.host().with(f::transfer_encoding, "Chunked")
              .check()),
    ec::none);
  for (auto encoding : {"gzip", "gzip, chunked", "chunked, chunked", ""}) {
    auto r = header_builder{11}.host().with(f::transfer_encoding, encoding)
               .check();
    CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(r), "the only Transfer-Encoding taken is "
                                   "chunked");
  }
}

CAF_TEST(transfer_encoding_is_refused_on_http_10) {
  auto r = header_builder{10}
             .with(http::field::transfer_encoding, "chunked")
             .check();
  CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
  CAF_CHECK_EQUAL(message_of(r), "Transfer-Encoding is not HTTP/1.0");
}

CAF_TEST(two_transfer_encoding_fields_are_refused) {
  auto r = header_builder{11}
             .host()
             .with(http::field::transfer_encoding, "chunked")
             .with(http::field::transfer_encoding, "chunked")
             .check();
  CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
  CAF_CHECK_EQUAL(message_of(r), "more than one Transfer-Encoding");
}

CAF_TEST(transfer_encoding_with_content_length_is_refused) {
  auto r = header_builder{11}
             .host()
             .with(http::field::transfer_encoding, "chunked")
             .with(http::field::content_length, "5")
             .check();
  CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
  CAF_CHECK_EQUAL(message_of(r),
                  "Transfer-Encoding and Content-Length together");
}

CAF_TEST(content_length_must_be_one_field_of_one_number) {
  using f = http::field;
  CAF_CHECK_EQUAL(
    code_of(header_builder{11}.host().with(f::content_length, "5").check()),
    ec::none);
  auto twice = header_builder{11}
                 .host()
                 .with(f::content_length, "5")
                 .with(f::content_length, "5")
                 .check();
  CAF_CHECK_EQUAL(code_of(twice), ec::bad_request);
  CAF_CHECK_EQUAL(message_of(twice), "more than one Content-Length");
  for (auto value : {"5, 5", "", "+5", "-5", "5 5", "0x5"}) {
    auto r = header_builder{11}.host().with(f::content_length, value).check();
    CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(r), "Content-Length must be one number");
  }
}

CAF_TEST(http_11_without_a_host_or_with_two_is_refused) {
  for (auto r : {header_builder{11}.check(),
                 header_builder{11}.host().host().check()}) {
    CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(r), "HTTP/1.1 needs exactly one Host");
  }
}

CAF_TEST(chunk_extensions_longer_than_the_bound_are_refused) {
  boost::beast::error_code err;
  std::string extensions(max_chunk_extension_bytes, 'x');
  check_chunk_header(1, extensions, err);
  CAF_CHECK(!err);
  extensions += 'x';
  check_chunk_header(1, extensions, err);
  CAF_CHECK(err == http::error::bad_chunk_extension);
}

// -- routes ------------------------------------------------------------------

CAF_TEST(each_route_is_matched_with_its_method) {
  struct row {
    verb method;
    const char* target;
    route r;
  };
  std::vector<row> rows{
    {verb::get, "/healthz", route::healthz},
    {verb::get, "/readyz", route::readyz},
    {verb::get, "/metrics", route::metrics},
    {verb::get, "/admin/api/stock", route::introspection},
    {verb::get, "/admin/api/stock/7", route::introspection},
    {verb::get, "/console", route::console},
    {verb::get, "/console/console.js", route::console},
    {verb::post, "/admin/faults", route::faults},
    {verb::post, "/api/coupons", route::create_coupon},
    {verb::get, "/api/coupons/7", route::get_coupon},
    {verb::post, "/api/coupons/7/issue", route::issue},
    {verb::get, "/api/coupons/7/issuances/9", route::issuance_status},
    {verb::get, "/api/users/9/coupons", route::user_coupons},
  };
  for (auto& x : rows) {
    CAF_MESSAGE(x.target);
    auto m = match_route(x.method, x.target, exposure::all);
    CAF_CHECK_EQUAL(m.r, x.r);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::none);
    // Any other method is refused on the same route.
    auto other = x.method == verb::get ? verb::post : verb::get;
    auto wrong = match_route(other, x.target, exposure::all);
    CAF_CHECK_EQUAL(wrong.r, x.r);
    CAF_CHECK_EQUAL(code_of(wrong.refused), ec::method_not_allowed);
    CAF_CHECK_EQUAL(message_of(wrong.refused),
                    "method not allowed on this path");
    // The refusal names the methods the route takes (its Allow field).
    auto allow = x.method == verb::get ? "GET, HEAD" : "POST";
    CAF_CHECK_EQUAL(wrong.allow, allow);
    CAF_CHECK(m.allow.empty());
    // HEAD is taken where GET is, and refused where it is not.
    auto head = match_route(verb::head, x.target, exposure::all);
    CAF_CHECK_EQUAL(head.r, x.r);
    CAF_CHECK_EQUAL(code_of(head.refused), x.method == verb::get
                                             ? ec::none
                                             : ec::method_not_allowed);
    CAF_CHECK_EQUAL(head.allow, x.method == verb::get ? "" : "POST");
  }
}

CAF_TEST(ids_are_taken_from_the_path) {
  auto status = match_route(verb::get, "/api/coupons/7/issuances/9",
                            exposure::all);
  CAF_CHECK_EQUAL(status.coupon, 7u);
  CAF_CHECK_EQUAL(status.user, 9u);
  auto users = match_route(verb::get, "/api/users/12/coupons", exposure::all);
  CAF_CHECK_EQUAL(users.user, 12u);
  auto max = match_route(verb::get,
                         "/api/coupons/" + std::to_string(max_coupon_id),
                         exposure::all);
  CAF_CHECK_EQUAL(code_of(max.refused), ec::none);
  CAF_CHECK_EQUAL(max.coupon, max_coupon_id);
}

CAF_TEST(bad_ids_are_refused_with_400) {
  auto past_max = std::to_string(max_coupon_id + 1);
  for (auto id : {"0", "007", "-1", "abc", "", past_max.c_str()}) {
    auto m = match_route(verb::get, std::string{"/api/coupons/"} + id,
                         exposure::all);
    CAF_CHECK_EQUAL(m.r, route::get_coupon);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(m.refused),
                    "couponId must be a positive integer");
    auto issue = match_route(verb::post,
                             std::string{"/api/coupons/"} + id + "/issue",
                             exposure::all);
    CAF_CHECK_EQUAL(code_of(issue.refused), ec::bad_request);
  }
  auto past_user = std::to_string(max_user_id + 1);
  auto users = match_route(verb::get, "/api/users/" + past_user + "/coupons",
                           exposure::all);
  CAF_CHECK_EQUAL(code_of(users.refused), ec::bad_request);
  CAF_CHECK_EQUAL(message_of(users.refused),
                  "userId must be a positive integer");
  for (auto target : {"/api/coupons/0/issuances/9",
                      "/api/coupons/7/issuances/0"}) {
    auto m = match_route(verb::get, target, exposure::all);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(m.refused), "ids must be positive integers");
  }
}

CAF_TEST(a_wrong_method_is_refused_before_a_bad_id) {
  for (auto target : {"/api/coupons/abc", "/api/users/abc/coupons",
                      "/api/coupons/abc/issuances/abc"}) {
    auto m = match_route(verb::delete_, target, exposure::all);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::method_not_allowed);
  }
  auto issue = match_route(verb::get, "/api/coupons/abc/issue?x",
                           exposure::all);
  CAF_CHECK_EQUAL(code_of(issue.refused), ec::method_not_allowed);
}

CAF_TEST(issue_takes_wait_as_its_only_query_parameter) {
  auto wait_of = [](std::string query) {
    return match_route(verb::post, "/api/coupons/7/issue" + query,
                       exposure::all);
  };
  for (auto query : {"?wait=true", "?wait=1"}) {
    auto m = wait_of(query);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::none);
    CAF_CHECK(m.wait);
  }
  for (auto query : {"", "?", "?wait=false", "?wait=0"}) {
    auto m = wait_of(query);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::none);
    CAF_CHECK(!m.wait);
  }
  for (auto query : {"?wait=yes", "?wait=true&x=1", "?x=1", "?WAIT=true"}) {
    auto m = wait_of(query);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(m.refused),
                    "the only query parameter is wait=true|false");
    CAF_CHECK(!m.wait);
  }
}

CAF_TEST(unknown_paths_are_not_found) {
  for (auto target : {"/", "/api", "/api/nothing", "/api/coupons/7/other",
                      "/api/coupons/7/issue/more", "/api/users/9",
                      "/console/a/b", "/admin", "/admin/api",
                      "/admin/faults/now"}) {
    auto m = match_route(verb::get, target, exposure::all);
    CAF_CHECK_EQUAL(m.r, route::unmatched);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::not_found);
    CAF_CHECK_EQUAL(message_of(m.refused), "no such route");
  }
}

CAF_TEST(a_target_without_a_leading_slash_is_a_bad_request) {
  for (auto target : {"", "healthz", "*", "http://dibs.example/healthz"}) {
    auto m = match_route(verb::get, target, exposure::all);
    CAF_CHECK_EQUAL(code_of(m.refused), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(m.refused), "bad request target");
  }
}

CAF_TEST(the_admin_routes_are_the_introspection_console_faults_and_metrics) {
  for (auto i = 0; i <= static_cast<int>(route::unmatched); ++i) {
    auto r = static_cast<route>(i);
    bool admin = r == route::introspection || r == route::console
                 || r == route::faults || r == route::metrics;
    CAF_CHECK_EQUAL(is_admin_route(r), admin);
  }
}

CAF_TEST(each_listener_serves_only_its_exposure) {
  struct row {
    verb method;
    const char* target;
    bool on_public;
    bool on_admin;
  };
  std::vector<row> rows{
    {verb::get, "/healthz", true, true},
    {verb::get, "/readyz", true, true},
    {verb::get, "/metrics", false, true},
    {verb::get, "/admin/api/stock", false, true},
    {verb::get, "/console", false, true},
    {verb::post, "/admin/faults", false, true},
    {verb::post, "/api/coupons", true, false},
    {verb::get, "/api/coupons/7", true, false},
    {verb::post, "/api/coupons/7/issue", true, false},
    {verb::get, "/api/coupons/7/issuances/9", true, false},
    {verb::get, "/api/users/9/coupons", true, false},
  };
  auto served = [](const route_match& m) { return !m.refused; };
  for (auto& x : rows) {
    CAF_MESSAGE(x.target);
    CAF_CHECK(served(match_route(x.method, x.target, exposure::all)));
    auto pub = match_route(x.method, x.target, exposure::public_only);
    CAF_CHECK_EQUAL(served(pub), x.on_public);
    auto adm = match_route(x.method, x.target, exposure::admin_only);
    CAF_CHECK_EQUAL(served(adm), x.on_admin);
    for (auto& m : {pub, adm})
      if (!served(m)) {
        CAF_CHECK_EQUAL(m.r, route::unmatched);
        CAF_CHECK_EQUAL(code_of(m.refused), ec::not_found);
      }
  }
}

CAF_TEST(a_route_not_on_this_listener_is_not_found_whatever_the_method) {
  auto m = match_route(verb::post, "/metrics", exposure::public_only);
  CAF_CHECK_EQUAL(code_of(m.refused), ec::not_found);
  auto a = match_route(verb::delete_, "/api/coupons/7", exposure::admin_only);
  CAF_CHECK_EQUAL(code_of(a.refused), ec::not_found);
}

// -- paths and ids -----------------------------------------------------------

CAF_TEST(split_path_keeps_empty_segments) {
  using segs = std::vector<std::string_view>;
  CAF_CHECK(split_path("/") == segs{""});
  CAF_CHECK(split_path("/a") == segs{"a"});
  CAF_CHECK(split_path("/a/bc") == (segs{"a", "bc"}));
  CAF_CHECK(split_path("/a//b/") == (segs{"a", "", "b", ""}));
}

CAF_TEST(parse_id_takes_positive_decimals_up_to_max) {
  CAF_CHECK_EQUAL(parse_id("1", 10).value_or(0), 1u);
  CAF_CHECK_EQUAL(parse_id("10", 10).value_or(0), 10u);
  CAF_CHECK(!parse_id("11", 10));
  auto u64_max = std::numeric_limits<uint64_t>::max();
  CAF_CHECK_EQUAL(parse_id(std::to_string(u64_max), u64_max).value_or(0),
                  u64_max);
}

CAF_TEST(parse_id_refuses_zero_signs_spaces_leading_zeros_and_overflow) {
  auto u64_max = std::numeric_limits<uint64_t>::max();
  for (auto text : {"", "0", "00", "01", "+1", "-1", " 1", "1 ", "1a", "0x1",
                    "1.0", "18446744073709551616", "99999999999999999999",
                    "100000000000000000000"}) {
    CAF_MESSAGE('"' << text << '"');
    CAF_CHECK(!parse_id(text, u64_max));
  }
}

// -- JSON bodies -------------------------------------------------------------

CAF_TEST(parse_object_takes_an_object) {
  auto parsed = parse_object(R"({"a":1,"b":{"a":2},"c":[{"a":3}]})");
  CAF_REQUIRE(std::holds_alternative<json>(parsed));
  CAF_CHECK_EQUAL(std::get<json>(parsed).at("b").at("a").get<int>(), 2);
}

CAF_TEST(parse_object_refuses_what_is_not_an_object) {
  for (auto body : {"[1]", "1", "\"a\"", "null", "true"}) {
    auto r = refusal_in(parse_object(body));
    CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(r), "the body must be a JSON object");
  }
}

CAF_TEST(parse_object_refuses_invalid_json_and_invalid_utf8) {
  for (std::string body : {"", "{", "{\"a\":}", "{\"a\":1}x", "{'a':1}",
                           "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}"}) {
    auto r = refusal_in(parse_object(body));
    CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(r), "the body is not valid JSON (UTF-8)");
  }
}

CAF_TEST(parse_object_refuses_a_byte_order_mark) {
  auto r = refusal_in(parse_object("\xEF\xBB\xBF{\"a\":1}"));
  CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
  CAF_CHECK_EQUAL(message_of(r), "the body starts with a byte order mark");
}

CAF_TEST(parse_object_takes_max_depth_and_refuses_one_more) {
  CAF_CHECK_EQUAL(code_of(refusal_in(parse_object(nested(max_json_depth)))),
                  ec::none);
  auto r = refusal_in(parse_object(nested(max_json_depth + 1)));
  CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
  CAF_CHECK_EQUAL(message_of(r), "the body nests too deep");
}

CAF_TEST(parse_object_refuses_a_key_twice_in_one_object) {
  for (auto body : {R"({"a":1,"a":1})", R"({"a":1,"b":{"c":1,"c":2}})",
                    R"({"a":[{"c":1,"c":2}]})"}) {
    auto r = refusal_in(parse_object(body));
    CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(r), "the body repeats a key");
  }
}

CAF_TEST(parse_object_takes_a_key_again_in_another_object) {
  auto body = R"({"a":{"x":1},"b":{"x":2},"x":3,"c":[{"x":4},{"x":5}]})";
  CAF_CHECK_EQUAL(code_of(refusal_in(parse_object(body))), ec::none);
}

CAF_TEST(get_int_takes_integers_within_bounds) {
  CAF_CHECK_EQUAL(get_int(json(5), 5, 5).value_or(0), 5);
  CAF_CHECK_EQUAL(get_int(json(-3), -3, 0).value_or(0), -3);
  CAF_CHECK_EQUAL(get_int(json::parse("7"), -10, 10).value_or(0), 7);
  auto i64_max = std::numeric_limits<int64_t>::max();
  CAF_CHECK_EQUAL(get_int(json(uint64_t(i64_max)), 0, i64_max).value_or(0),
                  i64_max);
}

CAF_TEST(get_int_refuses_out_of_bounds_and_non_integers) {
  auto i64_max = std::numeric_limits<int64_t>::max();
  CAF_CHECK(!get_int(json(4), 5, 10));
  CAF_CHECK(!get_int(json(11), 5, 10));
  CAF_CHECK(!get_int(json(-1), 0, 10));
  CAF_CHECK(!get_int(json(uint64_t(i64_max) + 1), 0, i64_max));
  for (auto text : {"1.0", "1e2", "\"1\"", "true", "null", "[1]", "{}"})
    CAF_CHECK(!get_int(json::parse(text), 0, 10));
}

CAF_TEST(decode_issue_body_takes_exactly_a_user_id) {
  auto user_of = [](std::string body) {
    auto d = decode_issue_body(body);
    return std::holds_alternative<user_id_t>(d) ? std::get<user_id_t>(d) : 0;
  };
  CAF_CHECK_EQUAL(user_of(R"({"userId":1})"), 1u);
  CAF_CHECK_EQUAL(user_of(R"({ "userId" : 42 })"), 42u);
  CAF_CHECK_EQUAL(user_of("{\"userId\":" + std::to_string(max_user_id) + "}"),
                  max_user_id);
}

CAF_TEST(decode_issue_body_refuses_other_fields_or_none) {
  for (auto body : {R"({})", R"({"user":1})", R"({"userId":1,"x":1})",
                    R"({"userid":1})"}) {
    auto r = refusal_in(decode_issue_body(body));
    CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(r),
                    "the body must hold exactly one field, userId");
  }
}

CAF_TEST(decode_issue_body_refuses_user_ids_out_of_range_or_not_integers) {
  auto past_max = "{\"userId\":" + std::to_string(max_user_id + 1) + "}";
  for (std::string body : {R"({"userId":0})", R"({"userId":-1})",
                           R"({"userId":1.0})", R"({"userId":"1"})",
                           R"({"userId":null})", R"({"userId":true})",
                           past_max.c_str()}) {
    auto r = refusal_in(decode_issue_body(body));
    CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
    CAF_CHECK_EQUAL(message_of(r), "userId must be an integer from 1 to "
                                   "2^53-1");
  }
}

CAF_TEST(decode_issue_body_passes_on_the_parsers_refusal) {
  auto r = refusal_in(decode_issue_body(R"({"userId":1,"userId":2})"));
  CAF_CHECK_EQUAL(code_of(r), ec::bad_request);
  CAF_CHECK_EQUAL(message_of(r), "the body repeats a key");
  auto array = refusal_in(decode_issue_body("[1]"));
  CAF_CHECK_EQUAL(message_of(array), "the body must be a JSON object");
}

namespace {

/// What `decode_issue_body` answered: the user, or the refusal's message.
std::string answer_of(const std::variant<user_id_t, refusal>& d) {
  if (auto* user = std::get_if<user_id_t>(&d))
    return "user " + std::to_string(*user);
  return "refused: " + std::get<refusal>(d).message;
}

} // namespace

CAF_TEST(read_plain_issue_body_reads_the_shape_clients_send) {
  auto max = std::to_string(max_user_id);
  for (auto [body, user] :
       std::vector<std::pair<std::string, user_id_t>>{
         {R"({"userId":1})", 1},
         {R"({"userId":123456})", 123456},
         {" \t\r\n{ \"userId\"\n:\t42 }\r\n", 42},
         {"{\"userId\":" + max + "}", max_user_id}}) {
    CAF_MESSAGE(body);
    CAF_CHECK_EQUAL(read_plain_issue_body(body), std::optional{user});
  }
}

CAF_TEST(read_plain_issue_body_leaves_every_other_body_to_the_parser) {
  auto past_max = "{\"userId\":" + std::to_string(max_user_id + 1) + "}";
  for (std::string body : std::vector<std::string>{
         "", "{}", R"({"userId":0})", R"({"userId":01})", R"({"userId":-1})",
        R"({"userId":+1})", R"({"userId":1.0})", R"({"userId":1e3})",
        R"({"userId":"1"})", R"({"userId":1,})", R"({"userId":1,"x":1})",
        R"({"userId":1}x)", R"({"userId":1}{})", R"({"userid":1})",
        R"({"user\u0049d":1})", R"({'userId':1})", R"({"userId" 1})",
        R"({"userId":1)", "{\"userId\":12345678901234567}", past_max,
        "\xEF\xBB\xBF{\"userId\":1}", "{\"userId\":1}\v", std::string{"{\"userId\":1\0}", 14}}) {
    CAF_MESSAGE(body);
    CAF_CHECK_EQUAL(read_plain_issue_body(body), std::nullopt);
  }
  // An escaped key is the same key to JSON: the parser takes it.
  CAF_CHECK_EQUAL(answer_of(decode_issue_body(R"({"user\u0049d":7})")),
                  "user 7");
}

CAF_TEST(decode_issue_body_answers_as_the_json_parser_does) {
  // Seeded mutations of bodies of the plain shape: each answer, read
  // plainly or not, is the full parser's.
  std::mt19937_64 rng{20261205};
  const std::string alphabet = "{}\":,. \t\n0123456789-+eEuserIdx\\";
  size_t plain = 0, refused = 0;
  for (int n = 0; n < 20000; ++n) {
    auto body = "{\"userId\":" + std::to_string(1 + rng() % max_user_id) + "}";
    test::edit_randomly(body, alphabet, rng);
    auto answer = answer_of(decode_issue_body(body));
    auto expected = answer_of(decode_issue_json(body));
    if (answer != expected)
      CAF_FAIL(body << ": " << answer << ", the parser: " << expected);
    plain += read_plain_issue_body(body).has_value();
    refused += answer.rfind("refused", 0) == 0;
  }
  CAF_MESSAGE(plain << " bodies read plainly, " << refused << " refused");
  CAF_CHECK_GREATER(plain, 1000u);
  CAF_CHECK_GREATER(refused, 1000u);
}

// -- decode_coupon_body -------------------------------------------------------

namespace {

/// The coupon a body decodes to; fails the test on a refusal.
coupon coupon_of(std::string_view body) {
  auto decoded = decode_coupon_body(body);
  CAF_REQUIRE(std::holds_alternative<coupon>(decoded));
  return std::get<coupon>(decoded);
}

/// Why a coupon body is refused; empty when it is taken.
std::string coupon_refusal(std::string_view body) {
  auto r = refusal_in(decode_coupon_body(body));
  if (r)
    CAF_CHECK_EQUAL(r->code, ec::bad_request);
  return message_of(r);
}

} // namespace

CAF_TEST(decode_coupon_body_takes_a_whole_coupon) {
  auto c = coupon_of(R"({"name":"Noon sale","discount":1000,)"
                     R"("totalQuantity":1000,"opensAt":"2026-11-22T12:00:00Z",)"
                     R"("closesAt":"2026-11-22T13:00:00Z"})");
  CAF_CHECK_EQUAL(c.name, "Noon sale");
  CAF_CHECK_EQUAL(c.discount, 1000);
  CAF_CHECK_EQUAL(c.total_quantity, 1000u);
  CAF_CHECK_EQUAL(c.opens_at, *parse_time("2026-11-22T12:00:00Z"));
  CAF_CHECK_EQUAL(c.closes_at, c.opens_at + 3'600'000);
  CAF_CHECK_EQUAL(c.id, 0u);
  // The window is optional, and null means open.
  auto open = coupon_of(R"({"name":"n","discount":0,"totalQuantity":1,)"
                        R"("opensAt":null})");
  CAF_CHECK_EQUAL(open.opens_at, 0);
  CAF_CHECK_EQUAL(open.closes_at, 0);
}

CAF_TEST(decode_coupon_body_takes_the_limits_themselves) {
  auto name = std::string(max_name_length, 'x');
  auto c = coupon_of(R"({"name":")" + name + R"(","discount":0,)"
                     R"("totalQuantity":100000000})");
  CAF_CHECK_EQUAL(c.name.size(), max_name_length);
  CAF_CHECK_EQUAL(c.total_quantity, max_total_quantity);
}

CAF_TEST(decode_coupon_body_refuses_what_breaks_a_rule) {
  auto base = [](std::string extra) {
    return R"({"name":"n","discount":1,"totalQuantity":5)" + extra + "}";
  };
  CAF_CHECK_EQUAL(coupon_refusal(base("")), "");
  CAF_CHECK_EQUAL(coupon_refusal(R"({"discount":1,"totalQuantity":5})"),
                  "name is required");
  CAF_CHECK_EQUAL(coupon_refusal(R"({"name":"n","totalQuantity":5})"),
                  "discount is required");
  CAF_CHECK_EQUAL(coupon_refusal(R"({"name":"n","discount":1})"),
                  "totalQuantity is required");
  CAF_CHECK_EQUAL(coupon_refusal(R"({"name":"","discount":1,"totalQuantity":5})"),
                  "name must have 1 to 200 characters");
  auto long_name = std::string(max_name_length + 1, 'x');
  CAF_CHECK_EQUAL(coupon_refusal(R"({"name":")" + long_name
                                 + R"(","discount":1,"totalQuantity":5})"),
                  "name must have 1 to 200 characters");
  CAF_CHECK_EQUAL(coupon_refusal(R"({"name":7,"discount":1,"totalQuantity":5})"),
                  "name must be a string");
  CAF_CHECK_EQUAL(coupon_refusal(R"({"name":"n","discount":-1,"totalQuantity":5})"),
                  "discount must be a non-negative integer");
  CAF_CHECK_EQUAL(coupon_refusal(R"({"name":"n","discount":1,"totalQuantity":0})"),
                  "totalQuantity must be an integer from 1 to 100000000");
  CAF_CHECK_EQUAL(coupon_refusal(R"({"name":"n","discount":1,)"
                                 R"("totalQuantity":100000001})"),
                  "totalQuantity must be an integer from 1 to 100000000");
  CAF_CHECK_EQUAL(coupon_refusal(base(R"(,"opensAt":"noon")")),
                  "opensAt must be an ISO-8601 UTC time like "
                  "2026-11-22T12:00:00Z");
  CAF_CHECK_EQUAL(coupon_refusal(base(R"(,"closesAt":5)")),
                  "closesAt must be an ISO-8601 UTC time like "
                  "2026-11-22T12:00:00Z");
  CAF_CHECK_EQUAL(coupon_refusal(base(R"(,"opensAt":"2026-11-22T12:00:00Z",)"
                                      R"("closesAt":"2026-11-22T12:00:00Z")")),
                  "closesAt must be after opensAt");
  // The last time MariaDB stores, and the next millisecond.
  CAF_CHECK_EQUAL(coupon_refusal(base(R"(,"closesAt":"2038-01-19T03:14:07.999Z")")),
                  "");
  CAF_CHECK_EQUAL(coupon_refusal(base(R"(,"closesAt":"2038-01-19T03:14:08Z")")),
                  "closesAt must be before 2038-01-19T03:14:08Z");
  CAF_CHECK_EQUAL(coupon_refusal(base(R"(,"opensAt":"2040-01-01T00:00:00Z")")),
                  "opensAt must be before 2038-01-19T03:14:08Z");
  CAF_CHECK_EQUAL(coupon_refusal(base(R"(,"id":3)")), "unknown field id");
  // The strict parser's refusals come through.
  CAF_CHECK_NOT_EQUAL(coupon_refusal(base("") + "x"), "");
}

// -- read_idempotency_key -----------------------------------------------------

CAF_TEST(read_idempotency_key_takes_one_field_of_a_request_ids_characters) {
  auto key = [](std::vector<std::string> values) {
    header_builder b;
    for (auto& v : values)
      b.with("Idempotency-Key", v);
    return read_idempotency_key(b.req);
  };
  auto taken = [&](std::vector<std::string> values) {
    auto k = key(std::move(values));
    auto* s = std::get_if<std::string>(&k);
    return s ? *s : "(refused)";
  };
  CAF_CHECK_EQUAL(taken({}), "");
  CAF_CHECK_EQUAL(taken({"7c9e6679-7425-40de-944b-e07fc1f90ae7"}),
                  "7c9e6679-7425-40de-944b-e07fc1f90ae7");
  CAF_CHECK_EQUAL(taken({std::string(64, 'k')}), std::string(64, 'k'));
  // Field names are case-insensitive.
  header_builder lower;
  lower.with("idempotency-key", "A.b_c");
  auto k = read_idempotency_key(lower.req);
  CAF_REQUIRE(std::holds_alternative<std::string>(k));
  CAF_CHECK_EQUAL(std::get<std::string>(k), "A.b_c");
  for (auto bad : std::vector<std::vector<std::string>>{
         {""}, {std::string(65, 'k')}, {"a b"}, {"a\"b"}, {"k\xc3\xa9"},
         {"one", "one"}}) {
    auto r = refusal_in(key(bad));
    CAF_REQUIRE(r);
    CAF_CHECK_EQUAL(r->code, ec::bad_request);
  }
}

// -- check_admin_token --------------------------------------------------------

CAF_TEST(check_admin_token_takes_the_bearer_token_only) {
  CAF_CHECK_EQUAL(check_admin_token("Bearer s3cret", "s3cret"), ec::none);
  CAF_CHECK_EQUAL(check_admin_token("", "s3cret"), ec::unauthorized);
  CAF_CHECK_EQUAL(check_admin_token("Bearer s3cre", "s3cret"), ec::forbidden);
  CAF_CHECK_EQUAL(check_admin_token("Bearer s3cretX", "s3cret"), ec::forbidden);
  CAF_CHECK_EQUAL(check_admin_token("Bearer S3cret", "s3cret"), ec::forbidden);
  CAF_CHECK_EQUAL(check_admin_token("Basic s3cret", "s3cret"), ec::forbidden);
  CAF_CHECK_EQUAL(check_admin_token("s3cret", "s3cret"), ec::forbidden);
  // Without a token set, nothing passes.
  CAF_CHECK_EQUAL(check_admin_token("Bearer ", ""), ec::forbidden);
  CAF_CHECK_EQUAL(check_admin_token("Bearer x", ""), ec::forbidden);
}
