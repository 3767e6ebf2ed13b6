#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/histogram.hpp"
#include "actors/node.hpp"
#include "gateway/metrics.hpp"

// The introspection API under /admin/api/ (admin token required) and the
// console page: one file per area, each rendering what the node's live
// figures hold (actors/introspection.hpp) as JSON. Reading them sends no
// message and waits on no actor.
namespace dibs::admin {

using json = nlohmann::json;

/// GET /admin/api/nodes: the node(s), their health and Kafka log.
json nodes(const node& n);

/// GET /admin/api/overview: request counters and latency by route, issue
/// outcomes, Kafka and writer totals; what the console charts.
json overview(const node& n, const gateway_metrics& metrics);

/// GET /admin/api/stock: every stock actor.
json stock_list(const node& n);

/// GET /admin/api/stock/{id}: one stock actor with its stock over time and
/// latest answers; nothing when the node has no such coupon.
std::optional<json> stock_one(const node& n, coupon_id_t id);

/// GET /admin/api/writers: every writer with its partitions' lag.
json writers(const node& n);

/// GET /admin/api/supervision: the supervisor's children and restarts.
json supervision(const node& n);

/// GET /admin/api/producer: records in flight, delivery reports, latency.
json producer(const node& n);

/// A histogram's buckets (bounds in µs, counts per bucket), count, sum
/// and p50/p90/p99 upper bounds.
json histogram(const latency_histogram& h);

/// The supervisor's restarts by kind.
json restarts(const node_metrics& m);

/// ISO-8601 UTC, or null for 0.
json time_or_null(epoch_ms t);

/// The console's static files: index.html, console.js, console.css; null
/// for any other name.
struct asset {
  std::string_view content_type;
  std::string_view body;
};
std::optional<asset> console_asset(std::string_view name);

} // namespace dibs::admin
