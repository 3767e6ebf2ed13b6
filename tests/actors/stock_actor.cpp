#define CAF_SUITE actors.stock_actor

#include "actors/stock_actor.hpp"

#include <caf/test/dsl.hpp>

#include "actors/config.hpp"

using namespace caf;
using namespace dibs;

namespace {

/// Records what the stock actor publishes; the test decides each outcome.
struct recording_sink : event_sink {
  struct entry {
    issuance_event event;
    callback done;
  };
  std::vector<entry> published;

  void publish(const issuance_event& event, callback done) override {
    published.push_back(entry{event, std::move(done)});
  }
};

/// Stands in for the resolver: answers whether an event is in the log.
behavior fake_resolver(event_based_actor*, bool* in_log) {
  return {
    [=](find_atom, const issuance_event&) { return *in_log; },
  };
}

constexpr coupon_id_t coupon_id = 7;

struct fixture : test_coordinator_fixture<dibs::config> {
  recording_sink sink;
  bool in_log = false;
  actor resolver;
  service_handle resolver_ref;
  stock_actor_type stock;
  std::shared_ptr<sold_out_gate> gate;
  /// The figures spawn_coupon's actor publishes.
  std::shared_ptr<stock_stats> stats;

  fixture() {
    resolver = sys.spawn(fake_resolver, &in_log);
    resolver_ref.set(resolver);
  }

  void spawn_coupon(uint32_t total, epoch_ms opens_at = 0,
                    epoch_ms closes_at = 0,
                    std::vector<issuance_event> rows = {},
                    std::vector<issuance_event> tail = {}) {
    recovered_stock st;
    st.info = coupon{coupon_id, "noon", 1000, total, opens_at, closes_at, 0};
    st.rows = std::move(rows);
    st.tail = std::move(tail);
    gate = std::make_shared<sold_out_gate>(st.info, nullptr);
    stats = std::make_shared<stock_stats>(st.info);
    stock = sys.spawn(stock_actor, std::move(st),
                      stock_deps{&sink, &resolver_ref, nullptr, stock_settings{},
                                 stats, nullptr, gate});
    consume_messages();
  }

  /// Where the snapshots of spawn_snapshotting's actor were written.
  std::vector<int64_t> positions;
  actor snapshotter;
  service_handle snapshotter_ref;

  /// Spawns the coupon (10 units) with a snapshotter that records the
  /// position of each snapshot, written after every issuance. The test
  /// ends with stop_stock().
  void spawn_snapshotting() {
    snapshotter = sys.spawn([this](event_based_actor*) -> behavior {
      return {
        [this](save_atom, coupon_id_t, const snapshot_meta& meta,
               const std::vector<issuance_event>&, bool) {
          positions.push_back(meta.position);
          return snapshot_write::done;
        },
      };
    });
    snapshotter_ref.set(snapshotter);
    recovered_stock st;
    st.info = coupon{coupon_id, "noon", 1000, 10, 0, 0, 0};
    stock_settings settings;
    settings.snapshot_every_events = 1;
    stock = sys.spawn(stock_actor, std::move(st),
                      stock_deps{&sink, &resolver_ref, &snapshotter_ref,
                                 settings, nullptr, nullptr, nullptr});
    consume_messages();
  }

  /// Stops the stock actor, whose timers would otherwise fire after the
  /// fixture's handles it uses are gone.
  void stop_stock() {
    anon_send_exit(stock, exit_reason::kill);
    consume_messages();
  }

  void send_issue(user_id_t user, bool wait = false) {
    self->send(stock, issue_atom::value, user, wait,
               "test-" + std::to_string(user));
    expect((issue_atom, user_id_t, bool, std::string),
           from(self).to(stock).with(_, user, wait, _));
  }

  /// The answer waiting in the test's mailbox, if any. Runs every actor
  /// first, but fires no timer.
  optional<expected<issuance>> reply() {
    consume_messages();
    optional<expected<issuance>> result;
    self->receive([&](issuance& x) { result = expected<issuance>{x}; },
                  [&](error& err) { result = expected<issuance>{err}; },
                  after(std::chrono::seconds(0)) >> [] {});
    return result;
  }

  /// Reports the outcome of the i-th published event to the stock actor.
  void report(size_t i, delivery_outcome outcome) {
    sink.published.at(i).done(delivery_report{outcome, 0, int64_t(i), ""});
    expect((delivered_atom, issuance_id_t, delivery_report),
           to(stock).with(_, sink.published[i].event.issuance_id, _));
  }

  /// Issues and has Kafka store the event at once.
  expected<issuance> issue_stored(user_id_t user) {
    send_issue(user);
    if (sink.published.empty()
        || sink.published.back().event.user_id != user)
      return *reply();
    report(sink.published.size() - 1, delivery_outcome::stored);
    return *reply();
  }

  coupon_view view() {
    self->send(stock, view_atom::value);
    consume_messages();
    coupon_view result;
    self->receive([&](coupon_view& v) { result = v; });
    return result;
  }
};

ec code_of(const expected<issuance>& x) {
  return x ? ec::none : static_cast<ec>(x.error().code());
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(stock_actor_tests, fixture)

CAF_TEST(accepted_only_after_kafka_stores_the_event) {
  spawn_coupon(10);
  send_issue(1);
  CAF_REQUIRE_EQUAL(sink.published.size(), 1u);
  CAF_CHECK_EQUAL(sink.published[0].event.user_id, 1u);
  CAF_CHECK_EQUAL(sink.published[0].event.coupon_id, coupon_id);
  CAF_CHECK(!reply()); // No answer while the event is in flight.
  CAF_CHECK_EQUAL(view().remaining, 9u); // But the unit is reserved.
  report(0, delivery_outcome::stored);
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK_EQUAL((*res)->event.issuance_id, make_issuance_id(coupon_id, 1));
  CAF_CHECK((*res)->status == issuance_status::accepted);
}

CAF_TEST(sold_out_after_last_unit) {
  spawn_coupon(3);
  for (user_id_t u = 1; u <= 3; ++u)
    CAF_CHECK(issue_stored(u));
  CAF_CHECK_EQUAL(code_of(issue_stored(4)), ec::sold_out);
  CAF_CHECK_EQUAL(sink.published.size(), 3u); // Nothing produced for user 4.
  auto v = view();
  CAF_CHECK_EQUAL(v.remaining, 0u);
  CAF_CHECK_EQUAL(v.issued, 3u);
}

CAF_TEST(the_gate_closes_with_the_last_unit_and_keeps_holders_out) {
  spawn_coupon(3);
  CAF_CHECK(issue_stored(1));
  CAF_CHECK(issue_stored(2));
  CAF_CHECK(!gate->closed());
  // A reservation on its way to Kafka takes the last unit.
  send_issue(3);
  consume_messages();
  CAF_REQUIRE(gate->closed());
  auto now = now_ms();
  for (user_id_t u = 1; u <= 3; ++u)
    CAF_CHECK(!gate->answers_sold_out(u, now));
  CAF_CHECK(gate->answers_sold_out(4, now));
  // Kafka refused user 3's event: the unit is back, the actor decides.
  report(2, delivery_outcome::failed);
  CAF_CHECK_EQUAL(code_of(*reply()), ec::unavailable);
  CAF_CHECK(!gate->closed());
  CAF_CHECK(!gate->answers_sold_out(4, now));
  CAF_CHECK(issue_stored(4));
  CAF_REQUIRE(gate->closed());
  CAF_CHECK(!gate->answers_sold_out(4, now));
  CAF_CHECK(gate->answers_sold_out(5, now));
}

CAF_TEST(a_recovered_sold_out_coupon_closes_its_gate) {
  std::vector<issuance_event> rows;
  for (uint32_t seq = 1; seq <= 2; ++seq)
    rows.push_back({make_issuance_id(coupon_id, seq), coupon_id, seq, 5000});
  spawn_coupon(2, 0, 0, rows);
  CAF_REQUIRE(gate->closed());
  CAF_CHECK(!gate->answers_sold_out(1, now_ms()));
  CAF_CHECK(!gate->answers_sold_out(2, now_ms()));
  CAF_CHECK(gate->answers_sold_out(3, now_ms()));
}

CAF_TEST(requests_keep_flowing_while_produces_are_in_flight) {
  spawn_coupon(5);
  for (user_id_t u = 1; u <= 5; ++u)
    send_issue(u);
  CAF_CHECK_EQUAL(sink.published.size(), 5u);
  send_issue(6);
  CAF_CHECK_EQUAL(code_of(*reply()), ec::sold_out);
  // Reports may come in any order.
  for (size_t i = 5; i-- > 0;)
    report(i, delivery_outcome::stored);
  for (int i = 0; i < 5; ++i) {
    auto res = reply();
    CAF_REQUIRE(res);
    CAF_CHECK(*res);
  }
}

CAF_TEST(duplicate_user_gets_existing_issuance) {
  spawn_coupon(10);
  auto first = issue_stored(42);
  CAF_REQUIRE(first);
  auto again = issue_stored(42);
  CAF_REQUIRE_EQUAL(code_of(again), ec::already_issued);
  CAF_CHECK_EQUAL(again.error().context().get_as<uint64_t>(0),
                  first->event.issuance_id);
  CAF_CHECK_EQUAL(sink.published.size(), 1u);
  CAF_CHECK_EQUAL(view().remaining, 9u);
}

CAF_TEST(duplicate_while_in_flight_learns_the_outcome) {
  spawn_coupon(10);
  send_issue(42);
  send_issue(42);
  CAF_CHECK_EQUAL(sink.published.size(), 1u);
  CAF_CHECK(!reply());
  report(0, delivery_outcome::stored);
  auto a = reply();
  auto b = reply();
  CAF_REQUIRE(a && b);
  // One gets the issuance, the other learns it already exists.
  CAF_CHECK_EQUAL(int(code_of(*a) == ec::none) + int(code_of(*b) == ec::none),
                  1);
  CAF_CHECK(code_of(*a) == ec::already_issued
            || code_of(*b) == ec::already_issued);
}

CAF_TEST(not_open_before_the_window) {
  spawn_coupon(10, now_ms() + 3'600'000);
  send_issue(1);
  CAF_CHECK_EQUAL(code_of(*reply()), ec::not_open);
  CAF_CHECK(sink.published.empty());
  CAF_CHECK_EQUAL(view().remaining, 10u);
}

CAF_TEST(closed_after_the_window) {
  spawn_coupon(10, now_ms() - 7'200'000, now_ms() - 3'600'000);
  send_issue(1);
  CAF_CHECK_EQUAL(code_of(*reply()), ec::closed);
  CAF_CHECK(sink.published.empty());
}

CAF_TEST(a_holder_asking_after_the_window_learns_what_it_holds) {
  // A retry after an unknown outcome may come once the coupon closed.
  std::vector<issuance_event> rows{
    {make_issuance_id(coupon_id, 1), coupon_id, 42, now_ms() - 5'000'000}};
  spawn_coupon(10, now_ms() - 7'200'000, now_ms() - 3'600'000, rows);
  send_issue(42);
  auto again = *reply();
  CAF_REQUIRE_EQUAL(code_of(again), ec::already_issued);
  CAF_CHECK_EQUAL(again.error().context().get_as<uint64_t>(0),
                  rows[0].issuance_id);
  send_issue(43);
  CAF_CHECK_EQUAL(code_of(*reply()), ec::closed);
  CAF_CHECK(sink.published.empty());
}

CAF_TEST(produce_failure_gives_stock_back) {
  spawn_coupon(1);
  send_issue(1);
  report(0, delivery_outcome::failed);
  CAF_CHECK_EQUAL(code_of(*reply()), ec::unavailable);
  CAF_CHECK_EQUAL(view().remaining, 1u);
  // The user was not issued: a retry and another user can both try again.
  CAF_CHECK(issue_stored(2));
  CAF_CHECK_EQUAL(code_of(issue_stored(1)), ec::sold_out);
}

CAF_TEST(unknown_outcome_found_in_log_is_accepted) {
  spawn_coupon(1);
  send_issue(1);
  report(0, delivery_outcome::unknown);
  CAF_CHECK(!reply()); // Neither yes nor no until the log is read.
  CAF_CHECK_EQUAL(view().remaining, 0u);
  in_log = true;
  sched.trigger_timeout(); // The grace period passes.
  expect((resolve_atom, issuance_id_t), to(stock));
  expect((find_atom, issuance_event), from(stock).to(resolver));
  expect((bool), from(resolver).to(stock).with(true));
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK_EQUAL((*res)->event.user_id, 1u);
  CAF_CHECK_EQUAL(code_of(issue_stored(2)), ec::sold_out);
}

CAF_TEST(unknown_outcome_missing_from_log_gives_stock_back) {
  spawn_coupon(1);
  send_issue(1);
  report(0, delivery_outcome::unknown);
  in_log = false;
  sched.trigger_timeout();
  expect((resolve_atom, issuance_id_t), to(stock));
  expect((find_atom, issuance_event), from(stock).to(resolver));
  expect((bool), from(resolver).to(stock).with(false));
  CAF_CHECK_EQUAL(code_of(*reply()), ec::unavailable);
  CAF_CHECK_EQUAL(view().remaining, 1u);
  CAF_CHECK(issue_stored(2));
}

CAF_TEST(committed_holder_is_never_given_back) {
  // The writers commit the record while its outcome is being resolved, and
  // a "not stored" answer comes after that: the row stands.
  spawn_coupon(1);
  send_issue(1);
  report(0, delivery_outcome::unknown);
  self->send(stock, committed_atom::value,
             std::vector<issuance_event>{sink.published[0].event});
  consume_messages();
  in_log = false;
  sched.trigger_timeout();
  expect((resolve_atom, issuance_id_t), to(stock));
  expect((find_atom, issuance_event), from(stock).to(resolver));
  expect((bool), from(resolver).to(stock).with(false));
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK((*res)->status == issuance_status::issued);
  CAF_CHECK_EQUAL(view().remaining, 0u);
  CAF_CHECK_EQUAL(code_of(issue_stored(2)), ec::sold_out);
}

CAF_TEST(committed_holder_survives_a_late_failure_report) {
  spawn_coupon(1);
  send_issue(1);
  self->send(stock, committed_atom::value,
             std::vector<issuance_event>{sink.published[0].event});
  consume_messages();
  report(0, delivery_outcome::failed);
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK_EQUAL(view().remaining, 0u);
  CAF_CHECK_EQUAL(code_of(issue_stored(2)), ec::sold_out);
}

CAF_TEST(wait_answers_issued_once_committed) {
  spawn_coupon(10);
  send_issue(5, true);
  report(0, delivery_outcome::stored);
  CAF_CHECK(!reply()); // Durable in Kafka, not yet in MySQL.
  self->send(stock, committed_atom::value,
             std::vector<issuance_event>{sink.published[0].event});
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK((*res)->status == issuance_status::issued);
}

CAF_TEST(wait_answers_accepted_when_the_limit_passes) {
  spawn_coupon(10);
  send_issue(5, true);
  report(0, delivery_outcome::stored);
  CAF_CHECK(!reply());
  sched.trigger_timeout();
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK((*res)->status == issuance_status::accepted);
}

CAF_TEST(status_follows_the_issuance) {
  spawn_coupon(10);
  self->send(stock, status_atom::value, user_id_t{3});
  CAF_CHECK_EQUAL(code_of(*reply()), ec::not_issued);
  CAF_REQUIRE(issue_stored(3));
  self->send(stock, status_atom::value, user_id_t{3});
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK((*res)->status == issuance_status::accepted);
  self->send(stock, committed_atom::value,
             std::vector<issuance_event>{sink.published[0].event});
  self->send(stock, status_atom::value, user_id_t{3});
  res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK((*res)->status == issuance_status::issued);
}

CAF_TEST(a_committed_holder_stays_issued_through_an_unknown_report) {
  // The writers read the record back and committed it before its delivery
  // report, which says "possibly stored": the row is in MySQL.
  spawn_coupon(10);
  send_issue(3);
  self->send(stock, committed_atom::value,
             std::vector<issuance_event>{sink.published[0].event});
  consume_messages();
  // Committed, its report still due: in flight (a crash now leaves a report
  // that may be counted "possibly stored" and that no resolution follows).
  CAF_CHECK_EQUAL(stats->pending.load(), 0u);
  CAF_CHECK_EQUAL(stats->committed.load(), 1u);
  CAF_CHECK_EQUAL(stats->in_flight.load(), 1u);
  report(0, delivery_outcome::unknown);
  self->send(stock, status_atom::value, user_id_t{3});
  // The issue request waits for the resolver; the status is issued (it was
  // "not issued" while the report made the holder unresolved again).
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK((*res)->status == issuance_status::issued);
  // Its outcome is being resolved: still in flight.
  CAF_CHECK_EQUAL(stats->unresolved.load(), 0u);
  CAF_CHECK_EQUAL(stats->committed.load(), 1u);
  CAF_CHECK_EQUAL(stats->in_flight.load(), 1u);
  in_log = true;
  sched.trigger_timeout();
  expect((resolve_atom, issuance_id_t), to(stock));
  expect((find_atom, issuance_event), from(stock).to(resolver));
  expect((bool), from(resolver).to(stock).with(true));
  CAF_CHECK_EQUAL(stats->in_flight.load(), 0u);
  CAF_CHECK_EQUAL(stats->committed.load(), 1u);
  stop_stock();
}

CAF_TEST(an_issuance_keeps_its_request_id_until_committed) {
  spawn_coupon(100);
  auto status = [&](user_id_t user) {
    self->send(stock, status_atom::value, user);
    auto res = reply();
    CAF_REQUIRE(res && *res);
    return **res;
  };
  for (user_id_t u = 1; u <= 50; ++u)
    CAF_REQUIRE(issue_stored(u * 1'000'003));
  CAF_REQUIRE_EQUAL(sink.published.size(), 50u);
  for (auto& p : sink.published) {
    auto x = status(p.event.user_id);
    CAF_CHECK(x.status == issuance_status::accepted);
    CAF_CHECK_EQUAL(x.event, p.event); // Id, coupon, user, time.
    CAF_CHECK_EQUAL(x.event.request_id,
                    "test-" + std::to_string(p.event.user_id));
  }
  std::vector<issuance_event> rows;
  for (auto& p : sink.published)
    rows.push_back(p.event);
  self->send(stock, committed_atom::value, rows);
  for (auto& p : sink.published) {
    auto x = status(p.event.user_id);
    CAF_CHECK(x.status == issuance_status::issued);
    CAF_CHECK_EQUAL(x.event, p.event);
    CAF_CHECK_EQUAL(x.event.request_id, ""); // The row holds it now.
  }
}

CAF_TEST(a_recovered_tail_keeps_its_request_ids) {
  std::vector<issuance_event> rows{
    {make_issuance_id(coupon_id, 1), coupon_id, 100, 1, "r-100"}};
  std::vector<issuance_event> tail{
    {make_issuance_id(coupon_id, 2), coupon_id, 101, 2, "r-101"}};
  spawn_coupon(4, 0, 0, rows, tail);
  self->send(stock, status_atom::value, user_id_t{100});
  auto res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK_EQUAL((*res)->event, rows[0]);
  CAF_CHECK_EQUAL((*res)->event.request_id, "");
  self->send(stock, status_atom::value, user_id_t{101});
  res = reply();
  CAF_REQUIRE(res && *res);
  CAF_CHECK_EQUAL((*res)->event, tail[0]);
  CAF_CHECK_EQUAL((*res)->event.request_id, "r-101");
}

CAF_TEST(restart_rebuilds_from_rows_and_tail) {
  std::vector<issuance_event> rows{
    {make_issuance_id(coupon_id, 1), coupon_id, 100, 1},
    {make_issuance_id(coupon_id, 2), coupon_id, 101, 2}};
  std::vector<issuance_event> tail{
    {make_issuance_id(coupon_id, 4), coupon_id, 102, 3}};
  spawn_coupon(4, 0, 0, rows, tail);
  CAF_CHECK_EQUAL(view().remaining, 1u);
  CAF_CHECK_EQUAL(code_of(issue_stored(101)), ec::already_issued);
  CAF_CHECK_EQUAL(code_of(issue_stored(102)), ec::already_issued);
  auto res = issue_stored(103);
  CAF_REQUIRE(res);
  // Ids never repeat: the sequence continues after the highest one seen.
  CAF_CHECK_EQUAL(res->event.issuance_id, make_issuance_id(coupon_id, 5));
  CAF_CHECK_EQUAL(code_of(issue_stored(104)), ec::sold_out);
}

CAF_TEST(a_holder_committed_while_possibly_stored_holds_back_the_snapshot) {
  // After the log moved, two issuances are possibly stored; the writers
  // commit one of them before it is resolved. When the snapshot starts
  // over in the new log, both still hold its position back: the other's
  // record may be anywhere in the new log.
  // The resolver finds user 1's record and cannot read for user 2's.
  auto picky = sys.spawn([](event_based_actor*) -> behavior {
    return {
      [](find_atom, const issuance_event& e) -> result<bool> {
        if (e.user_id == 2)
          return make_error(ec::unavailable, "cannot read");
        return true;
      },
    };
  });
  resolver_ref.set(picky);
  spawn_snapshotting();
  CAF_REQUIRE(issue_stored(3)); // published[0]
  self->send(stock, republish_atom::value, std::string{"log-2"}, int32_t{1});
  consume_messages(); // published[1]: user 3's issuance again
  send_issue(1);      // published[2]
  report(2, delivery_outcome::unknown);
  send_issue(2); // published[3]
  report(3, delivery_outcome::unknown);
  self->send(stock, committed_atom::value,
             std::vector<issuance_event>{sink.published[2].event});
  consume_messages();
  // User 3's issuance is in the new log: the snapshot starts over there.
  sink.published[1].done(
    delivery_report{delivery_outcome::stored, 0, 0, ""});
  consume_messages();
  // User 1's outcome is resolved (found), user 2's is not.
  sched.trigger_timeouts();
  consume_messages();
  // A new issuance is stored at offset 5 of the new log.
  self->send(stock, issue_atom::value, user_id_t{4}, false,
             std::string{"test-4"});
  consume_messages(); // published[4]
  sink.published.at(4).done(
    delivery_report{delivery_outcome::stored, 0, 5, ""});
  consume_messages();
  CAF_REQUIRE(!positions.empty());
  for (auto p : positions)
    CAF_CHECK_EQUAL(p, 0);
  stop_stock();
}

CAF_TEST(an_outcome_reported_unknown_twice_holds_the_snapshot_once) {
  spawn_snapshotting();
  send_issue(1);
  report(0, delivery_outcome::unknown);
  report(0, delivery_outcome::unknown);
  in_log = true;
  sched.trigger_timeouts(); // Resolved: found.
  consume_messages();
  // Nothing is unresolved any more: a record stored at offset 5 moves the
  // position there.
  self->send(stock, issue_atom::value, user_id_t{2}, false,
             std::string{"test-2"});
  consume_messages();
  sink.published.at(1).done(
    delivery_report{delivery_outcome::stored, 0, 5, ""});
  consume_messages();
  CAF_REQUIRE(!positions.empty());
  CAF_CHECK_EQUAL(positions.back(), 5);
  stop_stock();
}

CAF_TEST_FIXTURE_SCOPE_END()
