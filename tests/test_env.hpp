#pragma once

// Where the dependencies started by tests/run.sh listen, from the same
// environment variables cluster-config/env.sh reads.

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include <caf/test/unit_test.hpp>

#include "actors/options.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs::test {

inline std::string env_or(const char* name, std::string fallback) {
  auto value = std::getenv(name);
  return value && *value ? value : fallback;
}

inline mysql_settings test_mysql() {
  auto s = option_values{}.mysql();
  s.port = static_cast<uint16_t>(std::stoi(env_or("DIBS_MYSQL_PORT", "13306")));
  return s;
}

/// Kafka settings for a topic of the test's own, so runs never interfere;
/// the topic is created with 4 partitions (the broker creates none by
/// itself).
inline kafka_settings test_kafka(const std::string& topic_prefix) {
  auto s = option_values{}.kafka_base();
  auto run_dir = env_or("DIBS_RUN_DIR", ".run/test");
  std::ifstream in{run_dir + "/kafka.bootstrap"};
  std::getline(in, s.bootstrap_servers);
  std::random_device rd;
  s.topic = topic_prefix + "." + std::to_string(rd());
  s.group_id = s.topic + ".writers";
  auto made = ensure_topic(s, topic_spec{4, 1}, 10'000);
  CAF_REQUIRE(made);
  return s;
}

/// A connection to the test database with the schema in place, and a new
/// coupon of `total` units; fails the test when MariaDB is not there.
struct test_store {
  std::unique_ptr<mysql_store> store;
  coupon c;

  test_store(const std::string& name, uint32_t total) {
    mysql_store::init_driver();
    auto s = mysql_store::open(test_mysql());
    CAF_REQUIRE(s);
    store = std::move(*s);
    CAF_REQUIRE(store->ensure_schema());
    coupon spec;
    spec.name = name;
    spec.discount = 10;
    spec.total_quantity = total;
    auto created = store->create_coupon(spec);
    CAF_REQUIRE(created);
    c = created->info;
  }
};

} // namespace dibs::test
