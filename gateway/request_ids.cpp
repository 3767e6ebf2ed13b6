#include "gateway/request_ids.hpp"

#include <random>

#include <fmt/format.h>

#include "core/domain.hpp"

namespace dibs {

request_ids::request_ids() {
  std::random_device rd;
  prefix_ = fmt::format("{:05x}", rd() & 0xfffff);
}

std::string request_ids::of(std::string_view given) {
  if (is_request_id(given))
    return std::string{given};
  return fmt::format("{}{:010x}", prefix_,
                     next_.fetch_add(1, std::memory_order_relaxed)
                       & 0xff'ffff'ffffULL);
}

} // namespace dibs
