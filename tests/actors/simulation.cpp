#define CAF_SUITE actors.simulation

// Deterministic simulation of one node's stock actors (one to three
// coupons) with the producer, the Kafka partition they share, the writer,
// MySQL, the resolver and the Redis snapshots around them, all driven by
// CAF's test coordinator from one seeded random generator: deliveries
// stored, failed, "possibly stored" either way, duplicated, delayed, in
// half the seeds several events to a record as the producer batches them
// (their reports one by one, a snapshot possibly between two); writer
// batches begun and committed later, rolled back by a writer crash, or
// committed with their notifications lost; the resolver as the real
// sequence of reads (`find_issuance`), with the writer committing between
// any two of them and reads failing; Redis down, flushed, corrupted; one
// stock actor crashing, or the whole node, with records in flight and
// restarting through the same recovery code the node runs; the Kafka log
// lost (the embedded broker back empty) under live actors, or while a
// crashed actor waits for its restart. After every step the invariants of
// PRODUCT.md are checked for every coupon, the resolver's every answer
// against the whole world, and every snapshot written against the log.
//
// Each run replays the regression seeds below, seeds 1..300, and a range
// of seeds that differs from run to run (from the clock unless
// DIBS_SIM_FIRST_SEED is set; DIBS_SIM_SEEDS seeds long); the range is
// printed. A failure prints its seed, and DIBS_SIM_SEED=<seed> replays just
// that one, exactly; DIBS_SIM_TRACE=1 prints what each step did.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include <caf/test/dsl.hpp>
#include <spdlog/spdlog.h>

#include "actors/config.hpp"
#include "actors/recovery.hpp"
#include "actors/resolver_actor.hpp"
#include "actors/stock_actor.hpp"

using namespace caf;
using namespace dibs;

namespace {

/// Seeds that once failed, replayed first in every run; with the code right
/// every one passes. A change to what the simulation draws from its random
/// generator changes every seed's schedule: then find seeds for the faults
/// named here again (break the code as described, run, pick failing seeds).
constexpr uint64_t regression_seeds[] = {
  // The resolver asking MySQL first, then the writers' offset, then the log
  // from there (the order before find_issuance): a batch committed between
  // the reads hid a stored record, its unit was sold again (over-issue in
  // the log, in MySQL). Seeds 8 and 196 too.
  1000378,
  1000816,
  // settle() keeping a released holder (its third coupon). Most other
  // seeds too.
  1000004,
  // settle() reporting one past a record's offset to the snapshot tracker:
  // a snapshot claimed the coupon's next record in the shared partition.
  1000040,
  // After the Kafka log moved, rebase_snapshot() starting the snapshot
  // tracker over while a reservation of after the move was unresolved: its
  // count went to zero, the position passed the record, and recovery from
  // that snapshot lost a committed issuance.
  1000418,
  1002390,
  2039603,
  3052777,
  // on_resolved() releasing an unresolved issuance's hold on the snapshot
  // position after settle() had started the snapshot over (a reservation
  // of before a log move resolved as not stored): the start counted the
  // holds left, the release took one more, and the position passed a
  // record still possibly stored. Found by a CI run's varying range.
  499112853,
};

/// Seeds 1..fixed_seed_count run every time as well.
constexpr uint64_t fixed_seed_count = 300;

/// Seeds in the range that differs from run to run (DIBS_SIM_SEEDS).
constexpr uint64_t varying_seed_count = 1000;

/// Coupons per run, at most; each run draws 1..max_coupons.
constexpr uint32_t max_coupons = 3;

/// What a client heard from the stock actor.
struct client {
  std::optional<issuance_id_t> yes;
  bool told_no = false;
  /// Asked and never answered (the actor crashed first).
  bool undecided = false;
  /// Requests waiting for an answer.
  int open = 0;
};

/// One coupon: its stock actor, what the node keeps beside it, its Redis
/// snapshot and its clients.
struct coupon_sim {
  coupon info;
  stock_actor_type stock;
  /// The figures the actor publishes (introspection), kept across restarts
  /// as the node keeps them.
  std::shared_ptr<stock_stats> stats;
  /// What the actor accepted, kept across an actor's crash as the node
  /// keeps it (a node crash loses it).
  std::shared_ptr<accepted_ledger> ledger;
  /// The sold-out gate of the actor now running, as the node makes one per
  /// actor.
  std::shared_ptr<sold_out_gate> gate;
  /// The owner epoch (claim_epochs).
  uint64_t epoch = 1;
  std::optional<snapshot> redis;
  bool redis_corrupt = false;
  std::map<user_id_t, client> clients;

  std::string name() const {
    return "coupon " + std::to_string(info.id);
  }
};

/// Kafka, the writer, MySQL and Redis of one simulated run, plus what
/// clients heard.
struct world {
  std::mt19937_64 rng;
  std::vector<coupon_sim> coupons;

  // -- Kafka: one partition every coupon shares -------------------------------
  /// Every event in the log, in order.
  std::vector<issuance_event> log;
  /// The offset of the record each event of `log` is in: a record carries
  /// one event, or several when `batching`.
  std::vector<int64_t> offsets;
  /// The producer puts events waiting together into one record, as it does
  /// while the partition's previous record is unacknowledged. Off in the
  /// regression seeds, whose schedules were found with one event a record.
  bool batching = false;
  std::string log_id = "log";
  /// Times the log was lost: MySQL then holds issuances the log does not.
  int log_losses = 0;
  struct publish {
    issuance_event event;
    event_sink::callback done;
  };
  std::vector<publish> in_flight;

  // -- the writer -------------------------------------------------------------
  /// The end of the batch the writer has read from the log and not yet
  /// committed: the events written..batch_end (whole records), invisible
  /// until the commit.
  std::optional<size_t> batch_end;
  /// Commit notices the writer has not sent yet: a reader of MySQL (the
  /// resolver) may see a commit before its notice reaches the actor.
  struct notice {
    coupon_id_t coupon;
    std::vector<issuance_event> rows;
  };
  std::vector<notice> notices;

  // -- MySQL ------------------------------------------------------------------
  /// How much of `log` the writers committed, at a record's boundary:
  /// events below it are rows, and `offset_at(written)` is the writers'
  /// stored offset, committed with them.
  size_t written = 0;
  /// user_coupons, UNIQUE(coupon_id, user_id) and UNIQUE(issuance_id).
  std::map<std::pair<coupon_id_t, user_id_t>, issuance_event> rows;

  // -- Redis (one server, a snapshot per coupon) ------------------------------
  bool redis_down = false;

  std::string violation;

  /// How far a snapshot may lag the writer before recovery passes it over
  /// for MySQL: small in the odd seeds but the regression seeds, so that
  /// recovery takes that way too with a dozen units.
  int64_t max_snapshot_lag = max_snapshot_lag_records;
  /// With DIBS_SIM_TRACE set, what each step did goes to stderr.
  bool tracing = std::getenv("DIBS_SIM_TRACE") != nullptr;

  explicit world(uint64_t seed) : rng(seed) {
    auto n = pick(1, max_coupons);
    auto first = static_cast<coupon_id_t>(1 + seed % 1'000'000);
    for (uint32_t k = 0; k < n; ++k) {
      coupon_sim c;
      c.info = coupon{first + k, "sim", 1, pick(1, 12), 0, 0, 0};
      c.stats = std::make_shared<stock_stats>(c.info);
      c.ledger = std::make_shared<accepted_ledger>();
      coupons.push_back(std::move(c));
    }
  }

  uint32_t pick(uint32_t lo, uint32_t hi) {
    return std::uniform_int_distribution<uint32_t>{lo, hi}(rng);
  }

  bool chance(double p) {
    return std::bernoulli_distribution{p}(rng);
  }

  coupon_sim& any_coupon() {
    return coupons[pick(0, static_cast<uint32_t>(coupons.size() - 1))];
  }

  coupon_sim* find(coupon_id_t id) {
    for (auto& c : coupons)
      if (c.info.id == id)
        return &c;
    return nullptr;
  }

  void fail(const std::string& what) {
    if (violation.empty())
      violation = what;
  }

  template <class... Ts>
  void trace(const Ts&... xs) {
    if (!tracing)
      return;
    std::ostringstream out;
    (out << ... << xs);
    std::cerr << out.str() << '\n';
  }

  static std::string str(const issuance_event& e) {
    return "c" + std::to_string(e.coupon_id) + "/u"
           + std::to_string(e.user_id) + "#"
           + std::to_string(issuance_seq(e.issuance_id));
  }

  /// The producer's record lands in the log; returns its offset.
  int64_t append(const std::vector<issuance_event>& record) {
    auto offset = next_offset();
    for (auto& e : record) {
      trace("  log[", log.size(), "] = ", str(e), " at offset ", offset);
      log.push_back(e);
      offsets.push_back(offset);
    }
    return offset;
  }

  int64_t append(const issuance_event& e) {
    return append(std::vector<issuance_event>{e});
  }

  /// The offset the next record gets.
  int64_t next_offset() const {
    return offsets.empty() ? 0 : offsets.back() + 1;
  }

  /// The offset of the record event `i` is in, or the next record's for
  /// the end of the log.
  int64_t offset_at(size_t i) const {
    return i < log.size() ? offsets[i] : next_offset();
  }

  /// The first event of the record after the one event `i` is in.
  size_t record_end(size_t i) const {
    auto offset = offsets[i];
    while (i < log.size() && offsets[i] == offset)
      ++i;
    return i;
  }

  /// Distinct users of `c` in the log, each with its one issuance id.
  std::map<user_id_t, issuance_id_t> log_users(const coupon_sim& c) {
    std::map<user_id_t, issuance_id_t> users;
    for (auto& e : log) {
      if (e.coupon_id != c.info.id)
        continue;
      auto [i, added] = users.emplace(e.user_id, e.issuance_id);
      if (!added && i->second != e.issuance_id)
        fail(c.name() + ": user " + std::to_string(e.user_id)
             + " twice in the log");
    }
    return users;
  }

  /// The rows of `c` in MySQL, by user.
  std::map<user_id_t, issuance_event> rows_of(const coupon_sim& c) {
    std::map<user_id_t, issuance_event> result;
    for (auto& [key, e] : rows)
      if (key.first == c.info.id)
        result.emplace(key.second, e);
    return result;
  }

  /// A snapshot holds every issuance of its coupon below its position in
  /// its log (`snapshot_meta::position`): recovery takes only the records
  /// from there on.
  void check_snapshot(const coupon_sim& c) {
    auto& r = *c.redis;
    if (r.meta.log_id != log_id)
      return;
    std::set<issuance_id_t> held;
    for (auto& e : r.events)
      held.insert(e.issuance_id);
    for (size_t i = 0; i < log.size() && offsets[i] < r.meta.position; ++i)
      if (log[i].coupon_id == c.info.id && !held.count(log[i].issuance_id))
        fail(c.name() + ": its snapshot at position "
             + std::to_string(r.meta.position) + " lacks log["
             + std::to_string(i) + "] = " + str(log[i]) + " at offset "
             + std::to_string(offsets[i]));
  }

  /// Whether a row has the issuance id (and the user, when given).
  bool has_row(issuance_id_t id,
               std::optional<user_id_t> user = std::nullopt) const {
    for (auto& [key, e] : rows)
      if (e.issuance_id == id && (!user || e.user_id == *user))
        return true;
    return false;
  }

  // -- the writer -------------------------------------------------------------

  /// The writer polls up to five records from its stored offset and begins
  /// their transaction; nothing is visible until it commits.
  void begin_batch() {
    if (batch_end || written >= log.size())
      return;
    auto end = written;
    for (auto n = pick(1, 5); n > 0 && end < log.size(); --n)
      end = record_end(end);
    batch_end = end;
    trace("  writer: batch ", written, "..", *batch_end, " begun");
  }

  /// The batch's rows and its offset commit in one transaction; then the
  /// writer tells each coupon's actor, unless it crashes first (`notify`
  /// false: the notice is lost).
  void commit_batch(bool notify) {
    if (!batch_end)
      return;
    std::map<coupon_id_t, std::vector<issuance_event>> by_coupon;
    for (size_t i = written; i < *batch_end; ++i) {
      auto& e = log[i];
      auto key = std::make_pair(e.coupon_id, e.user_id);
      auto row = rows.find(key);
      if (row != rows.end()) {
        if (row->second.issuance_id != e.issuance_id)
          fail("coupon " + std::to_string(e.coupon_id) + ": user "
               + std::to_string(e.user_id) + " has two rows");
      } else if (has_row(e.issuance_id)) {
        // INSERT IGNORE drops it silently: the check names it.
        fail("issuance " + std::to_string(e.issuance_id)
             + " written for two (coupon, user) pairs");
      } else {
        rows.emplace(key, e);
      }
      // As the real writer, it notifies every event of the batch, repeats
      // (INSERT IGNORE'd) included.
      by_coupon[e.coupon_id].push_back(e);
    }
    trace("  writer: batch ", written, "..", *batch_end, " committed",
          notify ? "" : ", its notice lost");
    written = *batch_end;
    batch_end.reset();
    if (!notify)
      return;
    for (auto& [id, events] : by_coupon)
      notices.push_back(notice{id, std::move(events)});
  }

  /// The writer's oldest notice reaches the coupon's actor of the moment
  /// (the node's directory names it when the writer sends).
  void send_notice() {
    if (notices.empty())
      return;
    auto n = std::move(notices.front());
    notices.erase(notices.begin());
    trace("  writer: notice of ", n.rows.size(), " rows to coupon ", n.coupon);
    if (auto c = find(n.coupon))
      anon_send(c->stock, committed_atom::value, std::move(n.rows));
  }

  /// The writer crashes: a batch begun rolls back, notices not yet sent
  /// are lost, and its successor starts over from the stored offset.
  void crash_writer() {
    trace("  writer: crash", batch_end ? ", its batch rolled back" : "");
    batch_end.reset();
    notices.clear();
  }

  /// What the writer does between two of the resolver's reads, which are
  /// separate calls to MySQL and Kafka.
  void writer_between_reads() {
    auto roll = pick(0, 99);
    if (roll < 50) {
      begin_batch();
      commit_batch(chance(0.8));
    } else if (roll < 60) {
      begin_batch();
    } else if (roll < 63) {
      crash_writer();
    }
  }
};

/// The resolver's three reads over the simulated MySQL and Kafka. Before
/// each, the writer may move on; each may fail (MySQL or Kafka down).
class sim_reads : public issuance_reads {
public:
  explicit sim_reads(world& w) : w_(w) {
    // Empty.
  }

  expected<std::pair<int32_t, int64_t>> written(coupon_id_t) override {
    if (auto err = before_read())
      return err;
    return std::make_pair(int32_t{0}, w_.offset_at(w_.written));
  }

  expected<bool> committed(const issuance_event& e) override {
    if (auto err = before_read())
      return err;
    return w_.has_row(e.issuance_id, e.user_id);
  }

  // What the simulated log holds is readable as soon as it is there.
  caf::error readable(int32_t) override {
    return caf::none;
  }

  expected<std::vector<issuance_event>>
  read_from(coupon_id_t coupon, int32_t partition, int64_t offset) override {
    if (auto err = before_read())
      return err;
    if (partition != 0 || offset < 0)
      return make_error(ec::unavailable, "sim: no such partition or offset");
    std::vector<issuance_event> result;
    for (size_t i = 0; i < w_.log.size(); ++i)
      if (w_.offsets[i] >= offset && w_.log[i].coupon_id == coupon)
        result.push_back(w_.log[i]);
    return result;
  }

private:
  error before_read() {
    w_.writer_between_reads();
    if (w_.chance(0.05))
      return make_error(ec::unavailable, "sim read failed");
    return none;
  }

  world& w_;
};

struct sim_sink : event_sink {
  world* w = nullptr;
  void publish(const issuance_event& event, callback done) override {
    w->in_flight.push_back(world::publish{event, std::move(done)});
  }
};

/// Redis as the Lua scripts of snapshot_store behave, one key per coupon.
behavior sim_snapshotter(event_based_actor*, world* w) {
  return {
    [=](save_atom, coupon_id_t id, const snapshot_meta& meta,
        const std::vector<issuance_event>& events,
        bool whole) -> result<snapshot_write> {
      w->trace("  redis: ", whole ? "whole" : "append", " snapshot of coupon ",
               id, " at ", meta.position, ", ", meta.count, " issuances",
               w->redis_down ? ": down" : "");
      if (w->redis_down)
        return make_error(ec::unavailable, "redis down");
      auto c = w->find(id);
      if (!c) {
        w->fail("snapshot of unknown coupon " + std::to_string(id));
        return make_error(ec::unavailable, "unknown coupon");
      }
      auto& r = c->redis;
      if (r && r->meta.epoch > meta.epoch)
        return snapshot_write::fenced;
      if (whole) {
        r = snapshot{meta, events};
        c->redis_corrupt = false;
        w->check_snapshot(*c);
        return snapshot_write::done;
      }
      if (!r || r->meta.epoch < meta.epoch)
        return snapshot_write::diverged;
      if (r->meta.chunks == meta.chunks && r->meta.checksum == meta.checksum)
        return snapshot_write::done; // A retry, or a check: nothing changes.
      if (r->meta.chunks + 1 != meta.chunks)
        return snapshot_write::diverged;
      r->events.insert(r->events.end(), events.begin(), events.end());
      r->meta = meta;
      w->check_snapshot(*c);
      return snapshot_write::done;
    },
  };
}

/// The resolver: `find_issuance`, the node's own sequence of reads, over the
/// simulated stores. Its answer is checked against the whole world at the
/// moment it is given (nothing is delivered while it reads).
behavior sim_resolver(event_based_actor*, world* w) {
  return {
    [=](find_atom, const issuance_event& e) -> result<bool> {
      sim_reads reads{*w};
      auto found = find_issuance(reads, e);
      w->trace("  resolver: ", world::str(e), " ",
               !found ? to_string(found.error())
               : *found ? "stored" : "not stored");
      if (!found)
        return std::move(found.error());
      auto in_log = false;
      for (auto& x : w->log)
        in_log = in_log || x.issuance_id == e.issuance_id;
      auto in_mysql = w->has_row(e.issuance_id);
      if (*found != (in_log || in_mysql))
        w->fail("coupon " + std::to_string(e.coupon_id) + ": the resolver "
                + "answered issuance " + std::to_string(e.issuance_id)
                + " of user " + std::to_string(e.user_id)
                + (*found ? " stored; it is nowhere"
                          : std::string{" not stored; it is in "}
                              + (in_log && in_mysql ? "the log and MySQL"
                                 : in_log           ? "the log"
                                                    : "MySQL")));
      return *found;
    },
  };
}

struct fixture : test_coordinator_fixture<dibs::config> {
  sim_sink sink;
  actor snapshotter;
  actor resolver;
  service_handle snapshotter_ref;
  service_handle resolver_ref;
  /// Recoveries that passed a good snapshot over for lagging the writer.
  size_t passed_over = 0;
  world* w = nullptr;

  fixture() {
    // Thousands of simulated faults would each log a line.
    spdlog::set_level(spdlog::level::err);
  }

  stock_state& state(coupon_sim& c) {
    return deref<std::remove_pointer_t<stock_state::pointer>>(c.stock).state;
  }

  /// Recovery as the node does it, over the simulated stores.
  void start_stock(coupon_sim& c) {
    c.epoch += 1; // claim_epochs
    recovered_stock st;
    st.info = c.info;
    std::vector<std::pair<int64_t, issuance_event>> committed;
    for (size_t i = 0; i < w->written; ++i)
      if (w->log[i].coupon_id == c.info.id)
        committed.emplace_back(w->offsets[i], w->log[i]);
    for (size_t i = w->written; i < w->log.size(); ++i)
      if (w->log[i].coupon_id == c.info.id)
        st.tail.push_back(w->log[i]);
    loaded_snapshot loaded;
    if (c.redis && !w->redis_down) {
      loaded.fault = c.redis_corrupt ? snapshot_fault::corrupt
                                     : snapshot_fault::ok;
      loaded.snap = *c.redis;
    }
    auto why = w->redis_down
                 ? std::string{"redis down"}
                 : snapshot_problem(loaded, c.epoch, w->log_id, 0, 0,
                                    w->offset_at(w->written),
                                    w->max_snapshot_lag);
    if (why.find("behind the writers") != std::string::npos)
      ++passed_over;
    w->trace("  ", c.name(), " recovers under epoch ", c.epoch, " from ",
             why.empty() ? "its snapshot" : "MySQL (" + why + ")");
    auto rows = w->rows_of(c);
    if (why.empty()) {
      st.rows = rows_from_snapshot(loaded.snap, committed, st.tail);
    } else {
      for (auto& [user, e] : rows)
        st.rows.push_back(e);
      if (!w->redis_down && of_lost_log(loaded, c.epoch, w->log_id))
        adopt_held(st, loaded.snap.events);
    }
    adopt_held(st, c.ledger->events());
    st.snapshot.epoch = c.epoch;
    st.snapshot.log_id = w->log_id;
    st.snapshot.partition = 0;
    st.snapshot.position = w->next_offset();
    stock_settings settings;
    settings.snapshot_every_events = w->pick(1, 4);
    c.gate = std::make_shared<sold_out_gate>(c.info, nullptr);
    c.stock = sys.spawn(stock_actor, std::move(st),
                        stock_deps{&sink, &resolver_ref, &snapshotter_ref,
                                   settings, c.stats, c.ledger, c.gate});
    sched.run();
    // Recovery found exactly what the log holds (and, once a log was lost,
    // at least what MySQL holds besides).
    auto users = w->log_users(c);
    if (w->log_losses > 0)
      for (auto& [user, e] : w->rows_of(c))
        users.emplace(user, e.issuance_id);
    auto issued = state(c).view().issued;
    if (w->log_losses > 0 ? issued < users.size() : issued != users.size())
      w->fail(c.name() + ": recovered " + std::to_string(issued)
              + " holders, the log "
              + (w->log_losses > 0 ? "and MySQL have " : "has ")
              + std::to_string(users.size())
              + (why.empty() ? " (from the snapshot)"
                             : " (rebuilt: " + why + ")"));
  }

  void issue(size_t k) {
    auto& cs = w->coupons[k];
    auto user = user_id_t{w->pick(1, cs.info.total_quantity * 3)};
    cs.clients[user].open += 1;
    w->trace("  ", cs.name(), ": user ", user, " asks");
    auto* wp = w;
    anon_send(cs.stock, issue_atom::value, user, w->chance(0.2),
              "sim-" + std::to_string(user),
              reply_to<issuance>{[wp, k, user](expected<issuance> res) {
                auto& cs = wp->coupons[k];
                auto& c = cs.clients[user];
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
                  wp->fail(cs.name() + ": user " + std::to_string(user)
                           + " told two issuance ids");
                c.yes = id;
              }});
  }

  /// The producer's next record: one event in flight, or with `batching`
  /// up to four, of any coupons (they share the partition). Its outcome is
  /// each event's, and their reports come one after another, as the
  /// producer gives them.
  void deliver() {
    if (w->in_flight.empty())
      return;
    std::vector<world::publish> record;
    auto take = [&] {
      auto i = w->pick(0, static_cast<uint32_t>(w->in_flight.size() - 1));
      record.push_back(std::move(w->in_flight[i]));
      w->in_flight.erase(w->in_flight.begin() + i);
    };
    take();
    if (w->batching)
      for (auto n = w->pick(0, 3); n > 0 && !w->in_flight.empty(); --n)
        take();
    std::vector<issuance_event> events;
    std::string names;
    for (auto& p : record) {
      events.push_back(p.event);
      names += (names.empty() ? "" : ", ") + world::str(p.event);
    }
    auto roll = w->pick(0, 99);
    w->trace("  producer: ", names,
             roll < 55   ? " stored"
             : roll < 65 ? " failed"
             : roll < 75 ? " possibly stored (it is)"
             : roll < 85 ? " possibly stored (it is not)"
                         : " stored twice, reported twice");
    delivery_report rep;
    if (roll < 55) {
      rep = delivery_report{delivery_outcome::stored, 0, w->append(events),
                            ""};
    } else if (roll < 65) {
      rep = delivery_report{delivery_outcome::failed, -1, -1, "sim failed"};
    } else if (roll < 75) {
      w->append(events);
      rep = delivery_report{delivery_outcome::unknown, -1, -1, "sim timeout"};
    } else if (roll < 85) {
      rep = delivery_report{delivery_outcome::unknown, -1, -1, "sim timeout"};
    } else {
      // A retried produce landed twice, and the report arrives twice. (The
      // publisher's actor is alive: a crash takes its records out of
      // flight.)
      rep = delivery_report{delivery_outcome::stored, 0, w->append(events),
                            ""};
      w->append(events);
      for (auto& e : events)
        if (auto c = w->find(e.coupon_id))
          anon_send(c->stock, delivered_atom::value, e.issuance_id, rep);
    }
    for (auto& p : record)
      p.done(rep);
  }

  /// One step of the writer: a batch begun (and perhaps committed at once),
  /// or the open batch committed, or the writer crashing in the middle of
  /// it.
  void writer_step() {
    if (!w->batch_end) {
      w->begin_batch();
      if (w->chance(0.5))
        w->commit_batch(w->chance(0.8));
    } else if (w->chance(0.15)) {
      w->crash_writer();
    } else {
      w->commit_batch(w->chance(0.8));
    }
  }

  /// A stock actor dies: what it had in flight lands in the log or not
  /// (its restart waits until the producer cannot hold any of it), nobody
  /// hears of it, clients waiting get no answer.
  void crash(coupon_sim& c) {
    w->trace("  ", c.name(), ": the stock actor crashes");
    std::vector<world::publish> others;
    for (auto& p : w->in_flight)
      if (p.event.coupon_id != c.info.id)
        others.push_back(std::move(p));
      else if (w->chance(0.5))
        w->append(p.event);
    w->in_flight = std::move(others);
    anon_send_exit(c.stock, exit_reason::kill);
    sched.run();
    for (auto& [user, cl] : c.clients)
      if (cl.open > 0) {
        cl.undecided = true;
        cl.open = 0;
      }
  }

  /// One stock actor crashes; the supervisor restarts it, the node's ledger
  /// kept.
  void crash_and_restart(coupon_sim& c) {
    crash(c);
    start_stock(c);
  }

  /// The node dies and restarts: every stock actor and the writer (its
  /// open batch rolls back), the ledgers gone with them.
  void crash_node_and_restart() {
    w->trace("  the node crashes");
    for (auto& c : w->coupons)
      crash(c);
    w->crash_writer();
    for (auto& c : w->coupons)
      c.ledger->reset({});
    for (auto& c : w->coupons)
      start_stock(c);
  }

  /// The embedded broker comes back empty under another identity; the
  /// writer is restarted on it (its open batch rolls back) and starts over.
  /// Not modelled: a writer blocked inside its transaction across the move
  /// (MariaDB stalled) that commits records of the lost log afterwards; a
  /// reservation resolved "not stored" against the new log meanwhile would
  /// then become a row as well, which over-issues.
  void lose_log() {
    w->trace("  kafka: the log is lost");
    w->log.clear();
    w->offsets.clear();
    w->crash_writer();
    w->written = 0;
    w->log_losses += 1;
    w->log_id = "log-" + std::to_string(w->log_losses);
  }

  /// The node tells every live actor that the log moved.
  void tell_log_moved(const coupon_sim* except = nullptr) {
    for (auto& c : w->coupons)
      if (&c != except)
        anon_send(c.stock, republish_atom::value, w->log_id, int32_t{1});
  }

  /// The log is lost under live actors: the node tells them.
  void lose_log_live() {
    lose_log();
    tell_log_moved();
  }

  /// A stock actor crashes and the log is lost before the supervisor
  /// restarts it, the node still up (seed 77354008 of integration.faults);
  /// the other actors are told.
  void crash_lose_log_restart(coupon_sim& c) {
    crash(c);
    lose_log();
    tell_log_moved(&c);
    sched.run();
    start_stock(c);
  }

  void check(coupon_sim& c) {
    auto users = w->log_users(c);
    auto rows = w->rows_of(c);
    if (users.size() > c.info.total_quantity)
      w->fail(c.name() + ": over-issue in the log");
    if (rows.size() > c.info.total_quantity)
      w->fail(c.name() + ": over-issue in MySQL");
    auto v = state(c).view();
    if (v.issued > c.info.total_quantity)
      w->fail(c.name() + ": over-issue in memory");
    // The published figures agree with the actor.
    auto& stats = *c.stats;
    auto held = stats.pending + stats.unresolved + stats.accepted
                + stats.committed;
    if (stats.remaining != v.remaining || held != v.issued)
      w->fail(c.name() + ": figures say " + std::to_string(stats.remaining)
              + " left, " + std::to_string(held) + " held; the actor "
              + std::to_string(v.remaining) + " and "
              + std::to_string(v.issued));
    // The gate is closed exactly when no unit is left, and answers no
    // holder (pending ones included) in the actor's place.
    if (c.gate->closed() != (v.remaining == 0))
      w->fail(c.name() + ": the gate is " + (c.gate->closed() ? "" : "not ")
              + "closed with " + std::to_string(v.remaining) + " left");
    for (auto& [user, cl] : c.clients)
      if (state(c).holds(user) && c.gate->answers_sold_out(user, now_ms()))
        w->fail(c.name() + ": the gate answers holder "
                + std::to_string(user) + " SOLD_OUT");
    for (auto& [user, cl] : c.clients) {
      auto in_log = users.find(user);
      if (!cl.yes || (in_log != users.end() && in_log->second == *cl.yes))
        continue;
      // Once a log was lost, an acknowledged issuance may be in MySQL, or
      // with the actor on its way into the new log.
      auto row = rows.find(user);
      auto holder = state(c).status(user);
      if (w->log_losses > 0
          && ((row != rows.end() && row->second.issuance_id == *cl.yes)
              || (holder && holder->event.issuance_id == *cl.yes)))
        continue;
      w->fail(c.name() + ": user " + std::to_string(user)
              + " was acknowledged but is not in the log");
    }
    for (auto& [user, id] : users) {
      auto& cl = c.clients[user];
      if (!cl.yes && !cl.undecided && cl.open == 0)
        w->fail(c.name() + ": phantom: user " + std::to_string(user)
                + " told no");
    }
  }

  void check() {
    // An issuance id names one coupon and one user, in the log and in
    // MySQL alike.
    std::map<issuance_id_t, std::pair<coupon_id_t, user_id_t>> owners;
    auto own = [&](const issuance_event& e, const char* where) {
      auto owner = std::make_pair(e.coupon_id, e.user_id);
      auto [i, added] = owners.emplace(e.issuance_id, owner);
      if (!added && i->second != owner)
        w->fail("issuance " + std::to_string(e.issuance_id) + " " + where
                + " for two (coupon, user) pairs");
      if (issuance_coupon(e.issuance_id) != e.coupon_id)
        w->fail("issuance " + std::to_string(e.issuance_id) + " " + where
                + " carries coupon " + std::to_string(e.coupon_id));
    };
    for (auto& e : w->log)
      own(e, "in the log");
    for (auto& [key, e] : w->rows)
      own(e, "in MySQL");
    for (auto& c : w->coupons)
      check(c);
  }

  static coupon_id_t issuance_coupon(issuance_id_t id) {
    return static_cast<coupon_id_t>(id >> 32);
  }

  /// Settles everything: deliveries, timers, the writer, then checks
  /// conservation and that no stock is stranded, for every coupon.
  void finish() {
    for (int round = 0; round < 50; ++round) {
      w->redis_down = false;
      while (!w->in_flight.empty())
        deliver();
      sched.run();
      sched.trigger_timeouts();
      sched.run();
      while (w->batch_end || w->written < w->log.size()) {
        w->begin_batch();
        w->commit_batch(true);
      }
      while (!w->notices.empty())
        w->send_notice();
      sched.run();
    }
    check();
    for (auto& c : w->coupons)
      finish(c);
  }

  void finish(coupon_sim& c) {
    auto users = w->log_users(c);
    auto rows = w->rows_of(c);
    if (w->log_losses == 0 && rows.size() != users.size())
      w->fail(c.name() + ": MySQL has " + std::to_string(rows.size())
              + " rows, the log " + std::to_string(users.size()) + " users");
    for (auto& [user, id] : users)
      if (!rows.count(user))
        w->fail(c.name() + ": user " + std::to_string(user)
                + " in the log has no row");
    for (auto& [user, cl] : c.clients)
      if (cl.yes && !rows.count(user))
        w->fail(c.name() + ": acknowledged user " + std::to_string(user)
                + " has no row");
    auto v = state(c).view();
    if (v.issued != rows.size())
      w->fail(c.name() + ": actor holds " + std::to_string(v.issued)
              + ", MySQL " + std::to_string(rows.size()));
    if (v.remaining != c.info.total_quantity - rows.size())
      w->fail(c.name()
              + ": remaining stock is not total - rows (stranded stock)");
    // Settled, nothing waits for Kafka; a holder whose commit notice was
    // lost stays "in Kafka, not MySQL" in the actor, and so in its figures.
    using phase = stock_state::phase;
    auto& stats = *c.stats;
    if (stats.pending != 0 || stats.unresolved != 0
        || stats.committed != state(c).holders_in(phase::issued)
        || stats.accepted != state(c).holders_in(phase::accepted))
      w->fail(c.name() + ": figures after settling: "
              + std::to_string(stats.pending) + " pending, "
              + std::to_string(stats.unresolved) + " unresolved, "
              + std::to_string(stats.committed) + " committed, "
              + std::to_string(stats.accepted) + " accepted");
  }

  /// A crash: one stock actor, the whole node, or (rarely) the Kafka log.
  void crash_something() {
    auto& c = w->any_coupon();
    if (w->chance(0.05)) {
      if (w->chance(0.5))
        lose_log_live();
      else
        crash_lose_log_restart(c);
    } else if (w->log_losses == 0 && w->chance(0.6)) {
      crash_node_and_restart();
    } else {
      // Once a log was lost, losing the node as well before what only it
      // holds is back in Kafka or MySQL is the window docs/recovery.md
      // names (a replicated Kafka closes it): only an actor crashes.
      crash_and_restart(c);
    }
  }

  void step() {
    auto roll = w->pick(0, 99);
    if (roll < 35) {
      issue(w->pick(0, static_cast<uint32_t>(w->coupons.size() - 1)));
    } else if (roll < 65) {
      if (!w->notices.empty() && w->chance(0.3))
        w->send_notice();
      else
        deliver();
    } else if (roll < 77) {
      writer_step();
    } else if (roll < 85) {
      w->trace("  timers fire");
      sched.trigger_timeouts();
    } else if (roll < 90) {
      w->redis_down = !w->redis_down;
      w->trace("  redis: ", w->redis_down ? "down" : "up");
    } else if (roll < 92) {
      w->trace("  redis: FLUSHALL");
      for (auto& c : w->coupons)
        c.redis.reset();
    } else if (roll < 94) {
      auto& c = w->any_coupon();
      w->trace("  redis: the snapshot of ", c.name(), " is corrupt");
      c.redis_corrupt = true;
    } else if (roll < 95) {
      // An older owner's snapshot (epochs start at 1, and do not wrap).
      auto& c = w->any_coupon();
      if (c.redis && c.redis->meta.epoch > 0) {
        w->trace("  redis: the snapshot of ", c.name(), " is an older epoch's");
        c.redis->meta.epoch -= 1;
      }
    } else {
      crash_something();
    }
  }

  std::string run_seed(uint64_t seed) {
    world wd{seed};
    auto regression
      = std::find(std::begin(regression_seeds), std::end(regression_seeds),
                  seed)
        != std::end(regression_seeds);
    if (seed % 2 == 1 && !regression)
      wd.max_snapshot_lag = 2;
    // Records of several events in half the seeds (independent of the
    // half above).
    wd.batching = seed / 2 % 2 == 1 && !regression;
    w = &wd;
    sink.w = w;
    snapshotter = sys.spawn(sim_snapshotter, w);
    resolver = sys.spawn(sim_resolver, w);
    snapshotter_ref.set(snapshotter);
    resolver_ref.set(resolver);
    for (auto& c : w->coupons)
      start_stock(c);
    // More coupons, more to do: up to 100 steps more for each.
    auto extra = static_cast<uint32_t>(w->coupons.size() - 1);
    auto steps = w->pick(50, 250) + extra * w->pick(0, 100);
    for (uint32_t s = 0; s < steps && w->violation.empty(); ++s) {
      w->trace("step ", s);
      step();
      sched.run();
      check();
    }
    if (w->violation.empty()) {
      w->trace("settling");
      finish();
    }
    w->trace(w->violation.empty() ? "passed" : "violation: " + w->violation);
    for (auto& c : w->coupons)
      anon_send_exit(c.stock, exit_reason::kill);
    anon_send_exit(snapshotter, exit_reason::kill);
    anon_send_exit(resolver, exit_reason::kill);
    sched.run();
    for (auto& c : w->coupons)
      c.stock = nullptr;
    snapshotter = resolver = nullptr;
    w = nullptr;
    sink.w = nullptr;
    return wd.violation;
  }
};

std::optional<uint64_t> env_seed(const char* name) {
  if (auto s = std::getenv(name))
    return std::stoull(s);
  return std::nullopt;
}

/// The first seed of the range that differs from run to run.
uint64_t clock_seed() {
  std::random_device rd;
  auto t = static_cast<uint64_t>(
    std::chrono::system_clock::now().time_since_epoch().count());
  // Readable, and far from the fixed seeds.
  return 1'000'000 + ((uint64_t{rd()} << 20) ^ t) % 1'000'000'000;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(simulation_tests, fixture)

CAF_TEST(invariants_hold_under_seeded_faults) {
  std::vector<uint64_t> seeds;
  if (auto one = env_seed("DIBS_SIM_SEED")) {
    seeds.push_back(*one);
  } else {
    for (auto s : regression_seeds)
      seeds.push_back(s);
    for (uint64_t s = 1; s <= fixed_seed_count; ++s)
      seeds.push_back(s);
    auto first = env_seed("DIBS_SIM_FIRST_SEED").value_or(clock_seed());
    auto count = env_seed("DIBS_SIM_SEEDS").value_or(varying_seed_count);
    if (count > 0)
      CAF_MESSAGE(std::size(regression_seeds)
                  << " regression seeds, seeds 1.." << fixed_seed_count
                  << ", and seeds " << first << ".." << first + count - 1
                  << " (this range again: DIBS_SIM_FIRST_SEED=" << first
                  << " DIBS_SIM_SEEDS=" << count << ")");
    else
      CAF_MESSAGE(std::size(regression_seeds)
                  << " regression seeds and seeds 1.." << fixed_seed_count);
    for (auto s = first; s < first + count; ++s)
      seeds.push_back(s);
  }
  size_t failed = 0;
  for (auto seed : seeds) {
    auto violation = run_seed(seed);
    if (violation.empty())
      continue;
    ++failed;
    CAF_ERROR("seed " << seed << ": " << violation
                      << " (replay: DIBS_SIM_SEED=" << seed << ")");
    // A seed replays exactly: the same violation again.
    auto again = run_seed(seed);
    if (again != violation)
      CAF_ERROR("seed " << seed << " does not replay: the second run found \""
                        << again << "\"");
  }
  CAF_MESSAGE(seeds.size() << " seeds, " << failed << " failed; "
                           << passed_over
                           << " snapshots passed over for lagging the writer");
  CAF_CHECK_EQUAL(failed, 0u);
  // Recovery took the way from MySQL past a lagging snapshot too.
  if (seeds.size() > 1)
    CAF_CHECK(passed_over > 0);
}

CAF_TEST_FIXTURE_SCOPE_END()
