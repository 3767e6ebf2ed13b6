#include "actors/config.hpp"

#include <fstream>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "actors/protocol.hpp"

namespace dibs {

config::config() {
#define DIBS_OPTION(group, member, name, type, value, help)                    \
  opt_group{custom_options_, #group}.add(group##_##member, name, help);
#include "actors/options.def"
#undef DIBS_OPTION
  register_message_types(*this);
}

std::string config::check() const {
  // CAF keeps a whole number an INI file gives an option of type double
  // out of the option, without a word ("type mismatch", a warning nobody
  // reads): `linger-ms=10` left the default in force. Such a value must be
  // written with a fraction.
  if (auto raw = parse_config_file(config_file_path.c_str())) {
    std::vector<std::string> doubles;
#define DIBS_OPTION(group, member, name, type, value, help)                    \
  if (std::is_same_v<type, double>)                                            \
    doubles.emplace_back(#group "." name);
#include "actors/options.def"
#undef DIBS_OPTION
    for (auto& name : doubles)
      if (auto* v = caf::get_if(&*raw, name);
          v != nullptr && !caf::holds_alternative<double>(*v))
        return fmt::format("{} in {} must be a number with a fraction "
                           "(10.0, not 10): CAF ignores {} there",
                           name, config_file_path, caf::to_string(*v));
  }
  // librdkafka's range for linger.ms.
  if (!(kafka_linger_ms >= 0 && kafka_linger_ms <= 900'000))
    return fmt::format("kafka.linger-ms ({}) must be 0 to 900000",
                       kafka_linger_ms);
  // A record reported "possibly stored" may still be appended by the last
  // produce request that carried it, until that request times out: the log
  // is searched only after that, or a unit held in the log would go back to
  // the stock and be sold twice.
  if (kafka_resolve_grace_ms <= kafka_request_timeout_ms)
    return fmt::format("kafka.resolve-grace-ms ({}) must exceed "
                       "kafka.request-timeout-ms ({}): a possibly stored "
                       "record can land in the log until its request times "
                       "out",
                       kafka_resolve_grace_ms, kafka_request_timeout_ms);
  // Otherwise a request that is merely slow ends its records' delivery
  // without a retry, as "possibly stored", and every such issuance waits
  // for the resolver. A record gets half the message timeout in librdkafka
  // (the other half an event may wait for its partition's batch), which
  // must also exceed the linger (librdkafka refuses the producer).
  if (kafka_message_timeout_ms / 2 <= kafka_request_timeout_ms
      || kafka_message_timeout_ms / 2 <= kafka_linger_ms)
    return fmt::format("kafka.message-timeout-ms ({}) must be more than "
                       "twice kafka.request-timeout-ms ({}) and "
                       "kafka.linger-ms ({}): a record gets half of it, and "
                       "a slow request must be retried before its records "
                       "are given up",
                       kafka_message_timeout_ms, kafka_request_timeout_ms,
                       kafka_linger_ms);
  // 0 would have the writers and the fence watch fetch in a tight loop; a
  // fetch must be answered within librdkafka's socket timeout (60 s).
  if (kafka_fetch_wait_max_ms < 1 || kafka_fetch_wait_max_ms > 59'000)
    return fmt::format("kafka.fetch-wait-max-ms ({}) must be 1 to 59000",
                       kafka_fetch_wait_max_ms);
  if (kafka_partitions > 10'000)
    return fmt::format("kafka.partitions ({}) must be 0 to 10000",
                       kafka_partitions);
  if (kafka_replication_factor < 1 || kafka_replication_factor > 16)
    return fmt::format("kafka.replication-factor ({}) must be 1 to 16",
                       kafka_replication_factor);
  return {};
}

caf::expected<cluster_map> config::cluster() const {
  return cluster_map::from_config(content,
                                  static_cast<uint32_t>(cluster_shards),
                                  node_id);
}

cluster_settings config::cluster_timing() const {
  cluster_settings s;
  s.heartbeat_interval
    = std::chrono::milliseconds(cluster_heartbeat_interval_ms);
  s.heartbeat_timeout = std::chrono::milliseconds(cluster_heartbeat_timeout_ms);
  s.forward_timeout = std::chrono::milliseconds(cluster_forward_timeout_ms);
  return s;
}

caf::expected<kafka_settings> config::kafka() const {
  auto s = kafka_base();
  s.bootstrap_servers = kafka_bootstrap_servers;
  if (s.bootstrap_servers.empty()) {
    std::ifstream in{kafka_bootstrap_file};
    std::getline(in, s.bootstrap_servers);
    if (s.bootstrap_servers.empty())
      return caf::make_error(ec::storage_failure,
                             "no kafka.bootstrap-servers and no bootstrap "
                             "list in "
                               + kafka_bootstrap_file);
  }
  return s;
}

topic_spec config::topic() const {
  auto partitions = static_cast<int32_t>(kafka_partitions);
  if (partitions == 0) {
    auto nodes = caf::get_if<caf::config_value::list>(&content,
                                                      "cluster.nodes");
    partitions = 2 * static_cast<int32_t>(nodes && !nodes->empty()
                                            ? nodes->size()
                                            : 1);
  }
  return topic_spec{partitions,
                    static_cast<int16_t>(kafka_replication_factor)};
}

} // namespace dibs
