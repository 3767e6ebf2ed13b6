#include "persistence/records.hpp"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dibs {

std::string encode(const issuance_event& x) {
  // Numbers and a request id that needs no escaping, on the issuing path:
  // no JSON tree needed.
  auto out = fmt::format(R"({{"issuanceId":{},"couponId":{},"userId":{},)"
                         R"("issuedAt":{})",
                         x.issuance_id, x.coupon_id, x.user_id, x.issued_at);
  if (!x.request_id.empty())
    fmt::format_to(std::back_inserter(out), R"(,"requestId":"{}")",
                   x.request_id);
  if (x.shard_epoch != 0)
    fmt::format_to(std::back_inserter(out), R"(,"epoch":{})", x.shard_epoch);
  out += '}';
  return out;
}

std::optional<issuance_event> read_plain_issuance(std::string_view text) {
  size_t i = 0;
  auto token = [&](std::string_view t) {
    if (text.substr(i, t.size()) != t)
      return false;
    i += t.size();
    return true;
  };
  auto number = [&](uint64_t& out) {
    auto first = i;
    out = 0;
    while (i < text.size() && i - first < 20 && text[i] >= '0'
           && text[i] <= '9')
      out = out * 10 + static_cast<uint64_t>(text[i++] - '0');
    auto digits = i - first;
    return digits > 0 && digits < 20 && (digits == 1 || text[first] != '0');
  };
  uint64_t id = 0, coupon = 0, user = 0, at = 0;
  if (!token(R"({"issuanceId":)") || !number(id) || !token(R"(,"couponId":)")
      || !number(coupon) || !token(R"(,"userId":)") || !number(user)
      || !token(R"(,"issuedAt":)") || !number(at))
    return std::nullopt;
  issuance_event e{id, static_cast<coupon_id_t>(coupon), user,
                   static_cast<epoch_ms>(at)};
  if (token(R"(,"requestId":")")) {
    auto first = i;
    while (i < text.size() && is_request_id_char(text[i]))
      ++i;
    auto id_text = text.substr(first, i - first);
    if (!token("\""))
      return std::nullopt;
    // A malformed request id is dropped, as the parser's reading does.
    if (is_request_id(id_text))
      e.request_id = std::string{id_text};
  }
  if (token(R"(,"epoch":)") && !number(e.shard_epoch))
    return std::nullopt;
  if (!token("}") || i != text.size())
    return std::nullopt;
  return e;
}

std::optional<issuance_event> decode_issuance(const void* data, size_t size) {
  if (auto e = read_plain_issuance({static_cast<const char*>(data), size}))
    return e;
  return decode_issuance_json(data, size);
}

namespace {

/// The event a parsed JSON value holds, if it is one.
std::optional<issuance_event> issuance_of(const nlohmann::json& j) {
  if (!j.is_object())
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
  if (uint64_t epoch = 0; get_u("epoch", epoch))
    result.shard_epoch = epoch;
  return result;
}

/// Reads an array of events by `read_plain_issuance` alone: each element
/// is a plain event, which holds no '}' before its end.
std::optional<std::vector<issuance_event>>
read_plain_batch(std::string_view text) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']')
    return std::nullopt;
  std::vector<issuance_event> result;
  size_t i = 1;
  for (;;) {
    auto end = text.find('}', i);
    if (end == std::string_view::npos)
      return std::nullopt;
    auto e = read_plain_issuance(text.substr(i, end + 1 - i));
    if (!e)
      return std::nullopt;
    result.push_back(std::move(*e));
    i = end + 1;
    if (i + 1 == text.size())
      return result; // text[i] is the closing ']'.
    if (text[i] != ',')
      return std::nullopt;
    ++i;
  }
}

} // namespace

std::optional<issuance_event> decode_issuance_json(const void* data,
                                                   size_t size) {
  auto first = static_cast<const char*>(data);
  auto j = nlohmann::json::parse(first, first + size, nullptr, false);
  if (j.is_discarded())
    return std::nullopt;
  return issuance_of(j);
}

std::string encode_batch(const std::vector<issuance_event>& events) {
  if (events.size() == 1)
    return encode(events.front());
  std::string out = "[";
  for (auto& e : events) {
    if (out.size() > 1)
      out += ',';
    out += encode(e);
  }
  out += ']';
  return out;
}

std::vector<issuance_event> decode_issuances(const void* data, size_t size) {
  auto first = static_cast<const char*>(data);
  std::string_view text{first, size};
  // An array, as the parser would read it: after any JSON whitespace.
  auto lead = text.find_first_not_of(" \t\n\r");
  if (lead == std::string_view::npos || text[lead] != '[') {
    std::vector<issuance_event> result;
    if (auto e = decode_issuance(data, size))
      result.push_back(std::move(*e));
    return result;
  }
  if (auto plain = read_plain_batch(text))
    return std::move(*plain);
  auto j = nlohmann::json::parse(first, first + size, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.empty())
    return {};
  std::vector<issuance_event> result;
  result.reserve(j.size());
  for (auto& x : j) {
    auto e = issuance_of(x);
    if (!e)
      return {}; // Not a record of events: nothing of it counts.
    result.push_back(std::move(*e));
  }
  return result;
}

std::string encode_fence(uint64_t epoch, const std::string& owner) {
  nlohmann::json j{{"fence", epoch}, {"owner", owner}};
  return j.dump();
}

std::string encode_probe(const std::string& owner) {
  nlohmann::json j{{"probe", owner}};
  return j.dump();
}

bool is_probe(const void* data, size_t size) {
  auto first = static_cast<const char*>(data);
  auto j = nlohmann::json::parse(first, first + size, nullptr, false);
  return j.is_object() && j.contains("probe");
}

std::optional<uint64_t> decode_fence(const void* data, size_t size) {
  auto first = static_cast<const char*>(data);
  auto j = nlohmann::json::parse(first, first + size, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return std::nullopt;
  auto i = j.find("fence");
  if (i == j.end() || !i->is_number_unsigned())
    return std::nullopt;
  return i->get<uint64_t>();
}

bool fence_filter::add(const log_fence& f) {
  auto at = std::lower_bound(fences_.begin(), fences_.end(), f,
                             [](const log_fence& a, const log_fence& b) {
                               return std::tie(a.partition, a.offset)
                                      < std::tie(b.partition, b.offset);
                             });
  if (at != fences_.end() && *at == f)
    return false;
  fences_.insert(at, f);
  return true;
}

bool read_back::read(int64_t offset, std::optional<uint64_t> fence) {
  if (offset < read_to_)
    return false; // Before this owner's fence, or read already.
  read_to_ = offset + 1;
  extend();
  if (fence && *fence > epoch_ && fenced_at_ < 0) {
    fenced_at_ = offset;
    return true;
  }
  return false;
}

bool read_back::own(int64_t offset, uint64_t epoch) {
  if (epoch != epoch_)
    return false;
  if (offset < known_to_)
    return true;
  own_.insert(offset);
  extend();
  return true;
}

void read_back::extend() {
  known_to_ = std::max(known_to_, read_to_);
  while (!own_.empty() && *own_.begin() <= known_to_) {
    if (*own_.begin() == known_to_)
      ++known_to_;
    own_.erase(own_.begin());
  }
}

read_back::verdict read_back::of(int64_t offset) const {
  if (offset >= known_to_)
    return verdict::pending;
  return fenced_at_ >= 0 && offset > fenced_at_ ? verdict::fenced
                                                : verdict::counts;
}

bool fence_filter::voids(int32_t partition, int64_t offset,
                         uint64_t epoch) const {
  for (auto& f : fences_)
    if (f.partition == partition && f.offset < offset && f.epoch > epoch)
      return true;
  return false;
}

} // namespace dibs
