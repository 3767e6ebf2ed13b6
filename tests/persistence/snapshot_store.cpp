#define CAF_SUITE persistence.snapshot_store

#include "persistence/snapshot_store.hpp"

#include <random>

#include <caf/test/unit_test.hpp>

#include "test_env.hpp"

using namespace dibs;

namespace {

struct fixture {
  std::unique_ptr<snapshot_store> store;
  std::unique_ptr<redis_client> raw;
  /// A coupon id of this run's own, so runs never share keys.
  coupon_id_t coupon = 1'000'000 + std::random_device{}() % 1'000'000;

  fixture() {
    auto s = option_values{}.redis();
    s.port = static_cast<uint16_t>(
      std::stoi(test::env_or("DIBS_REDIS_PORT", "16379")));
    auto st = snapshot_store::connect(s);
    CAF_REQUIRE(st);
    store = std::move(*st);
    auto r = redis_client::connect(s);
    CAF_REQUIRE(r);
    raw = std::move(*r);
    CAF_REQUIRE(store->erase(coupon));
  }

  ~fixture() {
    store->erase(coupon);
  }

  issuance_event event(uint32_t seq, user_id_t user) {
    return issuance_event{make_issuance_id(coupon, seq), coupon, user,
                          1'700'000'000'000 + seq};
  }

  std::vector<issuance_event> events(uint32_t first, uint32_t n) {
    std::vector<issuance_event> result;
    for (uint32_t i = first; i < first + n; ++i)
      result.push_back(event(i, 5000 + i));
    return result;
  }

  static snapshot_meta meta_of(uint64_t epoch,
                               const std::vector<issuance_event>& all,
                               uint64_t chunks, int64_t position) {
    snapshot_meta m;
    m.epoch = epoch;
    m.log_id = "cluster-a";
    m.partition = 3;
    m.position = position;
    m.count = all.size();
    for (auto& e : all)
      m.checksum = snapshot_checksum(m.checksum, e);
    m.chunks = chunks;
    return m;
  }

  static snapshot_write ok(caf::expected<snapshot_write> r) {
    CAF_REQUIRE(r);
    return *r;
  }

  loaded_snapshot load() {
    auto l = store->load(coupon);
    CAF_REQUIRE(l);
    return std::move(*l);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(snapshot_store_tests, fixture)

CAF_TEST(checksum_ignores_order) {
  auto a = events(1, 50);
  uint64_t forward = 0;
  uint64_t backward = 0;
  for (auto& e : a)
    forward = snapshot_checksum(forward, e);
  for (auto i = a.rbegin(); i != a.rend(); ++i)
    backward = snapshot_checksum(backward, *i);
  CAF_CHECK_EQUAL(forward, backward);
  auto changed = a;
  changed[7].user_id += 1;
  uint64_t other = 0;
  for (auto& e : changed)
    other = snapshot_checksum(other, e);
  CAF_CHECK_NOT_EQUAL(forward, other);
}

CAF_TEST(absent_snapshot_loads_as_absent) {
  CAF_CHECK(load().fault == snapshot_fault::absent);
}

CAF_TEST(rewrite_then_appends_load_back_whole) {
  auto first = events(1, 100);
  auto m1 = meta_of(4, first, 1, 120);
  CAF_REQUIRE_EQUAL(ok(store->rewrite(coupon, m1, first)), snapshot_write::done);
  auto all = first;
  auto more = events(101, 30);
  all.insert(all.end(), more.begin(), more.end());
  auto m2 = meta_of(4, all, 2, 160);
  CAF_REQUIRE_EQUAL(ok(store->append(coupon, m2, more)), snapshot_write::done);
  auto l = load();
  CAF_REQUIRE(l.fault == snapshot_fault::ok);
  CAF_CHECK_EQUAL(l.snap.meta.epoch, 4u);
  CAF_CHECK_EQUAL(l.snap.meta.log_id, "cluster-a");
  CAF_CHECK_EQUAL(l.snap.meta.partition, 3);
  CAF_CHECK_EQUAL(l.snap.meta.position, 160);
  CAF_CHECK_EQUAL(l.snap.meta.chunks, 2u);
  CAF_CHECK(l.snap.events == all);
}

CAF_TEST(an_empty_append_verifies_the_snapshot) {
  auto first = events(1, 10);
  auto m = meta_of(3, first, 1, 10);
  ok(store->rewrite(coupon, m, first));
  CAF_CHECK_EQUAL(ok(store->append(coupon, m, {})), snapshot_write::done);
  CAF_CHECK_EQUAL(load().snap.meta.chunks, 1u);
  auto older = meta_of(2, first, 1, 10);
  CAF_CHECK_EQUAL(ok(store->append(coupon, older, {})),
                  snapshot_write::fenced);
  // Redis restarted empty.
  store->erase(coupon);
  CAF_CHECK_EQUAL(ok(store->append(coupon, m, {})), snapshot_write::diverged);
}

CAF_TEST(a_retried_append_is_not_applied_twice) {
  auto first = events(1, 10);
  store->rewrite(coupon, meta_of(1, first, 1, 10), first);
  auto more = events(11, 5);
  auto all = first;
  all.insert(all.end(), more.begin(), more.end());
  auto m2 = meta_of(1, all, 2, 15);
  CAF_CHECK_EQUAL(ok(store->append(coupon, m2, more)), snapshot_write::done);
  // The reply was lost; the writer tries again with the same chunk.
  CAF_CHECK_EQUAL(ok(store->append(coupon, m2, more)), snapshot_write::done);
  auto l = load();
  CAF_REQUIRE(l.fault == snapshot_fault::ok);
  CAF_CHECK_EQUAL(l.snap.events.size(), 15u);
}

CAF_TEST(append_to_a_missing_or_foreign_snapshot_diverges) {
  auto first = events(1, 10);
  auto more = events(11, 5);
  auto all = first;
  all.insert(all.end(), more.begin(), more.end());
  // Redis was flushed: nothing to append to.
  CAF_CHECK_EQUAL(ok(store->append(coupon, meta_of(1, all, 2, 15), more)),
                  snapshot_write::diverged);
  // The snapshot has other chunks than the writer believes.
  store->rewrite(coupon, meta_of(1, first, 1, 10), first);
  CAF_CHECK_EQUAL(ok(store->append(coupon, meta_of(1, all, 3, 15), more)),
                  snapshot_write::diverged);
  // An older epoch's snapshot is replaced, not extended.
  store->rewrite(coupon, meta_of(1, first, 1, 10), first);
  CAF_CHECK_EQUAL(ok(store->append(coupon, meta_of(2, all, 2, 15), more)),
                  snapshot_write::diverged);
}

CAF_TEST(a_newer_epoch_fences_older_writers) {
  auto first = events(1, 10);
  CAF_CHECK_EQUAL(ok(store->rewrite(coupon, meta_of(7, first, 1, 10), first)),
                  snapshot_write::done);
  auto more = events(11, 5);
  auto all = first;
  all.insert(all.end(), more.begin(), more.end());
  CAF_CHECK_EQUAL(ok(store->append(coupon, meta_of(6, all, 2, 15), more)),
                  snapshot_write::fenced);
  CAF_CHECK_EQUAL(ok(store->rewrite(coupon, meta_of(6, all, 1, 15), all)),
                  snapshot_write::fenced);
  auto l = load();
  CAF_REQUIRE(l.fault == snapshot_fault::ok);
  CAF_CHECK_EQUAL(l.snap.meta.epoch, 7u);
  CAF_CHECK_EQUAL(l.snap.events.size(), 10u);
}

CAF_TEST(an_error_reply_is_a_failed_call) {
  // The meta key holds a string: HSET answers WRONGTYPE.
  CAF_REQUIRE(raw->command({"SET", snapshot_store::meta_key(coupon), "x"}));
  auto set = store->set_meta(coupon, "epoch", "1");
  CAF_CHECK(!set);
  if (!set)
    CAF_CHECK_EQUAL(set.error(), ec::storage_failure);
  CAF_CHECK(store->erase(coupon));
  CAF_CHECK(store->set_meta(coupon, "epoch", "1"));
}

CAF_TEST(corruption_is_detected) {
  auto first = events(1, 20);
  auto reset = [&] {
    store->rewrite(coupon, meta_of(1, first, 1, 20), first);
    CAF_REQUIRE(load().fault == snapshot_fault::ok);
  };
  auto expect_corrupt = [&](const char* what) {
    auto l = load();
    CAF_MESSAGE(what << ": " << l.reason);
    CAF_CHECK(l.fault == snapshot_fault::corrupt);
    CAF_CHECK(l.snap.events.empty());
  };
  reset();
  store->set_meta(coupon, "checksum", "12345");
  expect_corrupt("bad checksum");
  reset();
  store->set_meta(coupon, "count", "21");
  expect_corrupt("wrong count");
  reset();
  store->set_meta(coupon, "chunks", "2");
  expect_corrupt("missing chunk");
  reset();
  store->set_meta(coupon, "epoch", "x");
  expect_corrupt("malformed epoch");
  reset();
  raw->command({"LSET", snapshot_store::chunks_key(coupon), "0", "garbage"});
  expect_corrupt("malformed chunk");
  reset();
  // One user flipped inside the chunk: count and format still fit.
  auto chunk = raw->command({"LINDEX", snapshot_store::chunks_key(coupon), "0"});
  CAF_REQUIRE(chunk);
  chunk->text[4 + 8] ^= 0x01;
  raw->command({"LSET", snapshot_store::chunks_key(coupon), "0", chunk->text});
  expect_corrupt("flipped bit");
  reset();
  raw->command({"DEL", snapshot_store::meta_key(coupon)});
  expect_corrupt("chunks without meta");
}

CAF_TEST_FIXTURE_SCOPE_END()
