#include "actors/recovery.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "persistence/log_tail.hpp"

namespace dibs {

namespace {

using clock_type = std::chrono::steady_clock;

int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           clock_type::now() - t)
    .count();
}

struct plan {
  const coupon* info;
  int32_t partition;
  uint64_t epoch;
  /// Set when the snapshot is usable.
  std::optional<snapshot> snap;
  /// The issuances of a good snapshot of a lost log.
  std::vector<issuance_event> orphaned;
};

} // namespace

std::string snapshot_problem(const loaded_snapshot& loaded, uint64_t epoch,
                             const std::string& log_id, int32_t partition,
                             int64_t low, int64_t written, int64_t max_lag) {
  auto& m = loaded.snap.meta;
  switch (loaded.fault) {
    case snapshot_fault::absent:
      return "no snapshot";
    case snapshot_fault::corrupt:
      return "corrupt snapshot (" + loaded.reason + ")";
    case snapshot_fault::ok:
      break;
  }
  if (m.epoch + 1 != epoch)
    return "snapshot of epoch " + std::to_string(m.epoch) + ", expected "
           + std::to_string(epoch - 1);
  if (m.log_id != log_id)
    return "snapshot of another Kafka log";
  if (m.partition != partition)
    return "snapshot of partition " + std::to_string(m.partition);
  if (m.position < low)
    return "Kafka no longer holds the snapshot's position";
  auto lag = written - m.position;
  if (lag > std::max(max_lag, static_cast<int64_t>(m.count / 10)))
    return "snapshot " + std::to_string(lag)
           + " records behind the writers' position";
  return {};
}

bool of_lost_log(const loaded_snapshot& loaded, uint64_t epoch,
                 const std::string& log_id) {
  auto& m = loaded.snap.meta;
  return loaded.fault == snapshot_fault::ok && m.epoch + 1 == epoch
         && m.log_id != log_id;
}

size_t adopt_held(recovered_stock& st,
                  const std::vector<issuance_event>& held) {
  if (held.empty())
    return 0; // The usual case: no set of every holder to build.
  std::unordered_set<user_id_t> users;
  for (auto& e : st.rows)
    users.insert(e.user_id);
  for (auto& e : st.tail)
    users.insert(e.user_id);
  for (auto& e : st.unlogged)
    users.insert(e.user_id);
  size_t added = 0;
  for (auto& e : held)
    if (users.insert(e.user_id).second) {
      st.unlogged.push_back(e);
      ++added;
    }
  return added;
}

std::vector<issuance_event>
rows_from_snapshot(const snapshot& snap,
                   const std::vector<std::pair<int64_t, issuance_event>>& committed,
                   const std::vector<issuance_event>& tail) {
  std::unordered_set<issuance_id_t> in_tail;
  for (auto& e : tail)
    in_tail.insert(e.issuance_id);
  std::vector<issuance_event> rows;
  rows.reserve(snap.events.size());
  for (auto& e : snap.events)
    if (!in_tail.count(e.issuance_id))
      rows.push_back(e);
  // Records past the snapshot's position it may already hold (its position
  // waits while an outcome is unresolved).
  std::unordered_set<issuance_id_t> held;
  for (auto& [offset, e] : committed) {
    if (offset < snap.meta.position || in_tail.count(e.issuance_id))
      continue;
    if (held.empty())
      for (auto& s : snap.events)
        held.insert(s.issuance_id);
    if (held.insert(e.issuance_id).second)
      rows.push_back(e);
  }
  return rows;
}

caf::expected<std::vector<recovered_stock>>
recover_stock(const std::vector<coupon>& coupons,
              const std::map<coupon_id_t, uint64_t>& epochs,
              mysql_store& store, kafka_log& scanner,
              snapshot_store* snapshots, node_metrics& metrics,
              int timeout_ms) {
  auto log = scanner.identity(timeout_ms);
  if (!log)
    return std::move(log.error());
  auto written = stored_positions(store, scanner, timeout_ms);
  if (!written)
    return std::move(written.error());
  // Reading may start before the writers' positions: the fences recorded
  // in MySQL tell which records a fenced owner published in vain.
  auto fences = store.load_fences(*log);
  if (!fences)
    return std::move(fences.error());
  scanner.use_fences(*fences);
  auto partition_count = static_cast<int32_t>(written->size());
  std::map<int32_t, int64_t> low;
  for (auto [p, w] : *written) {
    auto marks = scanner.watermarks(p, timeout_ms);
    if (!marks)
      return std::move(marks.error());
    low[p] = marks->first;
    if (w < marks->first)
      spdlog::error("recovery: partition {} lost records {}..{} before the "
                    "writers reached them",
                    p, w, marks->first - 1);
  }
  // Decide per coupon, and how far back each partition must be read: only
  // the partitions of these coupons.
  auto t0 = clock_type::now();
  std::map<int32_t, int64_t> read_from;
  for (auto& c : coupons) {
    auto p = partition_of(c.id, partition_count);
    read_from[p] = (*written)[p];
  }
  std::vector<plan> plans;
  for (auto& c : coupons) {
    plan pl{&c, partition_of(c.id, partition_count), 0, std::nullopt, {}};
    if (auto e = epochs.find(c.id); e != epochs.end())
      pl.epoch = e->second;
    std::string why;
    if (!snapshots) {
      why = "Redis unreachable";
    } else if (auto loaded = snapshots->load(c.id); !loaded) {
      why = "Redis: " + to_string(loaded.error());
    } else if (why = snapshot_problem(*loaded, pl.epoch, log->log_id,
                                      pl.partition, low[pl.partition],
                                      (*written)[pl.partition]);
               why.empty()) {
      auto& from = read_from[pl.partition];
      from = std::min(from, loaded->snap.meta.position);
      pl.snap = std::move(loaded->snap);
    } else if (of_lost_log(*loaded, pl.epoch, log->log_id)) {
      pl.orphaned = std::move(loaded->snap.events);
    }
    if (!pl.snap)
      spdlog::info("coupon {}: rebuilding from MySQL: {}", c.id, why);
    plans.push_back(std::move(pl));
  }
  auto snapshots_ms = ms_since(t0);
  // Read each partition once, from the earliest offset any coupon needs.
  auto t1 = clock_type::now();
  size_t record_count = 0;
  std::map<int32_t, std::vector<kafka_log::record>> records;
  std::map<int32_t, int64_t> end;
  for (auto [p, from] : read_from) {
    auto r = scanner.read_to_end(p, from, timeout_ms);
    if (!r)
      return std::move(r.error());
    end[p] = std::max(from, r->empty() ? from : r->back().offset + 1);
    record_count += r->size();
    records[p] = std::move(*r);
  }
  auto kafka_ms = ms_since(t1);
  auto t2 = clock_type::now();
  // Records per coupon: committed ones (before the writers' offset) only
  // matter to snapshots; uncommitted ones to everyone.
  std::map<coupon_id_t, std::vector<std::pair<int64_t, issuance_event>>>
    seen;
  std::map<coupon_id_t, std::vector<issuance_event>> unwritten;
  for (auto& [p, rs] : records)
    for (auto& r : rs)
      for (auto& e : r.events) {
        if (r.offset >= (*written)[p])
          unwritten[e.coupon_id].push_back(e);
        else if (p == partition_of(e.coupon_id, partition_count))
          seen[e.coupon_id].emplace_back(r.offset, e);
      }
  std::vector<recovered_stock> result;
  result.reserve(plans.size());
  for (auto& pl : plans) {
    auto id = pl.info->id;
    recovered_stock st;
    st.info = *pl.info;
    st.tail = std::move(unwritten[id]);
    if (pl.snap) {
      st.rows = rows_from_snapshot(*pl.snap, seen[id], st.tail);
      metrics.recovered_from_snapshot.fetch_add(1, std::memory_order_relaxed);
    } else {
      auto rows = store.load_issuances(id);
      if (!rows)
        return std::move(rows.error());
      st.rows = std::move(*rows);
      metrics.recovered_from_mysql.fetch_add(1, std::memory_order_relaxed);
    }
    if (auto n = adopt_held(st, pl.orphaned))
      spdlog::warn("coupon {}: {} issuances of its snapshot of a lost Kafka "
                   "log are not in MySQL: publishing them again",
                   id, n);
    st.snapshot.epoch = pl.epoch;
    st.snapshot.log_id = log->log_id;
    st.snapshot.partition = pl.partition;
    st.snapshot.position = end[pl.partition];
    result.push_back(std::move(st));
  }
  spdlog::info("recovery: snapshots loaded and checked in {} ms, {} Kafka "
               "records read in {} ms, MySQL rows and assembly {} ms",
               snapshots_ms, record_count, kafka_ms, ms_since(t2));
  return result;
}

} // namespace dibs
