#include "gateway/admin/admin.hpp"

namespace dibs::admin {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

json outcomes_json(const stock_stats& s) {
  json result = json::object();
  for (size_t i = 0; i < issue_outcome_count; ++i)
    result[to_string(static_cast<issue_outcome>(i))] =
      s.outcomes[i].load(relaxed);
  return result;
}

json stock_json(const stock_stats& s, const std::string& owner,
                epoch_ms now) {
  auto pending = s.pending.load(relaxed);
  auto unresolved = s.unresolved.load(relaxed);
  auto accepted = s.accepted.load(relaxed);
  auto committed = s.committed.load(relaxed);
  auto snapshot_at = s.snapshot_at.load(relaxed);
  return json{
    {"couponId", s.info.id},
    {"name", s.info.name},
    {"owner", owner},
    {"state", to_string(s.phase.load(relaxed))},
    {"totalQuantity", s.info.total_quantity},
    {"remaining", s.remaining.load(relaxed)},
    {"issued", pending + unresolved + accepted + committed},
    // Reservations waiting for Kafka: on their way, or "possibly stored"
    // and being resolved from the log.
    {"waitingForKafka", pending + unresolved},
    {"unresolved", unresolved},
    {"inKafkaNotMySQL", accepted},
    {"committed", committed},
    {"mailbox", s.mailbox.load(relaxed)},
    {"messages", s.messages.load(relaxed)},
    {"restarts", s.restarts.load(relaxed)},
    {"snapshot",
     {{"position", s.snapshot_position.load(relaxed)},
      {"issuances", s.snapshot_count.load(relaxed)},
      {"writtenAt", time_or_null(snapshot_at)},
      {"ageMs", snapshot_at == 0 ? json(nullptr) : json(now - snapshot_at)}}},
    {"outcomes", outcomes_json(s)},
  };
}

} // namespace

json stock_list(const node& n) {
  auto now = now_ms();
  json list = json::array();
  for (auto& s : n.figures().all_stock())
    list.push_back(stock_json(*s, n.cfg().node_id, now));
  return json{{"at", format_time(now)}, {"stockActors", std::move(list)}};
}

std::optional<json> stock_one(const node& n, coupon_id_t id) {
  auto s = n.figures().find_stock(id);
  if (!s)
    return std::nullopt;
  auto now = now_ms();
  auto result = stock_json(*s, n.cfg().node_id, now);
  json history = json::array();
  for (auto& p : s->history())
    history.push_back(json::array({p.at, p.remaining}));
  json recent = json::array();
  for (auto& a : s->recent())
    recent.push_back(json{{"at", format_time(a.at)},
                          {"userId", a.user},
                          {"outcome", to_string(a.outcome)}});
  result["at"] = format_time(now);
  result["opensAt"] = time_or_null(s->info.opens_at);
  result["closesAt"] = time_or_null(s->info.closes_at);
  // [epoch ms, remaining] pairs, oldest first, one per second at most.
  result["history"] = std::move(history);
  result["recent"] = std::move(recent);
  return result;
}

} // namespace dibs::admin
