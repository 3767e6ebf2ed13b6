#include "actors/stock_state.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/logging.hpp"

namespace dibs {

stock_state::stock_state(pointer self)
  : self_(self) {
  // Empty.
}

void stock_state::init(const recovered_stock& state, stock_deps deps) {
  info_ = state.info;
  sink_ = deps.sink;
  resolver_ = deps.resolver;
  snapshotter_ = deps.snapshotter;
  stats_ = std::move(deps.stats);
  ledger_ = std::move(deps.ledger);
  gate_ = std::move(deps.gate);
  settings_ = deps.settings;
  holders_.reserve(state.rows.size() + state.tail.size()
                   + state.unlogged.size());
  auto add = [&](const issuance_event& e, phase p) {
    // Holders keep the sequence only: the id must be the coupon's.
    if (e.issuance_id
        != make_issuance_id(info_.id, issuance_seq(e.issuance_id)))
      spdlog::error("coupon {}: issuance {} is not the coupon's", info_.id,
                    e.issuance_id);
    auto [i, added] = holders_.emplace(
      e.user_id, holding{e.issued_at, issuance_seq(e.issuance_id), p});
    if (added) {
      ++by_phase_[static_cast<size_t>(p)];
      if (p != phase::issued && !e.request_id.empty())
        request_ids_.emplace(e.user_id, e.request_id);
    } else if (i->second.seq != issuance_seq(e.issuance_id)) {
      spdlog::error("coupon {}: user {} has two issuances {} and {}",
                    info_.id, e.user_id,
                    id_of(i->second), e.issuance_id);
    }
    next_seq_ = std::max(next_seq_, issuance_seq(e.issuance_id) + 1);
    return added;
  };
  for (auto& e : state.rows)
    add(e, phase::issued);
  for (auto& e : state.tail)
    add(e, phase::accepted);
  for (auto& e : state.unlogged)
    if (add(e, phase::accepted))
      republishing_[make_issuance_id(info_.id, issuance_seq(e.issuance_id))]
        = e.user_id;
  if (ledger_) {
    std::vector<issuance_event> accepted;
    for (auto& [user, h] : holders_)
      if (h.state == phase::accepted)
        accepted.push_back(event_of(user, h));
    ledger_->reset(accepted);
  }
  if (holders_.size() > info_.total_quantity)
    spdlog::error("coupon {}: {} holders exceed the total of {}", info_.id,
                  holders_.size(), info_.total_quantity);
  auto base = state.snapshot;
  base.count = holders_.size();
  base.checksum = 0;
  for (auto& [user, h] : holders_)
    base.checksum = snapshot_checksum(base.checksum, event_of(user, h));
  snap_.start(std::move(base));
  // Until stored in the log, each holds the snapshot's position back like
  // an unresolved outcome: it may land below offsets reported meanwhile.
  for (size_t n = 0; n < republishing_.size(); ++n)
    snap_.on_unresolved();
  if (!republishing_.empty())
    spdlog::warn("coupon {}: publishing {} accepted issuances of a lost Kafka "
                 "log again in log {}",
                 info_.id, republishing_.size(), state.snapshot.log_id);
  if (stats_)
    stats_->phase = actor_phase::running;
  handled();
  if (snapshotter_) {
    write_snapshot();
    self_->delayed_send(self_, settings_.snapshot_interval,
                        snapshot_atom::value);
  }
  retry_republish();
}

void stock_state::republish(const std::string& log_id,
                            int32_t partition_count) {
  republishing_.clear();
  for (auto& [user, h] : holders_)
    if (h.state == phase::accepted) {
      republishing_[id_of(h)] = user;
      snap_.on_unresolved();
    }
  spdlog::info("coupon {}: publishing {} accepted issuances again in Kafka "
               "log {}",
               info_.id, republishing_.size(), log_id);
  retry_republish();
  // Redis keeps the snapshot of the lost log (recovery takes what MySQL
  // lacks of it) until the new log and MySQL hold everything this actor
  // holds: the accepted issuances published again, and the reservations
  // of before the move settled (one stored may be in the lost log only, or
  // written to MySQL from it).
  before_move_.clear();
  for (auto& [id, r] : in_flight_)
    before_move_.insert(id);
  moved_to_ = snap_.written();
  moved_to_->log_id = log_id;
  moved_to_->partition = partition_of(info_.id, partition_count);
  rebase_snapshot();
}

void stock_state::rebase_snapshot() {
  if (!moved_to_ || !republishing_.empty() || !before_move_.empty()
      || snap_.writing())
    return;
  // Every issuance of the coupon in the new log is one this actor holds:
  // the snapshot starts over there at position 0.
  auto base = std::move(*moved_to_);
  moved_to_.reset();
  base.position = 0;
  base.count = 0;
  base.checksum = 0;
  snap_.start(std::move(base));
  // A reservation made after the move may still be "possibly stored", its
  // record anywhere in the new log: it holds the position back as before
  // (start forgets such holds; seed 2039603 of actors.simulation). Counted
  // by reservation, not by phase: a commit notice makes such a holder
  // issued before its outcome is resolved.
  for (auto& [id, r] : in_flight_)
    if (r.held)
      snap_.on_unresolved();
  write_snapshot();
}

void stock_state::retry_republish() {
  for (auto i = republishing_.begin(); i != republishing_.end();) {
    auto h = holders_.find(i->second);
    if (h == holders_.end() || h->second.state != phase::accepted) {
      // Committed meanwhile: in MySQL, so in the snapshot from now on.
      i = end_republishing(i);
      continue;
    }
    publish_again(event_of(h->first, h->second));
    ++i;
  }
  rebase_snapshot();
}

stock_state::republish_map::iterator
stock_state::end_republishing(republish_map::iterator i) {
  // In the log or in MySQL: in the snapshot from now on (without moving
  // its position, which reports of new issuances move).
  if (auto h = holders_.find(i->second); h != holders_.end())
    snap_.on_stored(event_of(h->first, h->second), -1, -1);
  snap_.on_unresolved_settled();
  return republishing_.erase(i);
}

void stock_state::publish_again(const issuance_event& e) {
  sink_->publish(e, [hdl = caf::actor_cast<stock_actor_type>(self_),
                     id = e.issuance_id](delivery_report rep) {
    caf::anon_send(hdl, republished_atom::value, id, std::move(rep));
  });
}

void stock_state::on_republished(issuance_id_t id,
                                 const delivery_report& rep) {
  auto i = republishing_.find(id);
  if (i == republishing_.end())
    return;
  if (rep.outcome == delivery_outcome::stored) {
    end_republishing(i);
    rebase_snapshot();
    if (republishing_.empty())
      spdlog::info("coupon {}: every accepted issuance is in the new log",
                   info_.id);
    return;
  }
  spdlog::debug("coupon {}: publishing issuance {} again failed ({})",
                info_.id, id, rep.error);
  republish_failed_.add(rep.error);
  republish_due_ = true;
}

void stock_state::on_snapshot_tick() {
  if (not_stored_.count > 0) {
    spdlog::warn("coupon {}: {} issuances not stored since the last tick "
                 "(the last: {})",
                 info_.id, not_stored_.count, not_stored_.last_error);
    not_stored_ = {};
  }
  if (republish_due_) {
    republish_due_ = false;
    spdlog::warn("coupon {}: publishing {} issuances again failed since the "
                 "last tick (the last: {}); publishing the {} left again",
                 info_.id, republish_failed_.count,
                 republish_failed_.last_error, republishing_.size());
    republish_failed_ = {};
    retry_republish();
  }
  // An idle coupon writes nothing, so every tenth tick it checks instead.
  constexpr size_t verify_every_ticks = 10;
  auto verify = ++ticks_since_verify_ >= verify_every_ticks;
  if (verify)
    ticks_since_verify_ = 0;
  write_snapshot(verify);
}

std::vector<issuance_event> stock_state::stored_events() const {
  std::vector<issuance_event> result;
  result.reserve(holders_.size());
  for (auto& [user, h] : holders_)
    if ((h.state == phase::accepted || h.state == phase::issued)
        && !republishing_.count(id_of(h)))
      result.push_back(event_of(user, h));
  return result;
}

void stock_state::write_snapshot(bool verify) {
  if (!snapshotter_ || snap_.writing() || snap_.fenced() || moved_to_)
    return;
  auto whole = snap_.needs_rewrite();
  if (!whole && snap_.pending() == 0 && !verify)
    return;
  std::vector<issuance_event> events;
  snapshot_meta after;
  if (whole) {
    events = stored_events();
    after = snap_.begin_rewrite(events);
  } else if (snap_.pending() > 0) {
    std::tie(after, events) = snap_.begin_append();
  } else {
    after = snap_.begin_verify();
  }
  self_
    ->request(snapshotter_->get(), settings_.service_timeout,
              save_atom::value, info_.id, after, std::move(events), whole)
    .then(
      [this, after](snapshot_write res) {
        snap_.end_write(res, after);
        rebase_snapshot();
        if (res == snapshot_write::done && stats_) {
          stats_->snapshot_position = after.position;
          stats_->snapshot_count = after.count;
          stats_->snapshot_at = now_ms();
        }
        if (res == snapshot_write::fenced)
          spdlog::error("coupon {}: a newer owner epoch than {} holds the "
                        "snapshot; this actor stops snapshotting",
                        info_.id, after.epoch);
        else if (res == snapshot_write::diverged
                 || snap_.pending() >= settings_.snapshot_every_events)
          write_snapshot();
        handled();
      },
      [this](caf::error&) {
        // The snapshotter logged it; the next tick tries again.
        snap_.write_failed();
        rebase_snapshot();
        handled();
      });
}

uint32_t stock_state::remaining() const {
  auto held = holders_.size();
  return held >= info_.total_quantity
           ? 0
           : info_.total_quantity - static_cast<uint32_t>(held);
}

issuance_id_t stock_state::id_of(const holding& h) const {
  return make_issuance_id(info_.id, h.seq);
}

issuance_status stock_state::status_of(const holding& h) {
  return h.state == phase::issued ? issuance_status::issued
                                  : issuance_status::accepted;
}

issuance_event stock_state::event_of(user_id_t user,
                                     const holding& h) const {
  return issuance_event{id_of(h), info_.id, user, h.issued_at,
                        std::string{request_id_of(user)}};
}

std::string_view stock_state::request_id_of(user_id_t user) const {
  auto r = request_ids_.find(user);
  return r == request_ids_.end() ? std::string_view{} : r->second;
}

issuance stock_state::reply_of(user_id_t user, const holding& h) const {
  return issuance{event_of(user, h), status_of(h)};
}

void stock_state::issue(user_id_t user, bool wait, replier<issuance> reply,
                        std::string request_id) {
  // A holder learns what it holds whatever the time: a retry after an
  // unknown outcome may come after the window closed.
  if (auto i = holders_.find(user); i != holders_.end()) {
    auto& h = i->second;
    if (h.state == phase::accepted || h.state == phase::issued) {
      count_answer(issue_outcome::already_issued, user);
      return reply(caf::make_error(ec::already_issued, id_of(h)));
    }
    // The first request of this user is still on its way to Kafka: this one
    // learns the same outcome.
    in_flight_[id_of(h)].waiters.push_back(
      waiter{std::move(reply), wait, false});
    return;
  }
  auto now = now_ms();
  if (before_window(info_, now)) {
    count_answer(issue_outcome::not_open, user);
    return reply(caf::make_error(ec::not_open));
  }
  if (after_window(info_, now)) {
    count_answer(issue_outcome::closed, user);
    return reply(caf::make_error(ec::closed));
  }
  if (remaining() == 0) {
    count_answer(issue_outcome::sold_out, user);
    return reply(caf::make_error(ec::sold_out));
  }
  auto seq = next_seq_++;
  issuance_event event{make_issuance_id(info_.id, seq), info_.id, user, now,
                       std::move(request_id)};
  log_event(spdlog::level::debug, "issuance.reserved",
            R"("requestId":"{}","issuanceId":{},"couponId":{},"userId":{})",
            event.request_id, event.issuance_id, info_.id, user);
  holders_.emplace(user, holding{now, seq, phase::pending});
  if (gate_)
    gate_->holder_added(user);
  ++by_phase_[static_cast<size_t>(phase::pending)];
  if (!event.request_id.empty())
    request_ids_.emplace(user, event.request_id);
  in_flight_.emplace(event.issuance_id,
                     reservation{user, {waiter{std::move(reply), wait, true}}});
  sink_->publish(event, [hdl = caf::actor_cast<stock_actor_type>(self_), id = event.issuance_id](
                          delivery_report rep) {
    caf::anon_send(hdl, delivered_atom::value, id, std::move(rep));
  });
}

caf::expected<issuance> stock_state::status(user_id_t user) const {
  auto i = holders_.find(user);
  if (i == holders_.end() || i->second.state == phase::pending
      || i->second.state == phase::unresolved)
    return caf::make_error(ec::not_issued);
  return reply_of(user, i->second);
}

coupon_view stock_state::view() const {
  return coupon_view{info_, remaining(),
                     static_cast<uint32_t>(holders_.size())};
}

void stock_state::on_delivered(issuance_id_t id, const delivery_report& rep) {
  auto i = in_flight_.find(id);
  if (i == in_flight_.end())
    return;
  switch (rep.outcome) {
    case delivery_outcome::stored:
      settle(id, true, rep.partition, rep.offset);
      break;
    case delivery_outcome::failed:
      spdlog::debug("coupon {}: issuance {} not stored: {}", info_.id, id,
                    rep.error);
      not_stored_.add(rep.error);
      settle(id, false);
      break;
    case delivery_outcome::unknown: {
      // Giving the stock back could over-issue (the record may be in the
      // log); keeping it could strand stock. Wait until the producer cannot
      // have the record in flight any more, then read the log.
      if (i->second.held)
        break; // Reported twice: one hold, one resolution.
      spdlog::warn("coupon {}: issuance {} possibly stored ({}), resolving",
                   info_.id, id, rep.error);
      auto user = i->second.user;
      // A commit notice may have come first: the holder stays issued.
      if (auto& h = holders_.at(user); h.state == phase::pending)
        set_phase(user, h, phase::unresolved);
      i->second.held = true;
      snap_.on_unresolved();
      self_->delayed_send(self_, settings_.resolve_grace, resolve_atom::value,
                          id);
      break;
    }
  }
}

void stock_state::on_resolve_due(issuance_id_t id) {
  auto i = in_flight_.find(id);
  if (i == in_flight_.end())
    return;
  auto event = event_of(i->second.user, holders_.at(i->second.user));
  self_->request(resolver_->get(), settings_.service_timeout,
                 find_atom::value, event)
    .then(
      [this, id](bool found) {
        on_resolved(id, found);
        handled();
      },
      [this, id](caf::error& err) {
        spdlog::warn("coupon {}: resolving {} failed: {}; retrying", info_.id,
                     id, to_string(err));
        self_->delayed_send(self_, settings_.resolve_retry,
                            resolve_atom::value, id);
        handled();
      });
}

void stock_state::on_resolved(issuance_id_t id, bool found) {
  spdlog::info("coupon {}: issuance {} resolved as {}", info_.id, id,
               found ? "stored" : "not stored");
  if (stats_)
    (found ? stats_->resolved_stored : stats_->resolved_not_stored)
      .fetch_add(1, std::memory_order_relaxed);
  settle(id, found);
}

void stock_state::settle(issuance_id_t id, bool stored, int32_t partition,
                         int64_t offset) {
  auto i = in_flight_.find(id);
  if (i == in_flight_.end())
    return;
  auto res = std::move(i->second);
  in_flight_.erase(i);
  // Its hold on the snapshot's position goes before anything below starts
  // the snapshot over (rebase_snapshot), which counts the holds of the
  // reservations left: released after that, one hold too many went and the
  // position passed a record still possibly stored (seed 499112853 of
  // actors.simulation).
  if (res.held)
    snap_.on_unresolved_settled();
  auto moved = before_move_.erase(id) > 0;
  auto h = holders_.find(res.user);
  if (!stored && h->second.state == phase::issued) {
    // A commit notice came first: the row is in MySQL, whatever the
    // producer or the resolver says later. A row is never given back as
    // stock.
    spdlog::error("coupon {}: issuance {} reported not stored, but MySQL "
                  "holds it; kept",
                  info_.id, id);
    stored = true;
  }
  if (!stored) {
    // Definitely not in the log: the unit goes back to the stock.
    log_event(spdlog::level::debug, "issuance.released",
              R"("requestId":"{}","issuanceId":{},"couponId":{},"userId":{})",
              request_id_of(res.user), id, info_.id, res.user);
    --by_phase_[static_cast<size_t>(h->second.state)];
    holders_.erase(h);
    request_ids_.erase(res.user);
    for (auto& w : res.waiters) {
      count_answer(issue_outcome::unavailable, res.user);
      w.reply(caf::make_error(ec::unavailable));
    }
    if (moved)
      rebase_snapshot();
    return;
  }
  // The writers may have committed the row before the delivery report came.
  if (h->second.state != phase::issued)
    set_phase(res.user, h->second, phase::accepted);
  auto event = event_of(res.user, h->second);
  log_event(spdlog::level::debug, "issuance.stored",
            R"("requestId":"{}","issuanceId":{},"couponId":{},"userId":{},)"
            R"("partition":{},"offset":{})",
            event.request_id, id, info_.id, res.user, partition, offset);
  if (h->second.state == phase::issued) // Kept for the line above.
    request_ids_.erase(res.user);
  if (moved && h->second.state == phase::accepted) {
    // Reserved before the log moved: perhaps stored in the lost one only.
    republishing_[id] = res.user;
    snap_.on_unresolved();
    publish_again(event);
  } else {
    snap_.on_stored(event, partition, offset);
    if (snap_.pending() >= settings_.snapshot_every_events)
      write_snapshot();
  }
  if (moved)
    rebase_snapshot();
  auto reply = issuance{std::move(event), status_of(h->second)};
  for (auto& w : res.waiters) {
    if (!w.first) {
      count_answer(issue_outcome::already_issued, res.user);
      w.reply(caf::make_error(ec::already_issued, id));
    } else if (w.wait && h->second.state != phase::issued) {
      commit_waiters_[res.user].push_back(std::move(w.reply));
      self_->delayed_send(self_, settings_.wait_timeout, expire_atom::value,
                          res.user);
    } else {
      count_answer(reply);
      w.reply(reply);
    }
  }
}

void stock_state::on_committed(const std::vector<issuance_event>& rows) {
  for (auto& row : rows) {
    auto h = holders_.find(row.user_id);
    if (h == holders_.end() || id_of(h->second) != row.issuance_id)
      continue;
    // The row holds the request id from now on: free it here, unless the
    // outcome of the publish is still to come (it may be read back after
    // the writers stored the row), whose log event names it.
    if (h->second.state == phase::accepted)
      request_ids_.erase(row.user_id);
    set_phase(row.user_id, h->second, phase::issued);
    if (auto w = commit_waiters_.find(row.user_id);
        w != commit_waiters_.end()) {
      auto reply = reply_of(row.user_id, h->second);
      for (auto& r : w->second) {
        count_answer(reply);
        r(reply);
      }
      commit_waiters_.erase(w);
    }
  }
}

void stock_state::on_wait_expired(user_id_t user) {
  auto w = commit_waiters_.find(user);
  if (w == commit_waiters_.end())
    return;
  auto reply = reply_of(user, holders_.at(user));
  for (auto& r : w->second) {
    count_answer(reply);
    r(reply);
  }
  commit_waiters_.erase(w);
}

void stock_state::set_phase(user_id_t user, holding& h, phase p) {
  if (ledger_ && p == phase::accepted)
    ledger_->add(event_of(user, h));
  else if (ledger_ && h.state == phase::accepted)
    ledger_->erase(id_of(h));
  --by_phase_[static_cast<size_t>(h.state)];
  ++by_phase_[static_cast<size_t>(p)];
  h.state = p;
}

void stock_state::count_answer(issue_outcome x, user_id_t user) {
  if (stats_)
    stats_->record(x, user, now_ms());
}

void stock_state::count_answer(const issuance& x) {
  count_answer(x.status == issuance_status::issued ? issue_outcome::issued
                                                   : issue_outcome::accepted,
               x.event.user_id);
}

void stock_state::update_gate() {
  if (!gate_)
    return;
  auto sold_out = remaining() == 0;
  if (sold_out == gate_->closed())
    return;
  if (!sold_out)
    return gate_->open();
  gate_->close([this](auto&& add) {
    for (auto& kvp : holders_)
      add(kvp.first);
  });
}

void stock_state::handled() {
  update_gate();
  if (!stats_)
    return;
  constexpr auto relaxed = std::memory_order_relaxed;
  auto& s = *stats_;
  s.remaining.store(remaining(), relaxed);
  s.pending.store(holders_in(phase::pending), relaxed);
  s.unresolved.store(holders_in(phase::unresolved), relaxed);
  s.in_flight.store(static_cast<uint32_t>(in_flight_.size()), relaxed);
  s.accepted.store(holders_in(phase::accepted), relaxed);
  s.committed.store(holders_in(phase::issued), relaxed);
  s.messages.fetch_add(1, relaxed);
  // What the actor took from its inbox and has not handled yet: read from
  // the actor's own thread, it needs no lock.
  s.mailbox.store(self_->mailbox().queue().total_task_size(), relaxed);
  s.sample(now_ms());
}

} // namespace dibs
