#define CAF_SUITE persistence.records

#include "persistence/records.hpp"
#include "seeded_edits.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/test/unit_test.hpp>
#include <nlohmann/json.hpp>

using namespace dibs;

namespace {

issuance_event sample_event(std::string request_id = {}) {
  return {make_issuance_id(7, 3), 7, 42, 1795348800000, std::move(request_id)};
}

std::optional<issuance_event> decode(const std::string& text) {
  return decode_issuance(text.data(), text.size());
}

/// Both the decision and the request id are the same.
bool same(const issuance_event& a, const issuance_event& b) {
  return a == b && a.request_id == b.request_id;
}

/// `sample_event()` encoded, then `field` replaced by `value` (or removed
/// when `value` is empty).
std::string with_field(const std::string& field, const std::string& value) {
  auto j = nlohmann::json::parse(encode(sample_event("r-1")));
  if (value.empty())
    j.erase(field);
  else
    j[field] = nlohmann::json::parse(value);
  return j.dump();
}

} // namespace

// -- issuance ids ------------------------------------------------------------

CAF_TEST(an_issuance_id_packs_the_coupon_above_the_sequence) {
  auto last_seq = std::numeric_limits<uint32_t>::max();
  auto id = make_issuance_id(max_coupon_id, last_seq);
  CAF_CHECK_EQUAL(id >> 32, max_coupon_id);
  CAF_CHECK_EQUAL(issuance_seq(id), last_seq);
  CAF_CHECK_EQUAL(issuance_seq(make_issuance_id(5, 9)), 9u);
  // The largest issuance id is still exact as a JSON number (2^53).
  CAF_CHECK_LESS_OR_EQUAL(id, max_user_id);
}

// -- request ids -------------------------------------------------------------

CAF_TEST(a_request_id_is_1_to_64_safe_characters) {
  CAF_CHECK(is_request_id("a"));
  CAF_CHECK(is_request_id("Req-1.2_3"));
  CAF_CHECK(is_request_id(std::string(64, 'x')));
  CAF_CHECK(!is_request_id(""));
  CAF_CHECK(!is_request_id(std::string(65, 'x')));
  for (auto text : {"a b", "a\"b", "a'b", "a\\b", "a/b", "a;b", "a\nb",
                    "\xc3\xa9", "a,b", "a{b"})
    CAF_CHECK(!is_request_id(text));
}

// -- Kafka records -----------------------------------------------------------

CAF_TEST(encode_writes_the_fields_of_the_record) {
  auto e = sample_event();
  auto j = nlohmann::json::parse(encode(e));
  CAF_CHECK_EQUAL(j.size(), 4u);
  CAF_CHECK_EQUAL(j.at("issuanceId").get<uint64_t>(), e.issuance_id);
  CAF_CHECK_EQUAL(j.at("couponId").get<uint64_t>(), e.coupon_id);
  CAF_CHECK_EQUAL(j.at("userId").get<uint64_t>(), e.user_id);
  CAF_CHECK_EQUAL(j.at("issuedAt").get<int64_t>(), e.issued_at);
  auto with_id = nlohmann::json::parse(encode(sample_event("r-1")));
  CAF_CHECK_EQUAL(with_id.size(), 5u);
  CAF_CHECK_EQUAL(with_id.at("requestId").get<std::string>(), "r-1");
}

CAF_TEST(records_decode_to_what_was_encoded) {
  auto largest = issuance_event{make_issuance_id(max_coupon_id, UINT32_MAX),
                                max_coupon_id, max_user_id,
                                std::numeric_limits<int64_t>::max(),
                                std::string(64, 'z')};
  for (auto& e : {sample_event(), sample_event("r-1"), issuance_event{},
                  largest}) {
    auto text = encode(e);
    CAF_MESSAGE(text);
    auto back = decode(text);
    CAF_REQUIRE(back);
    CAF_CHECK(same(*back, e));
  }
}

CAF_TEST(unknown_fields_are_ignored) {
  auto back = decode(with_field("later", "{\"x\":[1,2]}"));
  CAF_REQUIRE(back);
  CAF_CHECK(same(*back, sample_event("r-1")));
}

CAF_TEST(what_is_not_a_json_object_is_not_an_event) {
  for (std::string text : {"", "{", "[]", "1", "null", "\"x\"",
                           "{\"issuanceId\":1", "\xff"})
    CAF_CHECK(!decode(text));
}

CAF_TEST(a_record_without_any_of_the_four_numbers_is_not_an_event) {
  for (auto field : {"issuanceId", "couponId", "userId", "issuedAt"}) {
    CAF_MESSAGE(field);
    CAF_REQUIRE(decode(with_field(field, "1")));
    CAF_CHECK(!decode(with_field(field, "")));
    for (auto value : {"-1", "1.5", "\"1\"", "null", "true", "[1]"})
      CAF_CHECK(!decode(with_field(field, value)));
  }
}

CAF_TEST(a_malformed_request_id_is_dropped_and_the_event_kept) {
  for (auto value : {"\"\"", "\"a b\"", "\"a\\\"b\"", "1", "null",
                     "[\"a\"]"}) {
    CAF_MESSAGE(value);
    auto back = decode(with_field("requestId", value));
    CAF_REQUIRE(back);
    CAF_CHECK(same(*back, sample_event()));
  }
  auto too_long = decode(with_field("requestId",
                                    '"' + std::string(65, 'x') + '"'));
  CAF_REQUIRE(too_long);
  CAF_CHECK_EQUAL(too_long->request_id, "");
}

CAF_TEST(events_equal_whatever_their_request_ids) {
  CAF_CHECK(sample_event("a") == sample_event("b"));
  auto other = sample_event();
  other.issued_at += 1;
  CAF_CHECK(!(other == sample_event()));
}

// -- time --------------------------------------------------------------------

// Instants below: `date -u -d 2026-11-22T12:00:00Z +%s` and the like, times
// 1000.
constexpr epoch_ms nov_22_2026_noon = 1795348800000;
constexpr epoch_ms leap_day_2000_last_ms = 951868799999;

CAF_TEST(format_time_writes_iso_8601_utc_with_milliseconds) {
  CAF_CHECK_EQUAL(format_time(0), "1970-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_time(nov_22_2026_noon), "2026-11-22T12:00:00.000Z");
  CAF_CHECK_EQUAL(format_time(leap_day_2000_last_ms),
                  "2000-02-29T23:59:59.999Z");
  CAF_CHECK_EQUAL(format_time(nov_22_2026_noon + 7),
                  "2026-11-22T12:00:00.007Z");
}

CAF_TEST(parse_time_reads_what_format_time_writes) {
  for (auto t : {epoch_ms{0}, nov_22_2026_noon, leap_day_2000_last_ms,
                 nov_22_2026_noon + 7}) {
    auto back = parse_time(format_time(t));
    CAF_REQUIRE(back);
    CAF_CHECK_EQUAL(*back, t);
  }
}

CAF_TEST(parse_time_takes_no_fraction_or_one_to_three_digits) {
  auto at = [](const std::string& text) {
    return parse_time(text).value_or(-1);
  };
  CAF_CHECK_EQUAL(at("2026-11-22T12:00:00Z"), nov_22_2026_noon);
  CAF_CHECK_EQUAL(at("2026-11-22T12:00:00.5Z"), nov_22_2026_noon + 500);
  CAF_CHECK_EQUAL(at("2026-11-22T12:00:00.05Z"), nov_22_2026_noon + 50);
  CAF_CHECK_EQUAL(at("2026-11-22T12:00:00.005Z"), nov_22_2026_noon + 5);
}

CAF_TEST(parse_time_refuses_what_is_not_iso_8601_utc) {
  for (auto text : {"", "2026-11-22", "2026-11-22T12:00:00",
                    "2026-11-22T12:00:00+00:00", "2026-11-22T12:00:00z",
                    "2026-11-22 12:00:00Z", "2026-11-22T12:00:00.Z",
                    "2026-11-22T12:00:00.0005Z", "2026-11-22T12:00:00ZZ",
                    "2026-11-22T12:00Z", "26-11-22T12:00:00Z",
                    "2026-11-2T12:00:00Z", "x026-11-22T12:00:00Z"}) {
    CAF_MESSAGE(text);
    CAF_CHECK(!parse_time(text));
  }
}

CAF_TEST(parse_time_refuses_fields_out_of_range) {
  for (auto text : {"2026-00-22T12:00:00Z", "2026-13-22T12:00:00Z",
                    "2026-11-00T12:00:00Z", "2026-11-32T12:00:00Z",
                    "2026-11-22T24:00:00Z", "2026-11-22T12:60:00Z",
                    "2026-11-22T12:00:61Z", "1969-12-31T23:59:59Z"}) {
    CAF_MESSAGE(text);
    CAF_CHECK(!parse_time(text));
  }
}

CAF_TEST(a_shard_epoch_is_written_and_read_back) {
  auto e = sample_event("r-1");
  CAF_CHECK(encode(e).find("epoch") == std::string::npos);
  e.shard_epoch = 7;
  auto back = decode(encode(e));
  CAF_REQUIRE(back);
  CAF_CHECK(same(*back, e));
  CAF_CHECK_EQUAL(back->shard_epoch, 7u);
  // Records written before shards had epochs read as epoch 0.
  back = decode(with_field("epoch", ""));
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->shard_epoch, 0u);
  CAF_CHECK_EQUAL(decode(with_field("epoch", "-1"))->shard_epoch, 0u);
}

CAF_TEST(a_fence_record_is_a_fence_and_not_an_event) {
  auto text = encode_fence(12, "n2");
  auto epoch = decode_fence(text.data(), text.size());
  CAF_REQUIRE(epoch);
  CAF_CHECK_EQUAL(*epoch, 12u);
  CAF_CHECK(!decode(text));
  auto event = encode(sample_event());
  CAF_CHECK(!decode_fence(event.data(), event.size()));
  std::string bad = R"({"fence":-3})";
  CAF_CHECK(!decode_fence(bad.data(), bad.size()));
}

CAF_TEST(a_probe_record_is_neither_events_nor_a_fence) {
  auto text = encode_probe("resolver");
  CAF_CHECK(is_probe(text.data(), text.size()));
  CAF_CHECK(decode_issuances(text.data(), text.size()).empty());
  CAF_CHECK(!decode_fence(text.data(), text.size()));
  auto fence = encode_fence(3, "n");
  CAF_CHECK(!is_probe(fence.data(), fence.size()));
}

CAF_TEST(a_fence_voids_older_epochs_after_it_in_its_partition_only) {
  fence_filter f;
  CAF_CHECK(!f.voids(0, 10, 0));
  CAF_CHECK(f.add({0, 100, 3}));
  CAF_CHECK(!f.add({0, 100, 3}));
  // Before the fence everything counts, whatever its epoch.
  CAF_CHECK(!f.voids(0, 99, 1));
  CAF_CHECK(!f.voids(0, 100, 1));
  // After it, older epochs do not; the fence's own and newer ones do.
  CAF_CHECK(f.voids(0, 101, 2));
  CAF_CHECK(f.voids(0, 5000, 0));
  CAF_CHECK(!f.voids(0, 101, 3));
  CAF_CHECK(!f.voids(0, 101, 4));
  // Other partitions are not fenced by it.
  CAF_CHECK(!f.voids(1, 101, 2));
  // A later fence raises the bar from its own offset on.
  CAF_CHECK(f.add({0, 200, 5}));
  CAF_CHECK(!f.voids(0, 150, 3));
  CAF_CHECK(f.voids(0, 201, 4));
  // Known in any order, the same answers.
  fence_filter g;
  g.add({0, 200, 5});
  g.add({0, 100, 3});
  CAF_CHECK(g.fences() == f.fences());
  CAF_CHECK(g.voids(0, 150, 2) && !g.voids(0, 150, 3) && g.voids(0, 201, 4));
}

CAF_TEST(decode_issuance_answers_as_the_json_parser_does) {
  // Seeded mutations of records of the shape `encode` writes: each answer,
  // read plainly or not, is the parser's.
  std::mt19937_64 rng{20261206};
  const std::string alphabet = "{}\":,.- \\0123456789eEissuanceIdrequestIdx";
  auto pick = [&](size_t n) {
    return static_cast<size_t>(rng() % std::max<size_t>(n, 1));
  };
  auto render = [](const std::optional<issuance_event>& e) {
    if (!e)
      return std::string{"none"};
    return std::to_string(e->issuance_id) + "/" + std::to_string(e->coupon_id)
           + "/" + std::to_string(e->user_id) + "/"
           + std::to_string(e->issued_at) + "/" + e->request_id + "/"
           + std::to_string(e->shard_epoch);
  };
  size_t plain = 0, decoded = 0, refused = 0;
  for (int n = 0; n < 20000; ++n) {
    issuance_event e{rng(), static_cast<coupon_id_t>(rng() % max_coupon_id),
                     rng() % max_user_id,
                     static_cast<epoch_ms>(rng() % 4'000'000'000'000)};
    if (pick(2))
      e.request_id = "r-" + std::to_string(rng() % 100000);
    if (pick(2))
      e.shard_epoch = rng() % 1000;
    auto text = encode(e);
    test::edit_randomly(text, alphabet, rng);
    auto answer = render(decode_issuance(text.data(), text.size()));
    auto expected = render(decode_issuance_json(text.data(), text.size()));
    if (answer != expected)
      CAF_FAIL(text << ": " << answer << ", the parser: " << expected);
    plain += read_plain_issuance(text).has_value();
    decoded += answer != "none";
    refused += answer == "none";
  }
  CAF_MESSAGE(decoded << " records decoded (" << plain << " plainly), "
                      << refused << " refused");
  CAF_CHECK_GREATER(plain, 1000u);
  CAF_CHECK_GREATER(decoded, 1000u);
  CAF_CHECK_GREATER(refused, 1000u);
}

namespace {

std::vector<issuance_event> decode_all(const std::string& text) {
  return decode_issuances(text.data(), text.size());
}

/// The same events, request ids and shard epochs, in the same order.
bool same_all(const std::vector<issuance_event>& a,
              const std::vector<issuance_event>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const issuance_event& x, const issuance_event& y) {
                      return same(x, y) && x.shard_epoch == y.shard_epoch;
                    });
}

} // namespace

CAF_TEST(a_batch_of_one_event_is_that_events_record) {
  auto e = sample_event("r-1");
  CAF_CHECK_EQUAL(encode_batch({e}), encode(e));
  CAF_CHECK(same_all(decode_all(encode(e)), {e}));
}

CAF_TEST(a_batch_decodes_to_its_events_in_order) {
  auto a = sample_event("r-1");
  auto b = sample_event();
  b.issuance_id = make_issuance_id(7, 4);
  b.user_id = 43;
  b.shard_epoch = 5;
  auto c = sample_event("r-3");
  c.issuance_id = make_issuance_id(9, 1);
  c.coupon_id = 9;
  auto text = encode_batch({a, b, c});
  CAF_CHECK_EQUAL(text, "[" + encode(a) + "," + encode(b) + "," + encode(c)
                          + "]");
  CAF_CHECK(same_all(decode_all(text), {a, b, c}));
  // The same array as any JSON writer may put it.
  auto spaced = nlohmann::json::parse(text).dump(2);
  CAF_CHECK(same_all(decode_all(spaced), {a, b, c}));
  CAF_CHECK(same_all(decode_all(" \n" + text), {a, b, c}));
}

CAF_TEST(a_record_with_anything_but_events_in_it_carries_none) {
  auto e = encode(sample_event());
  for (auto text : {"[" + e + "," + encode_fence(3, "n") + "]",
                    "[" + e + ",1]", "[" + e + "]x", "[" + e + ",]",
                    std::string{"[]"}, encode_fence(3, "n"),
                    std::string{"[{}]"}, std::string{"garbage"},
                    std::string{}})
    if (!decode_all(text).empty())
      CAF_FAIL("events read from " << text);
}

CAF_TEST(decode_issuances_answers_as_the_json_parser_does) {
  // Seeded mutations of batches of the shape `encode_batch` writes: each
  // answer, read plainly or not, is what the parser makes of the array.
  std::mt19937_64 rng{20261207};
  const std::string alphabet = "[]{}\":,.- 0123456789issuanceIdrequestId";
  // An element of the array as the parser read it (not dumped again: the
  // parser reads -0 as a signed number, and writes it back as 0).
  auto event_of = [](const nlohmann::json& x) -> std::optional<issuance_event> {
    auto u = [&](const char* key) -> std::optional<uint64_t> {
      auto i = x.find(key);
      if (i == x.end() || !i->is_number_unsigned())
        return std::nullopt;
      return i->get<uint64_t>();
    };
    if (!x.is_object() || !u("issuanceId") || !u("couponId") || !u("userId")
        || !u("issuedAt"))
      return std::nullopt;
    issuance_event e{*u("issuanceId"), static_cast<coupon_id_t>(*u("couponId")),
                     *u("userId"), static_cast<epoch_ms>(*u("issuedAt"))};
    if (auto r = x.find("requestId"); r != x.end() && r->is_string()
                                      && is_request_id(r->get<std::string>()))
      e.request_id = r->get<std::string>();
    e.shard_epoch = u("epoch").value_or(0);
    return e;
  };
  auto by_parser = [&](const std::string& text) {
    std::vector<issuance_event> result;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object()) {
      if (auto e = event_of(j))
        result.push_back(*e);
      return result;
    }
    if (!j.is_array())
      return result;
    for (auto& x : j) {
      auto e = event_of(x);
      if (!e)
        return std::vector<issuance_event>{};
      result.push_back(*e);
    }
    return result;
  };
  size_t decoded = 0, refused = 0;
  for (int n = 0; n < 20000; ++n) {
    std::vector<issuance_event> events(1 + rng() % 3);
    for (auto& e : events) {
      e = issuance_event{rng() % 1000, 7, rng() % 1000, 1795348800000};
      if (rng() % 2)
        e.request_id = "r-" + std::to_string(rng() % 100);
      if (rng() % 2)
        e.shard_epoch = rng() % 10;
    }
    auto text = encode_batch(events);
    test::edit_randomly(text, alphabet, rng);
    auto answer = decode_all(text);
    if (!same_all(answer, by_parser(text)))
      CAF_FAIL(text << ": " << answer.size() << " events, the parser: "
                    << by_parser(text).size());
    decoded += !answer.empty();
    refused += answer.empty();
  }
  CAF_MESSAGE(decoded << " records decoded, " << refused << " refused");
  CAF_CHECK_GREATER(decoded, 1000u);
  CAF_CHECK_GREATER(refused, 1000u);
}
