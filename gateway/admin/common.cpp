#include "gateway/admin/admin.hpp"

namespace dibs::admin {

json histogram(const latency_histogram& h) {
  auto counts = h.counts();
  json bounds = json::array();
  for (auto b : latency_histogram::bounds_us)
    bounds.push_back(b);
  uint64_t total = 0;
  for (auto n : counts)
    total += n;
  return json{{"boundsUs", std::move(bounds)},
              {"counts", counts},
              {"count", total},
              {"sumUs", h.sum_us()},
              {"p50Us", latency_histogram::quantile_us(counts, 0.50)},
              {"p90Us", latency_histogram::quantile_us(counts, 0.90)},
              {"p99Us", latency_histogram::quantile_us(counts, 0.99)}};
}

json restarts(const node_metrics& m) {
  return json{{"stock", m.stock_restarts.load()},
              {"writer", m.writer_restarts.load()},
              {"producer", m.producer_restarts.load()},
              {"other", m.other_restarts.load()}};
}

json time_or_null(epoch_ms t) {
  return t == 0 ? json(nullptr) : json(format_time(t));
}

} // namespace dibs::admin
