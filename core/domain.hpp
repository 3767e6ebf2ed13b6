#pragma once

// The domain's types: ids, coupons, issuances, times. Plain records that
// cross every layer, storage and the actor mailboxes included; each has an
// `inspect` overload so CAF can print and serialize it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace dibs {


using coupon_id_t = uint32_t;
using user_id_t = uint64_t;
using issuance_id_t = uint64_t;

/// Mixes a user id for hash tables and filters: splitmix64's finalizer, a
/// fixed function rather than a per-process seeded one, so that a table's
/// order, and what follows from it, is the same in every run (a simulation
/// seed replays exactly).
struct user_hash {
  size_t operator()(user_id_t x) const {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<size_t>(x ^ (x >> 31));
  }
};

/// Largest user id the API accepts: JSON numbers stay exact up to 2^53 - 1.
constexpr user_id_t max_user_id = (uint64_t{1} << 53) - 1;

/// Largest coupon id: an issuance id packs the coupon id above a 32-bit
/// per-coupon sequence and must stay below 2^53 as well.
constexpr coupon_id_t max_coupon_id = (1u << 21) - 1;

/// Packs a coupon id and its per-coupon sequence number into an issuance id.
constexpr issuance_id_t make_issuance_id(coupon_id_t coupon, uint32_t seq) {
  return (issuance_id_t{coupon} << 32) | seq;
}

/// The sequence part of an issuance id.
constexpr uint32_t issuance_seq(issuance_id_t id) {
  return static_cast<uint32_t>(id & 0xFFFFFFFFu);
}

/// Milliseconds since the Unix epoch; 0 means "not set" for window bounds.
using epoch_ms = int64_t;

/// A coupon as stored in MySQL, without its live stock.
struct coupon {
  coupon_id_t id = 0;
  std::string name;
  int64_t discount = 0;
  uint32_t total_quantity = 0;
  epoch_ms opens_at = 0;
  epoch_ms closes_at = 0;
  epoch_ms created_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, coupon& x) {
  return f(caf::meta::type_name("coupon"), x.id, x.name, x.discount,
           x.total_quantity, x.opens_at, x.closes_at, x.created_at);
}

/// What a coupon creation gives: the coupon, and whether this creation
/// made it (`fresh`) or an earlier one with the same idempotency key did.
struct created_coupon {
  coupon info;
  bool fresh = true;
};

/// The coupon's window has not opened at `now` (0: open from the start).
inline bool before_window(const coupon& c, epoch_ms now) {
  return c.opens_at != 0 && now < c.opens_at;
}

/// The coupon's window has closed at `now` (0: never closes).
inline bool after_window(const coupon& c, epoch_ms now) {
  return c.closes_at != 0 && now >= c.closes_at;
}

/// One issuance decision: the Kafka event and the `user_coupons` row.
struct issuance_event {
  issuance_id_t issuance_id = 0;
  coupon_id_t coupon_id = 0;
  user_id_t user_id = 0;
  epoch_ms issued_at = 0;
  /// The HTTP request that made the decision (`X-Request-Id`), carried
  /// through Kafka into the row for tracing; empty when not known (events
  /// rebuilt from a snapshot). Not part of the decision: `==` ignores it.
  /// Only `is_request_id` strings: no escaping needed anywhere.
  std::string request_id = {};
  /// The epoch under which the coupon's shard (its Kafka partition) was
  /// owned when the event was published; 0 before shards had epochs. A
  /// record of an older epoch than a fence before it in its partition does
  /// not count (`fence_filter`). Not part of the decision: `==` ignores it.
  uint64_t shard_epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, issuance_event& x) {
  return f(caf::meta::type_name("issuance_event"), x.issuance_id, x.coupon_id,
           x.user_id, x.issued_at, x.request_id, x.shard_epoch);
}

/// A character a request id may hold: [A-Za-z0-9._-], ASCII only.
constexpr bool is_request_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/// 1 to 64 characters of [A-Za-z0-9._-]: safe in JSON, SQL and logs as is.
bool is_request_id(std::string_view text);

inline bool operator==(const issuance_event& a, const issuance_event& b) {
  return a.issuance_id == b.issuance_id && a.coupon_id == b.coupon_id
         && a.user_id == b.user_id && a.issued_at == b.issued_at;
}

/// A row of `user_coupons` joined with its coupon, for `GET /users/{id}/coupons`.
struct user_coupon {
  issuance_event event;
  std::string coupon_name;
  int64_t discount = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_coupon& x) {
  return f(caf::meta::type_name("user_coupon"), x.event, x.coupon_name,
           x.discount);
}

/// Formats epoch milliseconds as ISO-8601 UTC (`2026-11-22T12:00:00.000Z`).
std::string format_time(epoch_ms t);

/// Parses ISO-8601 UTC (`2026-11-22T12:00:00Z`, fraction optional).
std::optional<epoch_ms> parse_time(const std::string& text);

/// The wall clock in epoch milliseconds.
epoch_ms now_ms();

} // namespace dibs
