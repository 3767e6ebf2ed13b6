#include "gateway/http_errors.hpp"

namespace dibs {

using boost::beast::http::status;

status status_of(ec code) {
  switch (code) {
    case ec::none:
      return status::ok;
    case ec::sold_out:
    case ec::already_issued:
      return status::conflict;
    case ec::not_open:
    case ec::closed:
    case ec::forbidden:
      return status::forbidden;
    case ec::coupon_not_found:
    case ec::not_issued:
    case ec::not_found:
      return status::not_found;
    case ec::bad_request:
      return status::bad_request;
    case ec::unauthorized:
      return status::unauthorized;
    case ec::method_not_allowed:
      return status::method_not_allowed;
    case ec::body_too_large:
      return status::payload_too_large;
    case ec::unavailable:
    case ec::not_ready:
    case ec::storage_failure:
    case ec::overloaded:
    case ec::outcome_unknown:
      return status::service_unavailable;
    case ec::uri_too_long:
      return status::uri_too_long;
    case ec::headers_too_large:
      return status::request_header_fields_too_large;
    case ec::version_not_supported:
      return status::http_version_not_supported;
    case ec::rate_limited:
      return status::too_many_requests;
    case ec::idempotency_key_reused:
      return status::unprocessable_entity;
    case ec::coupon_ids_exhausted:
      return status::insufficient_storage;
  }
  return status::internal_server_error;
}

const char* default_message(ec code) {
  switch (code) {
    case ec::sold_out: return "the coupon is sold out";
    case ec::already_issued: return "the user already holds this coupon";
    case ec::not_open: return "the coupon is not open yet";
    case ec::closed: return "the coupon is closed";
    case ec::coupon_not_found: return "no such coupon";
    case ec::not_issued: return "the user holds no such issuance";
    case ec::outcome_unknown:
      return "no answer in time: the request may have taken effect; "
             "retrying is safe";
    case ec::idempotency_key_reused:
      return "the Idempotency-Key was used for a different coupon";
    case ec::coupon_ids_exhausted:
      return "every coupon id is taken: no coupon can be made";
    default: return "temporarily unavailable, retry later";
  }
}

ec code_of(const caf::error& err) {
  if (err.category() == caf::atom("dibs"))
    return static_cast<ec>(err.code());
  // A CAF error (a request timed out, its receiver went away) means no
  // answer came: what the request did is not known.
  return ec::outcome_unknown;
}

} // namespace dibs
