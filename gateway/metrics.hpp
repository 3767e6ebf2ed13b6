#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace dibs {

/// The gateway's routes, as labels of its metrics.
enum class route : uint8_t {
  create_coupon,
  get_coupon,
  issue,
  issuance_status,
  user_coupons,
  healthz,
  readyz,
  metrics,
  faults,
  unmatched,
};

constexpr size_t route_count = static_cast<size_t>(route::unmatched) + 1;

const char* to_string(route r);

/// Request counters by route and status, lock-free on the hot path, rendered
/// in Prometheus' text exposition format.
class gateway_metrics {
public:
  void count(route r, unsigned status);

  std::string render() const;

private:
  static constexpr std::array<unsigned, 14> statuses = {
    200, 201, 202, 400, 401, 403, 404, 405, 409, 413, 429, 431, 503, 500};
  std::array<std::array<std::atomic<uint64_t>, statuses.size()>, route_count>
    counts_{};
};

} // namespace dibs
