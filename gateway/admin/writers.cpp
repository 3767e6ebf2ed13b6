#include "gateway/admin/admin.hpp"

namespace dibs::admin {

json writers(const node& n) {
  constexpr auto relaxed = std::memory_order_relaxed;
  json list = json::array();
  for (auto& w : n.figures().all_writers()) {
    json parts = json::array();
    int64_t lag = 0;
    for (auto& p : w->partitions()) {
      parts.push_back(json{{"partition", p.partition},
                           {"nextOffset", p.next},
                           {"endOffset", p.end},
                           {"lag", p.lag}});
      lag += std::max<int64_t>(p.lag, 0);
    }
    list.push_back(json{{"writer", w->index},
                        {"state", to_string(w->phase.load(relaxed))},
                        {"partitions", std::move(parts)},
                        {"lag", lag},
                        {"rows", w->rows.load(relaxed)},
                        {"rowsPerS", w->rows_per_s.load(relaxed)},
                        {"batches", w->batches.load(relaxed)},
                        {"lastBatchRows", w->last_batch_rows.load(relaxed)},
                        {"failedBatches", w->failed_batches.load(relaxed)},
                        {"lastCommitAt", time_or_null(w->last_commit.load(relaxed))},
                        {"restarts", w->restarts.load(relaxed)},
                        {"batchLatency", histogram(w->batch_latency)}});
  }
  return json{{"at", format_time(now_ms())}, {"writers", std::move(list)}};
}

} // namespace dibs::admin
