#include "persistence/log_tail.hpp"

#include <map>
#include <set>

namespace dibs {

caf::expected<std::map<int32_t, int64_t>>
stored_positions(mysql_store& store, kafka_log& scanner, int timeout_ms) {
  auto log = scanner.identity(timeout_ms);
  if (!log)
    return std::move(log.error());
  auto offsets = store.load_offsets(*log);
  if (!offsets)
    return std::move(offsets.error());
  auto parts = scanner.partitions(timeout_ms);
  if (!parts)
    return std::move(parts.error());
  std::map<int32_t, int64_t> result;
  for (auto p : *parts)
    result[p] = 0;
  for (auto& o : *offsets)
    if (result.count(o.partition))
      result[o.partition] = o.next_offset;
  return result;
}

caf::expected<std::map<int32_t, int64_t>>
unwritten_by_partition(mysql_store& store, kafka_log& scanner, int timeout_ms) {
  auto positions = stored_positions(store, scanner, timeout_ms);
  if (!positions)
    return std::move(positions.error());
  std::map<int32_t, int64_t> result;
  for (auto [p, stored] : *positions) {
    auto marks = scanner.watermarks(p, timeout_ms);
    if (!marks)
      return std::move(marks.error());
    auto from = std::max(stored, marks->first);
    result[p] = std::max<int64_t>(0, marks->second - from);
  }
  return result;
}

caf::expected<int64_t> unwritten_count(mysql_store& store, kafka_log& scanner,
                                       int timeout_ms) {
  auto lag = unwritten_by_partition(store, scanner, timeout_ms);
  if (!lag)
    return std::move(lag.error());
  int64_t result = 0;
  for (auto [p, n] : *lag)
    result += n;
  return result;
}

caf::expected<std::map<coupon_id_t, size_t>>
distinct_events_per_coupon(kafka_log& scanner, int timeout_ms) {
  auto parts = scanner.partitions(timeout_ms);
  if (!parts)
    return std::move(parts.error());
  std::map<coupon_id_t, std::set<issuance_id_t>> ids;
  for (auto p : *parts) {
    auto records = scanner.read_to_end(p, 0, timeout_ms);
    if (!records)
      return std::move(records.error());
    for (auto& r : *records)
      for (auto& e : r.events)
        ids[e.coupon_id].insert(e.issuance_id);
  }
  std::map<coupon_id_t, size_t> result;
  for (auto& [coupon, set] : ids)
    result[coupon] = set.size();
  return result;
}

} // namespace dibs
