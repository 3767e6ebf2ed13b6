#define CAF_SUITE actors.cluster

#include "actors/cluster.hpp"

#include <caf/test/dsl.hpp>

#include <map>

#include "actors/config.hpp"
#include "cluster_fakes.hpp"

using namespace caf;
using namespace dibs;
using dibs::testing::fake_stock;
using dibs::testing::three_members;
using std::chrono::milliseconds;

namespace {

/// A member that says hello and then never answers again, like a stopped
/// process whose kernel still holds the connection.
behavior silent_endpoint(event_based_actor* self, std::string id) {
  return {
    [=](hello_atom, uint64_t, const std::string&) {
      return make_message(hello_atom::value, id);
    },
    [=](ping_atom, int64_t) {
      // Kept and never delivered.
      return self->make_response_promise();
    },
    [=](issue_atom, coupon_id_t, user_id_t, bool, std::string&) {
      // Taken and never answered, as by a node that hangs.
      return self->make_response_promise();
    },
  };
}

/// Answers connect requests as CAF's middleman would, with the endpoint
/// published at the port; fails for a port with none.
behavior fake_connector(event_based_actor*, std::map<uint16_t, actor>* net) {
  return {
    [=](connect_atom, const std::string&, uint16_t port)
      -> result<node_id, strong_actor_ptr, std::set<std::string>> {
      auto i = net->find(port);
      if (i == net->end() || !i->second)
        return make_error(sec::cannot_connect_to_node);
      return {node_id{}, actor_cast<strong_actor_ptr>(i->second),
              std::set<std::string>{}};
    },
  };
}

struct fixture : test_coordinator_fixture<dibs::config> {
  cluster_settings settings;
  std::map<uint16_t, actor> net;
  actor connector;
  // One directory and endpoint per member; stock actors on their owners.
  std::vector<cluster_map> maps;
  std::vector<std::unique_ptr<coupon_directory>> directories;
  std::vector<actor> endpoints;
  bool ready = true;

  fixture() {
    settings.heartbeat_interval = milliseconds(100);
    settings.heartbeat_timeout = milliseconds(500);
    settings.forward_timeout = milliseconds(1000);
    connector = sys.spawn(fake_connector, &net);
    for (auto& m : three_members()) {
      auto map = cluster_map::make(three_members(), 16, m.id);
      CAF_REQUIRE(map);
      maps.push_back(std::move(*map));
      directories.push_back(std::make_unique<coupon_directory>());
      endpoints.push_back(start_endpoint(maps.size() - 1, maps.back()));
    }
    // Coupons 1..30 on their owners.
    for (coupon_id_t c = 1; c <= 30; ++c) {
      auto owner = maps[0].owner_of(c);
      // The fake takes only what the endpoint sends: cast, not checked.
      directories[owner]->set(c, actor_cast<stock_api>(sys.spawn(fake_stock, c)));
    }
  }

  ~fixture() {
    for (auto& d : directories)
      for (auto& a : d->all())
        anon_send_exit(a, exit_reason::user_shutdown);
    for (auto& e : endpoints)
      if (e)
        anon_send_exit(e, exit_reason::user_shutdown);
    anon_send_exit(connector, exit_reason::user_shutdown);
    sched.run();
  }

  actor start_endpoint(size_t i, const cluster_map& map) {
    endpoint_hooks hooks;
    hooks.directory = directories[i].get();
    hooks.ready = [this] { return ready; };
    auto hdl = sys.spawn(endpoint_actor, map.fingerprint(),
                         map.members()[i].id, hooks);
    net[map.members()[i].actor_port] = hdl;
    return hdl;
  }

  /// Node `from`'s peer actor for member `to`.
  std::pair<peer_api, std::shared_ptr<peer_status>> peer(size_t from, size_t to,
                                                      uint64_t fingerprint) {
    auto status = std::make_shared<peer_status>();
    auto hdl = sys.spawn(peer_actor, maps[from].members()[to],
                         maps[from].members()[from].id, fingerprint, settings,
                         status, connector);
    return {hdl, status};
  }

  /// Advances the clock by `d` in heartbeat steps, running every message.
  void pass(milliseconds d) {
    for (auto t = milliseconds(0); t < d; t += milliseconds(50)) {
      sched.advance_time(milliseconds(50));
      sched.run();
    }
  }

  /// Sends a request the gateway's way and returns its answer.
  template <class T, class... Ts>
  optional<expected<T>> ask(const peer_api& dest, Ts... xs) {
    optional<expected<T>> got;
    anon_send(dest, xs...,
              reply_to<T>{[&](expected<T> res) { got = std::move(res); }});
    sched.run();
    return got;
  }

  /// Issues through peer `p`: ec::none when issued, else the refusal's code.
  ec issue_code(const peer_api& p, coupon_id_t coupon, user_id_t user) {
    auto got = ask<issuance>(p, issue_atom::value, coupon, user, false,
                             std::string{"r"});
    CAF_REQUIRE(got);
    if (*got)
      return ec::none;
    CAF_REQUIRE_EQUAL(got->error().category(), atom("dibs"));
    return static_cast<ec>(got->error().code());
  }

  coupon_id_t coupon_of(size_t owner) {
    for (coupon_id_t c = 1; c <= 30; ++c)
      if (maps[0].owner_of(c) == owner)
        return c;
    CAF_FAIL("no coupon for member " << owner);
    return 0;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_tests, fixture)

CAF_TEST(a peer connects says hello and forwards to the owner) {
  auto [p, status] = peer(0, 1, maps[0].fingerprint());
  sched.run();
  CAF_CHECK(status->up);
  CAF_CHECK(!status->conflict);
  CAF_CHECK_EQUAL(status->connects.load(), 1u);
  auto coupon = coupon_of(1);
  auto first = ask<issuance>(p, issue_atom::value, coupon, user_id_t{7}, false,
                             std::string{"r1"});
  CAF_REQUIRE(first && *first);
  CAF_CHECK_EQUAL((*first)->event.coupon_id, coupon);
  CAF_CHECK_EQUAL((*first)->event.user_id, 7u);
  // The owner decides: the same user again is refused there.
  CAF_CHECK_EQUAL(issue_code(p, coupon, 7), ec::already_issued);
  auto view = ask<coupon_view>(p, view_atom::value, coupon);
  CAF_REQUIRE(view && *view);
  CAF_CHECK_EQUAL((*view)->issued, 1u);
  CAF_CHECK_EQUAL(status->forwarded.load(), 3u);
  // A coupon the member does not serve: its answer, not a guess.
  coupon_id_t foreign = coupon_of(2);
  CAF_CHECK_EQUAL(issue_code(p, foreign, 7), ec::coupon_not_found);
  anon_send_exit(p, exit_reason::user_shutdown);
}

CAF_TEST(committed rows reach the stock actor of the owner) {
  auto [p, status] = peer(0, 2, maps[0].fingerprint());
  sched.run();
  CAF_REQUIRE(status->up);
  auto coupon = coupon_of(2);
  std::vector<issuance_event> rows(1);
  rows[0].coupon_id = coupon;
  anon_send(p, committed_atom::value, coupon, rows);
  expect((atom_value, coupon_id_t, std::vector<issuance_event>),
         from(_).to(p).with(_, coupon, _));
  // Sent anonymously: a typed peer cannot name itself to the untyped
  // endpoint, which answers nothing to it anyway.
  expect((atom_value, coupon_id_t, std::vector<issuance_event>),
         from(_).to(endpoints[2]).with(_, coupon, _));
  expect((atom_value, std::vector<issuance_event>),
         from(endpoints[2]).to(directories[2]->find(coupon)));
  anon_send_exit(p, exit_reason::user_shutdown);
}

CAF_TEST(a dead owner is answered 503 at once and found again) {
  auto [p, status] = peer(0, 1, maps[0].fingerprint());
  sched.run();
  CAF_REQUIRE(status->up);
  // The owner dies: the monitor tells at once.
  anon_send_exit(endpoints[1], exit_reason::kill);
  net.erase(maps[1].members()[1].actor_port);
  sched.run();
  CAF_CHECK(!status->up);
  CAF_CHECK_EQUAL(status->downs.load(), 1u);
  auto coupon = coupon_of(1);
  // Answered in the same run of the scheduler, without any time passing.
  CAF_CHECK_EQUAL(issue_code(p, coupon, 9), ec::unavailable);
  // Reconnect attempts fail while it is away.
  pass(milliseconds(1000));
  CAF_CHECK(!status->up);
  // It comes back (recovered): the peer finds it at its next tick.
  endpoints[1] = start_endpoint(1, maps[1]);
  pass(milliseconds(200));
  CAF_CHECK(status->up);
  CAF_CHECK_EQUAL(status->connects.load(), 2u);
  CAF_CHECK_EQUAL(issue_code(p, coupon, 9), ec::none);
  anon_send_exit(p, exit_reason::user_shutdown);
}

CAF_TEST(a silent owner is down after the heartbeat timeout) {
  auto silent = sys.spawn(silent_endpoint, std::string{"n2"});
  net[maps[1].members()[1].actor_port] = silent;
  auto [p, status] = peer(0, 1, maps[0].fingerprint());
  sched.run();
  CAF_REQUIRE(status->up);
  // Within the timeout it counts as up, then as down.
  pass(milliseconds(400));
  CAF_CHECK(status->up);
  pass(milliseconds(300));
  CAF_CHECK(!status->up);
  CAF_CHECK_EQUAL(status->downs.load(), 1u);
  CAF_CHECK_EQUAL(issue_code(p, coupon_of(1), 1), ec::unavailable);
  anon_send_exit(p, exit_reason::user_shutdown);
  anon_send_exit(silent, exit_reason::user_shutdown);
}

CAF_TEST(a request out when its owner goes down is answered unknown at once) {
  auto silent = sys.spawn(silent_endpoint, std::string{"n2"});
  net[maps[1].members()[1].actor_port] = silent;
  auto [p, status] = peer(0, 1, maps[0].fingerprint());
  sched.run();
  CAF_REQUIRE(status->up);
  optional<expected<issuance>> got;
  anon_send(p, issue_atom::value, coupon_of(1), user_id_t{3}, false,
            std::string{"r"},
            reply_to<issuance>{[&](expected<issuance> x) { got = x; }});
  sched.run();
  CAF_CHECK(!got);
  // Down after the heartbeat timeout (500 ms), well before the forward
  // timeout (1 s): the member may have issued it, so not a "no".
  pass(milliseconds(700));
  CAF_CHECK(!status->up);
  CAF_REQUIRE(got);
  CAF_REQUIRE(!*got);
  CAF_CHECK_EQUAL(got->error().category(), atom("dibs"));
  CAF_CHECK_EQUAL(static_cast<ec>(got->error().code()), ec::outcome_unknown);
  anon_send_exit(p, exit_reason::user_shutdown);
  anon_send_exit(silent, exit_reason::user_shutdown);
}

CAF_TEST(a peer with another configuration is refused) {
  auto other = cluster_map::make(three_members(), 17, "n1");
  CAF_REQUIRE(other);
  auto [p, status] = peer(0, 1, other->fingerprint());
  sched.run();
  CAF_CHECK(!status->up);
  CAF_CHECK(status->conflict);
  CAF_CHECK_EQUAL(issue_code(p, coupon_of(1), 1), ec::unavailable);
  anon_send_exit(p, exit_reason::user_shutdown);
}

CAF_TEST(an owner still recovering answers not ready) {
  ready = false;
  auto [p, status] = peer(0, 1, maps[0].fingerprint());
  sched.run();
  CAF_REQUIRE(status->up);
  CAF_CHECK_EQUAL(issue_code(p, coupon_of(1), 1), ec::not_ready);
  anon_send_exit(p, exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
