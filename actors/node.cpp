#include "actors/node.hpp"

#include <chrono>
#include <map>
#include <thread>

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/resolver_actor.hpp"
#include "actors/stock_actor.hpp"
#include "actors/store_actor.hpp"
#include "actors/writer_actor.hpp"
#include "persistence/log_tail.hpp"

namespace dibs {

namespace {

constexpr int startup_kafka_timeout_ms = 10'000;

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

} // namespace

node::node(caf::actor_system& sys, const config& cfg) : sys_(sys), cfg_(cfg) {
  stock_settings_.wait_timeout = milliseconds(cfg.http_wait_timeout_ms);
  stock_settings_.resolve_grace = milliseconds(cfg.kafka_resolve_grace_ms);
}

node::~node() {
  stop();
}

void node::spawn_stock(const coupon& info, std::vector<issuance_event> rows,
                       std::vector<issuance_event> tail) {
  auto hdl = sys_.spawn(stock_actor, info, std::move(rows), std::move(tail),
                        sink_.get(), resolver_, stock_settings_);
  directory_.add(info.id, std::move(hdl));
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
  // Recovery: MySQL holds what the writers committed; the Kafka tail past
  // their stored offsets holds what was accepted but not yet written.
  auto started = clock_type::now();
  auto scanner = kafka_log::scanner(kafka_);
  if (!scanner)
    return std::move(scanner.error());
  auto tail = unwritten_tail(**store, **scanner, startup_kafka_timeout_ms);
  if (!tail)
    return std::move(tail.error());
  std::map<coupon_id_t, std::vector<issuance_event>> tail_by_coupon;
  for (auto& e : *tail)
    tail_by_coupon[e.coupon_id].push_back(e);
  auto coupons = (*store)->load_coupons();
  if (!coupons)
    return std::move(coupons.error());
  resolver_ = sys_.spawn<caf::detached>(resolver_actor, kafka_, cfg_.mysql());
  size_t rows_total = 0;
  for (auto& c : *coupons) {
    auto rows = (*store)->load_issuances(c.id);
    if (!rows)
      return std::move(rows.error());
    rows_total += rows->size();
    spawn_stock(c, std::move(*rows), std::move(tail_by_coupon[c.id]));
  }
  spdlog::info("recovered {} coupons, {} rows from MySQL and {} from the "
               "Kafka tail in {} ms",
               coupons->size(), rows_total, tail->size(),
               std::chrono::duration_cast<milliseconds>(clock_type::now()
                                                        - started)
                 .count());
  store_ = sys_.spawn<caf::detached>(
    store_actor, cfg_.mysql(), cfg_.redis(), kafka_,
    [this](const coupon& c) { spawn_stock(c, {}, {}); });
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
  writers_.clear();
  directory_.clear();
  store_ = nullptr;
  resolver_ = nullptr;
  sink_.reset();
  producer_.reset();
}

} // namespace dibs
