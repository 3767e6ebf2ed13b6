#define CAF_SUITE actors.config

#include "actors/config.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/test/unit_test.hpp>

#include <unistd.h>

using namespace dibs;

namespace {

/// Parses `args` into `cfg` as the node's command line.
void parse(config& cfg, std::vector<std::string> args) {
  std::vector<char*> argv{const_cast<char*>("dibs")};
  for (auto& a : args)
    argv.push_back(a.data());
  auto err = cfg.parse(static_cast<int>(argv.size()), argv.data());
  CAF_REQUIRE(!err);
}

/// What `config::check` says of a node started with `args`.
std::string check_of(std::vector<std::string> args) {
  config cfg;
  parse(cfg, std::move(args));
  return cfg.check();
}

/// Every option of options.def as `group.name`.
std::set<std::string> dibs_options() {
  return {
#define DIBS_OPTION(group, member, name, type, value, help) #group "." name,
#include "actors/options.def"
#undef DIBS_OPTION
  };
}

/// The `group.key` names an INI file sets.
std::set<std::string> keys_of(const std::string& path) {
  std::ifstream in{path};
  CAF_REQUIRE(in.good());
  std::set<std::string> keys;
  std::string group, line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == ';')
      continue;
    if (line[0] == '[')
      group = line.substr(1, line.find(']') - 1);
    else if (auto eq = line.find('='); eq != std::string::npos)
      keys.insert(group + "." + line.substr(0, eq));
  }
  return keys;
}

/// The value of each of our options in `cfg`, rendered.
std::map<std::string, std::string> values_of(const config& cfg) {
  auto ours = dibs_options();
  std::map<std::string, std::string> out;
  for (auto& opt : cfg.options())
    if (std::string name{opt.full_name().begin(), opt.full_name().end()};
        ours.count(name) > 0)
      out[name] = caf::deep_to_string(opt.get());
  return out;
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

CAF_TEST(message_timeout_not_above_twice_the_request_timeout_is_refused) {
  // A record gets half the message timeout in librdkafka.
  auto why = check_of({"--kafka.message-timeout-ms=2000",
                       "--kafka.request-timeout-ms=1000",
                       "--kafka.resolve-grace-ms=3000"});
  CAF_CHECK(names(why, "kafka.message-timeout-ms"));
  CAF_CHECK(names(why, "kafka.request-timeout-ms"));
  CAF_CHECK(check_of({"--kafka.message-timeout-ms=2002",
                      "--kafka.request-timeout-ms=1000",
                      "--kafka.resolve-grace-ms=3000"})
              .empty());
  CAF_CHECK(names(check_of({"--kafka.message-timeout-ms=5000",
                            "--kafka.linger-ms=2500.0"}),
                  "kafka.linger-ms"));
}

CAF_TEST(the_sample_configuration_keeps_the_relations) {
  auto why = check_of({"--config-file=" DIBS_SAMPLE_CONFIG});
  CAF_CHECK_EQUAL(why, "");
}

CAF_TEST(a_topic_without_replicas_or_with_too_many_partitions_is_refused) {
  CAF_CHECK(names(check_of({"--kafka.partitions=10001"}), "kafka.partitions"));
  CAF_CHECK(names(check_of({"--kafka.replication-factor=0"}),
                  "kafka.replication-factor"));
  CAF_CHECK_EQUAL(check_of({"--kafka.partitions=12",
                            "--kafka.replication-factor=3"}),
                  "");
}

CAF_TEST(a_fetch_wait_of_none_or_past_the_socket_timeout_is_refused) {
  CAF_CHECK(names(check_of({"--kafka.fetch-wait-max-ms=0"}),
                  "kafka.fetch-wait-max-ms"));
  CAF_CHECK(names(check_of({"--kafka.fetch-wait-max-ms=59001"}),
                  "kafka.fetch-wait-max-ms"));
  CAF_CHECK_EQUAL(check_of({"--kafka.fetch-wait-max-ms=1"}), "");
  CAF_CHECK_EQUAL(check_of({"--kafka.fetch-wait-max-ms=59000"}), "");
}

CAF_TEST(without_a_partition_count_the_topic_has_two_per_member) {
  config alone;
  parse(alone, {});
  CAF_CHECK_EQUAL(alone.topic().partitions, 2);
  auto path = std::filesystem::temp_directory_path()
              / ("dibs-config-three-nodes-" + std::to_string(::getpid())
                 + ".ini");
  std::ofstream{path} << R"([cluster]
nodes=[
  {id="n1", http="127.0.0.1:1", actor="127.0.0.1:2"},
  {id="n2", http="127.0.0.1:3", actor="127.0.0.1:4"},
  {id="n3", http="127.0.0.1:5", actor="127.0.0.1:6"},
]
)";
  config three;
  parse(three, {"--config-file=" + path.string()});
  std::filesystem::remove(path);
  CAF_CHECK_EQUAL(three.topic().partitions, 6);
  CAF_CHECK_EQUAL(three.check(), "");
  config named;
  parse(named, {"--kafka.partitions=4"});
  CAF_CHECK_EQUAL(named.topic().partitions, 4);
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

CAF_TEST(the_sample_configuration_sets_every_option_to_its_default) {
  auto keys = keys_of(DIBS_SAMPLE_CONFIG);
  auto ours = dibs_options();
  std::vector<std::string> missing;
  for (auto& name : ours)
    if (keys.count(name) == 0)
      missing.push_back(name);
  CAF_CHECK_EQUAL(missing, std::vector<std::string>{});
  // CAF's own groups (scheduler, middleman, ...) are CAF's to check.
  std::set<std::string> groups;
  for (auto& name : ours)
    groups.insert(name.substr(0, name.find('.')));
  std::vector<std::string> unknown;
  for (auto& key : keys)
    if (groups.count(key.substr(0, key.find('.'))) > 0 && ours.count(key) == 0)
      unknown.push_back(key);
  CAF_CHECK_EQUAL(unknown, std::vector<std::string>{});
  config defaults;
  config sample;
  parse(sample, {"--config-file=" DIBS_SAMPLE_CONFIG});
  auto want = values_of(defaults);
  auto got = values_of(sample);
  CAF_CHECK_EQUAL(want.size(), ours.size());
  std::vector<std::string> differ;
  for (auto& [name, value] : want)
    if (got[name] != value)
      differ.push_back(name + ": " + got[name] + " in the sample, default "
                       + value);
  CAF_CHECK_EQUAL(differ, std::vector<std::string>{});
}

CAF_TEST(the_producer_linger_takes_fractions) {
  config cfg;
  parse(cfg, {"--kafka.linger-ms=0.5"});
  CAF_CHECK_EQUAL(cfg.kafka_base().linger_ms, 0.5);
  CAF_CHECK_EQUAL(cfg.check(), "");
  CAF_CHECK(names(check_of({"--kafka.linger-ms=-1"}), "kafka.linger-ms"));
  CAF_CHECK(names(check_of({"--kafka.linger-ms=900001"}), "kafka.linger-ms"));
}

CAF_TEST(a_fractional_option_in_an_ini_file_takes_effect_or_is_refused) {
  auto path = std::filesystem::temp_directory_path()
              / ("dibs-config-linger-" + std::to_string(::getpid()) + ".ini");
  auto with = [&](const std::string& text) {
    std::ofstream{path} << text;
    auto cfg = std::make_unique<config>();
    parse(*cfg, {"--config-file=" + path.string()});
    return cfg;
  };
  auto fraction = with("[kafka]\nlinger-ms=10.0\n[limits]\nuser-per-s=5.0\n");
  CAF_CHECK_EQUAL(fraction->kafka_base().linger_ms, 10.0);
  CAF_CHECK_EQUAL(fraction->limits_user_per_s, 5.0);
  CAF_CHECK_EQUAL(fraction->check(), "");
  // CAF would keep the defaults (2 and 10) and say nothing: the node
  // refuses to start instead.
  auto whole = with("[kafka]\nlinger-ms=10\n");
  CAF_CHECK(names(whole->check(), "kafka.linger-ms"));
  auto limit = with("[limits]\nuser-per-s=5\n");
  CAF_CHECK(names(limit->check(), "limits.user-per-s"));
  std::filesystem::remove(path);
}
