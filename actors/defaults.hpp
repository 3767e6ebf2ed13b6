#pragma once

// Default values of every option in `config.hpp`. Units are in the names.

#include <cstddef>
#include <cstdint>

namespace dibs::defaults {

namespace http {
constexpr const char* address = "127.0.0.1";
constexpr uint16_t port = 8080;
/// The admin routes (introspection, console, faults, /metrics) on a
/// listener of their own, bound to a loopback address; 0 keeps them on the
/// public listener.
constexpr const char* admin_address = "127.0.0.1";
constexpr uint16_t admin_port = 0;
/// Threads running the Beast io_context.
constexpr size_t io_threads = 1;
constexpr size_t body_limit_bytes = 4 * 1024;
constexpr size_t header_limit_bytes = 8 * 1024;
/// A connection on which no request starts for this long is closed.
constexpr size_t idle_timeout_ms = 30'000;
/// A request's header must be in within this of its first byte, and its
/// body within this after the header (slow-loris and slow-body clients);
/// an answer must be taken within this too.
constexpr size_t header_timeout_ms = 10'000;
constexpr size_t body_timeout_ms = 10'000;
/// Connections at once; more are answered 503 and closed.
constexpr size_t max_connections = 10'000;
/// Requests read and not answered yet; more are answered 503 at once.
constexpr size_t max_in_flight = 10'000;
/// Longest request target (414 beyond) and most header fields (431).
constexpr size_t max_target_bytes = 2'048;
constexpr size_t max_header_fields = 64;
/// A request no actor answered by then gets 503.
constexpr size_t answer_timeout_ms = 10'000;
/// How long `?wait=true` waits for the MySQL commit before answering 202.
constexpr size_t wait_timeout_ms = 2'000;
} // namespace http

namespace kafka {
constexpr const char* bootstrap_servers = "";
/// Read when `bootstrap_servers` is empty: the embedded broker writes it.
constexpr const char* bootstrap_file = ".run/kafka.bootstrap";
constexpr const char* topic = "dibs.issuance";
constexpr const char* group_id = "dibs-writers";
/// The issuance topic, created by the node at start when missing.
constexpr size_t partitions = 6;
/// 1 for one broker; 3 for a cluster that keeps a yes through a broker's
/// loss (its brokers set min.insync.replicas=2).
constexpr size_t replication_factor = 1;
constexpr size_t message_timeout_ms = 5'000;
/// librdkafka's request.timeout.ms (30 s by default): a produce request
/// unanswered this long fails and is retried within the message timeout.
constexpr size_t request_timeout_ms = 1'500;
constexpr size_t linger_ms = 2;
constexpr size_t session_timeout_ms = 6'000;
/// Longest a fetch with nothing new waits: it bounds how late writers see
/// new records (librdkafka's 500 ms default made ?wait=true slow).
constexpr size_t fetch_wait_max_ms = 10;
/// After a "possibly stored" delivery report, wait this long before the log
/// is searched; must exceed `request_timeout_ms` (config::check).
constexpr size_t resolve_grace_ms = 2'000;
} // namespace kafka

namespace mysql {
constexpr const char* host = "127.0.0.1";
constexpr uint16_t port = 3306;
constexpr const char* user = "dibs";
constexpr const char* password = "dibs";
constexpr const char* database = "dibs";
} // namespace mysql

namespace redis {
constexpr const char* host = "127.0.0.1";
constexpr uint16_t port = 6379;
} // namespace redis

namespace snapshot {
/// A stock actor writes its Redis snapshot (only what is new) once this many
/// issuances are pending...
constexpr size_t every_events = 1'000;
/// ...or this long after the last write, whichever comes first.
constexpr size_t interval_ms = 1'000;
} // namespace snapshot

namespace limits {
/// Issue requests per second (and burst) one user id may make; 0: no limit.
constexpr double user_per_s = 10;
constexpr double user_burst = 20;
/// Issue requests per second (and burst) one client address may make; off
/// by default, since a proxy or a load generator sends everyone's requests
/// from one address.
constexpr double address_per_s = 0;
constexpr double address_burst = 100;
} // namespace limits

namespace log {
/// `json`: one JSON object per line; `text`: spdlog's plain lines.
constexpr const char* format = "json";
/// `debug` adds a line per issuance at the gateway, the stock actor and the
/// writer, each with the request id.
constexpr const char* level = "info";
} // namespace log

namespace writer {
/// Writer actors (Kafka consumers in one group, one MySQL connection each).
constexpr size_t count = 1;
constexpr size_t batch_max_rows = 2'000;
constexpr size_t batch_max_ms = 20;
/// Backoff between attempts to write a batch MySQL refused.
constexpr size_t retry_backoff_ms = 500;
} // namespace writer

namespace node {
/// The node's name in logs, metrics and the console.
constexpr const char* id = "dibs-1";
/// On SIGTERM, how long to wait for in-flight requests and for the writers
/// to drain Kafka into MySQL.
constexpr size_t drain_timeout_ms = 30'000;
/// Accept `POST /admin/faults` (crash an actor, break the producer): for
/// fault-injection tests and drills, never in production.
constexpr bool fault_injection = false;
} // namespace node

namespace cluster {
/// Shards the coupons map to; fixed for the life of a cluster, many more
/// than nodes.
constexpr size_t shards = 256;
/// Nodes heartbeat each other this often; one silent for the timeout is
/// down and its coupons answer 503 until it answers again.
constexpr size_t heartbeat_interval_ms = 500;
constexpr size_t heartbeat_timeout_ms = 2'000;
/// A request forwarded to a coupon's owner fails (503) after this.
constexpr size_t forward_timeout_ms = 5'000;
} // namespace cluster

} // namespace dibs::defaults
