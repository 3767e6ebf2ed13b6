// libFuzzer target: a request body through the strict JSON rules
// (`parse_object`) and the decoding of the issue and create routes
// (`decode_issue_body`, `decode_coupon_body`).
//
// Besides the sanitizers' findings, it traps when a result breaks what the
// rules promise: what `parse_object` takes is an object that nlohmann's own
// parser reads the same and whose dump `parse_object` takes again; a
// decoded user id is in range and is the body's only field; a decoded
// coupon is within its limits and came from known fields only.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/request_rules.hpp"

using namespace dibs;
using json = nlohmann::json;

namespace {

void require(bool ok) {
  if (!ok)
    __builtin_trap();
}

size_t depth_of(const json& j) {
  size_t deepest = 0;
  if (j.is_structured())
    for (auto& child : j)
      deepest = std::max(deepest, depth_of(child));
  return j.is_structured() ? deepest + 1 : 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body{reinterpret_cast<const char*>(data), size};
  auto parsed = parse_object(body);
  if (auto* j = std::get_if<json>(&parsed)) {
    require(j->is_object());
    require(depth_of(*j) <= max_json_depth);
    auto plain = json::parse(body.begin(), body.end(), nullptr, false);
    require(!plain.is_discarded() && plain == *j);
    auto again = parse_object(j->dump());
    require(std::holds_alternative<json>(again)
            && std::get<json>(again) == *j);
  } else {
    require(std::get<refusal>(parsed).code == ec::bad_request);
  }
  auto decoded = decode_issue_body(body);
  if (auto* user = std::get_if<user_id_t>(&decoded)) {
    require(*user >= 1 && *user <= max_user_id);
    auto& j = std::get<json>(parsed);
    require(j.size() == 1 && j.at("userId") == *user);
  }
  auto spec = decode_coupon_body(body);
  if (auto* c = std::get_if<coupon>(&spec)) {
    auto& j = std::get<json>(parsed);
    require(!c->name.empty() && c->name.size() <= max_name_length);
    require(j.at("name") == c->name && j.at("discount") == c->discount);
    require(c->discount >= 0);
    require(c->total_quantity >= 1 && c->total_quantity <= max_total_quantity);
    require(c->opens_at == 0 || c->closes_at == 0
            || c->closes_at > c->opens_at);
    for (auto& [key, value] : j.items())
      require(key == "name" || key == "discount" || key == "totalQuantity"
              || key == "opensAt" || key == "closesAt");
  } else {
    require(std::get<refusal>(spec).code == ec::bad_request);
  }
  return 0;
}
