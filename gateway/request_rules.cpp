#include "gateway/request_rules.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <limits>
#include <set>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

namespace dibs {

namespace http = boost::beast::http;
using json = nlohmann::json;

std::optional<refusal>
check_framing(const http::request_header<>& header,
              const framing_limits& limits) {
  auto version = header.version();
  if (version != 10 && version != 11)
    return refusal{ec::version_not_supported, "only HTTP/1.0 and 1.1"};
  if (header.target().size() > limits.max_target_bytes)
    return refusal{ec::uri_too_long, "the request target is too long"};
  size_t fields = 0, lengths = 0, encodings = 0, hosts = 0;
  boost::beast::string_view encoding, length;
  for (auto& f : header) {
    ++fields;
    switch (f.name()) {
      case http::field::content_length:
        ++lengths;
        length = f.value();
        break;
      case http::field::transfer_encoding:
        ++encodings;
        encoding = f.value();
        break;
      case http::field::host:
        ++hosts;
        break;
      default:
        break;
    }
  }
  if (fields > limits.max_header_fields)
    return refusal{ec::headers_too_large, "too many header fields"};
  if (encodings > 0 && version == 10)
    return refusal{ec::bad_request, "Transfer-Encoding is not HTTP/1.0"};
  if (encodings > 1)
    return refusal{ec::bad_request, "more than one Transfer-Encoding"};
  if (encodings == 1 && !boost::beast::iequals(encoding, "chunked"))
    return refusal{ec::bad_request, "the only Transfer-Encoding taken is "
                                    "chunked"};
  if (encodings > 0 && lengths > 0)
    return refusal{ec::bad_request,
                   "Transfer-Encoding and Content-Length together"};
  if (lengths > 1)
    return refusal{ec::bad_request, "more than one Content-Length"};
  if (lengths == 1
      && (length.empty()
          || length.find_first_not_of("0123456789") != length.npos))
    return refusal{ec::bad_request, "Content-Length must be one number"};
  if (version == 11 && hosts != 1)
    return refusal{ec::bad_request, "HTTP/1.1 needs exactly one Host"};
  return std::nullopt;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> result;
  result.reserve(
    static_cast<size_t>(std::count(path.begin(), path.end(), '/')));
  size_t pos = 1; // Skip the leading '/'.
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string_view::npos)
      next = path.size();
    result.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return result;
}

void check_chunk_header(std::uint64_t, boost::beast::string_view extensions,
                        boost::beast::error_code& err) {
  if (extensions.size() > max_chunk_extension_bytes)
    err = http::error::bad_chunk_extension;
}

bool is_admin_route(route r) {
  return r == route::introspection || r == route::console
         || r == route::faults || r == route::metrics;
}

route_match match_route(http::verb method, std::string_view target,
                        exposure on) {
  route_match m;
  auto refuse = [&m](ec code, const char* message) {
    m.refused = refusal{code, message};
    return m;
  };
  // The route is known: refuse a method it does not take, or one it
  // should not serve on this listener.
  auto matched = [&](route r, http::verb v) {
    m.r = r;
    if ((on == exposure::public_only && is_admin_route(r))
        || (on == exposure::admin_only && !is_admin_route(r)
            && r != route::healthz && r != route::readyz)) {
      m.r = route::unmatched;
      m.refused = refusal{ec::not_found, "no such route"};
    } else if (method != v
               && !(method == http::verb::head && v == http::verb::get)) {
      // HEAD is GET without the body (the session leaves the body out).
      auto name = http::to_string(v);
      m.allow = v == http::verb::get ? std::string_view{"GET, HEAD"}
                                     : std::string_view{name.data(),
                                                        name.size()};
      m.refused = refusal{ec::method_not_allowed,
                          "method not allowed on this path"};
    }
    return !m.refused;
  };
  auto qpos = target.find('?');
  auto path = target.substr(0, qpos);
  auto query = qpos == std::string_view::npos ? std::string_view{}
                                              : target.substr(qpos + 1);
  if (path.empty() || path[0] != '/')
    return refuse(ec::bad_request, "bad request target");
  m.seg = split_path(path);
  auto& seg = m.seg;
  if (seg.size() == 1 && seg[0] == "healthz") {
    matched(route::healthz, http::verb::get);
    return m;
  }
  if (seg.size() == 1 && seg[0] == "readyz") {
    matched(route::readyz, http::verb::get);
    return m;
  }
  if (seg.size() == 1 && seg[0] == "metrics") {
    matched(route::metrics, http::verb::get);
    return m;
  }
  if (seg.size() >= 3 && seg[0] == "admin" && seg[1] == "api") {
    matched(route::introspection, http::verb::get);
    return m;
  }
  if (seg[0] == "console" && seg.size() <= 2) {
    matched(route::console, http::verb::get);
    return m;
  }
  if (seg.size() == 2 && seg[0] == "admin" && seg[1] == "faults") {
    matched(route::faults, http::verb::post);
    return m;
  }
  if (seg.size() < 2 || seg[0] != "api")
    return refuse(ec::not_found, "no such route");
  if (seg[1] == "coupons") {
    if (seg.size() == 2) {
      matched(route::create_coupon, http::verb::post);
      return m;
    }
    auto id = parse_id(seg[2], max_coupon_id);
    if (id)
      m.coupon = static_cast<coupon_id_t>(*id);
    if (seg.size() == 3) {
      if (matched(route::get_coupon, http::verb::get) && !id)
        return refuse(ec::bad_request, "couponId must be a positive integer");
      return m;
    }
    if (seg.size() == 4 && seg[3] == "issue") {
      if (!matched(route::issue, http::verb::post))
        return m;
      if (!id)
        return refuse(ec::bad_request, "couponId must be a positive integer");
      if (query == "wait=true" || query == "wait=1")
        m.wait = true;
      else if (!query.empty() && query != "wait=false" && query != "wait=0")
        return refuse(ec::bad_request,
                      "the only query parameter is wait=true|false");
      return m;
    }
    if (seg.size() == 5 && seg[3] == "issuances") {
      if (!matched(route::issuance_status, http::verb::get))
        return m;
      auto user = parse_id(seg[4], max_user_id);
      if (!id || !user)
        return refuse(ec::bad_request, "ids must be positive integers");
      m.user = *user;
      return m;
    }
    return refuse(ec::not_found, "no such route");
  }
  if (seg[1] == "users" && seg.size() == 4 && seg[3] == "coupons") {
    if (!matched(route::user_coupons, http::verb::get))
      return m;
    auto user = parse_id(seg[2], max_user_id);
    if (!user)
      return refuse(ec::bad_request, "userId must be a positive integer");
    m.user = *user;
    return m;
  }
  return refuse(ec::not_found, "no such route");
}

std::optional<uint64_t> parse_id(std::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 20 || text[0] == '0')
    return std::nullopt;
  uint64_t value = 0;
  auto [ptr, err] = std::from_chars(text.data(), text.data() + text.size(),
                                    value);
  if (err != std::errc{} || ptr != text.data() + text.size() || value == 0
      || value > max)
    return std::nullopt;
  return value;
}

std::variant<json, refusal> parse_object(std::string_view body) {
  std::vector<std::set<std::string>> keys;
  bool duplicate = false, deep = false;
  auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        [[fallthrough]];
      case json::parse_event_t::array_start:
        deep = deep || static_cast<size_t>(depth) >= max_json_depth;
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty())
          keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
          duplicate = true;
        break;
      default:
        break;
    }
    return true;
  };
  // RFC 8259: JSON sent between systems must not start with a byte order
  // mark; nlohmann would skip it.
  if (body.substr(0, 3) == "\xEF\xBB\xBF")
    return refusal{ec::bad_request, "the body starts with a byte order mark"};
  // Invalid UTF-8 in a string is a parse error too.
  auto j = json::parse(body.begin(), body.end(), check, false);
  if (j.is_discarded())
    return refusal{ec::bad_request, "the body is not valid JSON (UTF-8)"};
  if (deep)
    return refusal{ec::bad_request, "the body nests too deep"};
  if (duplicate)
    return refusal{ec::bad_request, "the body repeats a key"};
  if (!j.is_object())
    return refusal{ec::bad_request, "the body must be a JSON object"};
  return j;
}

std::optional<int64_t> get_int(const json& j, int64_t lo, int64_t hi) {
  if (j.is_number_unsigned()) {
    auto v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(hi))
      return std::nullopt;
    if (static_cast<int64_t>(v) < lo)
      return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (j.is_number_integer()) {
    auto v = j.get<int64_t>();
    if (v < lo || v > hi)
      return std::nullopt;
    return v;
  }
  return std::nullopt;
}

std::optional<user_id_t> read_plain_issue_body(std::string_view body) {
  size_t i = 0;
  auto space = [&] {
    while (i < body.size()
           && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n'
               || body[i] == '\r'))
      ++i;
  };
  auto token = [&](std::string_view t) {
    space();
    if (body.substr(i, t.size()) != t)
      return false;
    i += t.size();
    return true;
  };
  if (!token("{") || !token(R"("userId")") || !token(":"))
    return std::nullopt;
  space();
  // 2^53-1 has 16 digits: a 16-digit number cannot overflow.
  auto first = i;
  uint64_t user = 0;
  while (i < body.size() && i - first < 17 && body[i] >= '0' && body[i] <= '9')
    user = user * 10 + static_cast<uint64_t>(body[i++] - '0');
  auto digits = i - first;
  if (digits == 0 || digits > 16 || body[first] == '0' || user > max_user_id)
    return std::nullopt;
  if (!token("}"))
    return std::nullopt;
  space();
  if (i != body.size())
    return std::nullopt;
  return user;
}

std::variant<user_id_t, refusal> decode_issue_body(std::string_view body) {
  if (auto user = read_plain_issue_body(body))
    return *user;
  return decode_issue_json(body);
}

std::variant<user_id_t, refusal> decode_issue_json(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* r = std::get_if<refusal>(&parsed))
    return std::move(*r);
  auto& j = std::get<json>(parsed);
  if (j.size() != 1 || !j.contains("userId"))
    return refusal{ec::bad_request,
                   "the body must hold exactly one field, userId"};
  auto user = get_int(j.at("userId"), 1, static_cast<int64_t>(max_user_id));
  if (!user)
    return refusal{ec::bad_request, "userId must be an integer from 1 to "
                                    "2^53-1"};
  return static_cast<user_id_t>(*user);
}

std::variant<std::string, refusal>
read_idempotency_key(const boost::beast::http::request_header<>& header) {
  constexpr const char* field = "Idempotency-Key";
  auto [first, last] = header.equal_range(field);
  if (first == last)
    return std::string{};
  if (std::next(first) != last)
    return refusal{ec::bad_request, "Idempotency-Key given more than once"};
  auto value = first->value();
  if (!is_request_id({value.data(), value.size()}))
    return refusal{ec::bad_request,
                   "Idempotency-Key must be 1 to 64 characters of "
                   "[A-Za-z0-9._-]"};
  return std::string{value.data(), value.size()};
}

std::variant<coupon, refusal> decode_coupon_body(std::string_view body) {
  auto bad = [](std::string message) {
    return refusal{ec::bad_request, std::move(message)};
  };
  auto parsed = parse_object(body);
  if (auto* r = std::get_if<refusal>(&parsed))
    return std::move(*r);
  auto& j = std::get<json>(parsed);
  coupon spec;
  for (auto& [key, value] : j.items()) {
    if (key == "name") {
      if (!value.is_string())
        return bad("name must be a string");
      spec.name = value.get<std::string>();
      if (spec.name.empty() || spec.name.size() > max_name_length)
        return bad("name must have 1 to 200 characters");
    } else if (key == "discount") {
      auto v = get_int(value, 0, std::numeric_limits<int64_t>::max());
      if (!v)
        return bad("discount must be a non-negative integer");
      spec.discount = *v;
    } else if (key == "totalQuantity") {
      auto v = get_int(value, 1, max_total_quantity);
      if (!v)
        return bad("totalQuantity must be an integer from 1 to 100000000");
      spec.total_quantity = static_cast<uint32_t>(*v);
    } else if (key == "opensAt" || key == "closesAt") {
      if (value.is_null())
        continue;
      auto t = value.is_string() ? parse_time(value.get<std::string>())
                                 : std::nullopt;
      if (!t)
        return bad(key + " must be an ISO-8601 UTC time like "
                         "2026-11-22T12:00:00Z");
      // MariaDB 10.11's FROM_UNIXTIME and UNIX_TIMESTAMP, which store and
      // read the times, end there: a later time would be stored as none.
      constexpr epoch_ms last_stored = 2'147'483'647'999;
      if (*t > last_stored)
        return bad(key + " must be before 2038-01-19T03:14:08Z");
      (key == "opensAt" ? spec.opens_at : spec.closes_at) = *t;
    } else {
      return bad("unknown field " + key);
    }
  }
  if (spec.name.empty())
    return bad("name is required");
  if (!j.contains("discount"))
    return bad("discount is required");
  if (spec.total_quantity == 0)
    return bad("totalQuantity is required");
  if (spec.opens_at != 0 && spec.closes_at != 0
      && spec.closes_at <= spec.opens_at)
    return bad("closesAt must be after opensAt");
  return spec;
}

ec check_admin_token(std::string_view authorization, std::string_view token) {
  constexpr std::string_view prefix = "Bearer ";
  if (authorization.empty())
    return ec::unauthorized;
  if (authorization.substr(0, prefix.size()) != prefix || token.empty())
    return ec::forbidden;
  auto given = authorization.substr(prefix.size());
  // Every byte is compared whatever the first difference, so the time taken
  // does not tell an attacker how much of the token was right.
  size_t diff = token.size() ^ given.size();
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i])
            ^ static_cast<unsigned char>(token[i % token.size()]);
  return diff == 0 ? ec::none : ec::forbidden;
}

} // namespace dibs
