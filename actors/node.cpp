#include "actors/node.hpp"

#include <chrono>
#include <map>
#include <thread>

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/recovery.hpp"
#include "actors/resolver_actor.hpp"
#include "actors/snapshotter_actor.hpp"
#include "actors/stock_actor.hpp"
#include "actors/store_actor.hpp"
#include "actors/writer_actor.hpp"
#include "persistence/log_tail.hpp"
#include "persistence/snapshot_store.hpp"

namespace dibs {

namespace {

constexpr int startup_kafka_timeout_ms = 10'000;

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

} // namespace

node::node(caf::actor_system& sys, const config& cfg) : sys_(sys), cfg_(cfg) {
  stock_settings_.wait_timeout = milliseconds(cfg.http_wait_timeout_ms);
  stock_settings_.resolve_grace = milliseconds(cfg.kafka_resolve_grace_ms);
  stock_settings_.snapshot_every_events = cfg.snapshot_every_events;
  stock_settings_.snapshot_interval = milliseconds(cfg.snapshot_interval_ms);
}

node::~node() {
  stop();
}

void node::spawn_stock(recovered_stock state) {
  auto id = state.info.id;
  auto hdl = sys_.spawn(stock_actor, std::move(state),
                        stock_deps{sink_.get(), resolver_, snapshotter_,
                                   stock_settings_});
  directory_.add(id, std::move(hdl));
}

void node::spawn_new_stock(const coupon& info) {
  recovered_stock st;
  st.info = info;
  // `create_coupon` gave it owner epoch 1; nothing of it is in Kafka yet.
  st.snapshot.epoch = 1;
  st.snapshot.log_id = log_id_;
  st.snapshot.partition = partition_of(info.id, partition_count_);
  spawn_stock(std::move(st));
}

caf::error node::start() {
  mysql_store::init_driver();
  auto k = cfg_.kafka();
  if (!k)
    return std::move(k.error());
  kafka_ = std::move(*k);
  auto store = mysql_store::open(cfg_.mysql());
  if (!store)
    return std::move(store.error());
  if (auto res = (*store)->ensure_schema(); !res)
    return std::move(res.error());
  auto producer = kafka_producer::make(kafka_);
  if (!producer)
    return std::move(producer.error());
  producer_ = std::move(*producer);
  sink_ = std::make_unique<kafka_sink>(*producer_);
  // Recovery: a snapshot in Redis plus the Kafka records after it, or, for
  // coupons without a good snapshot, MySQL's rows plus the Kafka tail the
  // writers have not committed.
  auto started = clock_type::now();
  auto scanner = kafka_log::scanner(kafka_);
  if (!scanner)
    return std::move(scanner.error());
  auto log = (*scanner)->identity(startup_kafka_timeout_ms);
  if (!log)
    return std::move(log.error());
  log_id_ = log->log_id;
  auto parts = (*scanner)->partitions(startup_kafka_timeout_ms);
  if (!parts)
    return std::move(parts.error());
  partition_count_ = static_cast<int32_t>(parts->size());
  auto coupons = (*store)->load_coupons();
  if (!coupons)
    return std::move(coupons.error());
  auto epochs = (*store)->claim_epochs();
  if (!epochs)
    return std::move(epochs.error());
  auto snapshots = snapshot_store::connect(cfg_.redis());
  if (!snapshots)
    spdlog::warn("Redis unreachable ({}): every coupon is rebuilt from MySQL",
                 to_string(snapshots.error()));
  auto recovered = recover_stock(*coupons, *epochs, **store, **scanner,
                                 snapshots ? snapshots->get() : nullptr,
                                 metrics_, startup_kafka_timeout_ms);
  if (!recovered)
    return std::move(recovered.error());
  resolver_ = sys_.spawn<caf::detached>(resolver_actor, kafka_, cfg_.mysql());
  snapshotter_ = sys_.spawn<caf::detached>(snapshotter_actor, cfg_.redis(),
                                           &metrics_);
  size_t rows_total = 0;
  size_t tail_total = 0;
  for (auto& st : *recovered) {
    rows_total += st.rows.size();
    tail_total += st.tail.size();
    spawn_stock(std::move(st));
  }
  auto took = std::chrono::duration_cast<milliseconds>(clock_type::now()
                                                       - started)
                .count();
  metrics_.recovery_ms = static_cast<uint64_t>(took);
  spdlog::info("recovered {} coupons ({} from snapshots, {} from MySQL) "
               "holding {} committed and {} uncommitted issuances in {} ms",
               coupons->size(), metrics_.recovered_from_snapshot.load(),
               metrics_.recovered_from_mysql.load(), rows_total, tail_total,
               took);
  store_ = sys_.spawn<caf::detached>(
    store_actor, cfg_.mysql(), cfg_.redis(), kafka_,
    [this](const coupon& c) { spawn_new_stock(c); });
  writer_settings ws{cfg_.writer_batch_max_rows, cfg_.writer_batch_max_ms,
                     cfg_.writer_retry_backoff_ms};
  // A node without writers leaves writing to other nodes.
  writers_assigned_ = cfg_.writer_count == 0;
  for (size_t i = 0; i < cfg_.writer_count; ++i)
    writers_.push_back(sys_.spawn<caf::detached>(writer_actor, kafka_,
                                                 cfg_.mysql(), ws,
                                                 &directory_,
                                                 &writers_assigned_));
  ready_ = true;
  return caf::none;
}

void node::stop() {
  if (!producer_)
    return;
  ready_ = false;
  auto deadline = clock_type::now() + milliseconds(cfg_.node_drain_timeout_ms);
  auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(
      0, std::chrono::duration_cast<milliseconds>(deadline - clock_type::now())
           .count()));
  };
  if (auto n = producer_->flush(left_ms()); n > 0)
    spdlog::error("{} records still unacknowledged at shutdown", n);
  // Let the writers drain: done when MySQL's offsets reach the watermarks.
  // A node without writers leaves that to the nodes that have them.
  auto store = mysql_store::open(cfg_.mysql());
  auto scanner = kafka_log::scanner(kafka_);
  if (!writers_.empty() && store && scanner) {
    for (;;) {
      auto n = unwritten_count(**store, **scanner, 2000);
      if (n && *n == 0) {
        spdlog::info("writers drained Kafka");
        break;
      }
      if (left_ms() == 0) {
        spdlog::warn("drain timeout with {} records unwritten; the next start "
                     "recovers them from Kafka",
                     n ? std::to_string(*n) : to_string(n.error()));
        break;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  for (auto& w : writers_)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  for (auto& a : directory_.all())
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(resolver_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(snapshotter_, caf::exit_reason::user_shutdown);
  snapshotter_ = nullptr;
  writers_.clear();
  directory_.clear();
  store_ = nullptr;
  resolver_ = nullptr;
  sink_.reset();
  producer_.reset();
}

} // namespace dibs
