#include "persistence/owner_group.hpp"

#include <algorithm>

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

namespace dibs {

namespace {

std::vector<int32_t> ids_of(const std::vector<RdKafka::TopicPartition*>& parts) {
  std::vector<int32_t> result;
  for (auto* tp : parts)
    result.push_back(tp->partition());
  std::sort(result.begin(), result.end());
  return result;
}

void log_failure(const char* what, RdKafka::Error* err) {
  if (err) {
    spdlog::error("owner group: {} failed: {}", what, err->str());
    delete err;
  }
}

} // namespace

struct owner_group::rebalance_callback : RdKafka::RebalanceCb {
  owner_group* self = nullptr;

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    auto ids = ids_of(parts);
    ++self->rebalances_;
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      log_failure("assign", consumer->incremental_assign(parts));
      // The group only says who owns what; nothing is fetched.
      consumer->pause(parts);
      {
        std::lock_guard<std::mutex> guard{self->mtx_};
        auto& a = self->assigned_;
        a.insert(a.end(), ids.begin(), ids.end());
        std::sort(a.begin(), a.end());
      }
      spdlog::info("owner group {}: assigned {} partitions",
                   self->settings_.member, ids.size());
      if (!ids.empty() && self->hooks_.assigned)
        self->hooks_.assigned(ids);
      return;
    }
    auto lost = consumer->assignment_lost();
    spdlog::warn("owner group {}: {} {} partitions", self->settings_.member,
                 lost ? "lost" : "gives up", ids.size());
    if (!ids.empty() && self->hooks_.revoked)
      self->hooks_.revoked(ids, lost);
    {
      std::lock_guard<std::mutex> guard{self->mtx_};
      auto& a = self->assigned_;
      a.erase(std::remove_if(a.begin(), a.end(),
                             [&](int32_t p) {
                               return std::binary_search(ids.begin(),
                                                         ids.end(), p);
                             }),
              a.end());
    }
    log_failure("unassign", consumer->incremental_unassign(parts));
  }
};

caf::expected<std::unique_ptr<owner_group>>
owner_group::join(const kafka_settings& kafka, owner_group_settings s,
                  hooks callbacks) {
  std::unique_ptr<owner_group> self{new owner_group};
  self->settings_ = std::move(s);
  self->hooks_ = std::move(callbacks);
  self->topic_ = kafka.topic;
  self->rebalance_ = std::make_unique<rebalance_callback>();
  self->rebalance_->self = self.get();
  auto& st = self->settings_;
  std::unique_ptr<RdKafka::Conf> conf{
    RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  std::string err;
  std::vector<std::pair<std::string, std::string>> kvs{
    {"bootstrap.servers", kafka.bootstrap_servers},
    {"group.id", st.group_id},
    {"client.id", st.member},
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"session.timeout.ms", std::to_string(st.session_timeout_ms)},
    {"heartbeat.interval.ms", std::to_string(st.heartbeat_interval_ms)},
    {"max.poll.interval.ms", std::to_string(st.max_poll_interval_ms)},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "false"},
    // The topic may be created after the node joined (a new Kafka log):
    // the group assigns its partitions once the members' metadata has it.
    {"topic.metadata.refresh.interval.ms", "1000"},
  };
  for (auto& [k, v] : kvs)
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      return caf::make_error(ec::storage_failure,
                             "owner group config " + k + ": " + err);
  if (conf->set("rebalance_cb", self->rebalance_.get(), err)
      != RdKafka::Conf::CONF_OK)
    return caf::make_error(ec::storage_failure, "owner group: " + err);
  self->consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!self->consumer_)
    return caf::make_error(ec::storage_failure, "owner group: " + err);
  if (auto rc = self->consumer_->subscribe({kafka.topic});
      rc != RdKafka::ERR_NO_ERROR)
    return caf::make_error(ec::storage_failure,
                           "owner group subscribe: " + RdKafka::err2str(rc));
  self->thread_ = std::thread{[raw = self.get()] { raw->run(); }};
  return self;
}

owner_group::~owner_group() {
  running_ = false;
  if (!thread_.joinable())
    return; // Never ran (its subscribe failed): never connected either.
  thread_.join();
  // The run thread closed the consumer: nothing calls back any more.
  destroy_apart(std::move(consumer_), std::move(rebalance_));
}

std::vector<int32_t> owner_group::assignment() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return assigned_;
}

void owner_group::stall_for(int ms) {
  stall_ms_ = ms;
}

void owner_group::rejoin_if_unassigned() {
  rejoin_ = true;
}

void owner_group::run() {
  while (running_.load()) {
    if (auto ms = stall_ms_.exchange(0); ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    if (rejoin_.exchange(false) && assignment().empty()) {
      // Nothing assigned, so nothing is revoked.
      spdlog::info("owner group {}: joins again", settings_.member);
      consumer_->unsubscribe();
      if (auto rc = consumer_->subscribe({topic_});
          rc != RdKafka::ERR_NO_ERROR)
        spdlog::error("owner group {}: subscribe failed: {}",
                      settings_.member, RdKafka::err2str(rc));
    }
    // Serves the rebalance callbacks; the paused partitions give nothing.
    std::unique_ptr<RdKafka::Message> msg{consumer_->consume(50)};
  }
  // Revokes what is assigned (through the callback, on this thread) and
  // leaves the group at once.
  consumer_->close();
}

} // namespace dibs
