#include "persistence/kafka.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

namespace dibs {

namespace {

/// Builds a configuration or returns what librdkafka refused.
caf::expected<std::unique_ptr<RdKafka::Conf>>
make_conf(const std::vector<std::pair<std::string, std::string>>& kvs) {
  std::unique_ptr<RdKafka::Conf> conf{
    RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  std::string err;
  for (auto& [k, v] : kvs)
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      return caf::make_error(ec::storage_failure,
                             "kafka config " + k + ": " + err);
  return conf;
}

} // namespace

// -- producer -----------------------------------------------------------------

namespace {

/// What a record's delivery report is for: the callback of each event it
/// carries, and the producer to tell when a batch's record is done (null
/// for a fence).
struct record_opaque {
  kafka_producer* batched_by = nullptr;
  int32_t partition = -1;
  std::vector<kafka_producer::callback> dones;
};

} // namespace

void kafka_producer::report(void* opaque, const delivery_report& rep) {
  std::unique_ptr<record_opaque> r{static_cast<record_opaque*>(opaque)};
  for (auto& done : r->dones)
    done(rep);
  if (r->batched_by)
    r->batched_by->sent(r->partition);
}

struct kafka_producer::dr_callback : RdKafka::DeliveryReportCb {
  void dr_cb(RdKafka::Message& msg) override {
    if (!msg.msg_opaque())
      return;
    delivery_report rep;
    rep.partition = msg.partition();
    rep.offset = msg.offset();
    if (msg.err() == RdKafka::ERR_NO_ERROR) {
      rep.outcome = delivery_outcome::stored;
    } else {
      rep.error = msg.errstr();
      // With the idempotent producer a record that timed out after its
      // request went out may or may not be in the log.
      rep.outcome = msg.status() == RdKafka::Message::MSG_STATUS_NOT_PERSISTED
                      ? delivery_outcome::failed
                      : delivery_outcome::unknown;
      if (msg.status() == RdKafka::Message::MSG_STATUS_PERSISTED)
        rep.outcome = delivery_outcome::stored;
    }
    report(msg.msg_opaque(), rep);
  }
};

/// Notices a fatal error (fenced, idempotence broken): the producer is
/// unusable and must be replaced.
struct kafka_producer::event_callback : RdKafka::EventCb {
  std::atomic<bool> fatal{false};

  void event_cb(RdKafka::Event& e) override {
    if (e.type() == RdKafka::Event::EVENT_ERROR && e.fatal()) {
      spdlog::error("kafka producer fatal error: {}", e.str());
      fatal = true;
    }
  }
};

caf::expected<std::unique_ptr<kafka_producer>>
kafka_producer::make(const kafka_settings& s) {
  auto conf = make_conf({
    {"bootstrap.servers", s.bootstrap_servers},
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"linger.ms", fmt::format("{}", s.linger_ms)},
    // An event may first wait up to as long for its partition's record in
    // flight (`max_wait_`): the two stay within the message timeout.
    {"message.timeout.ms",
     std::to_string(std::max(1, s.message_timeout_ms / 2))},
    // Set, not left at librdkafka's 30 s: how long a possibly stored record
    // can still land bounds the resolver's grace (config::check).
    {"request.timeout.ms", std::to_string(s.request_timeout_ms)},
    {"queue.buffering.max.messages", "1000000"},
    // Small produce requests must not wait for Nagle's algorithm: every
    // client waits for its record's acknowledgement.
    {"socket.nagle.disable", "true"},
    // Events are small JSON objects that compress well in a batch: less to
    // send, store and read back (recovery, the resolver, the writers).
    {"compression.type", "lz4"},
  });
  if (!conf)
    return std::move(conf.error());
  std::unique_ptr<kafka_producer> self{new kafka_producer};
  // A little under half, for the hand-over after the wait.
  self->max_wait_
    = std::chrono::milliseconds{s.message_timeout_ms / 2
                                - s.message_timeout_ms / 20};
  self->dr_ = std::make_unique<dr_callback>();
  std::string err;
  if ((*conf)->set("dr_cb", self->dr_.get(), err) != RdKafka::Conf::CONF_OK)
    return caf::make_error(ec::storage_failure, "kafka dr_cb: " + err);
  self->events_ = std::make_unique<event_callback>();
  if ((*conf)->set("event_cb", self->events_.get(), err)
      != RdKafka::Conf::CONF_OK)
    return caf::make_error(ec::storage_failure, "kafka event_cb: " + err);
  self->producer_.reset(RdKafka::Producer::create(conf->get(), err));
  if (!self->producer_)
    return caf::make_error(ec::storage_failure, "kafka producer: " + err);
  self->topic_.reset(
    RdKafka::Topic::create(self->producer_.get(), s.topic, nullptr, err));
  if (!self->topic_)
    return caf::make_error(ec::storage_failure, "kafka topic: " + err);
  auto* raw = self.get();
  self->poller_ = std::thread{[raw] {
    while (raw->running_.load(std::memory_order_relaxed))
      raw->producer_->poll(50);
  }};
  return self;
}

kafka_producer::~kafka_producer() {
  running_ = false;
  if (poller_.joinable())
    poller_.join();
  // A report served below must not send what waited: nothing would report
  // that record.
  close_queues("the producer was closed");
  // Serve the reports that are ready; a record still unreported now never
  // will be (its owner flushes first).
  if (producer_)
    producer_->poll(0);
}

std::string partition_key(coupon_id_t coupon) {
  return std::to_string(coupon);
}

int32_t partition_of(coupon_id_t coupon, int32_t partition_count) {
  auto key = partition_key(coupon);
  // The producer's partitioner; it reads neither the topic nor the opaques.
  return rd_kafka_msg_partitioner_consistent_random(
    nullptr, key.data(), key.size(), partition_count, nullptr, nullptr);
}

void kafka_producer::produce(int32_t partition, const issuance_event& event,
                             callback done) {
  {
    std::unique_lock<std::mutex> guard{queues_mtx_};
    if (closed_) {
      delivery_report rep;
      rep.error = *closed_;
      guard.unlock();
      return done(std::move(rep));
    }
    auto& q = queues_[partition];
    if (q.sending) {
      q.events.push_back(event);
      q.dones.push_back(std::move(done));
      q.since.push_back(std::chrono::steady_clock::now());
      waiting_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    q.sending = true;
  }
  std::vector<callback> dones;
  dones.push_back(std::move(done));
  send(partition, {event}, std::move(dones));
}

void kafka_producer::send(int32_t partition,
                          std::vector<issuance_event> events,
                          std::vector<callback> dones) {
  for (size_t first = 0; first < events.size();
       first += max_batch_events) {
    auto last = std::min(events.size(), first + max_batch_events);
    auto payload = encode_batch(
      {events.begin() + static_cast<ptrdiff_t>(first),
       events.begin() + static_cast<ptrdiff_t>(last)});
    auto opaque = std::make_unique<record_opaque>();
    opaque->partition = partition;
    opaque->dones.assign(
      std::make_move_iterator(dones.begin() + static_cast<ptrdiff_t>(first)),
      std::make_move_iterator(dones.begin() + static_cast<ptrdiff_t>(last)));
    // The partition's next batch goes out after the report of its last
    // record.
    if (last == events.size())
      opaque->batched_by = this;
    hand_over(partition, std::move(payload), opaque.release());
  }
}

void kafka_producer::sent(int32_t partition) {
  std::vector<issuance_event> events;
  std::vector<callback> dones;
  std::vector<callback> stale;
  {
    std::lock_guard<std::mutex> guard{queues_mtx_};
    auto& q = queues_[partition];
    if (q.events.empty() || closed_) {
      // Closed: what waited was reported failed then.
      q.sending = false;
      return;
    }
    // They waited in order: the stale ones come first.
    auto cutoff = std::chrono::steady_clock::now() - max_wait_;
    auto n = static_cast<ptrdiff_t>(
      std::find_if(q.since.begin(), q.since.end(),
                   [&](auto t) { return t >= cutoff; })
      - q.since.begin());
    stale.assign(std::make_move_iterator(q.dones.begin()),
                 std::make_move_iterator(q.dones.begin() + n));
    events.assign(std::make_move_iterator(q.events.begin() + n),
                  std::make_move_iterator(q.events.end()));
    dones.assign(std::make_move_iterator(q.dones.begin() + n),
                 std::make_move_iterator(q.dones.end()));
    waiting_.fetch_sub(static_cast<int>(q.events.size()),
                       std::memory_order_relaxed);
    q.events.clear();
    q.dones.clear();
    q.since.clear();
    q.sending = !events.empty();
  }
  if (!stale.empty()) {
    delivery_report rep;
    rep.error = "waited for the partition's previous record past half the "
                "message timeout";
    for (auto& done : stale)
      done(rep);
  }
  if (!events.empty())
    send(partition, std::move(events), std::move(dones));
}

void kafka_producer::close_queues(const std::string& why) {
  std::vector<callback> dones;
  {
    std::lock_guard<std::mutex> guard{queues_mtx_};
    if (closed_)
      return;
    closed_ = why;
    closing_ = true;
    for (auto& [p, q] : queues_) {
      dones.insert(dones.end(), std::make_move_iterator(q.dones.begin()),
                   std::make_move_iterator(q.dones.end()));
      q.events.clear();
      q.dones.clear();
      q.since.clear();
    }
    waiting_.store(0, std::memory_order_relaxed);
  }
  delivery_report rep;
  rep.outcome = delivery_outcome::failed;
  rep.error = why;
  for (auto& done : dones)
    done(rep);
}

void kafka_producer::produce_fence(int32_t partition, uint64_t epoch,
                                   const std::string& owner, callback done) {
  hand_over_one(partition, encode_fence(epoch, owner), std::move(done));
}

void kafka_producer::produce_probe(int32_t partition, const std::string& owner,
                                   callback done) {
  hand_over_one(partition, encode_probe(owner), std::move(done));
}

void kafka_producer::hand_over_one(int32_t partition, std::string payload,
                                   callback done) {
  auto opaque = std::make_unique<record_opaque>();
  opaque->dones.push_back(std::move(done));
  hand_over(partition, std::move(payload), opaque.release());
}

void kafka_producer::hand_over(int32_t partition, std::string payload,
                               void* opaque) {
  auto err = producer_->produce(topic_.get(), partition,
                                RdKafka::Producer::RK_MSG_COPY,
                                payload.data(), payload.size(), nullptr,
                                opaque);
  if (err != RdKafka::ERR_NO_ERROR) {
    delivery_report rep;
    rep.error = RdKafka::err2str(err);
    return report(opaque, rep);
  }
  // Handed over after `purge` checked, and perhaps after it purged: purged
  // again, so that it too is reported at the next flush.
  if (closing_.load())
    producer_->purge(RdKafka::Producer::PURGE_QUEUE
                     | RdKafka::Producer::PURGE_INFLIGHT);
}

std::string kafka_producer::cluster_id(int timeout_ms) const {
  // librdkafka keeps the cluster id of every metadata answer.
  RdKafka::Metadata* raw = nullptr;
  producer_->metadata(false, topic_.get(), &raw, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> md{raw};
  return producer_->clusterid(0);
}

bool kafka_producer::fatal() const {
  return events_->fatal.load();
}

void kafka_producer::inject_fatal_error() {
  rd_kafka_test_fatal_error(producer_->c_ptr(),
                            RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                            "injected by dibs fault injection");
}

int kafka_producer::queued() const {
  return producer_->outq_len() + waiting_.load(std::memory_order_relaxed);
}

int kafka_producer::flush(int timeout_ms) {
  // Events waiting here leave within the reports librdkafka serves while
  // it flushes, so its queue never runs empty before they are sent.
  producer_->flush(timeout_ms);
  return queued();
}

void kafka_producer::purge() {
  close_queues("given up before it was sent");
  producer_->purge(RdKafka::Producer::PURGE_QUEUE
                   | RdKafka::Producer::PURGE_INFLIGHT);
}

// -- admin --------------------------------------------------------------------

caf::expected<void> ensure_topic(const kafka_settings& s,
                                 const topic_spec& spec, int timeout_ms) {
  // The C++ API of librdkafka 2.0.2 has no admin client: the C one, with
  // every handle owned by a unique_ptr.
  char err[512];
  auto* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers",
                        s.bootstrap_servers.c_str(), err, sizeof(err))
      != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return caf::make_error(ec::storage_failure,
                           std::string{"kafka config: "} + err);
  }
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk{
    rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)),
    rd_kafka_destroy};
  if (!rk) // rd_kafka_new keeps conf only when it succeeds.
    return caf::make_error(ec::storage_failure,
                           std::string{"kafka admin: "} + err);
  std::unique_ptr<rd_kafka_NewTopic_t, decltype(&rd_kafka_NewTopic_destroy)>
    topic{rd_kafka_NewTopic_new(s.topic.c_str(), spec.partitions,
                                spec.replication_factor, err, sizeof(err)),
          rd_kafka_NewTopic_destroy};
  if (!topic)
    return caf::make_error(ec::storage_failure,
                           std::string{"kafka topic spec: "} + err);
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue{
    rd_kafka_queue_new(rk.get()), rd_kafka_queue_destroy};
  std::unique_ptr<rd_kafka_AdminOptions_t,
                  decltype(&rd_kafka_AdminOptions_destroy)>
    options{rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS),
            rd_kafka_AdminOptions_destroy};
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err,
                                            sizeof(err));
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, err,
                                              sizeof(err));
  auto* raw = topic.get();
  rd_kafka_CreateTopics(rk.get(), &raw, 1, options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> ev{
    rd_kafka_queue_poll(queue.get(), timeout_ms + 1000),
    rd_kafka_event_destroy};
  if (!ev)
    return caf::make_error(ec::storage_failure,
                           "kafka: creating topic " + s.topic + " timed out");
  if (auto rc = rd_kafka_event_error(ev.get()); rc != RD_KAFKA_RESP_ERR_NO_ERROR)
    return caf::make_error(ec::storage_failure,
                           "kafka: creating topic " + s.topic + ": "
                             + rd_kafka_err2str(rc));
  size_t n = 0;
  auto* results
    = rd_kafka_CreateTopics_result_topics(
      rd_kafka_event_CreateTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    auto rc = rd_kafka_topic_result_error(results[i]);
    if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::info("kafka: created topic {} ({} partitions, replication {})",
                   s.topic, spec.partitions, spec.replication_factor);
    } else if (rc != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      auto why = rd_kafka_topic_result_error_string(results[i]);
      return caf::make_error(ec::storage_failure,
                             "kafka: creating topic " + s.topic + ": "
                               + (why ? why : rd_kafka_err2str(rc)));
    }
  }
  return caf::unit;
}

// -- consumer -----------------------------------------------------------------

struct kafka_log::rebalance_callback : RdKafka::RebalanceCb {
  start_fn start_at;
  bool refused = false;

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      std::vector<int32_t> ids;
      for (auto* tp : parts)
        ids.push_back(tp->partition());
      auto starts = start_at(ids);
      if (!starts) {
        // Reading from a guessed start could write a fenced owner's
        // records (the fences before the start are in MySQL only). An
        // empty assignment answers the rebalance; the owner then closes
        // this consumer (`refused_assignment`).
        spdlog::warn("writer takes none of {} partitions: where they start "
                     "is not known now",
                     parts.size());
        refused = true;
        consumer->assign({});
        return;
      }
      for (size_t i = 0; i < parts.size(); ++i) {
        parts[i]->set_offset((*starts)[i]);
        spdlog::info("writer assigned partition {} from offset {}",
                     parts[i]->partition(), parts[i]->offset());
      }
      consumer->assign(parts);
    } else {
      spdlog::info("writer revoked {} partitions", parts.size());
      consumer->unassign();
    }
  }
};

caf::expected<std::unique_ptr<kafka_log>>
kafka_log::join_group(const kafka_settings& s, start_fn start_at) {
  auto conf = make_conf({
    {"bootstrap.servers", s.bootstrap_servers},
    {"group.id", s.group_id},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "earliest"},
    {"session.timeout.ms", std::to_string(s.session_timeout_ms)},
    {"heartbeat.interval.ms", std::to_string(s.session_timeout_ms / 3)},
    {"enable.partition.eof", "false"},
    // What came every fetch-wait-max-ms rather than each record as it
    // arrives: the writers batch for MySQL anyway (writer.batch-max-ms),
    // and the broker answered a fetch for each record.
    {"fetch.min.bytes", "1048576"},
    {"fetch.wait.max.ms", std::to_string(s.fetch_wait_max_ms)},
  });
  if (!conf)
    return std::move(conf.error());
  std::unique_ptr<kafka_log> self{new kafka_log};
  self->topic_ = s.topic;
  self->rebalance_ = std::make_unique<rebalance_callback>();
  self->rebalance_->start_at = std::move(start_at);
  std::string err;
  if ((*conf)->set("rebalance_cb", self->rebalance_.get(), err)
      != RdKafka::Conf::CONF_OK)
    return caf::make_error(ec::storage_failure, "kafka rebalance_cb: " + err);
  self->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), err));
  if (!self->consumer_)
    return caf::make_error(ec::storage_failure, "kafka consumer: " + err);
  auto rc = self->consumer_->subscribe({s.topic});
  if (rc != RdKafka::ERR_NO_ERROR)
    return caf::make_error(ec::storage_failure,
                           "kafka subscribe: " + RdKafka::err2str(rc));
  return self;
}

caf::expected<std::unique_ptr<kafka_log>>
kafka_log::scanner(const kafka_settings& s) {
  // The high-level consumer needs a group id even when it only assigns.
  auto conf = make_conf({
    {"bootstrap.servers", s.bootstrap_servers},
    {"group.id", s.group_id + "-scan"},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "false"},
    // A fetch with nothing new waits this long at most: recovery and the
    // resolver read many short ranges up to the log's end.
    {"fetch.wait.max.ms", std::to_string(s.fetch_wait_max_ms)},
  });
  if (!conf)
    return std::move(conf.error());
  std::unique_ptr<kafka_log> self{new kafka_log};
  self->topic_ = s.topic;
  std::string err;
  self->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), err));
  if (!self->consumer_)
    return caf::make_error(ec::storage_failure, "kafka consumer: " + err);
  return self;
}

void destroy_apart(std::unique_ptr<RdKafka::KafkaConsumer> consumer,
                   std::shared_ptr<void> keep) {
  if (!consumer)
    return;
  std::thread{[consumer = std::move(consumer),
               keep = std::move(keep)]() mutable { consumer.reset(); }}
    .detach();
}

kafka_log::~kafka_log() {
  close();
  destroy_apart(std::move(consumer_), std::move(rebalance_));
}

void kafka_log::close() {
  if (consumer_ && !closed_) {
    closed_ = true;
    consumer_->close();
  }
}

std::vector<kafka_log::record> kafka_log::poll(size_t max_events,
                                               int max_wait_ms) {
  using clock = std::chrono::steady_clock;
  std::vector<record> result;
  size_t counted = 0; // Events, and records without any.
  auto deadline = clock::now() + std::chrono::milliseconds(max_wait_ms);
  while (counted < max_events && !refused_assignment()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - clock::now())
                  .count();
    if (left <= 0)
      break;
    std::unique_ptr<RdKafka::Message> msg{
      consumer_->consume(static_cast<int>(left))};
    if (msg->err() == RdKafka::ERR__TIMED_OUT)
      break;
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      if (msg->err() != RdKafka::ERR__PARTITION_EOF)
        spdlog::warn("kafka consume: {}", msg->errstr());
      continue;
    }
    result.push_back(to_record(*msg));
    counted += std::max<size_t>(result.back().events.size(), 1);
  }
  return result;
}

bool kafka_log::refused_assignment() const {
  return rebalance_ && rebalance_->refused;
}

void kafka_log::use_fences(const std::vector<log_fence>& fences) {
  for (auto& f : fences)
    fences_.add(f);
}

kafka_log::record kafka_log::to_record(const RdKafka::Message& msg) {
  record r{msg.partition(), msg.offset(),
           decode_issuances(msg.payload(), msg.len())};
  if (!r.events.empty()) {
    auto n = r.events.size();
    r.events.erase(std::remove_if(r.events.begin(), r.events.end(),
                                  [&](const issuance_event& e) {
                                    return fences_.voids(r.partition, r.offset,
                                                         e.shard_epoch);
                                  }),
                   r.events.end());
    r.voided = n - r.events.size();
  } else if ((r.fence = decode_fence(msg.payload(), msg.len()))) {
    fences_.add(log_fence{r.partition, r.offset, *r.fence});
  } else {
    r.probe = is_probe(msg.payload(), msg.len());
  }
  return r;
}

caf::expected<std::vector<int32_t>> kafka_log::partitions(int timeout_ms) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> topic{
    RdKafka::Topic::create(consumer_.get(), topic_, nullptr, err)};
  if (!topic)
    return caf::make_error(ec::storage_failure, "kafka topic: " + err);
  RdKafka::Metadata* raw = nullptr;
  auto rc = consumer_->metadata(false, topic.get(), &raw, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> md{raw};
  if (rc != RdKafka::ERR_NO_ERROR)
    return caf::make_error(ec::storage_failure,
                           "kafka metadata: " + RdKafka::err2str(rc));
  std::vector<int32_t> result;
  for (auto* t : *md->topics())
    if (t->topic() == topic_ && t->err() == RdKafka::ERR_NO_ERROR)
      for (auto* p : *t->partitions())
        result.push_back(p->id());
  if (result.empty())
    return caf::make_error(ec::storage_failure,
                           "kafka topic " + topic_ + " has no partitions");
  std::sort(result.begin(), result.end());
  return result;
}

caf::expected<log_ref> kafka_log::identity(int timeout_ms) {
  // clusterid() waits up to the timeout for the first metadata answer, and
  // returns an empty id when none came: no log has that id.
  auto id = consumer_->clusterid(timeout_ms);
  if (id.empty())
    return caf::make_error(ec::storage_failure,
                           "kafka cluster id: no answer within "
                             + std::to_string(timeout_ms) + " ms");
  return log_ref{topic_, std::move(id)};
}

caf::expected<std::pair<int64_t, int64_t>>
kafka_log::watermarks(int32_t partition, int timeout_ms) {
  int64_t low = 0, high = 0;
  auto rc = consumer_->query_watermark_offsets(topic_, partition, &low, &high,
                                               timeout_ms);
  if (rc != RdKafka::ERR_NO_ERROR)
    return caf::make_error(ec::storage_failure,
                           "kafka watermarks: " + RdKafka::err2str(rc));
  return std::make_pair(low, high);
}

std::vector<kafka_log::assigned_partition> kafka_log::assigned() {
  std::vector<RdKafka::TopicPartition*> parts;
  std::vector<assigned_partition> result;
  if (consumer_->assignment(parts) == RdKafka::ERR_NO_ERROR)
    for (auto* tp : parts) {
      int64_t low = -1, high = -1;
      if (consumer_->get_watermark_offsets(tp->topic(), tp->partition(), &low,
                                           &high)
            != RdKafka::ERR_NO_ERROR
          || low < 0 || high < 0)
        low = high = -1;
      result.push_back({tp->partition(), low, high});
    }
  RdKafka::TopicPartition::destroy(parts);
  std::sort(result.begin(), result.end(),
            [](auto& a, auto& b) { return a.partition < b.partition; });
  return result;
}

caf::expected<std::vector<kafka_log::record>>
kafka_log::read_to_end(int32_t partition, int64_t from, int timeout_ms) {
  auto some = read_some(partition, from, timeout_ms);
  if (!some)
    return std::move(some.error());
  if (!some->second)
    return caf::make_error(ec::storage_failure, "kafka scan timed out");
  return std::move(some->first);
}

caf::expected<std::pair<std::vector<kafka_log::record>, bool>>
kafka_log::read_some(int32_t partition, int64_t from, int timeout_ms) {
  auto marks = watermarks(partition, timeout_ms);
  if (!marks)
    return std::move(marks.error());
  auto [low, high] = *marks;
  std::pair<std::vector<record>, bool> done{{}, true};
  auto& result = done.first;
  from = std::max(from, low);
  if (from >= high)
    return done;
  std::unique_ptr<RdKafka::TopicPartition> tp{
    RdKafka::TopicPartition::create(topic_, partition, from)};
  std::vector<RdKafka::TopicPartition*> parts{tp.get()};
  auto rc = consumer_->assign(parts);
  if (rc != RdKafka::ERR_NO_ERROR)
    return caf::make_error(ec::storage_failure,
                           "kafka assign: " + RdKafka::err2str(rc));
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  int64_t next = from;
  while (next < high) {
    if (clock::now() > deadline) {
      consumer_->unassign();
      done.second = false;
      return done;
    }
    std::unique_ptr<RdKafka::Message> msg{consumer_->consume(100)};
    if (msg->err() == RdKafka::ERR__TIMED_OUT
        || msg->err() == RdKafka::ERR__PARTITION_EOF)
      continue;
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      consumer_->unassign();
      return caf::make_error(ec::storage_failure,
                             "kafka scan: " + msg->errstr());
    }
    next = msg->offset() + 1;
    result.push_back(to_record(*msg));
  }
  consumer_->unassign();
  return done;
}

} // namespace dibs
