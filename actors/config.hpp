#pragma once

#include <string>

#include <caf/actor_system_config.hpp>

#include "actors/cluster.hpp"
#include "actors/cluster_map.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"
#include "persistence/redis_client.hpp"

namespace dibs {

/// Every option of a dibs node, declared once: name, help text, default
/// (`defaults.hpp`). Set them on the command line (`--http.port=8081`) or in
/// an INI file (`--config-file=cluster-config/dibs.ini`).
class config : public caf::actor_system_config {
public:
  config();

  /// Why the options, each valid alone, break a relation between them; an
  /// empty text when they do not. The node refuses to start on one.
  std::string check() const;

  std::string http_address;
  uint16_t http_port;
  std::string http_admin_address;
  uint16_t http_admin_port;
  size_t http_io_threads;
  size_t http_body_limit_bytes;
  size_t http_header_limit_bytes;
  size_t http_idle_timeout_ms;
  size_t http_header_timeout_ms;
  size_t http_body_timeout_ms;
  size_t http_max_connections;
  size_t http_max_in_flight;
  size_t http_max_target_bytes;
  size_t http_max_header_fields;
  size_t http_answer_timeout_ms;
  size_t http_wait_timeout_ms;

  std::string kafka_bootstrap_servers;
  std::string kafka_bootstrap_file;
  std::string kafka_topic;
  std::string kafka_group_id;
  size_t kafka_partitions;
  size_t kafka_replication_factor;
  size_t kafka_message_timeout_ms;
  size_t kafka_request_timeout_ms;
  size_t kafka_linger_ms;
  size_t kafka_session_timeout_ms;
  size_t kafka_fetch_wait_max_ms;
  size_t kafka_resolve_grace_ms;

  std::string mysql_host;
  uint16_t mysql_port;
  std::string mysql_user;
  std::string mysql_password;
  std::string mysql_database;

  std::string redis_host;
  uint16_t redis_port;

  size_t snapshot_every_events;
  size_t snapshot_interval_ms;

  size_t writer_count;
  size_t writer_batch_max_rows;
  size_t writer_batch_max_ms;
  size_t writer_retry_backoff_ms;

  double limits_user_per_s;
  double limits_user_burst;
  double limits_address_per_s;
  double limits_address_burst;

  std::string log_format;
  std::string log_level;

  std::string node_id;
  size_t node_drain_timeout_ms;
  bool node_fault_injection;

  size_t cluster_shards;
  size_t cluster_heartbeat_interval_ms;
  size_t cluster_heartbeat_timeout_ms;
  size_t cluster_forward_timeout_ms;

  /// The cluster as `cluster.nodes` (a list of `{id, http, actor}`, in a
  /// config file) and `cluster.shards` describe it, seen from `node.id`; an
  /// empty map without `cluster.nodes`.
  caf::expected<cluster_map> cluster() const;
  cluster_settings cluster_timing() const;

  /// Kafka settings; reads the bootstrap file when no servers are given.
  caf::expected<kafka_settings> kafka() const;

  /// How the node creates the issuance topic when it is missing.
  topic_spec topic() const;
  mysql_settings mysql() const;
  redis_settings redis() const;
};

} // namespace dibs
