#define CAF_SUITE gateway.http_errors

#include "gateway/http_errors.hpp"
#include "gateway/answers.hpp"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <boost/beast/http/write.hpp>

#include <caf/sec.hpp>
#include <caf/test/unit_test.hpp>

using namespace dibs;

using boost::beast::http::status;

namespace {

/// Every code there is: each has a wire name, and past the last one
/// `to_string` says "UNKNOWN".
std::vector<ec> every_code() {
  std::vector<ec> codes;
  for (int i = 0; i <= 255; ++i) {
    auto code = static_cast<ec>(i);
    if (std::string{to_string(code)} == "UNKNOWN")
      break;
    codes.push_back(code);
  }
  return codes;
}

/// The status of each code, as the API promises it (README.md,
/// docs/hostile-input.md).
const std::map<ec, status> statuses{
  {ec::none, status::ok},
  {ec::sold_out, status::conflict},
  {ec::already_issued, status::conflict},
  {ec::not_open, status::forbidden},
  {ec::closed, status::forbidden},
  {ec::coupon_not_found, status::not_found},
  {ec::not_issued, status::not_found},
  {ec::bad_request, status::bad_request},
  {ec::unauthorized, status::unauthorized},
  {ec::forbidden, status::forbidden},
  {ec::not_found, status::not_found},
  {ec::method_not_allowed, status::method_not_allowed},
  {ec::body_too_large, status::payload_too_large},
  {ec::unavailable, status::service_unavailable},
  {ec::not_ready, status::service_unavailable},
  {ec::storage_failure, status::service_unavailable},
  {ec::uri_too_long, status::uri_too_long},
  {ec::headers_too_large, status::request_header_fields_too_large},
  {ec::version_not_supported, status::http_version_not_supported},
  {ec::rate_limited, status::too_many_requests},
  {ec::overloaded, status::service_unavailable},
  {ec::outcome_unknown, status::service_unavailable},
  {ec::idempotency_key_reused, status::unprocessable_entity},
  {ec::coupon_ids_exhausted, status::insufficient_storage},
};

unsigned code_number(status s) {
  return static_cast<unsigned>(s);
}

} // namespace

CAF_TEST(every_code_has_its_status) {
  auto codes = every_code();
  // The table above names every code, no more.
  CAF_CHECK_EQUAL(codes.size(), statuses.size());
  for (auto code : codes) {
    CAF_MESSAGE(to_string(code));
    auto i = statuses.find(code);
    CAF_REQUIRE(i != statuses.end());
    CAF_CHECK_EQUAL(code_number(status_of(code)), code_number(i->second));
  }
}

CAF_TEST(only_none_is_a_success) {
  for (auto code : every_code()) {
    auto s = code_number(status_of(code));
    CAF_CHECK_EQUAL(s < 300, code == ec::none);
  }
}

CAF_TEST(a_value_past_the_last_code_is_an_internal_error) {
  auto past = static_cast<ec>(every_code().size());
  CAF_CHECK_EQUAL(code_number(status_of(past)),
                  code_number(status::internal_server_error));
}

CAF_TEST(decisions_have_their_own_default_messages) {
  const std::map<ec, std::string> own{
    {ec::sold_out, "the coupon is sold out"},
    {ec::already_issued, "the user already holds this coupon"},
    {ec::not_open, "the coupon is not open yet"},
    {ec::closed, "the coupon is closed"},
    {ec::coupon_not_found, "no such coupon"},
    {ec::not_issued, "the user holds no such issuance"},
    {ec::outcome_unknown, "no answer in time: the request may have taken "
                          "effect; retrying is safe"},
    {ec::idempotency_key_reused,
     "the Idempotency-Key was used for a different coupon"},
    {ec::coupon_ids_exhausted,
     "every coupon id is taken: no coupon can be made"},
  };
  for (auto code : every_code()) {
    CAF_MESSAGE(to_string(code));
    auto i = own.find(code);
    auto expected = i != own.end() ? i->second
                                   : "temporarily unavailable, retry later";
    CAF_CHECK_EQUAL(std::string{default_message(code)}, expected);
  }
}

CAF_TEST(code_of_keeps_a_dibs_code) {
  // Not ec::none: its caf::error is no error, whose category() CAF 0.17
  // does not define (`@pre *this != none`).
  for (auto code : every_code())
    if (code != ec::none)
      CAF_CHECK_EQUAL(code_of(caf::make_error(code)), code);
  CAF_CHECK_EQUAL(code_of(caf::make_error(ec::sold_out, "with context")),
                  ec::sold_out);
}

CAF_TEST(code_of_a_foreign_error_is_outcome_unknown) {
  for (auto err : {caf::make_error(caf::sec::request_timeout),
                   caf::make_error(caf::sec::request_receiver_down),
                   caf::make_error(caf::sec::bad_function_call),
                   caf::make_error(caf::sec::runtime_error)})
    CAF_CHECK_EQUAL(code_of(err), ec::outcome_unknown);
}

namespace {

/// `res` as Beast's serializer writes it.
std::string serialized_by_beast(const http_response& res) {
  std::ostringstream out;
  out << res;
  return out.str();
}

} // namespace

CAF_TEST(an_answer_is_rendered_as_beast_serializes_it) {
  namespace http = boost::beast::http;
  std::vector<http_response> answers;
  answers.push_back(error_response(ec::sold_out, "sold out"));
  answers.push_back(error_response(ec::unavailable, "down, retry later"));
  answers.push_back(
    json_response(http::status::created, std::string{R"({"a":1})"}));
  answers.push_back(json_response(http::status::ok, std::string{}));
  auto closing = error_response(ec::bad_request, "bad \"quoted\" text");
  closing.keep_alive(false);
  answers.push_back(closing);
  auto old
    = json_response(http::status::accepted, std::string{R"({"b":[1,2]})"});
  old.version(10);
  old.keep_alive(true);
  answers.push_back(old);
  auto tagged = error_response(ec::rate_limited, "too many");
  tagged.set(http::field::retry_after, "3");
  tagged.set("X-Request-Id", "abc123");
  answers.push_back(tagged);
  std::string out = "left from the last answer";
  for (auto& res : answers) {
    render_answer(res, out);
    CAF_CHECK_EQUAL(out, serialized_by_beast(res));
  }
  // Without a Content-Length, one is added: the client must know where
  // the answer ends on a kept-alive connection.
  http_response bare{http::status::ok, 11};
  bare.body() = "12345";
  render_answer(bare, out);
  CAF_CHECK_EQUAL(out, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345");
}
