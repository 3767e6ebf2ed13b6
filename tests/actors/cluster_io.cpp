#define CAF_SUITE actors.cluster_io

// Three nodes in one process on CAF's io test DSL: each its own actor system
// with a simulated network (test_multiplexer), the real middleman, BASP and
// serialization of dibs' messages between them. Deterministic: nothing runs
// but what the test lets run, and time passes only when it says so.

#include "actors/cluster.hpp"

#include <caf/test/io_dsl.hpp>

#include <algorithm>
#include <map>

#include "actors/config.hpp"
#include "cluster_fakes.hpp"

using namespace caf;
using namespace dibs;
using dibs::testing::fake_stock;
using dibs::testing::three_members;
using std::chrono::milliseconds;

namespace {

struct io_config : dibs::config {
  io_config() {
    load<io::middleman>();
  }
};

using planet = test_node_fixture<test_coordinator_fixture<io_config>>;

struct fixture : belt_fixture<test_coordinator_fixture<io_config>> {
  std::vector<planet*> planets{&earth, &mars, &jupiter};
  std::vector<cluster_map> maps;
  std::vector<std::unique_ptr<coupon_directory>> directories;
  std::vector<actor> endpoints;
  cluster_settings settings;
  // earth (n1) forwards to mars (n2).
  peer_api peer;
  std::shared_ptr<peer_status> status = std::make_shared<peer_status>();
  /// Mars' and earth's ends of their connection.
  std::pair<io::connection_handle, io::connection_handle> connection;

  fixture() {
    settings.heartbeat_interval = milliseconds(100);
    settings.heartbeat_timeout = milliseconds(500);
    settings.forward_timeout = milliseconds(1000);
    // Each node accepts on its actor port; earth will connect to mars.
    std::vector<io::accept_handle> acceptors;
    for (size_t i = 0; i < 3; ++i) {
      acceptors.push_back(next_accept_handle());
      planets[i]->mpx.provide_acceptor(three_members()[i].actor_port,
                                       acceptors.back());
    }
    connection = prepare_connection(mars, earth, "127.0.0.1", 4242,
                                    acceptors[1]);
    for (size_t i = 0; i < 3; ++i) {
      auto map = cluster_map::make(three_members(), 16, three_members()[i].id);
      CAF_REQUIRE(map);
      maps.push_back(std::move(*map));
      directories.push_back(std::make_unique<coupon_directory>());
      endpoint_hooks hooks;
      hooks.directory = directories.back().get();
      hooks.ready = [] { return true; };
      endpoints.push_back(planets[i]->sys.spawn(
        endpoint_actor, maps[i].fingerprint(), three_members()[i].id, hooks));
      // publish() runs the middleman inline on the next enqueue: let the
      // new endpoint's own start go first.
      planets[i]->sched.run();
      planets[i]->publish(endpoints.back(), three_members()[i].actor_port);
    }
    for (coupon_id_t c = 1; c <= 30; ++c) {
      auto owner = maps[0].owner_of(c);
      // The fake takes only what the endpoint sends: cast, not checked.
      directories[owner]->set(
        c, caf::actor_cast<stock_api>(planets[owner]->sys.spawn(fake_stock, c)));
    }
    peer = earth.sys.spawn(peer_actor, three_members()[1], std::string{"n1"},
                           maps[0].fingerprint(), settings, status,
                           actor_cast<actor>(earth.mm.actor_handle()));
    settle();
  }

  ~fixture() {
    anon_send_exit(peer, exit_reason::user_shutdown);
    for (size_t i = 0; i < 3; ++i) {
      for (auto& a : directories[i]->all())
        anon_send_exit(a, exit_reason::user_shutdown);
      anon_send_exit(endpoints[i], exit_reason::user_shutdown);
    }
    settle();
  }

  /// Runs every message and network event without letting time pass (the
  /// peers' heartbeat timers would keep exec_all going forever).
  void settle() {
    auto advance = [](planet* x) {
      return x->sched.try_run_once() || x->mpx.read_data()
             || x->mpx.try_exec_runnable() || x->mpx.try_accept_connection();
    };
    while (std::any_of(planets.begin(), planets.end(), advance))
      ; // repeat
  }

  /// Lets `d` pass on every node in heartbeat-sized steps.
  void pass(milliseconds d) {
    for (auto t = milliseconds(0); t < d; t += milliseconds(50)) {
      for (auto* p : planets)
        p->sched.advance_time(milliseconds(50));
      settle();
    }
  }

  /// A request for mars' coupon is refused UNAVAILABLE by earth's peer
  /// without anything crossing the network or any time passing.
  bool local_refusal() {
    optional<expected<issuance>> answer;
    anon_send(peer, issue_atom::value, coupon_of(1), user_id_t{2}, false,
              std::string{"r"},
              reply_to<issuance>{[&](expected<issuance> res) { answer = res; }});
    settle();
    return answer && !*answer && answer->error() == ec::unavailable;
  }

  coupon_id_t coupon_of(size_t owner) {
    for (coupon_id_t c = 1; c <= 30; ++c)
      if (maps[0].owner_of(c) == owner)
        return c;
    CAF_FAIL("no coupon for member " << owner);
    return 0;
  }

  /// Sends a request the gateway's way on earth; returns its answer.
  template <class T, class... Ts>
  optional<expected<T>> ask(Ts... xs) {
    optional<expected<T>> got;
    anon_send(peer, xs...,
              reply_to<T>{[&](expected<T> res) { got = std::move(res); }});
    // On the simulated network an answer from the owner arrives only with
    // the next traffic on the connection (a heartbeat, here; on real
    // sockets at once): allow up to one heartbeat interval.
    for (int step = 0; step < 3 && !got; ++step)
      step == 0 ? settle() : pass(milliseconds(50));
    return got;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_io_tests, fixture)

CAF_TEST(requests cross the simulated network to the owner and back) {
  CAF_REQUIRE(status->up);
  auto coupon = coupon_of(1);
  auto first = ask<issuance>(issue_atom::value, coupon, user_id_t{7}, false,
                             std::string{"req-1"});
  CAF_REQUIRE(first);
  if (!*first)
    CAF_FAIL("forwarding failed: " << earth.sys.render(first->error()));
  CAF_CHECK_EQUAL((*first)->event.coupon_id, coupon);
  CAF_CHECK_EQUAL((*first)->event.user_id, 7u);
  // The owner's refusal crosses with its code and the id it carries.
  auto again = ask<issuance>(issue_atom::value, coupon, user_id_t{7}, false,
                             std::string{"req-2"});
  CAF_REQUIRE(again && !*again);
  CAF_CHECK_EQUAL(again->error(), ec::already_issued);
  CAF_CHECK(again->error().context().match_elements<std::string, uint64_t>());
  auto view = ask<coupon_view>(view_atom::value, coupon);
  CAF_REQUIRE(view && *view);
  CAF_CHECK_EQUAL((*view)->info.name, "coupon");
  CAF_CHECK_EQUAL((*view)->issued, 1u);
  // Several in flight at once on the one connection.
  std::vector<optional<expected<issuance>>> got(20);
  for (size_t i = 0; i < got.size(); ++i)
    anon_send(peer, issue_atom::value, coupon, user_id_t{100 + i}, false,
              std::string{"pipelined"},
              reply_to<issuance>{
                [&got, i](expected<issuance> res) { got[i] = std::move(res); }});
  pass(milliseconds(100));
  for (auto& x : got)
    CAF_CHECK(x && *x);
}

CAF_TEST(an owner whose endpoint dies is answered 503 at once) {
  CAF_REQUIRE(status->up);
  anon_send_exit(endpoints[1], exit_reason::kill);
  settle();
  // A request sent before the peer learns it fails as an unknown outcome
  // (503 OUTCOME_UNKNOWN), and does not wait for the forward timeout...
  auto answer = ask<issuance>(issue_atom::value, coupon_of(1), user_id_t{1},
                              false, std::string{"r"});
  CAF_REQUIRE(answer && !*answer);
  CAF_CHECK_EQUAL(answer->error(), make_error(ec::outcome_unknown));
  // ... and by then the member is down: requests no longer go out, the peer
  // answers UNAVAILABLE itself, with no time passing.
  CAF_CHECK(!status->up);
  CAF_CHECK(local_refusal());
}

CAF_TEST(an owner whose connection breaks is answered 503 at once) {
  CAF_REQUIRE(status->up);
  // Earth's end of the connection fails, as a killed process' would.
  earth.mpx.impl_ptr(connection.second)
    ->io_failure(&earth.mpx, io::network::operation::read);
  pass(milliseconds(100));
  CAF_CHECK(!status->up);
  CAF_CHECK_EQUAL(status->downs.load(), 1u);
  CAF_CHECK(local_refusal());
}

CAF_TEST_FIXTURE_SCOPE_END()
