#include "core/error.hpp"

namespace dibs {

const char* to_string(ec code) {
  switch (code) {
    case ec::none: return "NONE";
    case ec::sold_out: return "SOLD_OUT";
    case ec::already_issued: return "ALREADY_ISSUED";
    case ec::not_open: return "NOT_OPEN";
    case ec::closed: return "CLOSED";
    case ec::coupon_not_found: return "COUPON_NOT_FOUND";
    case ec::not_issued: return "NOT_ISSUED";
    case ec::bad_request: return "BAD_REQUEST";
    case ec::unauthorized: return "UNAUTHORIZED";
    case ec::forbidden: return "FORBIDDEN";
    case ec::not_found: return "NOT_FOUND";
    case ec::method_not_allowed: return "METHOD_NOT_ALLOWED";
    case ec::body_too_large: return "PAYLOAD_TOO_LARGE";
    case ec::unavailable: return "UNAVAILABLE";
    case ec::not_ready: return "NOT_READY";
    case ec::storage_failure: return "STORAGE_FAILURE";
    case ec::uri_too_long: return "URI_TOO_LONG";
    case ec::headers_too_large: return "HEADERS_TOO_LARGE";
    case ec::version_not_supported: return "HTTP_VERSION_NOT_SUPPORTED";
    case ec::rate_limited: return "RATE_LIMITED";
    case ec::overloaded: return "OVERLOADED";
    case ec::outcome_unknown: return "OUTCOME_UNKNOWN";
    case ec::idempotency_key_reused: return "IDEMPOTENCY_KEY_REUSED";
    case ec::coupon_ids_exhausted: return "COUPON_IDS_EXHAUSTED";
  }
  return "UNKNOWN";
}

} // namespace dibs
