#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace dibs {

/// Every error dibs reports, from the storage layer up to the HTTP answer.
/// The gateway maps each code to a status in exactly one function
/// (`gateway/http_errors.cpp`).
enum class ec : uint8_t {
  /// Not an error.
  none = 0,
  /// The coupon has no stock left.
  sold_out,
  /// The user already holds this coupon; the context carries the issuance id.
  already_issued,
  /// The coupon's window has not opened yet.
  not_open,
  /// The coupon's window has closed.
  closed,
  /// No coupon with this id exists.
  coupon_not_found,
  /// The user holds no issuance of this coupon.
  not_issued,
  /// The request is malformed: bad JSON, wrong types, ids out of range.
  bad_request,
  /// The admin token is missing.
  unauthorized,
  /// The admin token is wrong.
  forbidden,
  /// No route matches the path.
  not_found,
  /// The route exists, the method does not.
  method_not_allowed,
  /// The request body exceeds the configured limit.
  body_too_large,
  /// A dependency (Kafka, MySQL) failed, or the coupon's node is down: the
  /// request definitely changed nothing (a reservation it made went back to
  /// the stock); retry later.
  unavailable,
  /// The node is starting or stopping and does not take requests yet.
  not_ready,
  /// A storage call failed (MySQL or Kafka error).
  storage_failure,
  /// The request target is longer than the gateway takes.
  uri_too_long,
  /// The request's header fields are too large or too many.
  headers_too_large,
  /// An HTTP version other than 1.0 and 1.1.
  version_not_supported,
  /// The client or user sent more issue requests than its rate allows.
  rate_limited,
  /// The node is saturated: too many requests in flight or connections.
  overloaded,
  /// No answer came in time (the HTTP session's answer deadline, a forwarded
  /// request that timed out or whose node went away, an actor that stopped
  /// holding the request): the request may or
  /// may not have taken effect. Retrying is safe, since a user holds at most
  /// one issuance per coupon; the retry learns the outcome.
  outcome_unknown,
  /// A coupon creation's Idempotency-Key was used before for a coupon that
  /// differs from this request's.
  idempotency_key_reused,
  /// Every coupon id dibs can hold (1 to `max_coupon_id`, which an issuance
  /// id packs) is taken: no further coupon can be made.
  coupon_ids_exhausted,
};

/// The wire name of a code, as sent in `{"code": ...}` bodies.
const char* to_string(ec code);

} // namespace dibs

CAF_ERROR_CODE_ENUM(dibs::ec, "dibs")
