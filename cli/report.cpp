#include "cli/report.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

namespace dibs::load {

using nlohmann::json;

namespace {

double ms(uint64_t micros) {
  return static_cast<double>(micros) / 1000.0;
}

/// "1,234,567".
std::string grouped(uint64_t n) {
  auto digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return out;
}

std::string percent(uint64_t part, uint64_t whole) {
  return whole ? fmt::format("{:.2f} %", 100.0 * static_cast<double>(part)
                                           / static_cast<double>(whole))
               : "-";
}

json latency_json(const latency_ms& l) {
  return json{{"count", l.count}, {"avg", l.avg}, {"min", l.min},
              {"p50", l.p50},     {"p95", l.p95}, {"p99", l.p99},
              {"max", l.max}};
}

std::string load_text(const scenario& s) {
  std::string out;
  if (s.open_loop())
    return fmt::format("open loop, {:.0f} iterations/s for {} on up to {} "
                       "connections",
                       s.rate_per_s, to_string(s.duration), s.max_connections);
  for (auto& st : s.stages)
    out += st.duration.count() == 0
             ? fmt::format("{}start {} VUs", out.empty() ? "" : ", ", st.target)
             : fmt::format("{}{} → {} VUs", out.empty() ? "" : ", ",
                           to_string(st.duration), st.target);
  out = "closed loop: " + out;
  out += s.think_time.count() > 0
           ? fmt::format("; think time {}", to_string(s.think_time))
           : std::string{"; no think time"};
  return out;
}

/// The run's value of one of the reference's figures, by key.
std::optional<double> ours(const report& r, const std::string& key) {
  auto& st = r.stats;
  auto all = summarize(all_latency(st));
  auto first = r.plan.kind == flow::issue_wait ? endpoint::issue_wait
                                               : endpoint::issue;
  auto iss = summarize(st.latency[static_cast<size_t>(first)]);
  if (key == "requests")
    return static_cast<double>(st.requests());
  if (key == "issueRequests")
    return static_cast<double>(st.requests(first));
  if (key == "statusRequests")
    return static_cast<double>(st.requests(endpoint::status));
  if (key == "throughputPerS")
    return throughput(st);
  if (key == "avgMs") return all.avg;
  if (key == "p50Ms") return all.p50;
  if (key == "p95Ms") return all.p95;
  if (key == "p99Ms") return all.p99;
  if (key == "maxMs") return all.max;
  if (key == "issueAvgMs") return iss.avg;
  if (key == "issueP95Ms") return iss.p95;
  if (key == "issueP99Ms") return iss.p99;
  if (key == "issueMaxMs") return iss.max;
  if (key == "issued")
    return static_cast<double>(st.seen.accepted.size());
  if (key == "refused")
    return static_cast<double>(st.count(outcome::sold_out)
                               + st.count(outcome::already_issued));
  if (key == "soldOut")
    return static_cast<double>(st.count(outcome::sold_out));
  if (key == "drainS")
    return r.drain_s;
  return std::nullopt;
}

/// The figures a reference may give, in the order the report lists them.
const std::vector<std::pair<std::string, std::string>>& figure_names() {
  static const std::vector<std::pair<std::string, std::string>> names{
    {"requests", "requests"},
    {"issueRequests", "issue requests"},
    {"statusRequests", "status requests"},
    {"throughputPerS", "throughput (req/s)"},
    {"avgMs", "latency avg (ms)"},
    {"p50Ms", "latency p50 (ms)"},
    {"p95Ms", "latency p95 (ms)"},
    {"p99Ms", "latency p99 (ms)"},
    {"maxMs", "latency max (ms)"},
    {"issueAvgMs", "issue latency avg (ms)"},
    {"issueP95Ms", "issue latency p95 (ms)"},
    {"issueP99Ms", "issue latency p99 (ms)"},
    {"issueMaxMs", "issue latency max (ms)"},
    {"issued", "coupons issued"},
    {"refused", "refused (sold out, already issued)"},
    {"soldOut", "sold out answers"},
    {"drainS", "writers drained after the load (s)"},
  };
  return names;
}

/// Counts print as integers, everything else with two decimals.
std::string number(const std::string& key, double v) {
  static const std::set<std::string> counts{
    "requests", "issueRequests", "statusRequests", "issued", "refused",
    "soldOut"};
  if (counts.count(key) && v >= 0)
    return grouped(static_cast<uint64_t>(std::llround(v)));
  return fmt::format("{:.2f}", v);
}

std::string reference_value(const std::string& key, const json& v) {
  if (v.is_number())
    return number(key, v.get<double>());
  if (v.is_string())
    return v.get<std::string>();
  return v.dump();
}

} // namespace

latency_ms summarize(const histogram& h) {
  latency_ms l;
  l.count = h.count();
  l.avg = h.mean() / 1000.0;
  l.min = ms(h.min());
  l.p50 = ms(h.percentile(50));
  l.p95 = ms(h.percentile(95));
  l.p99 = ms(h.percentile(99));
  l.max = ms(h.max());
  return l;
}

bool report::passed() const {
  return drain_s.has_value() && !integrity_error && integrity.passed();
}

double run_seconds(const run_stats& stats) {
  return std::chrono::duration<double>(stats.last_answer - stats.started)
    .count();
}

double throughput(const run_stats& stats) {
  auto s = run_seconds(stats);
  return s > 0 ? static_cast<double>(stats.requests()) / s : 0;
}

histogram all_latency(const run_stats& stats) {
  histogram all;
  for (auto& h : stats.latency)
    all.merge(h);
  return all;
}

json to_json(const report& r) {
  auto& st = r.stats;
  json endpoints = json::object();
  for (size_t e = 0; e < endpoint_count; ++e) {
    auto x = static_cast<endpoint>(e);
    if (st.requests(x) == 0)
      continue;
    json outcomes = json::object();
    for (size_t o = 0; o < outcome_count; ++o)
      if (st.outcomes[e][o])
        outcomes[to_string(static_cast<outcome>(o))] = st.outcomes[e][o];
    json statuses = json::object();
    for (size_t s = 0; s < st.statuses[e].size(); ++s)
      if (st.statuses[e][s])
        statuses[std::to_string(s)] = st.statuses[e][s];
    endpoints[to_string(x)] = {
      {"requests", st.requests(x)},
      {"latencyMs", latency_json(summarize(st.latency[e]))},
      {"outcomes", outcomes},
      {"statuses", statuses}};
  }
  json lag = json::array();
  for (auto& s : r.lag) {
    json parts = json::object();
    for (auto [p, n] : s.per_partition)
      parts[std::to_string(p)] = n;
    lag.push_back({{"atS", s.at_s}, {"total", s.total}, {"partitions", parts}});
  }
  json checks = json::array();
  for (auto& c : r.integrity.checks)
    checks.push_back({{"name", c.name},
                      {"rule", c.rule},
                      {"passed", c.passed},
                      {"failures", c.failures},
                      {"detail", c.detail}});
  json coupons = json::array();
  for (auto& c : r.integrity.coupons)
    coupons.push_back({{"couponId", c.id},
                       {"total", c.total},
                       {"rows", c.rows},
                       {"remaining", c.remaining},
                       {"liveRemaining", c.live_remaining},
                       {"kafkaEvents", c.kafka_events},
                       {"accepted", c.accepted},
                       {"soldOutSeen", c.sold_out_seen}});
  json comparison = json::object();
  auto figures = r.plan.reference.is_object()
                   ? r.plan.reference.value("figures", json::object())
                   : json::object();
  for (auto& [key, value] : figures.items()) {
    auto v = ours(r, key);
    comparison[key] = {{"dibs", v ? json(*v) : json(nullptr)},
                       {"reference", value}};
  }
  return json{
    {"scenario", r.plan.name},
    {"description", r.plan.description},
    {"passed", r.passed()},
    {"startedAt", r.started_at},
    {"command", r.command},
    {"machine", r.machine},
    {"url", r.url},
    {"threads", r.threads},
    {"seed", r.seed},
    {"durationScale", r.duration_scale},
    {"load", load_text(r.plan)},
    {"durationS", run_seconds(st)},
    {"requests", st.requests()},
    {"iterations", st.iterations},
    {"missedIterations", st.missed},
    {"peakVus", st.peak_vus},
    {"throughputPerS", throughput(st)},
    {"latencyMs", latency_json(summarize(all_latency(st)))},
    {"endpoints", endpoints},
    {"perSecond", st.per_second},
    {"kafkaLag", lag},
    {"drainS", r.drain_s ? json(*r.drain_s) : json(nullptr)},
    {"drainTimeoutS", r.drain_timeout_s},
    {"integrity",
     {{"passed", !r.integrity_error && r.integrity.passed()},
      {"error", r.integrity_error ? json(*r.integrity_error) : json(nullptr)},
      {"rows", r.integrity.rows},
      {"distinctUsers", r.integrity.distinct_users},
      {"rowsOfUndecidedRequests", r.integrity.rows_of_undecided},
      {"acceptedPairs", st.seen.accepted.size()},
      {"undecidedPairs", st.seen.undecided.size()},
      {"checks", checks},
      {"coupons", coupons}}},
    {"reference", r.plan.reference},
    {"comparison", comparison},
  };
}

std::string to_markdown(const report& r) {
  auto& st = r.stats;
  std::string md;
  auto line = [&md](auto&&... args) {
    md += fmt::format(std::forward<decltype(args)>(args)...);
    md += '\n';
  };
  line("# dibs load report: {}", r.plan.name);
  line("");
  if (!r.plan.description.empty())
    line("{}", r.plan.description);
  line("");
  line("- **Result: {}**", r.passed() ? "PASSED" : "FAILED");
  line("- Started {} against {}, {} generator thread(s), seed {}",
       r.started_at, r.url, r.threads, r.seed);
  line("- Machine: {}", r.machine);
  line("- Command: `{}`", r.command);
  line("- Load: {}{}", load_text(r.plan),
       r.duration_scale != 1
         ? fmt::format(" (durations scaled by {})", r.duration_scale)
         : "");
  line("- Coupons: {} with {} in stock; users drawn from {}..{}",
       grouped(r.plan.coupon_count()), grouped(r.plan.total_stock()),
       r.plan.users_from, grouped(r.plan.users_to));
  line("");

  line("## Requests");
  line("");
  line("{} requests in {:.1f} s: **{} req/s**; {} iterations; peak {} {}{}.",
       grouped(st.requests()), run_seconds(st),
       grouped(static_cast<uint64_t>(std::llround(throughput(st)))),
       grouped(st.iterations), st.peak_vus,
       r.plan.open_loop() ? "connections" : "VUs",
       st.missed ? fmt::format("; {} iterations missed their start",
                               grouped(st.missed))
                 : "");
  line("");
  line("| endpoint | requests | avg ms | p50 ms | p95 ms | p99 ms | max ms |");
  line("|---|---:|---:|---:|---:|---:|---:|");
  auto row = [&](const std::string& name, const latency_ms& l, uint64_t n) {
    line("| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} |", name,
         grouped(n), l.avg, l.p50, l.p95, l.p99, l.max);
  };
  row("all", summarize(all_latency(st)), st.requests());
  for (size_t e = 0; e < endpoint_count; ++e) {
    auto x = static_cast<endpoint>(e);
    if (st.requests(x))
      row(to_string(x), summarize(st.latency[e]), st.requests(x));
  }
  line("");
  line("Latency in microseconds, exact below 16 ms (HDR histogram); "
       "requests without an answer have none.{}",
       r.plan.open_loop() ? " Open loop: counted from when each iteration "
                            "was due, so queueing in the generator counts."
                          : "");
  line("");

  line("## Outcomes");
  line("");
  line("| outcome | count | share |");
  line("|---|---:|---:|");
  for (size_t o = 0; o < outcome_count; ++o) {
    auto n = st.count(static_cast<outcome>(o));
    if (n)
      line("| {} | {} | {} |", to_string(static_cast<outcome>(o)), grouped(n),
           percent(n, st.requests()));
  }
  std::string errors;
  for (size_t e = 0; e < endpoint_count; ++e)
    for (size_t s = 400; s < st.statuses[e].size(); ++s)
      if (st.statuses[e][s] && s != 404 && s != 409)
        errors += fmt::format("{}{} {}: {}", errors.empty() ? "" : ", ",
                              to_string(static_cast<endpoint>(e)), s,
                              grouped(st.statuses[e][s]));
  line("");
  line("Errors by status: {}.", errors.empty() ? "none" : errors);
  line("");

  if (r.plan.reference.is_object()) {
    auto& ref = r.plan.reference;
    line("## Beside the reference");
    line("");
    line("{}", ref.value("source", std::string{"The reference report."}));
    line("");
    line("| | dibs | reference |");
    line("|---|---:|---:|");
    auto figures = ref.value("figures", json::object());
    for (auto& [key, name] : figure_names()) {
      if (!figures.contains(key))
        continue;
      auto v = ours(r, key);
      line("| {} | {} | {} |", name, v ? number(key, *v) : std::string{"-"},
           reference_value(key, figures[key]));
    }
    if (ref.contains("note"))
      line("\n{}", ref["note"].get<std::string>());
    line("");
  }

  line("## Kafka and the writers");
  line("");
  if (r.drain_s)
    line("The writers drained Kafka into MySQL **{:.2f} s** after the load "
         "ended (lag 0 and, for every coupon, as many rows as the stock actor "
         "issued).",
         *r.drain_s);
  else
    line("**The writers had not drained Kafka {:.0f} s after the load "
         "ended.**",
         r.drain_timeout_s);
  if (!r.lag.empty()) {
    auto worst = std::max_element(r.lag.begin(), r.lag.end(),
                                  [](auto& a, auto& b) {
                                    return a.total < b.total;
                                  });
    double sum = 0;
    for (auto& s : r.lag)
      sum += static_cast<double>(s.total);
    line("Kafka lag (records not yet in MySQL), {} samples: max {} at {:.1f} "
         "s, mean {:.1f}.",
         r.lag.size(), grouped(static_cast<uint64_t>(worst->total)),
         worst->at_s, sum / static_cast<double>(r.lag.size()));
    line("");
    std::string head = "| at s | lag |", rule = "|---:|---:|";
    for (auto& [p, n] : r.lag.front().per_partition) {
      (void) n;
      head += fmt::format(" p{} |", p);
      rule += "---:|";
    }
    line("{}", head);
    line("{}", rule);
    // At most 12 rows, evenly spread, always with the worst one.
    auto step = std::max<size_t>(1, (r.lag.size() + 11) / 12);
    for (size_t i = 0; i < r.lag.size(); ++i) {
      auto& s = r.lag[i];
      if (i % step != 0 && &s != &*worst && i + 1 != r.lag.size())
        continue;
      std::string cells;
      for (auto& [p, n] : s.per_partition)
        cells += fmt::format(" {} |", grouped(static_cast<uint64_t>(n)));
      line("| {:.1f} | {} |{}", s.at_s, grouped(static_cast<uint64_t>(s.total)),
           cells);
    }
  } else {
    line("Kafka lag was not sampled.");
  }
  line("");

  line("## Integrity");
  line("");
  if (r.integrity_error) {
    line("**The checks could not run: {}**", *r.integrity_error);
    return md;
  }
  auto& in = r.integrity;
  line("{} rows for {} distinct users; {} pairs were told issued, {} got no "
       "decision (of which {} became rows).",
       grouped(static_cast<uint64_t>(in.rows)),
       grouped(static_cast<uint64_t>(in.distinct_users)),
       grouped(st.seen.accepted.size()), grouped(st.seen.undecided.size()),
       grouped(static_cast<uint64_t>(in.rows_of_undecided)));
  line("");
  line("| check | rule | result | detail |");
  line("|---|---|---|---|");
  for (auto& c : in.checks)
    line("| {} | {} | {} | {} |", c.name, c.rule,
         c.passed ? "pass" : fmt::format("**FAIL** ({})", grouped(c.failures)),
         c.detail);
  line("");
  // Per stock size, as the reference grouped its coupons.
  std::map<int64_t, std::array<int64_t, 4>> groups; // coupons, rows, remaining, sold out
  for (auto& c : in.coupons) {
    auto& g = groups[c.total];
    g[0] += 1;
    g[1] += c.rows;
    g[2] += c.remaining;
    g[3] += c.remaining == 0 ? 1 : 0;
  }
  line("| stock per coupon | coupons | issued | remaining | sold out |");
  line("|---:|---:|---:|---:|---:|");
  for (auto& [total, g] : groups)
    line("| {} | {} | {} | {} | {} |", grouped(static_cast<uint64_t>(total)),
         g[0], grouped(static_cast<uint64_t>(g[1])),
         grouped(static_cast<uint64_t>(g[2])), g[3]);
  return md;
}

} // namespace dibs::load
