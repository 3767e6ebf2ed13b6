#define CAF_SUITE actors.simulation

// Deterministic simulation of a coupon's stock actor with the producer, the
// Kafka log, the writer, MySQL and the Redis snapshot around it, all driven
// by CAF's test coordinator from one seeded random generator: deliveries
// stored, failed, "possibly stored" either way, duplicated, delayed; writer
// batches, some of whose notifications are lost; Redis down, flushed,
// corrupted; the node crashing with records in flight and restarting
// through the same recovery code the node runs; the Kafka log lost (the
// embedded broker back empty) under a live actor, or while a crashed actor
// waits for its restart. After every step the
// invariants of PRODUCT.md are checked; a failure prints the seed, and
// DIBS_SIM_SEED=<seed> replays just that one.

#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include <caf/test/dsl.hpp>
#include <spdlog/spdlog.h>

#include "actors/config.hpp"
#include "actors/recovery.hpp"
#include "actors/stock_actor.hpp"

using namespace caf;
using namespace dibs;

namespace {

/// Kafka, MySQL and Redis of one simulated run, plus what clients heard.
struct world {
  std::mt19937_64 rng;
  coupon info;

  // -- Kafka: one partition --------------------------------------------------
  std::vector<issuance_event> log;
  std::string log_id = "log";
  /// Times the log was lost: MySQL then holds issuances the log does not.
  int log_losses = 0;
  struct publish {
    issuance_event event;
    event_sink::callback done;
  };
  std::vector<publish> in_flight;

  // -- MySQL -----------------------------------------------------------------
  /// The writers' stored offset: records below it are rows.
  size_t written = 0;
  std::map<user_id_t, issuance_event> rows;
  uint64_t epoch = 1;

  // -- Redis -----------------------------------------------------------------
  std::optional<snapshot> redis;
  bool redis_down = false;
  bool redis_corrupt = false;

  // -- clients ---------------------------------------------------------------
  struct client {
    std::optional<issuance_id_t> yes;
    bool told_no = false;
    /// Asked and never answered (the node crashed first).
    bool undecided = false;
    /// Requests waiting for an answer.
    int open = 0;
  };
  std::map<user_id_t, client> clients;

  std::string violation;

  explicit world(uint64_t seed, coupon_id_t id)
    : rng(seed), info{id, "sim", 1, 0, 0, 0, 0} {
    info.total_quantity = pick(1, 12);
  }

  uint32_t pick(uint32_t lo, uint32_t hi) {
    return std::uniform_int_distribution<uint32_t>{lo, hi}(rng);
  }

  bool chance(double p) {
    return std::bernoulli_distribution{p}(rng);
  }

  void fail(const std::string& what) {
    if (violation.empty())
      violation = what;
  }

  /// Distinct users in the log, each with its one issuance id.
  std::map<user_id_t, issuance_id_t> log_users() {
    std::map<user_id_t, issuance_id_t> users;
    for (auto& e : log) {
      auto [i, added] = users.emplace(e.user_id, e.issuance_id);
      if (!added && i->second != e.issuance_id)
        fail("user " + std::to_string(e.user_id) + " twice in the log");
    }
    return users;
  }
};

struct sim_sink : event_sink {
  world* w = nullptr;
  void publish(const issuance_event& event, callback done) override {
    w->in_flight.push_back(world::publish{event, std::move(done)});
  }
};

/// Redis as the Lua scripts of snapshot_store behave.
behavior sim_snapshotter(event_based_actor*, world* w) {
  return {
    [=](snapshot_atom, coupon_id_t, const snapshot_meta& meta,
        const std::vector<issuance_event>& events,
        bool whole) -> result<snapshot_write> {
      if (w->redis_down)
        return make_error(ec::unavailable, "redis down");
      auto& r = w->redis;
      if (r && r->meta.epoch > meta.epoch)
        return snapshot_write::fenced;
      if (whole) {
        r = snapshot{meta, events};
        w->redis_corrupt = false;
        return snapshot_write::done;
      }
      if (!r || r->meta.epoch < meta.epoch)
        return snapshot_write::diverged;
      if (r->meta.chunks == meta.chunks && r->meta.checksum == meta.checksum)
        return snapshot_write::done;
      if (r->meta.chunks + 1 != meta.chunks)
        return snapshot_write::diverged;
      r->events.insert(r->events.end(), events.begin(), events.end());
      r->meta = meta;
      return snapshot_write::done;
    },
  };
}

/// The resolver: is the event in the log, or in MySQL?
behavior sim_resolver(event_based_actor*, world* w) {
  return {
    [=](resolve_atom, const issuance_event& e) {
      for (auto& x : w->log)
        if (x.issuance_id == e.issuance_id)
          return true;
      auto row = w->rows.find(e.user_id);
      return row != w->rows.end() && row->second.issuance_id == e.issuance_id;
    },
  };
}

struct fixture : test_coordinator_fixture<dibs::config> {
  sim_sink sink;
  actor snapshotter;
  actor resolver;
  service_handle snapshotter_ref;
  service_handle resolver_ref;
  actor stock;
  world* w = nullptr;
  /// The figures the actor publishes (introspection), kept across restarts
  /// as the node keeps them.
  std::shared_ptr<stock_stats> stats;
  /// What the actor accepted, kept across an actor's crash as the node
  /// keeps it (a node crash loses it).
  std::shared_ptr<accepted_ledger> ledger;

  fixture() {
    // Thousands of simulated faults would each log a line.
    spdlog::set_level(spdlog::level::err);
  }

  stock_state& state() {
    return deref<stateful_actor<stock_state>>(stock).state;
  }

  /// Recovery as the node does it, over the simulated stores.
  void start_stock() {
    w->epoch += 1; // claim_epochs
    recovered_stock st;
    st.info = w->info;
    std::vector<std::pair<int64_t, issuance_event>> committed;
    for (size_t i = 0; i < w->written; ++i)
      committed.emplace_back(static_cast<int64_t>(i), w->log[i]);
    for (size_t i = w->written; i < w->log.size(); ++i)
      st.tail.push_back(w->log[i]);
    loaded_snapshot loaded;
    if (w->redis && !w->redis_down) {
      loaded.fault = w->redis_corrupt ? snapshot_fault::corrupt
                                      : snapshot_fault::ok;
      loaded.snap = *w->redis;
    }
    auto why = w->redis_down
                 ? std::string{"redis down"}
                 : snapshot_problem(loaded, w->epoch, w->log_id, 0, 0);
    if (why.empty()) {
      st.rows = rows_from_snapshot(loaded.snap, committed, st.tail);
    } else {
      for (auto& [user, e] : w->rows)
        st.rows.push_back(e);
      if (!w->redis_down && of_lost_log(loaded, w->epoch, w->log_id))
        adopt_held(st, loaded.snap.events);
    }
    adopt_held(st, ledger->events());
    st.snapshot.epoch = w->epoch;
    st.snapshot.log_id = w->log_id;
    st.snapshot.partition = 0;
    st.snapshot.position = static_cast<int64_t>(w->log.size());
    stock_settings settings;
    settings.snapshot_every_events = w->pick(1, 4);
    stock = sys.spawn(stock_actor, std::move(st),
                      stock_deps{&sink, &resolver_ref, &snapshotter_ref, settings,
                                 stats, ledger});
    sched.run();
    // Recovery found exactly what the log holds (and, once a log was lost,
    // at least what MySQL holds besides).
    auto users = w->log_users();
    if (w->log_losses > 0)
      for (auto& [user, e] : w->rows)
        users.emplace(user, e.issuance_id);
    if (w->log_losses > 0 ? state().view().issued < users.size()
                          : state().view().issued != users.size())
      w->fail("recovered " + std::to_string(state().view().issued)
              + " holders, the log has " + std::to_string(users.size())
              + (why.empty() ? " (from the snapshot)" : " (rebuilt: " + why + ")"));
  }

  void issue() {
    auto user = user_id_t{w->pick(1, w->info.total_quantity * 3)};
    auto& c = w->clients[user];
    c.open += 1;
    auto* wp = w;
    anon_send(stock, issue_atom::value, user, w->chance(0.2),
              "sim-" + std::to_string(user),
              reply_to<issuance>{[wp, user](expected<issuance> res) {
                auto& c = wp->clients[user];
                c.open -= 1;
                std::optional<issuance_id_t> id;
                if (res)
                  id = res->event.issuance_id;
                else if (res.error() == ec::already_issued
                         && res.error().context().match_elements<uint64_t>())
                  id = res.error().context().get_as<uint64_t>(0);
                if (!id) {
                  c.told_no = true;
                  return;
                }
                if (c.yes && *c.yes != *id)
                  wp->fail("user " + std::to_string(user)
                           + " told two issuance ids");
                c.yes = id;
              }});
  }

  void deliver() {
    if (w->in_flight.empty())
      return;
    auto i = w->pick(0, static_cast<uint32_t>(w->in_flight.size() - 1));
    auto p = std::move(w->in_flight[i]);
    w->in_flight.erase(w->in_flight.begin() + i);
    auto roll = w->pick(0, 99);
    delivery_report rep;
    if (roll < 55) {
      w->log.push_back(p.event);
      rep = delivery_report{delivery_outcome::stored, 0,
                            static_cast<int64_t>(w->log.size() - 1), ""};
    } else if (roll < 65) {
      rep = delivery_report{delivery_outcome::failed, -1, -1, "sim failed"};
    } else if (roll < 75) {
      w->log.push_back(p.event);
      rep = delivery_report{delivery_outcome::unknown, -1, -1, "sim timeout"};
    } else if (roll < 85) {
      rep = delivery_report{delivery_outcome::unknown, -1, -1, "sim timeout"};
    } else {
      // A retried produce landed twice, and the report arrives twice.
      w->log.push_back(p.event);
      w->log.push_back(p.event);
      rep = delivery_report{delivery_outcome::stored, 0,
                            static_cast<int64_t>(w->log.size() - 2), ""};
      anon_send(stock, delivered_atom::value, p.event.issuance_id, rep);
    }
    p.done(rep);
  }

  void write_batch(bool notify) {
    auto n = std::min<size_t>(w->pick(1, 5), w->log.size() - w->written);
    std::vector<issuance_event> batch;
    for (size_t i = 0; i < n; ++i) {
      auto& e = w->log[w->written + i];
      auto [it, added] = w->rows.emplace(e.user_id, e);
      if (added)
        batch.push_back(e);
      else if (it->second.issuance_id != e.issuance_id)
        w->fail("user " + std::to_string(e.user_id) + " has two rows");
    }
    w->written += n;
    if (notify && !batch.empty())
      anon_send(stock, committed_atom::value, std::move(batch));
  }

  /// The actor dies: what was in flight lands in the log or not, nobody
  /// hears of it, clients waiting get no answer.
  void crash() {
    for (auto& p : w->in_flight)
      if (w->chance(0.5))
        w->log.push_back(p.event);
    w->in_flight.clear();
    anon_send_exit(stock, exit_reason::kill);
    sched.run();
    for (auto& [user, c] : w->clients)
      if (c.open > 0) {
        c.undecided = true;
        c.open = 0;
      }
  }

  /// The node dies and restarts: the ledger is gone with it.
  void crash_and_restart() {
    crash();
    ledger->reset({});
    start_stock();
  }

  /// The embedded broker comes back empty under another identity; the
  /// writers start over on it.
  void lose_log() {
    w->log.clear();
    w->written = 0;
    w->log_losses += 1;
    w->log_id = "log-" + std::to_string(w->log_losses);
  }

  /// The log is lost under a live actor: the node tells it.
  void lose_log_live() {
    lose_log();
    anon_send(stock, republish_atom::value, w->log_id, int32_t{1});
  }

  /// The stock actor crashes and the log is lost before the supervisor
  /// restarts it, the node still up (seed 77354008 of integration.faults).
  void crash_lose_log_restart() {
    crash();
    lose_log();
    start_stock();
  }

  void check() {
    auto users = w->log_users();
    if (users.size() > w->info.total_quantity)
      w->fail("over-issue in the log");
    if (w->rows.size() > w->info.total_quantity)
      w->fail("over-issue in MySQL");
    auto v = state().view();
    if (v.issued > w->info.total_quantity)
      w->fail("over-issue in memory");
    // The published figures agree with the actor.
    auto held = stats->pending + stats->unresolved + stats->accepted
                + stats->committed;
    if (stats->remaining != v.remaining || held != v.issued)
      w->fail("figures say " + std::to_string(stats->remaining) + " left, "
              + std::to_string(held) + " held; the actor "
              + std::to_string(v.remaining) + " and "
              + std::to_string(v.issued));
    for (auto& [user, c] : w->clients) {
      auto in_log = users.find(user);
      if (!c.yes || (in_log != users.end() && in_log->second == *c.yes))
        continue;
      // Once a log was lost, an acknowledged issuance may be in MySQL, or
      // with the actor on its way into the new log.
      auto row = w->rows.find(user);
      auto held = state().status(user);
      if (w->log_losses > 0
          && ((row != w->rows.end() && row->second.issuance_id == *c.yes)
              || (held && held->event.issuance_id == *c.yes)))
        continue;
      w->fail("user " + std::to_string(user)
              + " was acknowledged but is not in the log");
    }
    for (auto& [user, id] : users) {
      auto& c = w->clients[user];
      if (!c.yes && !c.undecided && c.open == 0)
        w->fail("phantom: user " + std::to_string(user) + " told no");
    }
  }

  /// Settles everything: deliveries, timers, the writer, then checks
  /// conservation and that no stock is stranded.
  void finish() {
    for (int round = 0; round < 50; ++round) {
      w->redis_down = false;
      while (!w->in_flight.empty())
        deliver();
      sched.run();
      sched.trigger_timeouts();
      sched.run();
      while (w->written < w->log.size())
        write_batch(true);
      sched.run();
    }
    check();
    auto users = w->log_users();
    if (w->log_losses == 0 && w->rows.size() != users.size())
      w->fail("MySQL has " + std::to_string(w->rows.size())
              + " rows, the log " + std::to_string(users.size()) + " users");
    for (auto& [user, id] : users)
      if (!w->rows.count(user))
        w->fail("user " + std::to_string(user) + " in the log has no row");
    for (auto& [user, c] : w->clients)
      if (c.yes && !w->rows.count(user))
        w->fail("acknowledged user " + std::to_string(user) + " has no row");
    auto v = state().view();
    if (v.issued != w->rows.size())
      w->fail("actor holds " + std::to_string(v.issued) + ", MySQL "
              + std::to_string(w->rows.size()));
    if (v.remaining != w->info.total_quantity - w->rows.size())
      w->fail("remaining stock is not total - rows (stranded stock)");
    // Settled, nothing waits for Kafka; a holder whose commit notice was
    // lost stays "in Kafka, not MySQL" in the actor, and so in its figures.
    using phase = stock_state::phase;
    if (stats->pending != 0 || stats->unresolved != 0
        || stats->committed != state().holders_in(phase::issued)
        || stats->accepted != state().holders_in(phase::accepted))
      w->fail("figures after settling: " + std::to_string(stats->pending)
              + " pending, " + std::to_string(stats->unresolved)
              + " unresolved, " + std::to_string(stats->committed)
              + " committed, " + std::to_string(stats->accepted)
              + " accepted");
  }

  std::string run_seed(uint64_t seed) {
    world wd{seed, static_cast<coupon_id_t>(1 + seed % 1'000'000)};
    w = &wd;
    sink.w = w;
    stats = std::make_shared<stock_stats>(wd.info);
    ledger = std::make_shared<accepted_ledger>();
    snapshotter = sys.spawn(sim_snapshotter, w);
    resolver = sys.spawn(sim_resolver, w);
    snapshotter_ref.set(snapshotter);
    resolver_ref.set(resolver);
    start_stock();
    auto steps = w->pick(50, 250);
    std::ostringstream trace;
    for (uint32_t s = 0; s < steps && w->violation.empty(); ++s) {
      auto roll = w->pick(0, 99);
      if (roll < 35) {
        issue();
      } else if (roll < 65) {
        deliver();
      } else if (roll < 77) {
        write_batch(w->chance(0.8));
      } else if (roll < 85) {
        sched.trigger_timeouts();
      } else if (roll < 90) {
        w->redis_down = !w->redis_down;
      } else if (roll < 92) {
        w->redis.reset(); // FLUSHALL
      } else if (roll < 94) {
        w->redis_corrupt = true;
      } else if (roll < 95) {
        if (w->redis)
          w->redis->meta.epoch -= 1; // an older owner's snapshot
      } else if (w->chance(0.05)) {
        if (w->chance(0.5))
          lose_log_live();
        else
          crash_lose_log_restart();
      } else if (w->log_losses == 0) {
        crash_and_restart();
      } else {
        // Once a log was lost, losing the node as well before what only
        // it holds is back in Kafka or MySQL is the window docs/recovery.md
        // names (a replicated Kafka closes it): the actor crashes instead.
        crash();
        start_stock();
      }
      sched.run();
      check();
    }
    if (w->violation.empty())
      finish();
    anon_send_exit(stock, exit_reason::kill);
    anon_send_exit(snapshotter, exit_reason::kill);
    anon_send_exit(resolver, exit_reason::kill);
    sched.run();
    stock = snapshotter = resolver = nullptr;
    w = nullptr;
    return wd.violation;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(simulation_tests, fixture)

CAF_TEST(invariants_hold_under_seeded_faults) {
  uint64_t first = 1;
  uint64_t count = 1000;
  if (auto s = std::getenv("DIBS_SIM_SEED")) {
    first = std::stoull(s);
    count = 1;
  } else if (auto n = std::getenv("DIBS_SIM_SEEDS")) {
    count = std::stoull(n);
  }
  size_t failed = 0;
  for (auto seed = first; seed < first + count; ++seed) {
    auto violation = run_seed(seed);
    if (!violation.empty()) {
      ++failed;
      CAF_ERROR("seed " << seed << ": " << violation
                        << " (replay: DIBS_SIM_SEED=" << seed << ")");
    }
  }
  CAF_MESSAGE(count << " seeds, " << failed << " failed");
  CAF_CHECK_EQUAL(failed, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
