#define CAF_SUITE cli.histogram

#include "cli/histogram.hpp"

#include <caf/test/unit_test.hpp>

#include <random>

using dibs::load::histogram;

CAF_TEST(an empty histogram reports zeros) {
  histogram h;
  CAF_CHECK_EQUAL(h.count(), 0u);
  CAF_CHECK_EQUAL(h.percentile(99), 0u);
  CAF_CHECK_EQUAL(h.max(), 0u);
  CAF_CHECK_EQUAL(h.min(), 0u);
  CAF_CHECK_EQUAL(h.mean(), 0.0);
}

CAF_TEST(values below 16 ms are exact to the microsecond) {
  for (uint64_t v : {0ull, 1ull, 999ull, 5'000ull, 16'383ull}) {
    auto i = histogram::index_of(v);
    CAF_CHECK_EQUAL(histogram::lowest_of(i), v);
    CAF_CHECK_EQUAL(histogram::highest_of(i), v);
  }
}

CAF_TEST(larger values share buckets narrower than 1 / 8192 of them) {
  std::mt19937_64 rng{42};
  std::uniform_int_distribution<uint64_t> dist(16'384, histogram::highest_trackable);
  for (int n = 0; n < 100'000; ++n) {
    auto v = dist(rng);
    auto i = histogram::index_of(v);
    auto lo = histogram::lowest_of(i);
    auto hi = histogram::highest_of(i);
    CAF_REQUIRE(lo <= v && v <= hi);
    CAF_REQUIRE(static_cast<double>(hi - lo + 1) <= static_cast<double>(v) / 8192.0);
    // Buckets tile the range: the next one starts right after.
    CAF_REQUIRE_EQUAL(histogram::lowest_of(i + 1), hi + 1);
  }
  CAF_CHECK_EQUAL(histogram::index_of(histogram::highest_trackable + 12345),
                  histogram::index_of(histogram::highest_trackable));
}

CAF_TEST(percentiles are ranks) {
  histogram h;
  for (uint64_t v = 1; v <= 1000; ++v)
    h.record(v);
  CAF_CHECK_EQUAL(h.count(), 1000u);
  CAF_CHECK_EQUAL(h.percentile(50), 500u);
  CAF_CHECK_EQUAL(h.percentile(95), 950u);
  CAF_CHECK_EQUAL(h.percentile(99), 990u);
  CAF_CHECK_EQUAL(h.percentile(99.9), 999u);
  CAF_CHECK_EQUAL(h.percentile(100), 1000u);
  CAF_CHECK_EQUAL(h.min(), 1u);
  CAF_CHECK_EQUAL(h.max(), 1000u);
  CAF_CHECK_EQUAL(h.mean(), 500.5);
}

CAF_TEST(one slow request shows in p99 only when it is more than 1 %) {
  histogram h;
  for (int i = 0; i < 99; ++i)
    h.record(1'000);
  h.record(2'000'000);
  CAF_CHECK_EQUAL(h.percentile(99), 1'000u);
  CAF_CHECK_EQUAL(h.max(), 2'000'000u);
  h.record(2'000'000);
  CAF_CHECK_GREATER_OR_EQUAL(h.percentile(99), 2'000'000u - 2'000'000u / 8192);
}

CAF_TEST(the maximum stays exact above the bucket precision) {
  histogram h;
  h.record(123'456'789);
  CAF_CHECK_EQUAL(h.max(), 123'456'789u);
  // The bucket's highest value would exceed it: the percentile is capped.
  CAF_CHECK_EQUAL(h.percentile(100), 123'456'789u);
  CAF_CHECK_EQUAL(h.percentile(50), 123'456'789u);
}

CAF_TEST(merging equals recording everything in one) {
  histogram a, b, all;
  std::mt19937_64 rng{7};
  std::lognormal_distribution<double> dist(7.0, 1.5);
  for (int i = 0; i < 50'000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng));
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  CAF_CHECK_EQUAL(a.count(), all.count());
  CAF_CHECK_EQUAL(a.min(), all.min());
  CAF_CHECK_EQUAL(a.max(), all.max());
  CAF_CHECK_EQUAL(a.mean(), all.mean());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.99})
    CAF_CHECK_EQUAL(a.percentile(p), all.percentile(p));
  histogram empty;
  a.merge(empty);
  CAF_CHECK_EQUAL(a.count(), all.count());
  empty.merge(all);
  CAF_CHECK_EQUAL(empty.min(), all.min());
}

CAF_TEST(percentiles match a sorted list of the values) {
  std::mt19937_64 rng{11};
  std::exponential_distribution<double> dist(1.0 / 3'000);
  histogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 20'000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 95.0, 99.0}) {
    auto rank = static_cast<size_t>(std::ceil(p / 100 * values.size()));
    auto exact = values[rank - 1];
    auto got = h.percentile(p);
    if (exact < 16'384)
      CAF_CHECK_EQUAL(got, exact);
    else
      CAF_CHECK(got >= exact && got - exact <= exact / 8192);
  }
}
