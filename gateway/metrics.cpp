#include "gateway/metrics.hpp"

#include <sstream>

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
    case route::unmatched: return "unmatched";
  }
  return "unmatched";
}

void gateway_metrics::count(route r, unsigned status) {
  size_t i = 0;
  while (i + 1 < statuses.size() && statuses[i] != status)
    ++i; // Unknown statuses land on the last slot, 500.
  counts_[static_cast<size_t>(r)][i].fetch_add(1, std::memory_order_relaxed);
}

std::string gateway_metrics::render() const {
  std::ostringstream out;
  out << "# HELP dibs_http_requests_total HTTP requests by route and status.\n"
         "# TYPE dibs_http_requests_total counter\n";
  for (size_t r = 0; r < route_count; ++r)
    for (size_t s = 0; s < statuses.size(); ++s) {
      auto n = counts_[r][s].load(std::memory_order_relaxed);
      if (n > 0)
        out << "dibs_http_requests_total{route=\""
            << to_string(static_cast<route>(r)) << "\",status=\""
            << statuses[s] << "\"} " << n << '\n';
    }
  return out.str();
}

} // namespace dibs
