#pragma once

#include <string>

#include "actors/node.hpp"
#include "gateway/metrics.hpp"

namespace dibs {

/// `GET /metrics`: the gateway's request figures, the node's, the stock
/// actors', writers' and supervisor's, the Kafka producer's, and an info
/// metric naming the Kafka log the node writes to, in Prometheus' text
/// exposition format.
std::string render_metrics_page(const node& n, const gateway_metrics& gateway);

} // namespace dibs
