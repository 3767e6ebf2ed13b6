#include "actors/config.hpp"

#include <fstream>

#include <fmt/format.h>

#include "actors/defaults.hpp"
#include "actors/protocol.hpp"

namespace dibs {

namespace d = defaults;

config::config()
  : http_address(d::http::address),
    http_port(d::http::port),
    http_admin_address(d::http::admin_address),
    http_admin_port(d::http::admin_port),
    http_io_threads(d::http::io_threads),
    http_body_limit_bytes(d::http::body_limit_bytes),
    http_header_limit_bytes(d::http::header_limit_bytes),
    http_idle_timeout_ms(d::http::idle_timeout_ms),
    http_header_timeout_ms(d::http::header_timeout_ms),
    http_body_timeout_ms(d::http::body_timeout_ms),
    http_max_connections(d::http::max_connections),
    http_max_in_flight(d::http::max_in_flight),
    http_max_target_bytes(d::http::max_target_bytes),
    http_max_header_fields(d::http::max_header_fields),
    http_answer_timeout_ms(d::http::answer_timeout_ms),
    http_wait_timeout_ms(d::http::wait_timeout_ms),
    kafka_bootstrap_servers(d::kafka::bootstrap_servers),
    kafka_bootstrap_file(d::kafka::bootstrap_file),
    kafka_topic(d::kafka::topic),
    kafka_group_id(d::kafka::group_id),
    kafka_partitions(d::kafka::partitions),
    kafka_replication_factor(d::kafka::replication_factor),
    kafka_message_timeout_ms(d::kafka::message_timeout_ms),
    kafka_request_timeout_ms(d::kafka::request_timeout_ms),
    kafka_linger_ms(d::kafka::linger_ms),
    kafka_session_timeout_ms(d::kafka::session_timeout_ms),
    kafka_fetch_wait_max_ms(d::kafka::fetch_wait_max_ms),
    kafka_resolve_grace_ms(d::kafka::resolve_grace_ms),
    mysql_host(d::mysql::host),
    mysql_port(d::mysql::port),
    mysql_user(d::mysql::user),
    mysql_password(d::mysql::password),
    mysql_database(d::mysql::database),
    redis_host(d::redis::host),
    redis_port(d::redis::port),
    snapshot_every_events(d::snapshot::every_events),
    snapshot_interval_ms(d::snapshot::interval_ms),
    writer_count(d::writer::count),
    writer_batch_max_rows(d::writer::batch_max_rows),
    writer_batch_max_ms(d::writer::batch_max_ms),
    writer_retry_backoff_ms(d::writer::retry_backoff_ms),
    limits_user_per_s(d::limits::user_per_s),
    limits_user_burst(d::limits::user_burst),
    limits_address_per_s(d::limits::address_per_s),
    limits_address_burst(d::limits::address_burst),
    log_format(d::log::format),
    log_level(d::log::level),
    node_id(d::node::id),
    node_drain_timeout_ms(d::node::drain_timeout_ms),
    node_fault_injection(d::node::fault_injection),
    cluster_shards(d::cluster::shards),
    cluster_heartbeat_interval_ms(d::cluster::heartbeat_interval_ms),
    cluster_heartbeat_timeout_ms(d::cluster::heartbeat_timeout_ms),
    cluster_forward_timeout_ms(d::cluster::forward_timeout_ms) {
  opt_group{custom_options_, "http"}
    .add(http_address, "address", "address the HTTP gateway binds")
    .add(http_port, "port", "TCP port of the HTTP gateway")
    .add(http_admin_address, "admin-address",
         "loopback address of the admin listener")
    .add(http_admin_port, "admin-port",
         "serve the admin routes on their own listener on this port, and "
         "not on the public one (0: on the public one)")
    .add(http_io_threads, "io-threads", "threads running Beast's io_context")
    .add(http_body_limit_bytes, "body-limit-bytes", "largest request body")
    .add(http_header_limit_bytes, "header-limit-bytes",
         "largest request header block")
    .add(http_idle_timeout_ms, "idle-timeout-ms",
         "close a connection on which no request starts for this long")
    .add(http_header_timeout_ms, "header-timeout-ms",
         "a request's header must arrive within this of its first byte")
    .add(http_body_timeout_ms, "body-timeout-ms",
         "its body within this after the header; an answer's write too")
    .add(http_max_connections, "max-connections",
         "connections at once; more get 503 and are closed")
    .add(http_max_in_flight, "max-in-flight",
         "requests awaiting an answer; more get 503 at once")
    .add(http_max_target_bytes, "max-target-bytes",
         "longest request target (414 beyond)")
    .add(http_max_header_fields, "max-header-fields",
         "most header fields in a request (431 beyond)")
    .add(http_answer_timeout_ms, "answer-timeout-ms",
         "answer 503 when no actor has answered a request by then")
    .add(http_wait_timeout_ms, "wait-timeout-ms",
         "?wait=true answers 202 when MySQL has not committed by then");
  opt_group{custom_options_, "kafka"}
    .add(kafka_bootstrap_servers, "bootstrap-servers",
         "host:port list of the Kafka cluster (empty: read bootstrap-file)")
    .add(kafka_bootstrap_file, "bootstrap-file",
         "file holding the embedded broker's bootstrap list")
    .add(kafka_topic, "topic", "issuance topic")
    .add(kafka_group_id, "group-id", "consumer group of the writers")
    .add(kafka_partitions, "partitions",
         "partitions of the issuance topic when the node creates it")
    .add(kafka_replication_factor, "replication-factor",
         "replicas of each partition when the node creates the topic")
    .add(kafka_message_timeout_ms, "message-timeout-ms",
         "producer gives up on a record after this")
    .add(kafka_request_timeout_ms, "request-timeout-ms",
         "producer fails (and retries) a request unanswered this long; "
         "below message-timeout-ms and resolve-grace-ms")
    .add(kafka_linger_ms, "linger-ms", "producer batching delay")
    .add(kafka_session_timeout_ms, "session-timeout-ms",
         "consumer group session timeout")
    .add(kafka_fetch_wait_max_ms, "fetch-wait-max-ms",
         "longest a writer's fetch waits for new records")
    .add(kafka_resolve_grace_ms, "resolve-grace-ms",
         "wait before searching the log for a possibly stored record; "
         "above request-timeout-ms");
  opt_group{custom_options_, "mysql"}
    .add(mysql_host, "host", "MySQL/MariaDB host")
    .add(mysql_port, "port", "MySQL/MariaDB TCP port")
    .add(mysql_user, "user", "MySQL user")
    .add(mysql_password, "password", "MySQL password")
    .add(mysql_database, "database", "MySQL database");
  opt_group{custom_options_, "redis"}
    .add(redis_host, "host", "Redis host")
    .add(redis_port, "port", "Redis TCP port");
  opt_group{custom_options_, "snapshot"}
    .add(snapshot_every_events, "every-events",
         "a stock actor writes its snapshot once this many issuances are new")
    .add(snapshot_interval_ms, "interval-ms",
         "...or this long after the last write, whichever comes first");
  opt_group{custom_options_, "writer"}
    .add(writer_count, "count", "writer actors in the consumer group")
    .add(writer_batch_max_rows, "batch-max-rows", "rows per MySQL transaction")
    .add(writer_batch_max_ms, "batch-max-ms",
         "longest wait to fill a batch")
    .add(writer_retry_backoff_ms, "retry-backoff-ms",
         "pause before retrying a batch MySQL refused");
  opt_group{custom_options_, "limits"}
    .add(limits_user_per_s, "user-per-s",
         "issue requests a second per user id (0: no limit); 429 beyond")
    .add(limits_user_burst, "user-burst", "a user's burst")
    .add(limits_address_per_s, "address-per-s",
         "issue requests a second per client address (0: no limit)")
    .add(limits_address_burst, "address-burst", "an address's burst");
  opt_group{custom_options_, "log"}
    .add(log_format, "format", "json (one object per line) or text")
    .add(log_level, "level",
         "trace, debug (a line per issuance), info, warning, error");
  opt_group{custom_options_, "node"}
    .add(node_id, "id", "the node's name in logs, metrics and the console")
    .add(node_drain_timeout_ms, "drain-timeout-ms",
         "on SIGTERM, longest wait for in-flight requests and writer drain")
    .add(node_fault_injection, "fault-injection",
         "accept POST /admin/faults (tests and drills only)");
  // cluster.nodes, a list of {id, http, actor}, is read from the config file
  // (cluster-config/cluster-local.ini); node.id names this node in it.
  opt_group{custom_options_, "cluster"}
    .add(cluster_shards, "shards",
         "shards the coupons map to (the same on every node)")
    .add(cluster_heartbeat_interval_ms, "heartbeat-interval-ms",
         "how often nodes heartbeat each other")
    .add(cluster_heartbeat_timeout_ms, "heartbeat-timeout-ms",
         "a node silent for this long is down: its coupons answer 503")
    .add(cluster_forward_timeout_ms, "forward-timeout-ms",
         "a request forwarded to a coupon's owner fails after this");
  register_message_types(*this);
}

std::string config::check() const {
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
  // for the resolver.
  if (kafka_message_timeout_ms <= kafka_request_timeout_ms)
    return fmt::format("kafka.message-timeout-ms ({}) must exceed "
                       "kafka.request-timeout-ms ({}): a slow request must "
                       "be retried before its records are given up",
                       kafka_message_timeout_ms, kafka_request_timeout_ms);
  if (kafka_partitions < 1 || kafka_partitions > 10'000)
    return fmt::format("kafka.partitions ({}) must be 1 to 10000",
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
  kafka_settings s;
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
  s.topic = kafka_topic;
  s.group_id = kafka_group_id;
  s.message_timeout_ms = static_cast<int>(kafka_message_timeout_ms);
  s.request_timeout_ms = static_cast<int>(kafka_request_timeout_ms);
  s.linger_ms = static_cast<int>(kafka_linger_ms);
  s.session_timeout_ms = static_cast<int>(kafka_session_timeout_ms);
  s.fetch_wait_max_ms = static_cast<int>(kafka_fetch_wait_max_ms);
  return s;
}

topic_spec config::topic() const {
  return topic_spec{static_cast<int32_t>(kafka_partitions),
                    static_cast<int16_t>(kafka_replication_factor)};
}

mysql_settings config::mysql() const {
  return mysql_settings{mysql_host, mysql_port, mysql_user, mysql_password,
                        mysql_database};
}

redis_settings config::redis() const {
  redis_settings s;
  s.host = redis_host;
  s.port = redis_port;
  return s;
}

} // namespace dibs
