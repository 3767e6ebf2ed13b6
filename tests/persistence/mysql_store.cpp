#define CAF_SUITE persistence.mysql_store

#include "persistence/mysql_store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <string_view>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <caf/test/unit_test.hpp>

#include "test_env.hpp"

using namespace dibs;

namespace {

/// A TCP relay in front of MariaDB. Each time it is armed, it cuts the next
/// connection that sends a COMMIT: before the server gets it (the
/// transaction is rolled back), or after, before the server's answer
/// reaches the client (the transaction is committed). Either way the client
/// sees a lost connection. It can also hold a statement back (`hold`).
class commit_cutter {
public:
  enum class cut { none, before_server, after_server };

  explicit commit_cutter(uint16_t upstream) : upstream_(upstream) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    CAF_REQUIRE(listener_ >= 0);
    auto addr = loopback(0);
    socklen_t len = sizeof(addr);
    CAF_REQUIRE_EQUAL(::bind(listener_, reinterpret_cast<sockaddr*>(&addr),
                             sizeof(addr)),
                      0);
    CAF_REQUIRE_EQUAL(::listen(listener_, 8), 0);
    CAF_REQUIRE_EQUAL(::getsockname(listener_,
                                    reinterpret_cast<sockaddr*>(&addr), &len),
                      0);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread{[this] { accept_all(); }};
  }

  ~commit_cutter() {
    release();
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    ::close(listener_);
    for (auto& c : conns_) {
      ::shutdown(c.client, SHUT_RDWR);
      ::shutdown(c.server, SHUT_RDWR);
      c.up.join();
      c.down.join();
      ::close(c.client);
      ::close(c.server);
    }
  }

  uint16_t port() const {
    return port_;
  }

  /// Adds a cut after those armed before.
  void arm(cut how) {
    std::lock_guard<std::mutex> guard{mtx_};
    plan_.push_back(how);
  }

  int cuts() const {
    return cuts_;
  }

  /// Holds the next bytes a client sends that contain `text` until
  /// `release`.
  void hold(std::string text) {
    std::lock_guard<std::mutex> guard{mtx_};
    hold_ = std::move(text);
  }

  /// Whether bytes were held within `timeout`.
  bool wait_held(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    return changed_.wait_for(guard, timeout, [this] { return held_; });
  }

  void release() {
    std::lock_guard<std::mutex> guard{mtx_};
    released_ = true;
    changed_.notify_all();
  }

private:
  struct conn {
    int client = -1;
    int server = -1;
    std::atomic<bool> cut_answer{false};
    std::thread up;
    std::thread down;
  };

  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
  }

  cut next_cut() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (plan_.empty())
      return cut::none;
    auto how = plan_.front();
    plan_.pop_front();
    return how;
  }

  static void cut_off(conn& c) {
    ::shutdown(c.client, SHUT_RDWR);
    ::shutdown(c.server, SHUT_RDWR);
  }

  void accept_all() {
    for (;;) {
      int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0)
        return;
      int server = ::socket(AF_INET, SOCK_STREAM, 0);
      auto addr = loopback(upstream_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
          != 0) {
        ::close(server);
        ::close(client);
        continue;
      }
      auto& c = conns_.emplace_back();
      c.client = client;
      c.server = server;
      c.up = std::thread{[this, &c] { relay_up(c); }};
      c.down = std::thread{[&c] { relay_down(c); }};
    }
  }

  // Client to server, watching for a COM_QUERY (0x03) of COMMIT.
  void relay_up(conn& c) {
    static constexpr std::string_view commit_query{"\x03" "COMMIT"};
    char buf[65536];
    for (;;) {
      auto n = ::read(c.client, buf, sizeof(buf));
      if (n <= 0)
        break;
      std::string_view chunk{buf, static_cast<size_t>(n)};
      wait_if_held(chunk);
      if (chunk.find(commit_query) != std::string_view::npos) {
        if (auto how = next_cut(); how != cut::none) {
          ++cuts_;
          if (how == cut::before_server)
            break;
          c.cut_answer = true;
        }
      }
      if (!send_all(c.server, chunk))
        break;
    }
    cut_off(c);
  }

  void wait_if_held(std::string_view chunk) {
    std::unique_lock<std::mutex> guard{mtx_};
    if (hold_.empty() || chunk.find(hold_) == std::string_view::npos)
      return;
    hold_.clear();
    held_ = true;
    changed_.notify_all();
    changed_.wait(guard, [this] { return released_; });
  }

  // Server to client, unless the answer to a COMMIT is to be lost.
  static void relay_down(conn& c) {
    char buf[65536];
    for (;;) {
      auto n = ::read(c.server, buf, sizeof(buf));
      if (n <= 0 || c.cut_answer)
        break;
      if (!send_all(c.client, {buf, static_cast<size_t>(n)}))
        break;
    }
    cut_off(c);
  }

  static bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
      auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  uint16_t upstream_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::mutex mtx_;
  std::deque<cut> plan_;
  std::string hold_;
  bool held_ = false;
  bool released_ = false;
  std::condition_variable changed_;
  std::atomic<int> cuts_{0};
  std::thread acceptor_;
  std::list<conn> conns_; // only the acceptor adds, before the destructor
};

/// Waits until every thread of process `pid` is stopped: `kill(SIGSTOP)`
/// returns before they are, and a thread still running could answer.
bool all_threads_stopped(pid_t pid) {
  namespace fs = std::filesystem;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (std::chrono::steady_clock::now() < deadline) {
    // Never throws: the caller must send SIGCONT whatever happens here.
    std::error_code ec;
    fs::directory_iterator tasks{"/proc/" + std::to_string(pid) + "/task", ec};
    if (ec)
      return false;
    bool all = true;
    for (; tasks != fs::directory_iterator{}; tasks.increment(ec)) {
      auto& task = *tasks;
      std::ifstream in{task.path() / "stat"};
      std::string stat{std::istreambuf_iterator<char>{in}, {}};
      auto end_of_name = stat.rfind(')');
      if (end_of_name == std::string::npos || end_of_name + 2 >= stat.size()
          || (stat[end_of_name + 2] != 'T' && stat[end_of_name + 2] != 't'))
        all = false;
    }
    if (all)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return false;
}

struct fixture : test::test_store {
  log_ref topic{"test.topic." + std::to_string(now_ms()), "cluster-a"};

  fixture() : test_store("exactly once", 100) {
    // Nothing else.
  }

  issuance_event event(uint32_t seq, user_id_t user) {
    return issuance_event{make_issuance_id(c.id, seq), c.id, user,
                          now_ms()};
  }

  size_t rows() {
    auto r = store->load_issuances(c.id);
    CAF_REQUIRE(r);
    return r->size();
  }

  int64_t remaining() {
    auto v = store->remaining_quantity(c.id);
    CAF_REQUIRE(v);
    return *v;
  }

  /// How many coupons from the fixture's on have this name.
  long coupons_named(const std::string& name) {
    auto all = store->load_coupons(c.id);
    CAF_REQUIRE(all);
    return std::count_if(all->begin(), all->end(),
                         [&](auto& x) { return x.name == name; });
  }

  /// A second connection, made through `relay`.
  std::unique_ptr<mysql_store> through(const commit_cutter& relay) {
    auto settings = test::test_mysql();
    settings.host = "127.0.0.1";
    settings.port = relay.port();
    auto opened = mysql_store::open(settings);
    CAF_REQUIRE(opened);
    return std::move(*opened);
  }

  int64_t offset(int32_t partition) {
    auto offsets = store->load_offsets(topic);
    CAF_REQUIRE(offsets);
    for (auto& o : *offsets)
      if (o.partition == partition)
        return o.next_offset;
    return -1;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(mysql_store_tests, fixture)

CAF_TEST(batch_lowers_stock_by_rows_inserted) {
  std::vector<issuance_event> batch{event(1, 11), event(2, 12), event(3, 13)};
  auto n = store->write_batch(topic, batch, {{0, 3}});
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 3u);
  CAF_CHECK_EQUAL(rows(), 3u);
  CAF_CHECK_EQUAL(remaining(), 97);
  CAF_CHECK_EQUAL(offset(0), 3);
}

CAF_TEST(replayed_batch_after_commit_changes_nothing) {
  // A writer that crashed right after its commit, and somehow read the same
  // records again, replays the batch: nothing may change.
  std::vector<issuance_event> batch{event(1, 21), event(2, 22)};
  CAF_REQUIRE(store->write_batch(topic, batch, {{1, 2}}));
  auto again = store->write_batch(topic, batch, {{1, 2}});
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(*again, 0u);
  CAF_CHECK_EQUAL(rows(), 2u);
  CAF_CHECK_EQUAL(remaining(), 98);
  CAF_CHECK_EQUAL(offset(1), 2);
}

CAF_TEST(overlapping_batch_counts_only_new_rows) {
  CAF_REQUIRE(store->write_batch(topic, {event(1, 31), event(2, 32)}, {{2, 2}}));
  // The old tail plus new records, and a republished event twice.
  auto n = store->write_batch(
    topic, {event(2, 32), event(3, 33), event(4, 34), event(4, 34)}, {{2, 5}});
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 2u);
  CAF_CHECK_EQUAL(rows(), 4u);
  CAF_CHECK_EQUAL(remaining(), 96);
  CAF_CHECK_EQUAL(offset(2), 5);
}

CAF_TEST(second_issuance_for_same_user_is_not_a_row) {
  CAF_REQUIRE(store->write_batch(topic, {event(1, 41)}, {{3, 1}}));
  // The same (user, coupon) under another issuance id must never land.
  auto n = store->write_batch(topic, {event(2, 41)}, {{3, 2}});
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 0u);
  CAF_CHECK_EQUAL(rows(), 1u);
  CAF_CHECK_EQUAL(remaining(), 99);
}

CAF_TEST(failed_batch_leaves_nothing_behind) {
  // The offsets statement is the last of the batch; a topic name longer than
  // its column makes it fail after the rows and the stock were written.
  log_ref long_topic{std::string(300, 't'), "cluster-a"};
  auto n = store->write_batch(long_topic, {event(1, 51), event(2, 52)},
                              {{4, 2}});
  CAF_REQUIRE(!n);
  // Rolled back on a live connection: a definite failure.
  CAF_CHECK_EQUAL(n.error(), ec::storage_failure);
  CAF_CHECK_EQUAL(rows(), 0u);
  CAF_CHECK_EQUAL(remaining(), 100);
  // The store is usable afterwards.
  CAF_CHECK(store->write_batch(topic, {event(2, 52)}, {{4, 1}}));
  CAF_CHECK_EQUAL(rows(), 1u);
  CAF_CHECK_EQUAL(offset(4), 1);
}

CAF_TEST(offsets_of_another_log_are_not_offsets_of_this_one) {
  CAF_REQUIRE(store->write_batch(topic, {event(1, 61)}, {{5, 40}}));
  CAF_CHECK_EQUAL(offset(5), 40);
  // The broker restarted empty: same topic, new cluster id.
  auto old = topic;
  topic.log_id = "cluster-b";
  CAF_CHECK_EQUAL(offset(5), -1);
  CAF_REQUIRE(store->write_batch(topic, {event(2, 62)}, {{5, 1}}));
  CAF_CHECK_EQUAL(offset(5), 1);
  topic = old;
  CAF_CHECK_EQUAL(offset(5), -1);
}

CAF_TEST(a_server_that_stops_answering_fails_the_call_within_its_timeout) {
  auto settings = test::test_mysql();
  settings.io_timeout_s = 2;
  auto opened = mysql_store::open(settings);
  CAF_REQUIRE(opened);
  auto& stalled = **opened;
  CAF_REQUIRE(stalled.remaining_quantity(c.id));
  pid_t mariadbd = 0;
  std::ifstream{test::env_or("DIBS_RUN_DIR", ".run/test")
                + "/mysql/mysqld.pid"}
    >> mariadbd;
  CAF_REQUIRE_GREATER(mariadbd, 0);
  // The server stops answering (SIGSTOP). Whatever happens here, it runs
  // again after 15 s: a call with no timeout returns then, and succeeds.
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  CAF_REQUIRE_EQUAL(::kill(mariadbd, SIGSTOP), 0);
  std::thread resume{[&] {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_for(guard, std::chrono::seconds{15}, [&] { return done; });
    ::kill(mariadbd, SIGCONT);
  }};
  CAF_CHECK(all_threads_stopped(mariadbd));
  auto start = std::chrono::steady_clock::now();
  auto during = stalled.remaining_quantity(c.id);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  {
    std::lock_guard<std::mutex> guard{mtx};
    done = true;
  }
  cv.notify_one();
  resume.join();
  CAF_MESSAGE("the call returned after " << took << " ms");
  // It failed, within its timeouts (a read, then the reconnect's), well
  // before the server ran again.
  CAF_CHECK(!during);
  CAF_CHECK_LESS(took, 12'000);
  // The connection is made again once the server answers.
  CAF_CHECK(stalled.remaining_quantity(c.id));
}

CAF_TEST(a_commit_the_server_never_got_is_not_taken_for_done) {
  commit_cutter relay{test::test_mysql().port};
  auto cut = through(relay);
  relay.arm(commit_cutter::cut::before_server);
  auto n = cut->write_batch(topic, {event(1, 71), event(2, 72)},
                                  {{5, 2}});
  CAF_CHECK_EQUAL(relay.cuts(), 1);
  // The connection was lost with the COMMIT, which the server rolled back:
  // the call made the connection again and wrote the batch anew.
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 2u);
  CAF_CHECK_EQUAL(rows(), 2u);
  CAF_CHECK_EQUAL(remaining(), 98);
  CAF_CHECK_EQUAL(offset(5), 2);
}

CAF_TEST(a_commit_whose_answer_was_lost_is_not_made_twice) {
  commit_cutter relay{test::test_mysql().port};
  auto cut = through(relay);
  relay.arm(commit_cutter::cut::after_server);
  auto n = cut->write_batch(topic, {event(1, 81), event(2, 82)},
                                  {{6, 2}});
  CAF_CHECK_EQUAL(relay.cuts(), 1);
  // The server committed; the call, not knowing, wrote the batch again and
  // found every row there already.
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 0u);
  CAF_CHECK_EQUAL(rows(), 2u);
  CAF_CHECK_EQUAL(remaining(), 98);
  CAF_CHECK_EQUAL(offset(6), 2);
}

CAF_TEST(a_claim_whose_answer_was_lost_raises_the_epoch_once) {
  auto first = store->claim_shard(topic, 7, "node-a");
  CAF_REQUIRE(first);
  commit_cutter relay{test::test_mysql().port};
  auto cut = through(relay);
  relay.arm(commit_cutter::cut::after_server);
  auto second = cut->claim_shard(topic, 7, "node-b");
  CAF_CHECK_EQUAL(relay.cuts(), 1);
  // Run again after its committed first run, the claim keeps its epoch.
  CAF_REQUIRE(second);
  CAF_CHECK_EQUAL(*second, *first + 1);
  auto third = store->claim_shard(topic, 7, "node-a");
  CAF_REQUIRE(third);
  CAF_CHECK_EQUAL(*third, *second + 1);
}

CAF_TEST(a_failed_claim_retried_with_its_token_raises_the_epoch_once) {
  auto first = store->claim_shard(topic, 8, "node-a");
  CAF_REQUIRE(first);
  commit_cutter relay{test::test_mysql().port};
  auto cut = through(relay);
  // The first run commits, its answer lost; the run again is cut before
  // its COMMIT: the call fails, its claim made.
  relay.arm(commit_cutter::cut::after_server);
  relay.arm(commit_cutter::cut::before_server);
  auto token = mysql_store::new_token();
  auto failed = cut->claim_shard(topic, 8, "node-b", token);
  CAF_CHECK_EQUAL(relay.cuts(), 2);
  CAF_CHECK(!failed);
  // The node's retry carries the same token (node::fence_shard).
  auto retried = cut->claim_shard(topic, 8, "node-b", token);
  CAF_REQUIRE(retried);
  CAF_CHECK_EQUAL(*retried, *first + 1);
  // A claim of its own raises it.
  auto next = cut->claim_shard(topic, 8, "node-b");
  CAF_REQUIRE(next);
  CAF_CHECK_EQUAL(*next, *first + 2);
}

CAF_TEST(a_coupon_claim_whose_answer_was_lost_raises_the_epoch_once) {
  auto first = store->claim_epoch(c.id);
  CAF_REQUIRE(first);
  commit_cutter relay{test::test_mysql().port};
  auto cut = through(relay);
  relay.arm(commit_cutter::cut::after_server);
  auto second = cut->claim_epoch(c.id);
  CAF_CHECK_EQUAL(relay.cuts(), 1);
  CAF_REQUIRE(second);
  CAF_CHECK_EQUAL(*second, *first + 1);
  // So for the claim of many coupons at once.
  relay.arm(commit_cutter::cut::after_server);
  auto third = cut->claim_epochs(std::vector<coupon_id_t>{c.id});
  CAF_CHECK_EQUAL(relay.cuts(), 2);
  CAF_REQUIRE(third);
  CAF_CHECK_EQUAL(third->at(c.id), *second + 1);
  // And for the claim of every coupon, at a node's start.
  relay.arm(commit_cutter::cut::after_server);
  auto fourth = cut->claim_epochs();
  CAF_CHECK_EQUAL(relay.cuts(), 3);
  CAF_REQUIRE(fourth);
  CAF_CHECK_EQUAL(fourth->at(c.id), third->at(c.id) + 1);
}

CAF_TEST(a_coupon_creation_whose_answer_was_lost_makes_one_coupon) {
  commit_cutter relay{test::test_mysql().port};
  auto cut = through(relay);
  relay.arm(commit_cutter::cut::after_server);
  coupon spec;
  spec.name = "made once " + topic.topic;
  spec.discount = 10;
  spec.total_quantity = 5;
  auto made = cut->create_coupon(spec, "lost-answer-" + topic.topic);
  CAF_CHECK_EQUAL(relay.cuts(), 1);
  CAF_REQUIRE(made);
  // Its own run again, not an earlier request's: the node serves it.
  CAF_CHECK(made->fresh);
  CAF_CHECK_EQUAL(coupons_named(spec.name), 1);
  auto stock = store->remaining_quantity(made->info.id);
  CAF_REQUIRE(stock);
  CAF_CHECK_EQUAL(*stock, 5);
}

CAF_TEST(a_creation_with_a_used_idempotency_key_gets_the_coupon_made_then) {
  coupon spec;
  spec.name = "keyed " + topic.topic;
  spec.discount = 10;
  spec.total_quantity = 7;
  spec.opens_at = 1'700'000'000'123;
  spec.closes_at = 1'900'000'000'456;
  auto key = "key-" + topic.topic;
  auto first = store->create_coupon(spec, key);
  CAF_REQUIRE(first);
  CAF_CHECK(first->fresh);
  auto again = store->create_coupon(spec, key);
  CAF_REQUIRE(again);
  CAF_CHECK(!again->fresh);
  CAF_CHECK_EQUAL(again->info.id, first->info.id);
  CAF_CHECK_EQUAL(again->info.created_at, first->info.created_at);
  CAF_CHECK_EQUAL(coupons_named(spec.name), 1);
  // Keys are compared byte for byte; no key makes a coupon each time.
  auto upper = store->create_coupon(spec, "KEY-" + topic.topic);
  CAF_REQUIRE(upper);
  CAF_CHECK(upper->fresh);
  // The repeat used up no id.
  CAF_CHECK_EQUAL(upper->info.id, first->info.id + 1);
  auto unkeyed = store->create_coupon(spec);
  CAF_REQUIRE(unkeyed);
  CAF_CHECK(unkeyed->fresh);
  auto unkeyed_again = store->create_coupon(spec);
  CAF_REQUIRE(unkeyed_again);
  CAF_CHECK(unkeyed_again->fresh);
  CAF_CHECK_EQUAL(coupons_named(spec.name), 4);
  // The key with another coupon: refused, nothing made.
  for (auto change : {+[](coupon& x) { x.total_quantity += 1; },
                      +[](coupon& x) { x.name += "!"; },
                      +[](coupon& x) { x.discount += 1; },
                      +[](coupon& x) { x.opens_at += 1; },
                      +[](coupon& x) { x.closes_at = 0; }}) {
    auto other = spec;
    change(other);
    auto refused = store->create_coupon(other, key);
    CAF_REQUIRE(!refused);
    CAF_CHECK_EQUAL(refused.error(), ec::idempotency_key_reused);
  }
  CAF_CHECK_EQUAL(coupons_named(spec.name), 4);
  CAF_CHECK_EQUAL(coupons_named(spec.name + "!"), 0);
}

CAF_TEST(a_session_reads_repeatably_whatever_the_servers_default) {
  // A server set to READ COMMITTED (as many are): write_batch's count of
  // the rows it added needs its transaction's snapshot. A new connection
  // and one made again after the server dropped it.
  auto as_root = [](const std::string& statement) {
    auto socket = test::env_or("DIBS_RUN_DIR", ".run/test")
                  + "/mysql/mysqld.sock";
    return std::system(("mariadb --socket=" + socket + " -uroot -e \""
                        + statement + "\"")
                         .c_str());
  };
  CAF_REQUIRE_EQUAL(
    as_root("SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED"), 0);
  auto opened = mysql_store::open(test::test_mysql());
  caf::expected<std::vector<std::vector<std::string>>> first{caf::none},
    again{caf::none};
  if (opened) {
    first = (*opened)->query("SELECT @@tx_isolation, CONNECTION_ID()");
    if (first && !first->empty())
      as_root("KILL " + first->front().back());
    again = (*opened)->query("SELECT @@tx_isolation, CONNECTION_ID()");
  }
  CAF_REQUIRE_EQUAL(
    as_root("SET GLOBAL TRANSACTION ISOLATION LEVEL REPEATABLE READ"), 0);
  CAF_REQUIRE(opened);
  CAF_REQUIRE(first && first->size() == 1);
  CAF_CHECK_EQUAL(first->front().front(), "REPEATABLE-READ");
  CAF_REQUIRE(again && again->size() == 1);
  CAF_CHECK_NOT_EQUAL(again->front().back(), first->front().back());
  CAF_CHECK_EQUAL(again->front().front(), "REPEATABLE-READ");
}

CAF_TEST(a_creation_whose_key_another_call_commits_meanwhile_gets_its_coupon) {
  // The call looks its key up, then another call makes the coupon with the
  // key and commits, then the first call inserts: its insert finds the
  // other's row, which its lookup's snapshot does not hold.
  commit_cutter relay{test::test_mysql().port};
  auto cut = through(relay);
  relay.hold("INSERT INTO coupons");
  coupon spec;
  spec.name = "raced " + topic.topic;
  spec.discount = 10;
  spec.total_quantity = 4;
  auto key = "raced-" + topic.topic;
  caf::expected<created_coupon> late{caf::none};
  std::thread first_call{[&] { late = cut->create_coupon(spec, key); }};
  bool held = relay.wait_held(std::chrono::seconds{10});
  auto other = held ? store->create_coupon(spec, key)
                    : caf::expected<created_coupon>{caf::none};
  relay.release();
  first_call.join();
  CAF_REQUIRE(held);
  CAF_REQUIRE(other);
  CAF_CHECK(other->fresh);
  CAF_REQUIRE(late);
  CAF_CHECK(!late->fresh);
  CAF_CHECK_EQUAL(late->info.id, other->info.id);
  CAF_CHECK_EQUAL(coupons_named(spec.name), 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
