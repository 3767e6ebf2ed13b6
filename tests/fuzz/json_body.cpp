// libFuzzer target: a request body through the strict JSON rules
// (`parse_object`) and the issue route's decoding (`decode_issue_body`).
//
// Besides the sanitizers' findings, it traps when a result breaks what the
// rules promise: what `parse_object` takes is an object that nlohmann's own
// parser reads the same and whose dump `parse_object` takes again; a
// decoded user id is in range and is the body's only field.

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
  return 0;
}
