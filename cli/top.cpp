#include "cli/top.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include <curses.h>
#include <fmt/format.h>
#include <unistd.h>

#include "cli/node_client.hpp"

namespace dibs::load {

namespace {

using nlohmann::json;

const std::vector<std::string> sort_keys = {
  "issued", "remaining", "waiting", "mailbox", "messages", "restarts", "coupon"};

uint64_t total(const json& by_status) {
  uint64_t n = 0;
  if (by_status.is_object())
    for (auto& [status, count] : by_status.items())
      n += count.get<uint64_t>();
  return n;
}

/// The latency quantile `q` of the answers between two cumulative
/// histograms (`/admin/api` shape): the upper bound of its bucket.
uint64_t window_quantile(const json& now, const json* before, double q) {
  if (!now.is_object())
    return 0;
  auto bounds = now["boundsUs"].get<std::vector<uint64_t>>();
  auto counts = now["counts"].get<std::vector<uint64_t>>();
  if (before && before->is_object()) {
    auto old = (*before)["counts"].get<std::vector<uint64_t>>();
    for (size_t i = 0; i < counts.size() && i < old.size(); ++i)
      counts[i] -= std::min(counts[i], old[i]);
  }
  uint64_t sum = 0;
  for (auto n : counts)
    sum += n;
  if (sum == 0 || bounds.empty())
    return 0;
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (static_cast<double>(seen) > q * static_cast<double>(sum))
      return bounds[std::min(i, bounds.size() - 1)];
  }
  return bounds.back();
}

std::string micros(uint64_t us) {
  if (us == 0)
    return "-";
  return us >= 1000 ? fmt::format("{:.1f} ms", static_cast<double>(us) / 1000)
                    : fmt::format("{} µs", us);
}

json get(const json& j, const char* key) {
  return j.is_object() && j.contains(key) ? j[key] : json{};
}

int64_t num(const json& j, const char* key) {
  auto v = get(j, key);
  return v.is_number() ? v.get<int64_t>() : 0;
}

int64_t sort_value(const json& s, const std::string& key) {
  if (key == "waiting")
    return num(s, "waitingForKafka");
  if (key == "coupon")
    return -num(s, "couponId"); // Largest first elsewhere: smallest id here.
  return num(s, key.c_str());
}

} // namespace

std::vector<std::string> render_top(const top_sample& now,
                                    const top_sample* before,
                                    const top_options& opts) {
  std::vector<std::string> out;
  auto& o = now.overview;
  auto node = get(now.nodes, "nodes");
  if (node.is_array() && !node.empty()) {
    // This node; in a cluster, a line of the members' health after it.
    auto self = std::find_if(node.begin(), node.end(), [](const json& m) {
      return m.value("self", false);
    });
    auto& n = self != node.end() ? *self : node[0];
    out.push_back(fmt::format(
      "dibs top - {}  {}  up {:.0f} s  Kafka log {}  (q quit, s sort: {})",
      n.value("id", "?"), n.value("health", "?"), n.value("uptimeS", 0.0),
      get(get(n, "kafka"), "logId").dump(), opts.sort));
    if (node.size() > 1) {
      std::string members;
      for (auto& m : node)
        members += fmt::format("  {} {} ({} shards)", m.value("id", "?"),
                               m.value("health", "?"),
                               m.value("shardCount", 0));
      out.push_back("cluster:" + members);
    }
  }
  double dt = before ? now.at_s - before->at_s : 0;
  auto issue_now = total(get(get(o, "requests"), "issue"));
  auto issue_then = before ? total(get(get(before->overview, "requests"),
                                       "issue"))
                           : issue_now;
  double rate = dt > 0 ? static_cast<double>(issue_now - issue_then) / dt : 0;
  auto lat = get(get(o, "latency"), "issue");
  auto lat_before = before ? get(get(before->overview, "latency"), "issue")
                           : json{};
  const json* lb = lat_before.is_object() ? &lat_before : nullptr;
  auto kafka = get(o, "kafka");
  auto produce = get(kafka, "produceLatency");
  out.push_back(fmt::format(
    "issue {:.0f} req/s  p50 {}  p99 {}   produce p99 {}  in flight {}   "
    "Kafka lag {}   writers {:.0f} rows/s",
    rate, micros(window_quantile(lat, lb, 0.5)),
    micros(window_quantile(lat, lb, 0.99)), micros(num(produce, "p99Us")),
    num(kafka, "inFlight"), num(kafka, "lag"),
    get(get(o, "writers"), "rowsPerS").is_number()
      ? get(get(o, "writers"), "rowsPerS").get<double>()
      : 0.0));
  std::string outcomes = "outcomes:";
  if (auto x = get(o, "outcomes"); x.is_object())
    for (auto& [k, v] : x.items())
      outcomes += fmt::format(" {} {}", k, v.get<uint64_t>());
  out.push_back(outcomes);
  auto st = get(o, "stock");
  out.push_back(fmt::format(
    "stock: {} coupons, {} remaining, {} issued, {} waiting for Kafka, "
    "deepest mailbox {}",
    num(st, "coupons"), num(st, "remaining"), num(st, "issued"),
    num(st, "waitingForKafka"), num(st, "mailboxMax")));
  out.push_back("");
  out.push_back(fmt::format("{:>8} {:<20} {:<10} {:>10} {:>9} {:>8} {:>8} "
                            "{:>10} {:>9} {:>8}",
                            "COUPON", "NAME", "STATE", "REMAINING", "ISSUED",
                            "WAITING", "MAILBOX", "MESSAGES", "SNAP AGE",
                            "RESTARTS"));
  auto list = get(now.stock, "stockActors");
  std::vector<json> actors;
  if (list.is_array())
    actors.assign(list.begin(), list.end());
  std::stable_sort(actors.begin(), actors.end(),
                   [&](const json& a, const json& b) {
                     return sort_value(a, opts.sort) > sort_value(b, opts.sort);
                   });
  for (size_t i = 0; i < actors.size() && i < opts.rows; ++i) {
    auto& s = actors[i];
    auto age = get(get(s, "snapshot"), "ageMs");
    out.push_back(fmt::format(
      "{:>8} {:<20.20} {:<10} {:>10} {:>9} {:>8} {:>8} {:>10} {:>9} {:>8}",
      num(s, "couponId"), s.value("name", ""), s.value("state", ""),
      num(s, "remaining"), num(s, "issued"), num(s, "waitingForKafka"),
      num(s, "mailbox"), num(s, "messages"),
      age.is_number() ? fmt::format("{:.1f} s", age.get<double>() / 1000)
                      : std::string{"-"},
      num(s, "restarts")));
  }
  if (actors.size() > opts.rows)
    out.push_back(fmt::format("... {} more", actors.size() - opts.rows));
  out.push_back("");
  out.push_back(fmt::format("{:>6} {:<10} {:>8} {:>10} {:>10} {:>10} {:>8}  {}",
                            "WRITER", "STATE", "LAG", "ROWS/S", "ROWS",
                            "BATCH P99", "RESTARTS", "PARTITIONS (LAG)"));
  if (auto ws = get(now.writers, "writers"); ws.is_array())
    for (auto& w : ws) {
      std::string parts;
      for (auto& p : get(w, "partitions"))
        parts += fmt::format("{}({}) ", num(p, "partition"), num(p, "lag"));
      out.push_back(fmt::format(
        "{:>6} {:<10} {:>8} {:>10.0f} {:>10} {:>10} {:>8}  {}",
        num(w, "writer"), w.value("state", ""), num(w, "lag"),
        w.value("rowsPerS", 0.0), num(w, "rows"),
        micros(num(get(w, "batchLatency"), "p99Us")), num(w, "restarts"),
        parts));
    }
  out.push_back("");
  auto sup = get(now.supervision, "supervisor");
  auto restarts = get(sup, "restarts");
  out.push_back(fmt::format("supervision: restarts stock {} writer {} producer "
                            "{} other {}",
                            num(restarts, "stock"), num(restarts, "writer"),
                            num(restarts, "producer"), num(restarts, "other")));
  if (auto children = get(sup, "children"); children.is_array())
    for (auto& c : children)
      if (num(c, "restarts") > 0 || c.value("state", "") != "running") {
        auto history = get(c, "history");
        auto last = history.is_array() && !history.empty()
                      ? history.back().value("reason", "")
                      : std::string{};
        out.push_back(fmt::format("  {:<16} {:<12} {} restarts  {}",
                                  c.value("name", ""), c.value("state", ""),
                                  num(c, "restarts"), last));
      }
  return out;
}

int run_top(const top_options& opts) {
  node_client client{parse_url(opts.where.url), opts.where.admin_token};
  auto started = std::chrono::steady_clock::now();
  auto poll = [&] {
    top_sample s;
    s.at_s = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                           - started)
               .count();
    auto read = [&](const char* area) {
      auto res = client.call("GET", std::string{"/admin/api/"} + area, nullptr,
                             true);
      if (res.status != 200)
        throw std::runtime_error(fmt::format("GET /admin/api/{} answered {} {}",
                                             area, res.status,
                                             res.body.dump()));
      return res.body;
    };
    s.nodes = read("nodes");
    s.overview = read("overview");
    s.stock = read("stock");
    s.writers = read("writers");
    s.supervision = read("supervision");
    return s;
  };
  auto options = opts;
  bool plain = opts.plain || !isatty(STDOUT_FILENO);
  std::optional<top_sample> before;
  try {
    if (plain) {
      for (size_t i = 0; opts.iterations == 0 || i < opts.iterations; ++i) {
        if (i > 0)
          std::this_thread::sleep_for(opts.interval);
        auto now = poll();
        for (auto& line : render_top(now, before ? &*before : nullptr, options))
          std::printf("%s\n", line.c_str());
        std::printf("\n");
        std::fflush(stdout);
        before = std::move(now);
      }
      return 0;
    }
    initscr();
    cbreak();
    noecho();
    curs_set(0);
    timeout(static_cast<int>(opts.interval.count()));
    for (size_t i = 0; opts.iterations == 0 || i < opts.iterations; ++i) {
      auto now = poll();
      erase();
      int row = 0;
      for (auto& line : render_top(now, before ? &*before : nullptr, options))
        mvaddnstr(row++, 0, line.c_str(), COLS);
      refresh();
      before = std::move(now);
      auto key = getch();
      if (key == 'q' || key == 'Q')
        break;
      if (key == 's') {
        auto k = std::find(sort_keys.begin(), sort_keys.end(), options.sort);
        options.sort = k == sort_keys.end() || k + 1 == sort_keys.end()
                         ? sort_keys.front()
                         : *(k + 1);
      }
    }
    endwin();
    return 0;
  } catch (const std::exception& e) {
    if (!plain && !isendwin())
      endwin();
    std::fprintf(stderr, "dibsctl top: %s\n", e.what());
    return 2;
  }
}

} // namespace dibs::load
