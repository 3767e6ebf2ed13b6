#define CAF_SUITE actors.config

#include "actors/config.hpp"

#include <string>
#include <vector>

#include <caf/test/unit_test.hpp>

using namespace dibs;

namespace {

/// What `config::check` says of a node started with `args`.
std::string check_of(std::vector<std::string> args) {
  config cfg;
  std::vector<char*> argv{const_cast<char*>("dibs")};
  for (auto& a : args)
    argv.push_back(a.data());
  auto err = cfg.parse(static_cast<int>(argv.size()), argv.data());
  CAF_REQUIRE(!err);
  return cfg.check();
}

bool names(const std::string& text, const std::string& option) {
  return text.find(option) != std::string::npos;
}

} // namespace

CAF_TEST(defaults_keep_the_timing_relations) {
  CAF_CHECK_EQUAL(check_of({}), "");
}

CAF_TEST(resolve_grace_not_above_request_timeout_is_refused) {
  auto why = check_of({"--kafka.resolve-grace-ms=1500",
                       "--kafka.request-timeout-ms=1500"});
  CAF_CHECK(names(why, "kafka.resolve-grace-ms"));
  CAF_CHECK(names(why, "kafka.request-timeout-ms"));
}

CAF_TEST(message_timeout_not_above_request_timeout_is_refused) {
  auto why = check_of({"--kafka.message-timeout-ms=1000",
                       "--kafka.request-timeout-ms=1000",
                       "--kafka.resolve-grace-ms=3000"});
  CAF_CHECK(names(why, "kafka.message-timeout-ms"));
  CAF_CHECK(names(why, "kafka.request-timeout-ms"));
}

CAF_TEST(the_sample_configuration_keeps_the_relations) {
  auto why = check_of({"--config-file=" DIBS_SAMPLE_CONFIG});
  CAF_CHECK_EQUAL(why, "");
}

CAF_TEST(a_topic_without_partitions_or_replicas_is_refused) {
  CAF_CHECK(names(check_of({"--kafka.partitions=0"}), "kafka.partitions"));
  CAF_CHECK(names(check_of({"--kafka.replication-factor=0"}),
                  "kafka.replication-factor"));
  CAF_CHECK_EQUAL(check_of({"--kafka.partitions=12",
                            "--kafka.replication-factor=3"}),
                  "");
}

CAF_TEST(the_topic_spec_comes_from_the_options) {
  config cfg;
  std::vector<std::string> args{"--kafka.partitions=12",
                                "--kafka.replication-factor=3"};
  std::vector<char*> argv{const_cast<char*>("dibs")};
  for (auto& a : args)
    argv.push_back(a.data());
  CAF_REQUIRE(!cfg.parse(static_cast<int>(argv.size()), argv.data()));
  CAF_CHECK_EQUAL(cfg.topic().partitions, 12);
  CAF_CHECK_EQUAL(cfg.topic().replication_factor, 3);
}
