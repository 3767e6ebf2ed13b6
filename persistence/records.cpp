#include "persistence/records.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dibs {

std::string encode(const issuance_event& x) {
  // Numbers and a request id that needs no escaping, on the issuing path:
  // no JSON tree needed.
  if (x.request_id.empty())
    return fmt::format(R"({{"issuanceId":{},"couponId":{},"userId":{},)"
                       R"("issuedAt":{}}})",
                       x.issuance_id, x.coupon_id, x.user_id, x.issued_at);
  return fmt::format(R"({{"issuanceId":{},"couponId":{},"userId":{},)"
                     R"("issuedAt":{},"requestId":"{}"}})",
                     x.issuance_id, x.coupon_id, x.user_id, x.issued_at,
                     x.request_id);
}

std::optional<issuance_event> decode_issuance(const void* data, size_t size) {
  auto first = static_cast<const char*>(data);
  auto j = nlohmann::json::parse(first, first + size, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return std::nullopt;
  auto get_u = [&](const char* key, uint64_t& out) {
    auto i = j.find(key);
    if (i == j.end() || !i->is_number_unsigned())
      return false;
    out = i->get<uint64_t>();
    return true;
  };
  uint64_t id = 0, coupon = 0, user = 0, at = 0;
  if (!get_u("issuanceId", id) || !get_u("couponId", coupon)
      || !get_u("userId", user) || !get_u("issuedAt", at))
    return std::nullopt;
  issuance_event result{id, static_cast<coupon_id_t>(coupon), user,
                        static_cast<epoch_ms>(at)};
  // A record whose request id is missing or malformed keeps none.
  if (auto r = j.find("requestId"); r != j.end() && r->is_string()
                                    && is_request_id(r->get<std::string>()))
    result.request_id = r->get<std::string>();
  return result;
}

} // namespace dibs
