#include "actors/node.hpp"

#include <chrono>
#include <map>
#include <thread>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/producer_guard.hpp"
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

using std::chrono::milliseconds;

} // namespace

node::node(caf::actor_system& sys, const config& cfg) : sys_(sys), cfg_(cfg) {
  stock_settings_.wait_timeout = milliseconds(cfg.http_wait_timeout_ms);
  stock_settings_.resolve_grace = milliseconds(cfg.kafka_resolve_grace_ms);
  stock_settings_.snapshot_every_events = cfg.snapshot_every_events;
  stock_settings_.snapshot_interval = milliseconds(cfg.snapshot_interval_ms);
  // main checked the configuration before the actor system started.
  if (auto map = cfg.cluster(); map && !map->empty()) {
    cluster_ = std::make_unique<cluster>(sys, std::move(*map),
                                         cfg.cluster_timing());
    ownership_ = ownership{cluster_.get()};
    // Committed rows of another member's coupon go to it.
    directory_.set_forward(
      [this](coupon_id_t id, std::vector<issuance_event> rows) {
        if (auto* owner = ownership_.remote_owner(id))
          caf::anon_send(owner->actor, committed_atom::value, id,
                         std::move(rows));
      });
  }
}

caf::error node::join_cluster() {
  if (!cluster_)
    return caf::none;
  endpoint_hooks hooks;
  hooks.directory = &directory_;
  hooks.ready = [this] { return ready(); };
  // `store_` is set before `ready_` turns true, and read only after.
  hooks.store = [this] { return ready() ? store_ : store_api{}; };
  if (auto err = cluster_->start(std::move(hooks),
                                 caf::actor_cast<caf::actor>(
                                   sys_.middleman().actor_handle())))
    return err;
  cluster_->await_peers(milliseconds(cfg_.cluster_heartbeat_timeout_ms));
  if (cluster_->conflict())
    return caf::make_error(ec::forbidden,
                           "a member of the cluster reads another cluster "
                           "configuration (nodes or shards)");
  return caf::none;
}

bool node::lacks(coupon_id_t id) const {
  return ownership_.owns(id) && !directory_.find(id)
         && !directory_.recovering(id);
}

void node::serve(const coupon& info, int64_t position) {
  if (lacks(info.id))
    spawn_new_stock(info, position);
}

void node::on_created(const coupon& info, int64_t position) {
  auto* owner = ownership_.remote_owner(info.id);
  if (!owner)
    return serve(info, position);
  // Another member owns it: it serves the coupon once it adopted it. If it
  // cannot be told now, it finds the coupon in MySQL when it scans for new
  // ones, or when it starts.
  auto& name = ownership_.owner_name(info.id);
  caf::scoped_actor self{sys_};
  self->request(owner->actor, milliseconds(cfg_.cluster_forward_timeout_ms),
                adopt_atom::value, info.id)
    .receive([](bool) {},
             [&](caf::error& err) {
               spdlog::warn("coupon {} created for node {}, which did not "
                            "take it yet: {}",
                            info.id, name, sys_.render(err));
             });
}

node::~node() {
  stop();
}

void node::supervise(child_spec spec) {
  caf::anon_send(supervisor_, supervise_atom::value, std::move(spec));
}

void node::spawn_stock(recovered_stock state) {
  auto id = state.info.id;
  auto stats = figures_.stock(state.info);
  auto ledger = std::make_shared<accepted_ledger>();
  auto hdl = sys_.spawn(stock_actor, std::move(state),
                        stock_deps{sink_.get(), &resolver_, &snapshotter_,
                                   stock_settings_, stats, ledger});
  directory_.set(id, hdl);
  child_spec spec;
  spec.name = "stock-" + std::to_string(id);
  spec.kind = child_kind::stock;
  spec.hdl = caf::actor_cast<caf::actor>(hdl);
  spec.restart = [this, id, ledger] { return restart_stock(id, ledger); };
  // Requests get 503 at once instead of waiting on a dead actor.
  spec.on_down = [this, id, stats] {
    directory_.set_recovering(id);
    stats->phase = actor_phase::crashed;
  };
  // Records the dead actor had in flight are reported (or timed out) within
  // the producer's message timeout, and a possibly stored one can still
  // land until its last request times out, which the resolve grace exceeds
  // (config::check): only then is the log final for them.
  spec.min_delay = milliseconds(cfg_.kafka_message_timeout_ms
                                + cfg_.kafka_resolve_grace_ms);
  supervise(std::move(spec));
}

caf::expected<caf::actor>
node::restart_stock(coupon_id_t id, std::shared_ptr<accepted_ledger> ledger) {
  if (auto stats = figures_.find_stock(id))
    stats->phase = actor_phase::recovering;
  auto store = mysql_store::open(cfg_.mysql());
  if (!store)
    return std::move(store.error());
  auto scanner = kafka_log::scanner(kafka());
  if (!scanner)
    return std::move(scanner.error());
  auto coupons = (*store)->load_coupons();
  if (!coupons)
    return std::move(coupons.error());
  std::vector<coupon> one;
  for (auto& c : *coupons)
    if (c.id == id)
      one.push_back(c);
  if (one.empty())
    return caf::make_error(ec::coupon_not_found);
  auto epoch = (*store)->claim_epoch(id);
  if (!epoch)
    return std::move(epoch.error());
  auto snapshots = snapshot_store::connect(cfg_.redis());
  auto recovered = recover_stock(one, {{id, *epoch}}, **store, **scanner,
                                 snapshots ? snapshots->get() : nullptr,
                                 metrics_, static_cast<int>(cfg_.kafka_admin_timeout_ms));
  if (!recovered)
    return std::move(recovered.error());
  auto& st = recovered->front();
  // What the crashed actor had accepted is in the log it wrote, unless
  // that log was lost meanwhile.
  if (auto n = adopt_held(st, ledger->events()))
    spdlog::warn("coupon {}: {} issuances its crashed actor had accepted "
                 "are in neither MySQL nor the Kafka log: publishing them "
                 "again",
                 id, n);
  auto stats = figures_.stock(st.info);
  ++stats->restarts;
  auto hdl = sys_.spawn(stock_actor, std::move(st),
                        stock_deps{sink_.get(), &resolver_, &snapshotter_,
                                   stock_settings_, stats,
                                   std::move(ledger)});
  directory_.set(id, hdl);
  return caf::actor_cast<caf::actor>(hdl);
}

caf::actor node::spawn_writer(size_t index) {
  writer_settings ws{cfg_.writer_batch_max_rows, cfg_.writer_batch_max_ms,
                     cfg_.writer_retry_backoff_ms};
  return sys_.spawn<caf::detached>(writer_actor, kafka(), cfg_.mysql(), ws,
                                   &directory_, &writers_assigned_,
                                   figures_.writer(index));
}

std::optional<kafka_settings> node::kafka_moved() const {
  auto now = kafka();
  // Another cluster behind the same address (a broker wiped and formatted
  // anew, a cluster replaced): its log is not the one the writers' offsets,
  // the snapshots and the stock actors' positions refer to.
  if (auto sink = std::atomic_load(&sink_)) {
    auto id = sink->current()->cluster_id();
    std::lock_guard<std::mutex> guard{kafka_mtx_};
    if (!id.empty() && !log_id_.empty() && id != log_id_) {
      spdlog::error("Kafka at {} is cluster {}, no longer {}: another log",
                    now.bootstrap_servers, id, log_id_);
      return now;
    }
  }
  if (!cfg_.kafka_bootstrap_servers.empty())
    return std::nullopt; // Configured, not read from the bootstrap file.
  auto next = cfg_.kafka();
  if (!next || next->bootstrap_servers == now.bootstrap_servers)
    return std::nullopt;
  return std::move(*next);
}

void node::follow_log(const kafka_settings& next) {
  // A new cluster has no topic yet.
  if (auto made = ensure_topic(next, cfg_.topic(), static_cast<int>(cfg_.kafka_admin_timeout_ms));
      !made) {
    spdlog::error("cannot create the topic in the new Kafka log: {}",
                  to_string(made.error()));
    return;
  }
  auto scanner = kafka_log::scanner(next);
  auto log = scanner ? (*scanner)->identity(static_cast<int>(cfg_.kafka_admin_timeout_ms))
                     : caf::expected<log_ref>{scanner.error()};
  auto parts = log ? (*scanner)->partitions(static_cast<int>(cfg_.kafka_admin_timeout_ms))
                   : caf::expected<std::vector<int32_t>>{log.error()};
  if (!parts) {
    spdlog::error("cannot read the new Kafka log: {}", to_string(parts.error()));
    return;
  }
  spdlog::warn("Kafka moved to {} (log {}): writers and resolver restart on "
               "it, stock actors publish again what MySQL may lack",
               next.bootstrap_servers, log->log_id);
  auto count = static_cast<int32_t>(parts->size());
  {
    std::lock_guard<std::mutex> guard{kafka_mtx_};
    kafka_ = next;
    log_id_ = log->log_id;
    partition_count_ = count;
  }
  caf::anon_send(store_, kafka_atom::value, next);
  // They exit with this reason; the supervisor restarts them on `kafka()`.
  auto restart = [](const caf::actor& hdl) {
    caf::anon_send(hdl, caf::exit_msg{caf::actor_addr{},
                                      caf::make_error(ec::storage_failure,
                                                      "the Kafka log changed")});
  };
  {
    std::lock_guard<std::mutex> guard{writers_mtx_};
    for (auto& w : writers_)
      restart(w);
  }
  restart(resolver_.get());
  for (auto& a : directory_.all())
    caf::anon_send(a, republish_atom::value, log->log_id, count);
  ++metrics_.kafka_log_changes;
}

std::pair<std::string, std::string> node::kafka_log_names() const {
  std::lock_guard<std::mutex> guard{kafka_mtx_};
  return {kafka_.bootstrap_servers, log_id_};
}

caf::actor node::writer(size_t index) const {
  std::lock_guard<std::mutex> guard{writers_mtx_};
  return index < writers_.size() ? writers_[index] : caf::actor{};
}

void node::spawn_new_stock(const coupon& info, int64_t position) {
  recovered_stock st;
  st.info = info;
  // `create_coupon` gave it owner epoch 1; nothing of it is in Kafka yet.
  st.snapshot.epoch = 1;
  {
    std::lock_guard<std::mutex> guard{kafka_mtx_};
    st.snapshot.log_id = log_id_;
    st.snapshot.partition = partition_of(info.id, partition_count_);
  }
  st.snapshot.position = position;
  spawn_stock(std::move(st));
}

caf::error node::start() {
  mysql_store::init_driver();
  auto store = open_storage();
  if (!store)
    return std::move(store.error());
  auto started = clock_type::now();
  auto scanner = kafka_log::scanner(kafka());
  if (!scanner)
    return std::move(scanner.error());
  if (auto err = read_log(**scanner))
    return err;
  coupon_id_t newest = 0;
  auto recovered = recover(**store, **scanner, newest);
  if (!recovered)
    return std::move(recovered.error());
  spawn_services();
  spawn_stocks(std::move(*recovered), started);
  spawn_store_actor(newest);
  spawn_writers();
  ready_ = true;
  return caf::none;
}

caf::expected<std::unique_ptr<mysql_store>> node::open_storage() {
  auto k = cfg_.kafka();
  if (!k)
    return std::move(k.error());
  {
    std::lock_guard<std::mutex> guard{kafka_mtx_};
    kafka_ = std::move(*k);
  }
  auto store = mysql_store::open(cfg_.mysql());
  if (!store)
    return std::move(store.error());
  if (auto res = (*store)->ensure_schema(); !res)
    return std::move(res.error());
  // A real deployment needs the topic before the first issuance; an
  // existing one is used as it is.
  if (auto made = ensure_topic(kafka(), cfg_.topic(), static_cast<int>(cfg_.kafka_admin_timeout_ms));
      !made)
    return std::move(made.error());
  auto producer = kafka_producer::make(kafka());
  if (!producer)
    return std::move(producer.error());
  std::atomic_store(&sink_, std::make_shared<kafka_sink>(std::move(*producer)));
  return store;
}

caf::error node::read_log(kafka_log& scanner) {
  auto log = scanner.identity(static_cast<int>(cfg_.kafka_admin_timeout_ms));
  if (!log)
    return std::move(log.error());
  auto parts = scanner.partitions(static_cast<int>(cfg_.kafka_admin_timeout_ms));
  if (!parts)
    return std::move(parts.error());
  std::lock_guard<std::mutex> guard{kafka_mtx_};
  log_id_ = log->log_id;
  partition_count_ = static_cast<int32_t>(parts->size());
  return caf::none;
}

caf::expected<std::vector<recovered_stock>>
node::recover(mysql_store& store, kafka_log& scanner, coupon_id_t& newest) {
  auto coupons = store.load_coupons();
  if (!coupons)
    return std::move(coupons.error());
  // The store actor scans for coupons newer than this one.
  newest = coupons->empty() ? 0 : coupons->back().id;
  ownership_.keep_owned(*coupons);
  std::vector<coupon_id_t> ids;
  for (auto& c : *coupons)
    ids.push_back(c.id);
  if (auto err = ownership_.claim(store, ids))
    return err;
  auto snapshots = snapshot_store::connect(cfg_.redis());
  if (!snapshots)
    spdlog::warn("Redis unreachable ({}): every coupon is rebuilt from MySQL",
                 to_string(snapshots.error()));
  return recover_stock(*coupons, ownership_.epochs(), store, scanner,
                       snapshots ? snapshots->get() : nullptr, metrics_,
                       static_cast<int>(cfg_.kafka_admin_timeout_ms));
}

void node::spawn_services() {
  supervisor_ = sys_.spawn<caf::detached>(supervisor_actor,
                                          supervisor_settings{}, &metrics_,
                                          &figures_.supervision());
  auto serve = [this](const char* name, child_kind kind, service_handle& ref,
                      std::function<caf::actor()> make) {
    ref.set(make());
    child_spec spec;
    spec.name = name;
    spec.kind = kind;
    spec.hdl = ref.get();
    spec.restart = [&ref, make]() -> caf::expected<caf::actor> {
      ref.set(make());
      return ref.get();
    };
    supervise(std::move(spec));
  };
  serve("resolver", child_kind::resolver, resolver_, [this] {
    return sys_.spawn<caf::detached>(resolver_actor, kafka(), cfg_.mysql());
  });
  serve("snapshotter", child_kind::snapshotter, snapshotter_, [this] {
    return sys_.spawn<caf::detached>(snapshotter_actor, cfg_.redis(),
                                     &metrics_);
  });
  serve("producer-guard", child_kind::producer, producer_guard_, [this] {
    return sys_.spawn<caf::detached>(
      producer_guard, sink_.get(), &metrics_,
      producer_guard_state::hooks{[this] { return kafka(); },
                                  [this] { return kafka_moved(); },
                                  [this](const kafka_settings& next) {
                                    follow_log(next);
                                  }});
  });
}

void node::spawn_stocks(std::vector<recovered_stock> recovered,
                        clock_type::time_point started) {
  size_t rows_total = 0;
  size_t tail_total = 0;
  auto count = recovered.size();
  for (auto& st : recovered) {
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
               count, metrics_.recovered_from_snapshot.load(),
               metrics_.recovered_from_mysql.load(), rows_total, tail_total,
               took);
}

void node::spawn_store_actor(coupon_id_t newest) {
  store_ = sys_.spawn<caf::detached>(
    store_actor, cfg_.mysql(), kafka(), cfg_.redis(),
    [this](const coupon& c, int64_t position) { on_created(c, position); },
    [this](const coupon& c, int64_t position) { this->serve(c, position); },
    [this](coupon_id_t id) { return lacks(id); },
    cluster_ ? newest : std::optional<coupon_id_t>{});
}

void node::spawn_writers() {
  // A node without writers leaves writing to other nodes.
  writers_assigned_ = cfg_.writer_count == 0;
  std::lock_guard<std::mutex> guard{writers_mtx_};
  for (size_t i = 0; i < cfg_.writer_count; ++i) {
    writers_.push_back(spawn_writer(i));
    child_spec spec;
    spec.name = "writer-" + std::to_string(i);
    spec.kind = child_kind::writer;
    spec.hdl = writers_.back();
    spec.restart = [this, i]() -> caf::expected<caf::actor> {
      std::lock_guard<std::mutex> guard{writers_mtx_};
      writers_[i] = spawn_writer(i);
      ++figures_.writer(i)->restarts;
      return writers_[i];
    };
    spec.on_down = [this, i] {
      figures_.writer(i)->phase = actor_phase::crashed;
    };
    supervise(std::move(spec));
  }
}

void node::stop() {
  if (!supervisor_) {
    // Never started (or stopped already).
    std::atomic_store(&sink_, std::shared_ptr<kafka_sink>{});
    if (cluster_)
      cluster_->stop();
    return;
  }
  ready_ = false;
  // Actors stopped from here on are not restarted.
  {
    caf::scoped_actor self{sys_};
    self->request(supervisor_, caf::infinite, stop_atom::value)
      .receive([](bool) {}, [](caf::error&) {});
  }
  auto deadline = clock_type::now() + milliseconds(cfg_.node_drain_timeout_ms);
  auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(
      0, std::chrono::duration_cast<milliseconds>(deadline - clock_type::now())
           .count()));
  };
  if (auto n = sink_->current()->flush(left_ms()); n > 0)
    spdlog::error("{} records still unacknowledged at shutdown", n);
  // Let the writers drain: done when MySQL's offsets reach the watermarks.
  // A node without writers leaves that to the nodes that have them.
  auto store = mysql_store::open(cfg_.mysql());
  auto scanner = kafka_log::scanner(kafka());
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
  auto shutdown = [](const auto& hdl) {
    if (hdl)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  };
  {
    std::lock_guard<std::mutex> guard{writers_mtx_};
    for (auto& w : writers_)
      shutdown(w);
    writers_.clear();
  }
  for (auto& a : directory_.all())
    shutdown(a);
  shutdown(store_);
  for (auto& a : {resolver_.get(), snapshotter_.get(), producer_guard_.get(),
                  supervisor_})
    shutdown(a);
  directory_.clear();
  store_ = store_api{};
  resolver_.set(nullptr);
  snapshotter_.set(nullptr);
  producer_guard_.set(nullptr);
  supervisor_ = nullptr;
  std::atomic_store(&sink_, std::shared_ptr<kafka_sink>{});
  if (cluster_)
    cluster_->stop();
}

} // namespace dibs
