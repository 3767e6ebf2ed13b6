#define CAF_SUITE actors.supervisor

#include "actors/supervisor.hpp"

#include <caf/test/dsl.hpp>

#include "actors/config.hpp"

using namespace caf;
using namespace dibs;
using std::chrono::milliseconds;

namespace {

behavior idle_child(event_based_actor*) {
  return {
    [](int x) { return x; },
  };
}

struct fixture : test_coordinator_fixture<dibs::config> {
  node_metrics metrics;
  supervision_board board;
  actor sup;
  actor child;
  int starts = 0;
  /// When set, the next restart fails.
  bool refuse = false;

  fixture() {
    supervisor_settings s;
    s.initial_backoff = milliseconds(100);
    s.max_backoff = milliseconds(800);
    s.crash_loop_after = 3;
    sup = sys.spawn(supervisor_actor, s, &metrics, &board);
    child = sys.spawn(idle_child);
    child_spec spec;
    spec.name = "writer-0";
    spec.kind = child_kind::writer;
    spec.hdl = child;
    spec.restart = [this]() -> expected<actor> {
      if (refuse) {
        refuse = false;
        return make_error(ec::storage_failure, "refused");
      }
      ++starts;
      child = sys.spawn(idle_child);
      return child;
    };
    anon_send(sup, supervise_atom::value, std::move(spec));
    sched.run();
  }

  ~fixture() {
    // Nothing may restart while the system shuts down.
    anon_send(sup, stop_atom::value);
    sched.run();
    anon_send_exit(child, exit_reason::user_shutdown);
    anon_send_exit(sup, exit_reason::user_shutdown);
    sched.run();
  }

  supervisor_state& state() {
    return deref<stateful_actor<supervisor_state>>(sup).state;
  }

  void crash() {
    anon_send_exit(child, exit_reason::kill);
    sched.run();
  }

  /// What the board shows of the writer.
  child_view shown() {
    for (auto& c : board.children())
      if (c.name == "writer-0")
        return c;
    CAF_FAIL("writer-0 is not on the board");
    return {};
  }

  /// Spawns a new writer-0 and supervises it under the same name, as a
  /// takeover does with a stock actor (not yet delivered).
  actor supervise_anew() {
    auto next = sys.spawn(idle_child);
    child_spec spec;
    spec.name = "writer-0";
    spec.kind = child_kind::writer;
    spec.hdl = next;
    spec.restart = state().children.at("writer-0").spec.restart;
    anon_send(sup, supervise_atom::value, std::move(spec));
    return next;
  }

  milliseconds next_backoff() {
    return state().backoff(state().children.at("writer-0"));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(supervisor_tests, fixture)

CAF_TEST(a_crashed_child_is_restarted_after_its_backoff) {
  CAF_CHECK_EQUAL(shown().state, "running");
  crash();
  CAF_CHECK_EQUAL(starts, 0);
  CAF_CHECK_EQUAL(shown().state, "restarting");
  CAF_CHECK_EQUAL(shown().history.size(), 1u);
  CAF_CHECK(sched.has_pending_timeout());
  sched.trigger_timeout();
  sched.run();
  CAF_CHECK_EQUAL(starts, 1);
  CAF_CHECK_EQUAL(metrics.writer_restarts.load(), 1u);
  CAF_CHECK_EQUAL(shown().state, "running");
  CAF_CHECK_EQUAL(shown().restarts, 1u);
  CAF_CHECK_EQUAL(shown().kind, "writer");
  // The replacement is supervised in turn.
  crash();
  sched.trigger_timeout();
  sched.run();
  CAF_CHECK_EQUAL(starts, 2);
}

CAF_TEST(backoff_doubles_up_to_its_cap) {
  std::vector<int64_t> waits;
  for (int i = 0; i < 6; ++i) {
    crash();
    // From the fourth crash in a row (crash_loop_after 3) it is a loop.
    CAF_CHECK_EQUAL(shown().state, i >= 3 ? "crash loop" : "restarting");
    waits.push_back(next_backoff().count());
    sched.trigger_timeout();
    sched.run();
  }
  CAF_CHECK_EQUAL(waits, (std::vector<int64_t>{100, 200, 400, 800, 800, 800}));
  CAF_CHECK_EQUAL(starts, 6);
  CAF_CHECK_EQUAL(shown().restarts, 6u);
  CAF_CHECK_EQUAL(shown().crashes_in_a_row, 6u);
  CAF_CHECK_EQUAL(state().children.at("writer-0").crashes, 6u);
}

CAF_TEST(a_failed_restart_is_tried_again) {
  crash();
  refuse = true;
  sched.trigger_timeout();
  sched.run();
  CAF_CHECK_EQUAL(starts, 0);
  CAF_CHECK(sched.has_pending_timeout());
  sched.trigger_timeout();
  sched.run();
  CAF_CHECK_EQUAL(starts, 1);
}

CAF_TEST(a_child_shut_down_on_purpose_is_forgotten) {
  anon_send_exit(child, exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(!sched.has_pending_timeout());
  CAF_CHECK_EQUAL(state().children.count("writer-0"), 0u);
}

CAF_TEST(nothing_restarts_once_stopping) {
  self->send(sup, stop_atom::value);
  sched.run();
  crash();
  while (sched.has_pending_timeout()) {
    sched.trigger_timeout();
    sched.run();
  }
  CAF_CHECK_EQUAL(starts, 0);
}

CAF_TEST(a_replaced_childs_late_down_leaves_its_successor_supervised) {
  // A stock actor given up and spawned anew under its name (its shard came
  // back) before the old one's down message arrived.
  auto old = child;
  auto next = supervise_anew();
  anon_send_exit(old, exit_reason::user_shutdown);
  sched.run();
  CAF_REQUIRE_EQUAL(state().children.count("writer-0"), 1u);
  CAF_CHECK_EQUAL(shown().state, "running");
  // The successor's crash is restarted, not fatal to the supervisor.
  child = next;
  crash();
  CAF_CHECK_EQUAL(shown().state, "restarting");
  sched.trigger_timeout();
  sched.run();
  CAF_CHECK_EQUAL(starts, 1);
}

CAF_TEST(a_restart_overtaken_by_a_new_child_is_dropped) {
  crash();
  // Before the backoff ends, the child is spawned anew elsewhere (a
  // takeover) and supervised under its name.
  auto next = supervise_anew();
  sched.run();
  sched.trigger_timeout();
  sched.run();
  CAF_CHECK_EQUAL(starts, 0);
  CAF_CHECK_EQUAL(shown().state, "running");
  anon_send_exit(next, exit_reason::user_shutdown);
  sched.run();
}

CAF_TEST(min_delay_overrides_a_shorter_backoff) {
  state().children.at("writer-0").spec.min_delay = milliseconds(6000);
  crash();
  CAF_CHECK_EQUAL(next_backoff().count(), 6000);
}

CAF_TEST_FIXTURE_SCOPE_END()
