#include "cli/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace dibs::load {

using nlohmann::json;

millis scenario::total_duration() const {
  if (open_loop())
    return duration;
  millis total{0};
  for (auto& s : stages)
    total += s.duration;
  return total;
}

uint32_t scenario::target_vus(millis elapsed) const {
  double from = 0;
  for (auto& s : stages) {
    if (elapsed < s.duration) {
      auto f = static_cast<double>(elapsed.count())
               / static_cast<double>(s.duration.count());
      return static_cast<uint32_t>(std::lround(from + (s.target - from) * f));
    }
    elapsed -= s.duration;
    from = s.target;
  }
  return 0;
}

uint32_t scenario::peak_vus() const {
  uint32_t peak = 0;
  for (auto& s : stages)
    peak = std::max(peak, s.target);
  return peak;
}

void scenario::scale_duration(double factor) {
  auto scale = [factor](millis& d) {
    if (d.count() > 0)
      d = millis{std::max<int64_t>(
        1, std::llround(static_cast<double>(d.count()) * factor))};
  };
  for (auto& s : stages)
    scale(s.duration);
  if (open_loop())
    scale(duration);
}

void scenario::set_peak_vus(uint32_t vus) {
  auto peak = peak_vus();
  if (peak == 0)
    return;
  for (auto& s : stages)
    s.target = static_cast<uint32_t>(std::lround(
      static_cast<double>(s.target) * vus / static_cast<double>(peak)));
}

void scenario::set_rate(double rate) {
  duration = total_duration();
  rate_per_s = rate;
  stages.clear();
}

int64_t scenario::total_stock() const {
  int64_t total = 0;
  for (auto& g : coupons)
    total += g.total_quantity * g.count;
  return total;
}

size_t scenario::coupon_count() const {
  size_t n = 0;
  for (auto& g : coupons)
    n += g.count;
  return n;
}

millis parse_duration(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw std::invalid_argument("not a duration: '" + text + "'");
  }
  auto unit = text.substr(used);
  double ms = 0;
  if (unit == "ms")
    ms = value;
  else if (unit == "s")
    ms = value * 1e3;
  else if (unit == "m")
    ms = value * 60e3;
  else if (unit == "h")
    ms = value * 3600e3;
  else
    throw std::invalid_argument("duration '" + text
                                + "' needs a unit: ms, s, m or h");
  if (!(value >= 0))
    throw std::invalid_argument("negative duration: '" + text + "'");
  return millis{std::llround(ms)};
}

std::string to_string(millis d) {
  auto ms = d.count();
  if (ms % 60'000 == 0 && ms > 0)
    return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0 && ms > 0)
    return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

const char* to_string(flow kind) {
  switch (kind) {
    case flow::issue: return "issue";
    case flow::issue_wait: return "issue-wait";
    case flow::issue_then_poll: return "issue-then-poll";
  }
  return "?";
}

namespace {

template <class T>
T get(const json& doc, const char* key, T fallback) {
  if (!doc.contains(key))
    return fallback;
  try {
    return doc.at(key).get<T>();
  } catch (const json::exception&) {
    throw std::invalid_argument(fmt::format("'{}' has the wrong type", key));
  }
}

millis get_duration(const json& doc, const char* key, millis fallback) {
  if (!doc.contains(key))
    return fallback;
  return parse_duration(get<std::string>(doc, key, ""));
}

flow parse_flow(const std::string& text) {
  for (auto kind : {flow::issue, flow::issue_wait, flow::issue_then_poll})
    if (text == to_string(kind))
      return kind;
  throw std::invalid_argument("unknown flow '" + text
                              + "' (issue, issue-wait, issue-then-poll)");
}

} // namespace

scenario parse_scenario(const json& doc) {
  if (!doc.is_object())
    throw std::invalid_argument("a scenario is a JSON object");
  scenario s;
  s.name = get<std::string>(doc, "name", "");
  if (s.name.empty())
    throw std::invalid_argument("'name' is missing");
  s.description = get<std::string>(doc, "description", "");
  for (auto& g : doc.value("coupons", json::array())) {
    coupon_group group;
    group.count = get<uint32_t>(g, "count", 1);
    group.total_quantity = get<int64_t>(g, "totalQuantity", 0);
    group.discount = get<int64_t>(g, "discount", 1000);
    if (group.count == 0 || group.total_quantity <= 0)
      throw std::invalid_argument("a coupon group needs count and "
                                  "totalQuantity above 0");
    s.coupons.push_back(group);
  }
  if (s.coupons.empty())
    throw std::invalid_argument("'coupons' is missing or empty");
  auto users = doc.value("users", json::object());
  s.users_from = get<uint64_t>(users, "from", 1);
  s.users_to = get<uint64_t>(users, "to", 1'000'000);
  if (s.users_from == 0 || s.users_to < s.users_from)
    throw std::invalid_argument("'users' needs 1 <= from <= to");
  s.kind = parse_flow(get<std::string>(doc, "flow", "issue"));
  s.think_time = get_duration(doc, "thinkTime", millis{0});
  s.poll_interval = get_duration(doc, "pollInterval", millis{100});
  s.max_polls = get<uint32_t>(doc, "maxPolls", 100);
  auto load = doc.value("load", json::object());
  if (load.contains("rate")) {
    s.rate_per_s = get<double>(load, "rate", 0);
    s.duration = get_duration(load, "duration", millis{0});
    s.max_connections = get<uint32_t>(load, "maxConnections", 1000);
    if (s.rate_per_s <= 0 || s.duration.count() <= 0)
      throw std::invalid_argument("an open loop needs rate and duration");
  } else if (load.contains("vus")) {
    // k6's constant VUs: all start at once and stay for the duration.
    auto vus = get<uint32_t>(load, "vus", 0);
    s.stages = {stage{millis{0}, vus},
                stage{get_duration(load, "duration", millis{0}), vus}};
  } else {
    for (auto& st : load.value("stages", json::array()))
      s.stages.push_back(stage{get_duration(st, "duration", millis{0}),
                               get<uint32_t>(st, "target", 0)});
    if (s.stages.empty() || s.peak_vus() == 0)
      throw std::invalid_argument("'load' needs stages with a target above 0 "
                                  "or a rate");
  }
  s.reference = doc.value("reference", json());
  return s;
}

scenario load_scenario(const std::string& name_or_path, const std::string& dir) {
  auto is_path = name_or_path.find('/') != std::string::npos
                 || (name_or_path.size() > 5
                     && name_or_path.compare(name_or_path.size() - 5, 5, ".json")
                          == 0);
  auto path = is_path ? name_or_path : dir + "/" + name_or_path + ".json";
  std::ifstream in{path};
  if (!in)
    throw std::invalid_argument("cannot read scenario " + path);
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
  try {
    return parse_scenario(doc);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

} // namespace dibs::load
