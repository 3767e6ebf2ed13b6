#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

#include "core/error.hpp"
#include "persistence/records.hpp"

namespace RdKafka {
class KafkaConsumer;
class Message;
class Producer;
class Topic;
} // namespace RdKafka

namespace dibs {

/// Destroys `consumer` on a thread of its own, then `keep` (what its
/// callbacks refer to). librdkafka 2.0.2 may never finish destroying a
/// consumer that outlived its broker (a partition reference leaks and a
/// broker thread waits for it forever: confluentinc/librdkafka#4674; seen
/// for the writers' group, the owners' group, the fence watch and the
/// resolver's reader after wiped brokers): a hang leaks that thread and the
/// handle instead of stopping the caller (an actor that never exits, a
/// node's stop that waits to be killed). The consumer must be closed:
/// librdkafka's destructor then calls nothing back, so nothing reaches its
/// owner, which may be gone by then.
void destroy_apart(std::unique_ptr<RdKafka::KafkaConsumer> consumer,
                   std::shared_ptr<void> keep = nullptr);

/// Where Kafka is and how dibs talks to it. The node's options fill it
/// (actors/options.def holds the defaults).
struct kafka_settings {
  /// Comma-separated host:port list; a real cluster works by setting this.
  std::string bootstrap_servers;
  std::string topic;
  /// Consumer group of the writers.
  std::string group_id;
  /// How long an event may take from `produce` to its report (give or take
  /// librdkafka's one-second scan for timed-out records): a little under
  /// half of it waiting for its partition's record in flight, half for its
  /// own record (librdkafka's message.timeout.ms).
  int message_timeout_ms = 0;
  /// How long a produce request may wait for its answer before it fails
  /// and is retried (librdkafka's request.timeout.ms).
  int request_timeout_ms = 0;
  /// Producer batching delay in milliseconds, fractions allowed; 0 sends
  /// at once.
  double linger_ms = 0;
  /// How long a silent writer (a node killed) keeps its partitions before
  /// the group hands them to others; 6 s is the broker's allowed minimum
  /// (group.min.session.timeout.ms).
  int session_timeout_ms = 0;
  /// Longest a consumer's fetch waits for new records (librdkafka's
  /// fetch.wait.max.ms, 500 by default). The writers and the fence watch
  /// ask for more than comes (fetch.min.bytes), so they fetch this often.
  int fetch_wait_max_ms = 0;
  /// Longest wait for metadata, watermarks, topic creation and a read of
  /// the log outside the writers' group.
  int admin_timeout_ms = 0;
};

/// What a delivery report said about one record.
enum class delivery_outcome : uint8_t {
  /// Acknowledged by all in-sync replicas.
  stored,
  /// Definitely not stored: safe to give the reservation back.
  failed,
  /// Possibly stored (a timeout after the request went out): must be
  /// resolved from the log.
  unknown,
};

struct delivery_report {
  delivery_outcome outcome = delivery_outcome::failed;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_report& x) {
  return f(caf::meta::type_name("delivery_report"), x.outcome, x.partition,
           x.offset, x.error);
}

/// The key a coupon's partition is computed from.
std::string partition_key(coupon_id_t coupon);

/// The partition of a coupon's events: librdkafka's `consistent_random`
/// partitioner (CRC32) on its key, as the producer used before events were
/// batched per partition, so a log written then keeps its layout.
int32_t partition_of(coupon_id_t coupon, int32_t partition_count);

/// How the issuance topic is created when it does not exist yet.
struct topic_spec {
  int32_t partitions = 6;
  /// 1 for one broker; 3 (with min.insync.replicas=2) for a cluster that
  /// must keep every acknowledged record through a broker's loss.
  int16_t replication_factor = 1;
};

/// Creates `s.topic` with `spec` unless it exists (an existing topic is
/// left as it is, whatever its partition count). Uses librdkafka's admin
/// API: the node does it at start and when it follows a new log.
caf::expected<void> ensure_topic(const kafka_settings& s,
                                 const topic_spec& spec, int timeout_ms);

/// Idempotent producer (acks=all) of issuance events. Thread-safe.
/// Delivery reports are served on a thread of its own, and by a caller of
/// `flush` while it waits.
///
/// Events are batched per partition by how long the broker takes: while a
/// partition's record is unacknowledged, the events published to it wait
/// here, and go together as one record (`encode_batch`, or several of at
/// most `max_batch_events`) when it is reported. A record carries one event
/// when the broker keeps up, and more the busier it is, with no fixed delay
/// (librdkafka's linger still applies on top). After `purge`, and in the
/// destructor, nothing waiting is sent any more: it is reported failed.
class kafka_producer {
public:
  using callback = std::function<void(delivery_report)>;

  /// Most events one record carries (a record of them stays far below the
  /// broker's 1 MB message limit).
  static constexpr size_t max_batch_events = 1024;

  static caf::expected<std::unique_ptr<kafka_producer>>
  make(const kafka_settings& settings);

  ~kafka_producer();

  /// Queues one event for `partition` (`partition_of` its coupon); `done`
  /// runs once, with the outcome of the record that carried it, within
  /// the message timeout: on whichever thread serves delivery reports (the
  /// poller, or one in `flush`), or with `failed` on the thread that found
  /// the event could not be sent (this one, or the one of `purge`, the
  /// destructor or the report it waited for).
  void produce(int32_t partition, const issuance_event& event, callback done);

  /// Queues a fence record (`encode_fence`) for `partition`, reported like
  /// an event.
  void produce_fence(int32_t partition, uint64_t epoch,
                     const std::string& owner, callback done);

  /// Queues a probe record (`encode_probe`) for `partition`, reported like
  /// an event.
  void produce_probe(int32_t partition, const std::string& owner,
                     callback done);

  /// Records librdkafka holds (queued, in flight to the broker, or
  /// awaiting their delivery report), plus the events waiting here for a
  /// partition's record to be acknowledged.
  int queued() const;

  /// Waits up to `timeout_ms` for every queued record to be reported.
  /// Returns the number still outstanding.
  int flush(int timeout_ms);

  /// Gives up every record still queued or in flight: each is reported at
  /// the next flush, failed (never sent) or possibly stored (sent). Events
  /// waiting here are reported failed at once, and so is any produced
  /// after it.
  void purge();

  /// The id of the Kafka cluster behind the producer's brokers, or empty.
  /// Asks a broker for metadata first, waiting up to `timeout_ms`: an idle
  /// producer asks for none itself, and so would keep the id of a cluster
  /// that was replaced behind the same address. Without an answer, the id
  /// of the last metadata librdkafka had.
  std::string cluster_id(int timeout_ms) const;

  /// librdkafka raised a fatal error (e.g. fenced, broken idempotence
  /// sequence): every record fails from now on; replace the producer.
  bool fatal() const;

  /// Raises a fatal error, as librdkafka's own test hook does (fault
  /// injection).
  void inject_fatal_error();

private:
  kafka_producer() = default;

  /// A partition's events waiting for its record in flight, with when
  /// each began to wait.
  struct partition_queue {
    bool sending = false;
    std::vector<issuance_event> events;
    std::vector<callback> dones;
    std::vector<std::chrono::steady_clock::time_point> since;
  };

  /// Hands `events` to librdkafka as records of `partition`, at most
  /// `max_batch_events` each.
  void send(int32_t partition, std::vector<issuance_event> events,
            std::vector<callback> dones);

  /// A record of `partition` was reported: what waited goes out now, but
  /// for what waited longer than `max_wait_`, which is reported failed (it
  /// could not be reported within the message timeout any more).
  void sent(int32_t partition);

  /// Runs the callbacks of the record whose opaque is `opaque` (and owns
  /// it), then sends what waited for it.
  static void report(void* opaque, const delivery_report& rep);

  /// Hands librdkafka a record of `payload` for `partition`; `opaque` is
  /// its report's, reported failed at once when the record cannot be
  /// queued.
  void hand_over(int32_t partition, std::string payload, void* opaque);

  /// `hand_over` for a record that carries no event (a fence, a probe),
  /// reported to `done`.
  void hand_over_one(int32_t partition, std::string payload, callback done);

  /// Sends nothing waiting any more (`purge`, the destructor): reports
  /// every waiting event failed, and any that comes later at once.
  void close_queues(const std::string& why);

  struct dr_callback;
  struct event_callback;
  std::mutex queues_mtx_;
  std::unordered_map<int32_t, partition_queue> queues_;
  /// Set by `close_queues`, with why.
  std::optional<std::string> closed_;
  /// `closed_` is set, read without the lock by `hand_over`.
  std::atomic<bool> closing_{false};
  /// A little under half the message timeout; librdkafka's
  /// message.timeout.ms is the other half.
  std::chrono::milliseconds max_wait_{0};
  /// Events in `queues_`.
  std::atomic<int> waiting_{0};
  std::unique_ptr<dr_callback> dr_;
  std::unique_ptr<event_callback> events_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::unique_ptr<RdKafka::Topic> topic_;
  std::atomic<bool> running_{true};
  std::thread poller_;
};

/// A consumer of the issuance topic. In group mode it joins the writers'
/// group and starts each assigned partition at the offset `start_at` gives
/// (the one stored in MySQL); in scan mode it reads given partitions.
class kafka_log {
public:
  /// Called on each assignment with its partitions; returns where each
  /// starts, in their order, or nothing when that cannot be known now
  /// (MySQL does not answer).
  using start_fn = std::function<std::optional<std::vector<int64_t>>(
    const std::vector<int32_t>& partitions)>;

  static caf::expected<std::unique_ptr<kafka_log>>
  join_group(const kafka_settings& settings, start_fn start_at);

  static caf::expected<std::unique_ptr<kafka_log>>
  scanner(const kafka_settings& settings);

  ~kafka_log();

  /// One record read from the log.
  struct record {
    int32_t partition;
    int64_t offset;
    /// The events the record carries (`decode_issuances`); empty for a
    /// fence, a voided record and one that cannot be decoded.
    std::vector<issuance_event> events;
    /// The epoch of a fence record.
    std::optional<uint64_t> fence = std::nullopt;
    /// How many events of an older shard epoch than a fence before them
    /// were left out: they do not count (`fence_filter`).
    size_t voided = 0;
    /// A resolver's probe (`encode_probe`): nothing in it.
    bool probe = false;
  };

  /// Adds fences to those this reader applies; it learns the ones it reads
  /// by itself. A reader that starts past the start of the log needs the
  /// fences before its start (`mysql_store::load_fences`).
  void use_fences(const std::vector<log_fence>& fences);

  /// The fences this reader applies.
  const fence_filter& fences() const {
    return fences_;
  }

  /// Reads records until they carry `max_events` events (or are that many
  /// records), waiting at most `max_wait_ms` in all.
  std::vector<record> poll(size_t max_events, int max_wait_ms);

  /// An assignment came whose start `start_at` could not give: this reader
  /// took none of its partitions and reads nothing more. Its owner must
  /// close it (leaving the group, which hands the partitions out anew) and
  /// join again.
  bool refused_assignment() const;

  /// The partitions of the topic (queries metadata).
  caf::expected<std::vector<int32_t>> partitions(int timeout_ms);

  /// Low and high watermark of a partition.
  caf::expected<std::pair<int64_t, int64_t>> watermarks(int32_t partition,
                                                        int timeout_ms);

  /// A partition assigned to this consumer (group mode) with its low and
  /// high watermarks as of the last fetch (no broker request; -1 when not
  /// known yet).
  struct assigned_partition {
    int32_t partition;
    int64_t low;
    int64_t high;
  };

  std::vector<assigned_partition> assigned();

  /// Reads the records of `partition` from `from` on towards the high
  /// watermark at call time, for at most `timeout_ms`: what it read, and
  /// whether it reached the watermark.
  caf::expected<std::pair<std::vector<record>, bool>>
  read_some(int32_t partition, int64_t from, int timeout_ms);

  /// Reads every record of `partition` in [from, high watermark at call time).
  caf::expected<std::vector<record>> read_to_end(int32_t partition,
                                                 int64_t from, int timeout_ms);

  /// The identity of this log: the Kafka cluster id (another one when the
  /// cluster is replaced or its single broker formatted anew) plus the
  /// topic.
  caf::expected<log_ref> identity(int timeout_ms);

  /// Closes the consumer, leaving the group at once.
  void close();

private:
  kafka_log() = default;

  /// Decodes a message and applies the fences to it.
  record to_record(const RdKafka::Message& msg);

  struct rebalance_callback;
  std::unique_ptr<rebalance_callback> rebalance_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::string topic_;
  fence_filter fences_;
  bool closed_ = false;
};

} // namespace dibs
