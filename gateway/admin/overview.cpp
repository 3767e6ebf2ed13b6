#include "gateway/admin/admin.hpp"

#include <algorithm>

namespace dibs::admin {

json overview(const node& n, const gateway_metrics& metrics) {
  constexpr auto relaxed = std::memory_order_relaxed;
  json requests = json::object();
  json latency = json::object();
  for (size_t i = 0; i < route_count; ++i) {
    auto r = static_cast<route>(i);
    json by_status = json::object();
    for (auto status : gateway_metrics::statuses)
      if (auto count = metrics.answers(r, status); count > 0)
        by_status[std::to_string(status)] = count;
    if (by_status.empty())
      continue;
    requests[to_string(r)] = std::move(by_status);
    latency[to_string(r)] = histogram(metrics.latency(r));
  }
  std::array<uint64_t, issue_outcome_count> outcomes{};
  uint64_t remaining = 0, issued = 0, waiting = 0, mailbox_max = 0;
  auto stock = n.figures().all_stock();
  for (auto& s : stock) {
    for (size_t i = 0; i < issue_outcome_count; ++i)
      outcomes[i] += s->outcomes[i].load(relaxed);
    remaining += s->remaining.load(relaxed);
    auto w = s->pending.load(relaxed) + s->unresolved.load(relaxed);
    waiting += w;
    issued += w + s->accepted.load(relaxed) + s->committed.load(relaxed);
    mailbox_max = std::max(mailbox_max, s->mailbox.load(relaxed));
  }
  json outcome_json = json::object();
  for (size_t i = 0; i < issue_outcome_count; ++i)
    outcome_json[to_string(static_cast<issue_outcome>(i))] = outcomes[i];
  uint64_t rows = 0;
  double rows_per_s = 0;
  int64_t lag = 0;
  for (auto& w : n.figures().all_writers()) {
    rows += w->rows.load(relaxed);
    rows_per_s += w->rows_per_s.load(relaxed);
    for (auto& p : w->partitions())
      lag += std::max<int64_t>(p.lag, 0);
  }
  auto& m = n.metrics();
  json kafka{{"lag", lag}};
  if (auto sink = n.sink()) {
    kafka["inFlight"] = sink->in_flight();
    kafka["produceLatency"] = histogram(sink->delivery_latency());
  }
  return json{
    {"at", format_time(now_ms())},
    {"node", n.cfg().node_id},
    {"ready", n.ready()},
    {"requests", std::move(requests)},
    {"latency", std::move(latency)},
    {"outcomes", std::move(outcome_json)},
    {"stock",
     {{"coupons", stock.size()},
      {"remaining", remaining},
      {"issued", issued},
      {"waitingForKafka", waiting},
      {"mailboxMax", mailbox_max}}},
    {"kafka", std::move(kafka)},
    {"writers", {{"rows", rows}, {"rowsPerS", rows_per_s}, {"lag", lag}}},
    {"snapshots",
     {{"writes", m.snapshot_appends.load() + m.snapshot_rewrites.load()},
      {"failures", m.snapshot_failures.load()},
      {"paused", m.snapshots_paused.load() != 0},
      {"latency", histogram(m.snapshot_latency)}}},
    {"restarts", restarts(m)},
  };
}

} // namespace dibs::admin
