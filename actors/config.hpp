#pragma once

#include <string>

#include <caf/actor_system_config.hpp>

#include "actors/cluster.hpp"
#include "actors/cluster_map.hpp"
#include "actors/options.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"
#include "persistence/redis_client.hpp"

namespace dibs {

/// Every option of a dibs node (`options.def`). Set them on the command
/// line (`--http.port=8081`) or in an INI file
/// (`--config-file=cluster-config/dibs.ini`).
class config : public caf::actor_system_config, public option_values {
public:
  config();

  /// Why the options, each valid alone, break a relation between them; an
  /// empty text when they do not. The node refuses to start on one.
  std::string check() const;

  /// Every option, CAF's own included.
  const caf::config_option_set& options() const {
    return custom_options_;
  }

  /// The cluster as `cluster.nodes` (a list of `{id, http, actor}`, in a
  /// config file) and `cluster.shards` describe it, seen from `node.id`; an
  /// empty map without `cluster.nodes`.
  caf::expected<cluster_map> cluster() const;
  cluster_settings cluster_timing() const;

  /// Kafka settings; reads the bootstrap file when no servers are given
  /// (every call: the embedded broker may have moved).
  caf::expected<kafka_settings> kafka() const;

  /// How the node creates the issuance topic when it is missing.
  topic_spec topic() const;
};

} // namespace dibs
