#include "actors/writer_actor.hpp"

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/logging.hpp"

namespace dibs {

caf::error writer_state::connect() {
  if (!store) {
    auto s = mysql_store::open(mysql);
    if (!s)
      return std::move(s.error());
    store = std::move(*s);
  }
  if (!log) {
    // Called on every assignment: the offsets MySQL holds are the truth,
    // whatever another writer committed before this one took the partition.
    // Without them and the fences, the writer takes no partition.
    auto start_at = [this](const std::vector<int32_t>& partitions)
      -> std::optional<std::vector<int64_t>> {
      auto start = read_start();
      if (!start) {
        spdlog::error("writer cannot read where to start: {}",
                      to_string(start.error()));
        return std::nullopt;
      }
      auto& [fences, offsets] = *start;
      // Fences before the stored offset are in MySQL: the writer that read
      // them stored them with the offset past them.
      log->use_fences(fences);
      std::vector<int64_t> result;
      for (auto p : partitions) {
        expected.erase(p);
        result.push_back(-2); // RdKafka::Topic::OFFSET_BEGINNING
        for (auto& o : offsets)
          if (o.partition == p) {
            expected[p] = o.next_offset;
            result.back() = o.next_offset;
          }
      }
      if (assigned)
        *assigned = true;
      return result;
    };
    // A writer that knows its log's id asks MySQL before it joins: one
    // whose reads fail would only take partitions to refuse them.
    if (!log_id.log_id.empty())
      if (auto start = read_start(); !start)
        return std::move(start.error());
    auto l = kafka_log::join_group(kafka, start_at);
    if (!l)
      return std::move(l.error());
    // Offsets are only meaningful in the log they were read from.
    auto id = (*l)->identity(kafka.admin_timeout_ms);
    if (!id)
      return std::move(id.error());
    log_id = std::move(*id);
    log = std::move(*l);
  }
  return caf::none;
}

caf::expected<std::pair<std::vector<log_fence>, std::vector<partition_offset>>>
writer_state::read_start() {
  auto fences = store->load_fences(log_id);
  if (!fences)
    return std::move(fences.error());
  auto offsets = store->load_offsets(log_id);
  if (!offsets)
    return std::move(offsets.error());
  return std::make_pair(std::move(*fences), std::move(*offsets));
}

bool writer_state::step() {
  if (auto err = connect()) {
    spdlog::warn("writer not connected: {}", to_string(err));
    return false;
  }
  publish_lag();
  if (pending_events.empty() && pending_offsets.empty()) {
    auto records = log->poll(settings.batch_max_rows,
                             static_cast<int>(settings.batch_max_ms));
    if (log->refused_assignment()) {
      // Joins again after the back-off, when MySQL may answer.
      log.reset();
      if (stats)
        ++stats->refused_assignments;
      return false;
    }
    if (records.empty())
      return true;
    std::map<int32_t, int64_t> next;
    for (auto& r : records) {
      if (auto i = expected.find(r.partition);
          i != expected.end() && r.offset > i->second) {
        // Accepted issuances are gone from the log before they reached
        // MySQL. Loud, since only a node that still remembers them could
        // publish them again.
        spdlog::error("writer: records {}..{} of partition {} were dropped "
                      "by the broker before they were written",
                      i->second, r.offset - 1, r.partition);
      }
      expected[r.partition] = r.offset + 1;
      pending_events.insert(pending_events.end(), r.events.begin(),
                            r.events.end());
      if (r.fence)
        pending_fences.push_back(log_fence{r.partition, r.offset, *r.fence});
      else if (r.voided)
        spdlog::info("writer: {} events of record {}:{} were published by a "
                     "fenced owner and do not count",
                     r.voided, r.partition, r.offset);
      else if (r.events.empty() && !r.probe)
        spdlog::warn("writer skips an undecodable record at {}:{}",
                     r.partition, r.offset);
      auto& n = next[r.partition];
      n = std::max(n, r.offset + 1);
    }
    for (auto& [p, o] : next)
      pending_offsets.push_back(partition_offset{p, o});
  }
  auto started = std::chrono::steady_clock::now();
  auto res = store->write_batch(log_id, pending_events, pending_offsets,
                                pending_fences);
  if (!res) {
    spdlog::warn("writer batch of {} rows failed: {}", pending_events.size(),
                 to_string(res.error()));
    if (stats)
      ++stats->failed_batches;
    return false;
  }
  if (stats) {
    stats->batch_latency.record(
      std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started));
    stats->rows += pending_events.size();
    ++stats->batches;
    stats->last_batch_rows = pending_events.size();
    stats->last_commit = now_ms();
  }
  if (spdlog::should_log(spdlog::level::debug))
    for (auto& e : pending_events)
      log_event(spdlog::level::debug, "issuance.written",
                R"("requestId":"{}","issuanceId":{},"couponId":{},)"
                R"("userId":{})",
                e.request_id, e.issuance_id, e.coupon_id, e.user_id);
  notify(pending_events);
  pending_events.clear();
  pending_offsets.clear();
  pending_fences.clear();
  return true;
}

void writer_state::notify(const std::vector<issuance_event>& rows) {
  std::map<coupon_id_t, std::vector<issuance_event>> by_coupon;
  for (auto& e : rows)
    by_coupon[e.coupon_id].push_back(e);
  for (auto& [id, events] : by_coupon)
    directory->committed(id, std::move(events));
}

void writer_state::publish_lag() {
  auto now = std::chrono::steady_clock::now();
  if (!stats || now - lag_published < std::chrono::milliseconds{250})
    return;
  lag_published = now;
  if (auto took = std::chrono::duration<double>(now - rate_since).count();
      took >= 1.0) {
    auto rows = stats->rows.load();
    stats->rows_per_s = static_cast<double>(rows - rate_rows) / took;
    rate_rows = rows;
    rate_since = now;
  }
  std::vector<writer_stats::partition_lag> parts;
  for (auto& a : log->assigned()) {
    // Without an offset of its own the writer reads from the log's start.
    auto i = expected.find(a.partition);
    auto next = i != expected.end() ? i->second : a.low;
    parts.push_back({a.partition, next, a.high,
                     next < 0 || a.high < 0
                       ? int64_t{-1}
                       : std::max<int64_t>(0, a.high - next)});
  }
  stats->set_partitions(std::move(parts));
}

caf::behavior writer_actor(caf::stateful_actor<writer_state>* self,
                           kafka_settings kafka, mysql_settings mysql,
                           writer_settings settings,
                           coupon_directory* directory,
                           std::atomic<bool>* assigned,
                           std::shared_ptr<writer_stats> stats) {
  auto& st = self->state;
  st.kafka = std::move(kafka);
  st.mysql = std::move(mysql);
  st.settings = settings;
  st.directory = directory;
  st.assigned = assigned;
  st.stats = std::move(stats);
  if (st.stats)
    st.stats->phase = actor_phase::running;
  self->send(self, poll_atom::value);
  return {
    [=](poll_atom) {
      if (self->state.step())
        self->send(self, poll_atom::value);
      else
        self->delayed_send(
          self, std::chrono::milliseconds(self->state.settings.retry_backoff_ms),
          poll_atom::value);
    },
  };
}

} // namespace dibs
