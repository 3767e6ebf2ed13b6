#pragma once

#include <optional>
#include <string_view>

#include <caf/error.hpp>

#include "core/domain.hpp"

namespace dibs {

class node;

/// The faults `POST /admin/faults` injects when `node.fault-injection` is
/// on. A crashed actor is killed as a crash would kill it; the supervisor
/// takes it from there.
enum class fault : uint8_t {
  /// The stock actor of one coupon.
  crash_stock,
  /// The first writer.
  crash_writer,
  crash_snapshotter,
  crash_resolver,
  /// The producer fails as on a fatal librdkafka error; the producer guard
  /// replaces it.
  producer_fatal,
  /// The node stops serving one coupon's shard as if a newer owner had
  /// fenced it, while the owners' group goes on assigning it there.
  drop_shard,
  /// The next fence of one coupon's shard fails after it was stored in the
  /// log (its epoch claimed in MySQL), as a fence whose acknowledgement
  /// was lost would; the takeover retries with the next epoch.
  fail_fence,
};

/// The fault's name in the API: `crash-stock`, `crash-writer`, ...
std::string_view to_string(fault x);

/// The fault named `name`, if any.
std::optional<fault> parse_fault(std::string_view name);

/// Injects `x` into the running node `n`; `coupon` names the stock actor of
/// `crash_stock` and the shard of `drop_shard` and `fail_fence`. `coupon_not_found` or
/// `not_found` when its target is not running or served here.
caf::error inject_fault(node& n, fault x, coupon_id_t coupon);

} // namespace dibs
