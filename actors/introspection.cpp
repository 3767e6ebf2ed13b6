#include "actors/introspection.hpp"

#include <fmt/format.h>

namespace dibs {

const char* to_string(issue_outcome x) {
  switch (x) {
    case issue_outcome::issued: return "issued";
    case issue_outcome::accepted: return "accepted";
    case issue_outcome::already_issued: return "already_issued";
    case issue_outcome::sold_out: return "sold_out";
    case issue_outcome::not_open: return "not_open";
    case issue_outcome::closed: return "closed";
    case issue_outcome::unavailable: return "unavailable";
  }
  return "unavailable";
}

const char* to_string(actor_phase x) {
  switch (x) {
    case actor_phase::recovering: return "recovering";
    case actor_phase::running: return "running";
    case actor_phase::crashed: return "crashed";
  }
  return "crashed";
}

void stock_stats::record(issue_outcome x, user_id_t user, epoch_ms now) {
  outcomes[static_cast<size_t>(x)].fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> guard{mtx_};
  if (recent_.size() == recent_answers)
    recent_.pop_front();
  recent_.push_back(answer{now, user, x});
}

void stock_stats::sample(epoch_ms now) {
  auto left = remaining.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> guard{mtx_};
  if (!history_.empty()) {
    auto& last = history_.back();
    if (now - last.at < 1000)
      return;
    // A flat line needs only its ends: the latest point moves along.
    if (history_.size() >= 2 && last.remaining == left
        && history_[history_.size() - 2].remaining == left) {
      last.at = now;
      return;
    }
  }
  if (history_.size() == history_points)
    history_.pop_front();
  history_.push_back(point{now, left});
}

std::vector<stock_stats::point> stock_stats::history() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {history_.begin(), history_.end()};
}

std::vector<stock_stats::answer> stock_stats::recent() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {recent_.begin(), recent_.end()};
}

void writer_stats::set_partitions(std::vector<partition_lag> parts) {
  std::lock_guard<std::mutex> guard{mtx_};
  partitions_ = std::move(parts);
}

std::vector<writer_stats::partition_lag> writer_stats::partitions() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return partitions_;
}

void supervision_board::set(std::string name, child_view view) {
  std::lock_guard<std::mutex> guard{mtx_};
  children_[std::move(name)] = std::move(view);
}

void supervision_board::erase(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  children_.erase(name);
}

std::vector<child_view> supervision_board::children() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<child_view> result;
  result.reserve(children_.size());
  for (auto& [name, view] : children_)
    result.push_back(view);
  return result;
}

std::shared_ptr<stock_stats> introspection::stock(const coupon& info) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& slot = stock_[info.id];
  if (!slot)
    slot = std::make_shared<stock_stats>(info);
  return slot;
}

std::shared_ptr<stock_stats> introspection::find_stock(coupon_id_t coupon) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = stock_.find(coupon);
  return i == stock_.end() ? nullptr : i->second;
}

std::vector<std::shared_ptr<stock_stats>> introspection::all_stock() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::shared_ptr<stock_stats>> result;
  result.reserve(stock_.size());
  for (auto& [id, s] : stock_)
    result.push_back(s);
  return result;
}

std::shared_ptr<writer_stats> introspection::writer(size_t index) {
  std::lock_guard<std::mutex> guard{mtx_};
  while (writers_.size() <= index)
    writers_.push_back(std::make_shared<writer_stats>(writers_.size()));
  return writers_[index];
}

std::vector<std::shared_ptr<writer_stats>> introspection::all_writers() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return writers_;
}

void introspection::render(std::string& out) const {
  constexpr auto relaxed = std::memory_order_relaxed;
  auto stock = all_stock();
  render_family(out, "dibs_issue_outcomes_total", "counter",
                "Answers of the stock actors to issue requests, by outcome.");
  for (size_t i = 0; i < issue_outcome_count; ++i) {
    uint64_t n = 0;
    for (auto& s : stock)
      n += s->outcomes[i].load(relaxed);
    out += fmt::format("dibs_issue_outcomes_total{{outcome=\"{}\"}} {}\n",
                       to_string(static_cast<issue_outcome>(i)), n);
  }
  render_family(out, "dibs_resolutions_total", "counter",
                "Possibly stored issuances the log settled, by whether it "
                "held them.");
  uint64_t found = 0;
  uint64_t missing = 0;
  for (auto& s : stock) {
    found += s->resolved_stored.load(relaxed);
    missing += s->resolved_not_stored.load(relaxed);
  }
  out += fmt::format("dibs_resolutions_total{{stored=\"true\"}} {}\n"
                     "dibs_resolutions_total{{stored=\"false\"}} {}\n",
                     found, missing);
  render_family(out, "dibs_stock_remaining", "gauge",
                "Stock left per coupon.");
  for (auto& s : stock)
    out += fmt::format("dibs_stock_remaining{{coupon=\"{}\"}} {}\n", s->info.id,
                       s->remaining.load(relaxed));
  render_family(out, "dibs_stock_pending", "gauge",
                "Reservations per coupon waiting for Kafka's acknowledgement.");
  for (auto& s : stock)
    out += fmt::format("dibs_stock_pending{{coupon=\"{}\"}} {}\n", s->info.id,
                       s->pending.load(relaxed) + s->unresolved.load(relaxed));
  render_family(out, "dibs_stock_in_flight", "gauge",
                "Reservations per coupon whose outcome in Kafka is not "
                "settled, a holder the writers committed first included.");
  for (auto& s : stock)
    out += fmt::format("dibs_stock_in_flight{{coupon=\"{}\"}} {}\n",
                       s->info.id, s->in_flight.load(relaxed));
  render_family(out, "dibs_actor_mailbox_depth", "gauge",
                "Messages waiting in a stock actor's mailbox when it last "
                "handled one.");
  for (auto& s : stock)
    out += fmt::format("dibs_actor_mailbox_depth{{actor=\"stock-{}\"}} {}\n",
                       s->info.id, s->mailbox.load(relaxed));
  auto writers = all_writers();
  render_family(out, "dibs_writer_rows_total", "counter",
                "Issuance rows each writer committed to MySQL.");
  for (auto& w : writers)
    out += fmt::format("dibs_writer_rows_total{{writer=\"{}\"}} {}\n",
                       w->index, w->rows.load(relaxed));
  render_family(out, "dibs_writer_failed_batches_total", "counter",
                "Batches MySQL refused (retried).");
  for (auto& w : writers)
    out += fmt::format("dibs_writer_failed_batches_total{{writer=\"{}\"}} {}\n",
                       w->index, w->failed_batches.load(relaxed));
  render_family(out, "dibs_writer_refused_assignments_total", "counter",
                "Partition assignments a writer refused because MySQL could "
                "not say where they start (it joins again).");
  for (auto& w : writers)
    out += fmt::format(
      "dibs_writer_refused_assignments_total{{writer=\"{}\"}} {}\n", w->index,
      w->refused_assignments.load(relaxed));
  render_family(out, "dibs_writer_lag_records", "gauge",
                "Records of a partition in Kafka the writer has not written "
                "yet (as of its last fetch).");
  for (auto& w : writers)
    for (auto& p : w->partitions())
      if (p.lag >= 0)
        out += fmt::format(
          "dibs_writer_lag_records{{writer=\"{}\",partition=\"{}\"}} {}\n",
          w->index, p.partition, p.lag);
  render_family(out, "dibs_writer_batch_duration_seconds", "histogram",
                "How long a writer's batch transaction in MySQL took.");
  for (auto& w : writers)
    w->batch_latency.render(out, "dibs_writer_batch_duration_seconds",
                            fmt::format("writer=\"{}\"", w->index));
}

} // namespace dibs
