#include "actors/node.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <set>
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

/// How long the producer guard's check for another log waits for the
/// broker's metadata (the guard runs detached, once a second).
constexpr int moved_check_timeout_ms = 500;

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
    ownership_.set_members(cluster_.get());
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
  hooks.owns = [this](coupon_id_t id) { return ownership_.owns(id); };
  hooks.served = [this] {
    std::vector<uint64_t> out;
    for (auto& c : ownership_.served())
      out.push_back(ownership::pack(c));
    return out;
  };
  hooks.learned = [this](size_t member, const std::vector<uint64_t>& claims) {
    ownership_.learn(member, claims);
  };
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

bool node::serves_or_parks(coupon_id_t id) const {
  std::lock_guard<std::mutex> guard{shards_mtx_};
  return serves_or_parks_locked(id);
}

bool node::serves_or_parks_locked(coupon_id_t id) const {
  return ownership_.owns(id) || parked_.count(ownership_.shard_of(id)) > 0;
}

bool node::lacks(coupon_id_t id) const {
  std::lock_guard<std::mutex> guard{shards_mtx_};
  return lacks_locked(id);
}

bool node::lacks_locked(coupon_id_t id) const {
  return serves_or_parks_locked(id) && !directory_.holds(id);
}

void node::serve(const coupon& info, int64_t position) {
  auto st = new_stock(info, position);
  // Decided with takeovers, give-ups and a restarted actor's install held
  // off (restart_stock): an actor that serves the coupon already, or
  // appears meanwhile, is never replaced by one with the full stock.
  std::lock_guard<std::mutex> guard{shards_mtx_};
  if (lacks_locked(info.id))
    spawn_stock(std::move(st));
}

void node::on_created(const coupon& info, int64_t position) {
  auto* owner = ownership_.remote_owner(info.id);
  if (!owner)
    return serve(info, position);
  // Another member owns it: it serves the coupon once it adopted it. If it
  // cannot be told now, it finds the coupon in MySQL when it scans for new
  // ones, or when it starts.
  auto name = ownership_.owner_name(info.id);
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

stock_api node::spawn_stock_actor(recovered_stock state,
                                  std::shared_ptr<stock_stats> stats,
                                  std::shared_ptr<accepted_ledger> ledger) {
  auto id = state.info.id;
  auto gate = std::make_shared<sold_out_gate>(state.info, stats);
  auto hdl = sys_.spawn(stock_actor, std::move(state),
                        stock_deps{sink_.get(), &resolver_, &snapshotter_,
                                   stock_settings_, std::move(stats),
                                   std::move(ledger), gate});
  directory_.set(id, hdl, std::move(gate));
  return hdl;
}

void node::spawn_stock(recovered_stock state) {
  auto id = state.info.id;
  auto stats = figures_.stock(state.info);
  auto ledger = std::make_shared<accepted_ledger>();
  auto hdl = spawn_stock_actor(std::move(state), stats, ledger);
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
  // Its shard moved meanwhile: the new owner serves it, or another
  // takeover here spawned it anew. The supervisor forgets it.
  // (A parked shard's actors are kept: this one is restarted with them.)
  if (directory_.find(id) || !serves_or_parks(id))
    return caf::actor{};
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
  // A takeover or give-up may have run meanwhile: decide again with them
  // held off.
  std::lock_guard<std::mutex> guard{shards_mtx_};
  if (directory_.find(id) || !serves_or_parks_locked(id))
    return caf::actor{};
  auto stats = figures_.stock(st.info);
  ++stats->restarts;
  auto hdl = spawn_stock_actor(std::move(st), std::move(stats),
                               std::move(ledger));
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
    auto id = sink->current()->cluster_id(moved_check_timeout_ms);
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
  // The shards are retaken with fences in the new log: read back there.
  if (auto err = watch_->follow(next)) {
    spdlog::error("the fence watch cannot read the new Kafka log: {}",
                  to_string(err));
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
  // Ahead of what waits in their mailboxes: requests the old log cannot
  // answer (the resolver's) would each wait for their timeout first.
  auto restart = [](const caf::actor& hdl) {
    caf::anon_send<caf::message_priority::high>(
      hdl, caf::exit_msg{caf::actor_addr{},
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
  moving_ = false;
  retake_assigned();
  // A group that joined the new broker before the topic was made there
  // assigns nothing and stays so: it joins again.
  if (auto* group = group_ready_.load())
    group->rejoin_if_unassigned();
}

std::pair<std::string, std::string> node::kafka_log_names() const {
  std::lock_guard<std::mutex> guard{kafka_mtx_};
  return {kafka_.bootstrap_servers, log_id_};
}

caf::actor node::writer(size_t index) const {
  std::lock_guard<std::mutex> guard{writers_mtx_};
  return index < writers_.size() ? writers_[index] : caf::actor{};
}

recovered_stock node::new_stock(const coupon& info, int64_t position) const {
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
  return st;
}

caf::error node::start() {
  mysql_store::init_driver();
  auto store = open_storage();
  if (!store)
    return std::move(store.error());
  auto scanner = kafka_log::scanner(kafka());
  if (!scanner)
    return std::move(scanner.error());
  if (auto err = read_log(**scanner))
    return err;
  auto coupons = (*store)->load_coupons();
  if (!coupons)
    return std::move(coupons.error());
  // The store actor scans for coupons newer than this one.
  coupon_id_t newest = coupons->empty() ? 0 : coupons->back().id;
  if (!supervisor_) { // Else spawned by a start that failed to join.
    spawn_services();
    spawn_store_actor(newest);
    spawn_writers();
  }
  if (auto err = join_owners())
    return err;
  ready_ = true;
  return caf::none;
}

caf::error node::join_owners() {
  taker_stop_ = false;
  if (!taker_.joinable())
    taker_ = std::thread{[this] { run_taker(); }};
  owner_group_settings gs;
  auto k = kafka();
  gs.group_id = k.topic + ".owners";
  gs.member = cfg_.node_id;
  gs.session_timeout_ms = static_cast<int>(cfg_.cluster_session_timeout_ms);
  gs.heartbeat_interval_ms = std::max(100, gs.session_timeout_ms / 4);
  // A takeover holds the group's thread while it gives shards up.
  gs.max_poll_interval_ms = std::max(60'000, gs.session_timeout_ms);
  owner_group::hooks hooks;
  hooks.assigned = [this](std::vector<int32_t> shards) {
    queue_takeover(std::move(shards));
  };
  hooks.revoked = [this](std::vector<int32_t> shards, bool lost) {
    // Dropped by the group (a pause, the coordinator's broker lost): the
    // node serves on. Whoever the group gives the shards fences them, and
    // the fence watch gives them up here then; until then nobody else
    // decides for them, and when they come back here they serve as they
    // are.
    if (lost)
      spdlog::warn("the owners' group dropped this node: it serves {} "
                   "shards on until another owner fences them",
                   shards.size());
    else
      give_up(shards, "the group moved them");
  };
  auto group = owner_group::join(k, gs, std::move(hooks));
  if (!group)
    return std::move(group.error());
  group_ = std::move(*group);
  group_ready_ = group_.get();
  // Served once the first assignment is; a node the group gives nothing
  // (more nodes than shards) is ready after a few session timeouts.
  auto deadline = clock_type::now()
                  + milliseconds(3 * gs.session_timeout_ms
                                 + cfg_.kafka_admin_timeout_ms);
  while (clock_type::now() < deadline) {
    auto assigned = group_->assignment();
    if (!assigned.empty() && taking_ == 0) {
      bool all = true;
      for (auto p : assigned)
        all = all && ownership_.epoch(p) != 0;
      if (all)
        break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return caf::none;
}

void node::run_taker() {
  // How often an idle taker looks for assigned shards nobody serves.
  constexpr auto unserved_check_interval = milliseconds(1000);
  for (;;) {
    std::pair<std::vector<int32_t>, clock_type::time_point> next;
    std::vector<std::pair<int32_t, uint64_t>> fenced;
    {
      std::unique_lock<std::mutex> guard{taker_mtx_};
      auto woken = taker_cv_.wait_for(guard, unserved_check_interval, [this] {
        return taker_stop_ || !taker_queue_.empty() || !fenced_.empty();
      });
      if (taker_stop_)
        return;
      if (!woken) {
        guard.unlock();
        retake_unserved();
        continue;
      }
      // What was seen unserved before this job is seen anew after it.
      unserved_since_.clear();
      if (!fenced_.empty()) {
        fenced.swap(fenced_);
      } else {
        next = std::move(taker_queue_.front());
        taker_queue_.pop_front();
      }
    }
    if (!fenced.empty()) {
      // A notice can come late: the watch read the fence, then the shard
      // was given up and taken again (at an epoch above the fence's)
      // before this thread got the notice. That shard is served rightly.
      std::vector<int32_t> shards;
      for (auto& [shard, epoch] : fenced)
        if (ownership_.epoch(shard) < epoch)
          shards.push_back(shard);
      if (!shards.empty())
        give_up(shards, "a newer owner fenced it");
      continue;
    }
    take_over(std::move(next.first), next.second);
    --taking_;
  }
}

void node::retake_unserved() {
  auto* group = group_ready_.load();
  if (!group)
    return;
  // An assignment counts once it held still for the grace: a rebalance
  // starts the clocks over.
  if (auto n = group->rebalances(); n != unserved_rebalances_) {
    unserved_rebalances_ = n;
    unserved_since_.clear();
  }
  auto assigned = group->assignment();
  auto now = clock_type::now();
  // Longer than a rebalance takes to move a shard given up here elsewhere.
  auto grace = milliseconds(3 * cfg_.cluster_session_timeout_ms);
  std::vector<int32_t> overdue;
  {
    std::lock_guard<std::mutex> guard{shards_mtx_};
    // Parked shards wait for the node to follow the new log (a takeover
    // before would fence them in the old one).
    if (moving_) {
      unserved_since_.clear();
      return;
    }
    std::map<int32_t, clock_type::time_point> still;
    for (auto p : assigned) {
      if (ownership_.epoch(p) != 0)
        continue;
      auto i = unserved_since_.find(p);
      auto since = i != unserved_since_.end() ? i->second : now;
      if (now - since >= grace)
        overdue.push_back(p);
      else
        still.emplace(p, since);
    }
    unserved_since_ = std::move(still);
  }
  if (overdue.empty())
    return;
  std::string names;
  for (auto p : overdue)
    names += (names.empty() ? "" : ", ") + std::to_string(p);
  spdlog::error("the owners' group has assigned shards {} to this node for "
                "{} ms, and nobody serves them here: taking them over",
                names, grace.count());
  queue_takeover(std::move(overdue));
}

void node::take_over(std::vector<int32_t> shards,
                     clock_type::time_point assigned_at) {
  auto timeout = static_cast<int>(cfg_.kafka_admin_timeout_ms);
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      std::unique_lock<std::mutex> guard{taker_mtx_};
      if (taker_cv_.wait_for(guard, milliseconds(1000),
                             [this] { return taker_stop_; }))
        return;
    }
    std::lock_guard<std::mutex> guard{shards_mtx_};
    // Kafka moved and the node does not follow the new log yet: a fence
    // now would be recorded in MySQL for the old log, and the takeover
    // would wait here, holding shards_mtx_, for a MySQL that may be down,
    // while the next try to follow waits for shards_mtx_ in park_for_move
    // (seen in integration.broker_restart). The follow retakes what the
    // group assigns.
    if (moving_)
      return;
    // What the group took back meanwhile is not taken over (the first
    // assignment may come before `join` returned the group).
    auto* group = group_ready_.load();
    auto assigned = group ? group->assignment() : shards;
    shards.erase(std::remove_if(shards.begin(), shards.end(),
                                [&](int32_t p) {
                                  return ownership_.epoch(p) != 0
                                         || std::find(assigned.begin(),
                                                      assigned.end(), p)
                                              == assigned.end();
                                }),
                 shards.end());
    // A shard parked for a move of Kafka that the group now assigns
    // elsewhere is not watched: nothing else would stop its actors.
    std::vector<int32_t> elsewhere;
    for (auto& [p, parked] : parked_)
      if (std::find(assigned.begin(), assigned.end(), p) == assigned.end())
        elsewhere.push_back(p);
    if (!elsewhere.empty())
      give_up_locked(elsewhere, "the group assigns them elsewhere", false);
    if (shards.empty())
      return;
    if (!taker_store_) {
      auto store = mysql_store::open(cfg_.mysql());
      if (!store) {
        spdlog::warn("takeover of {} shards waits for MySQL: {}",
                     shards.size(), to_string(store.error()));
        continue;
      }
      taker_store_ = std::move(*store);
    }
    auto& store = *taker_store_;
    auto fenced_at = clock_type::now();
    log_ref log;
    {
      std::lock_guard<std::mutex> kguard{kafka_mtx_};
      log = log_ref{kafka_.topic, log_id_};
    }
    // Raise each shard's epoch and fence it: from the fence on, records of
    // the previous owners do not count, and they will read the fence
    // before any yes of theirs.
    std::map<int32_t, log_fence> fences;
    caf::error failed;
    for (auto p : shards) {
      auto f = fence_shard(store, log, p);
      if (!f) {
        failed = std::move(f.error());
        break;
      }
      fences[p] = *f;
    }
    if (failed) {
      spdlog::warn("takeover of shards failed, retrying: {}",
                   to_string(failed));
      taker_store_.reset();
      continue;
    }
    auto fence_ms = std::chrono::duration_cast<milliseconds>(clock_type::now()
                                                             - fenced_at)
                      .count();
    for (auto& [p, f] : fences)
      watch_->watch(p, f.offset, f.epoch);
    // Recover the coupons of these shards, reading their partitions to the
    // end: everything a previous owner said yes to is before the fence.
    auto coupons = store.load_coupons();
    auto scanner = kafka_log::scanner(kafka());
    if (!coupons || !scanner) {
      spdlog::warn("takeover of shards failed, retrying: {}",
                   to_string(!coupons ? coupons.error() : scanner.error()));
      for (auto& [p, f] : fences)
        watch_->unwatch(p);
      taker_store_.reset();
      continue;
    }
    // Parked shards still this node's serve again with their actors.
    if (auto err = resume_relogged(fences, **scanner, assigned_at)) {
      spdlog::warn("takeover of shards failed, retrying: {}",
                   to_string(err));
      for (auto& [p, f] : fences)
        watch_->unwatch(p);
      taker_store_.reset();
      continue;
    }
    if (fences.empty())
      return;
    coupons->erase(std::remove_if(coupons->begin(), coupons->end(),
                                  [&](const coupon& c) {
                                    return fences.count(
                                             ownership_.shard_of(c.id))
                                           == 0;
                                  }),
                   coupons->end());
    std::vector<coupon_id_t> ids;
    for (auto& c : *coupons)
      ids.push_back(c.id);
    auto snapshots = snapshot_store::connect(cfg_.redis());
    if (!snapshots)
      spdlog::warn("Redis unreachable ({}): coupons are rebuilt from MySQL",
                   to_string(snapshots.error()));
    caf::expected<std::vector<recovered_stock>> recovered{caf::none};
    if (auto err = ownership_.claim(store, ids))
      recovered = std::move(err);
    else
      recovered = recover_stock(*coupons, ownership_.epochs(), store,
                                **scanner,
                                snapshots ? snapshots->get() : nullptr,
                                metrics_, timeout);
    if (!recovered) {
      spdlog::warn("takeover of shards failed, retrying: {}",
                   to_string(recovered.error()));
      for (auto& [p, f] : fences)
        watch_->unwatch(p);
      taker_store_.reset();
      continue;
    }
    // A newer owner fenced a shard before this one's fence: it is not ours.
    for (auto& nf : (*scanner)->fences().fences())
      if (auto i = fences.find(nf.partition);
          i != fences.end() && nf.epoch > i->second.epoch) {
        spdlog::error("shard {} was fenced by epoch {} before this node's "
                      "epoch {}: not served",
                      nf.partition, nf.epoch, i->second.epoch);
        watch_->unwatch(nf.partition);
        fences.erase(i);
      }
    // The actors first: a shard served without them would answer 404.
    // Until it is served they refuse every issuance (503).
    size_t count = 0;
    for (auto& st : *recovered)
      if (fences.count(ownership_.shard_of(st.info.id))) {
        spawn_stock(std::move(st));
        ++count;
      }
    for (auto& [p, f] : fences)
      ownership_.serve(p, f.epoch);
    auto took = std::chrono::duration_cast<milliseconds>(clock_type::now()
                                                         - assigned_at)
                  .count();
    metrics_.recovery_ms = static_cast<uint64_t>(took);
    for (auto& [p, f] : fences) {
      spdlog::info("took shard {} over with epoch {} in {} ms (fencing {} "
                   "ms), {} coupons of {} shards",
                   p, f.epoch, took, fence_ms, count, fences.size());
      record_takeover(takeover{p, f.epoch, now_ms(), took, fence_ms, count});
    }
    return;
  }
}

caf::expected<log_fence> node::fence_shard(mysql_store& store,
                                           const log_ref& log, int32_t p) {
  auto& token = unsettled_claims_[p];
  if (token.empty())
    token = mysql_store::new_token();
  auto epoch = store.claim_shard(log, p, cfg_.node_id, token);
  if (!epoch)
    return std::move(epoch.error()); // The token stays for the retry.
  unsettled_claims_.erase(p);
  if (auto i = parked_.find(p);
      i != parked_.end() && *epoch == i->second.own_to + 1)
    i->second.own_to = *epoch;
  std::promise<delivery_report> promise;
  auto reported = promise.get_future();
  sink_->current()->produce_fence(
    p, *epoch, cfg_.node_id,
    [&promise](delivery_report rep) { promise.set_value(std::move(rep)); });
  // The callback refers to the promise: wait for it whatever the timeout.
  auto rep = reported.get();
  if (rep.outcome != delivery_outcome::stored)
    return caf::make_error(ec::storage_failure,
                           "fence of shard " + std::to_string(p) + ": "
                             + rep.error);
  if (auto armed = p; fail_fence_shard_.compare_exchange_strong(armed, -1))
    return caf::make_error(ec::storage_failure,
                           "fence of shard " + std::to_string(p)
                             + ": stored, then failed (fault injected)");
  log_fence f{p, rep.offset, *epoch};
  if (auto ok = store.add_fence(log, f); !ok)
    return std::move(ok.error());
  return f;
}

void node::park_for_move() {
  std::lock_guard<std::mutex> guard{shards_mtx_};
  std::vector<int32_t> served;
  for (auto& c : ownership_.served())
    served.push_back(c.shard);
  moving_ = true;
  give_up_locked(served, "Kafka moved to another log", true);
  // The watch's positions are of the old log.
  for (auto& [p, parked] : parked_)
    watch_->unwatch(p);
}

void node::retake_assigned() {
  auto* group = group_ready_.load();
  auto assigned = group ? group->assignment() : std::vector<int32_t>{};
  if (!assigned.empty()) // Else the group assigns them anew.
    queue_takeover(std::move(assigned));
}

void node::queue_takeover(std::vector<int32_t> shards) {
  {
    std::lock_guard<std::mutex> guard{taker_mtx_};
    ++taking_;
    taker_queue_.emplace_back(std::move(shards), clock_type::now());
  }
  taker_cv_.notify_one();
}

caf::expected<bool> node::own_since_park(int32_t p, const parked_shard& parked,
                                         const log_fence& f,
                                         kafka_log& scanner) {
  auto timeout = static_cast<int>(cfg_.kafka_admin_timeout_ms);
  // Every epoch since the park is this node's: nobody else claimed the
  // shard in between. A takeover that failed after its claim leaves one
  // behind.
  if (f.epoch <= parked.epoch || f.epoch != parked.own_to)
    return false;
  auto ours = [&](uint64_t e) { return e > parked.epoch && e <= f.epoch; };
  // Before the fence, the new log holds only fences of those epochs (a
  // failed takeover's fence may have been stored) and the resolver's
  // probes, which hold nothing.
  auto marks = scanner.watermarks(p, timeout);
  if (!marks)
    return std::move(marks.error());
  if (marks->first > f.offset)
    return false;
  if (marks->first == f.offset)
    return true;
  auto before = scanner.read_to_end(p, marks->first, timeout);
  if (!before)
    return std::move(before.error());
  int64_t next = marks->first;
  for (auto& r : *before) {
    if (r.offset >= f.offset)
      break;
    if (r.offset != next || (!r.probe && (!r.fence || !ours(*r.fence))))
      return false;
    ++next;
  }
  return next == f.offset;
}

caf::error node::resume_relogged(std::map<int32_t, log_fence>& fences,
                                 kafka_log& scanner,
                                 clock_type::time_point assigned_at) {
  for (auto it = fences.begin(); it != fences.end();) {
    auto [p, f] = *it;
    auto parked = parked_.find(p);
    if (parked == parked_.end()) {
      ++it;
      continue;
    }
    auto own = own_since_park(p, parked->second, f, scanner);
    if (!own)
      return std::move(own.error());
    if (!*own) {
      // Another owner claimed the shard meanwhile (in the old log or the
      // new one), or records before the fence are somebody else's: the
      // actors' state misses them. The shard is recovered from MySQL and
      // the log, and what only the actors held is lost with them.
      give_up_locked({p}, "the new Kafka log has records of another owner",
                     false);
      watch_->watch(p, f.offset, f.epoch);
      ++it;
      continue;
    }
    parked_.erase(parked);
    ownership_.serve(p, f.epoch);
    auto took = std::chrono::duration_cast<milliseconds>(clock_type::now()
                                                         - assigned_at)
                  .count();
    spdlog::warn("shard {} serves in the new Kafka log with epoch {} in {} "
                 "ms: its actors publish again what MySQL lacks",
                 p, f.epoch, took);
    record_takeover(takeover{p, f.epoch, now_ms(), took, 0, 0});
    it = fences.erase(it);
  }
  return caf::none;
}

caf::error node::fail_next_fence_of(coupon_id_t coupon) {
  if (!directory_.find(coupon))
    return caf::make_error(ec::coupon_not_found);
  fail_fence_shard_ = ownership_.shard_of(coupon);
  return caf::none;
}

caf::error node::drop_shard_of(coupon_id_t coupon) {
  if (!directory_.find(coupon))
    return caf::make_error(ec::coupon_not_found);
  auto p = ownership_.shard_of(coupon);
  if (ownership_.epoch(p) == 0)
    return caf::make_error(ec::not_found);
  give_up({p}, "fault injected");
  return caf::none;
}

void node::give_up(const std::vector<int32_t>& shards, const char* why) {
  std::lock_guard<std::mutex> guard{shards_mtx_};
  give_up_locked(shards, why, false);
}

void node::give_up_locked(const std::vector<int32_t>& shards, const char* why,
                          bool park) {
  std::vector<int32_t> served;
  for (auto p : shards) {
    auto epoch = ownership_.epoch(p);
    if (epoch != 0) {
      ownership_.drop(p);
      if (park)
        parked_[p] = parked_shard{epoch, epoch};
      else
        served.push_back(p);
    } else if (!park && parked_.erase(p) > 0) {
      served.push_back(p);
    }
  }
  if (!park)
    for (auto p : shards)
      if (watch_)
        watch_->unwatch(p);
  if (park && !shards.empty())
    spdlog::warn("gave up {} shards ({}): their stock actors wait for them "
                 "to be fenced in the new log",
                 shards.size(), why);
  if (served.empty())
    return;
  std::vector<coupon_id_t> ids;
  auto actors = directory_.take_if([&](coupon_id_t id) {
    auto p = ownership_.shard_of(id);
    if (std::find(served.begin(), served.end(), p) == served.end())
      return false;
    ids.push_back(id);
    return true;
  });
  ownership_.unclaim(ids);
  for (auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  spdlog::warn("gave up {} shards ({}): {} stock actors stopped",
               served.size(), why, actors.size());
}

void node::record_takeover(takeover t) {
  std::lock_guard<std::mutex> guard{takeovers_mtx_};
  takeovers_.push_back(t);
  if (takeovers_.size() > 64)
    takeovers_.pop_front();
}

std::vector<node::takeover> node::takeovers() const {
  std::lock_guard<std::mutex> guard{takeovers_mtx_};
  return {takeovers_.begin(), takeovers_.end()};
}

std::vector<int32_t> node::assigned_shards() const {
  auto* group = group_ready_.load();
  return group ? group->assignment() : std::vector<int32_t>{};
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
  if (std::atomic_load(&sink_))
    return store; // Made by a start that failed later; the actors use it.
  auto producer = kafka_producer::make(kafka());
  if (!producer)
    return std::move(producer.error());
  auto watch = fence_watch::make(
    kafka(), [this](int32_t shard, int64_t, uint64_t epoch) {
      // The taker thread gives it up: the watch's thread must not wait
      // for a takeover, which may wait for the watch. Until then the
      // watch answers "fenced" for every record of the shard.
      {
        std::lock_guard<std::mutex> guard{taker_mtx_};
        fenced_.emplace_back(shard, epoch);
      }
      taker_cv_.notify_one();
    });
  if (!watch)
    return std::move(watch.error());
  watch_ = std::move(*watch);
  std::atomic_store(&sink_, std::make_shared<kafka_sink>(
                              std::move(*producer), ownership_, *watch_));
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
  ownership_.set_partitions(partition_count_);
  if (cluster_ && partition_count_ < static_cast<int32_t>(
                    cluster_->map().members().size()))
    spdlog::warn("the issuance topic has {} partitions for {} members: some "
                 "members will own no shard (the topic keeps the count it "
                 "was made with; kafka.partitions)",
                 partition_count_, cluster_->map().members().size());
  return caf::none;
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
                                  [this] { park_for_move(); },
                                  [this](const kafka_settings& next) {
                                    follow_log(next);
                                  }});
  });
}

void node::spawn_store_actor(coupon_id_t newest) {
  store_ = sys_.spawn<caf::detached>(
    store_actor, cfg_.mysql(), kafka(), cfg_.redis(),
    [this](const coupon& c, int64_t position) { on_created(c, position); },
    [this](const coupon& c, int64_t position) { this->serve(c, position); },
    [this](coupon_id_t id) { return lacks(id); },
    newest);
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

void node::stop_shards() {
  {
    std::lock_guard<std::mutex> guard{taker_mtx_};
    taker_stop_ = true;
    taker_queue_.clear();
  }
  taker_cv_.notify_all();
  if (taker_.joinable())
    taker_.join();
  // Leaving gives every shard up (through the hooks) at once, so that the
  // others take them over now rather than after a session timeout.
  group_ready_ = nullptr;
  group_.reset();
  taker_store_.reset();
}

void node::close_sink() {
  // The producer's delivery reports ask the watch for verdicts and the
  // watch's verdicts finish in the sink: every report first (what is still
  // queued fails), then the watch (what waits for a verdict is unknown),
  // then the sink.
  if (auto sink = std::atomic_load(&sink_)) {
    sink->current()->purge();
    sink->current()->flush(1000);
  }
  watch_.reset();
  std::atomic_store(&sink_, std::shared_ptr<kafka_sink>{});
}

void node::stop() {
  if (!supervisor_) {
    // Never started (or stopped already).
    stop_shards();
    close_sink();
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
  stop_shards();
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
  close_sink();
  if (cluster_)
    cluster_->stop();
}

} // namespace dibs
