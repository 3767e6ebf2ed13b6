#include "gateway/metrics.hpp"

#include <fmt/format.h>

#include "gateway/http_errors.hpp"

namespace dibs {

const char* to_string(route r) {
  switch (r) {
    case route::create_coupon: return "create_coupon";
    case route::get_coupon: return "get_coupon";
    case route::issue: return "issue";
    case route::issuance_status: return "issuance_status";
    case route::user_coupons: return "user_coupons";
    case route::healthz: return "healthz";
    case route::readyz: return "readyz";
    case route::metrics: return "metrics";
    case route::faults: return "faults";
    case route::introspection: return "introspection";
    case route::console: return "console";
    case route::unmatched: return "unmatched";
  }
  return "unmatched";
}

size_t gateway_metrics::slot_of(unsigned status) {
  size_t i = 0;
  while (i + 1 < statuses.size() && statuses[i] != status)
    ++i; // Unknown statuses land on the last slot, 500.
  return i;
}

void gateway_metrics::count(route r, unsigned status,
                            std::chrono::microseconds took) {
  counts_[static_cast<size_t>(r)][slot_of(status)].fetch_add(
    1, std::memory_order_relaxed);
  latency_[static_cast<size_t>(r)].record(took);
}

void gateway_metrics::refused(ec code) {
  auto status = static_cast<unsigned>(status_of(code));
  refused_[slot_of(status)].fetch_add(1, std::memory_order_relaxed);
}

uint64_t gateway_metrics::answers(route r, unsigned status) const {
  return counts_[static_cast<size_t>(r)][slot_of(status)].load(
    std::memory_order_relaxed);
}

std::string gateway_metrics::render() const {
  std::string out;
  render_family(out, "dibs_http_requests_total", "counter",
                "HTTP requests by route and status.");
  for (size_t r = 0; r < route_count; ++r)
    for (size_t s = 0; s < statuses.size(); ++s) {
      auto n = counts_[r][s].load(std::memory_order_relaxed);
      if (n > 0)
        out += fmt::format(
          "dibs_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
          to_string(static_cast<route>(r)), statuses[s], n);
    }
  render_family(out, "dibs_http_refused_total", "counter",
                "Requests the session answered itself by status before "
                "closing the connection: framing errors, limits, too many "
                "connections.");
  for (size_t s = 0; s < statuses.size(); ++s)
    if (auto n = refused_[s].load(std::memory_order_relaxed); n > 0)
      out += fmt::format("dibs_http_refused_total{{status=\"{}\"}} {}\n",
                         statuses[s], n);
  render_family(out, "dibs_http_request_duration_seconds", "histogram",
                "From a request read in full to its answer, by route.");
  for (size_t r = 0; r < route_count; ++r)
    if (latency_[r].count() > 0)
      latency_[r].render(out, "dibs_http_request_duration_seconds",
                         fmt::format("route=\"{}\"",
                                     to_string(static_cast<route>(r))));
  return out;
}

} // namespace dibs
