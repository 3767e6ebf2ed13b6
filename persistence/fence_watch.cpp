#include "persistence/fence_watch.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

namespace dibs {

namespace {

/// Most records are events: only what starts like a fence is parsed.
std::optional<uint64_t> fence_in(const RdKafka::Message& msg) {
  constexpr char prefix[] = R"({"fence")";
  if (msg.len() < sizeof(prefix) - 1
      || std::memcmp(msg.payload(), prefix, sizeof(prefix) - 1) != 0)
    return std::nullopt;
  return decode_fence(msg.payload(), msg.len());
}

/// A decided record's verdict.
fence_watch::verdict verdict_of(read_back::verdict v) {
  return v == read_back::verdict::fenced ? fence_watch::verdict::fenced
                                         : fence_watch::verdict::counts;
}

/// The watch's consumer of `kafka`'s log.
caf::expected<std::unique_ptr<RdKafka::KafkaConsumer>>
make_consumer(const kafka_settings& kafka) {
  std::unique_ptr<RdKafka::Conf> conf{
    RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  std::string err;
  // Assigned by hand; the id is only required by the high-level consumer.
  std::vector<std::pair<std::string, std::string>> kvs{
    {"bootstrap.servers", kafka.bootstrap_servers},
    {"group.id", kafka.group_id + "-watch"},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "false"},
    // An owner's records are decided by their delivery reports
    // (`confirm`); only those past a gap wait for the read. So the watch
    // fetches what came every fetch-wait-max-ms instead of every record
    // as it arrives, which cost the broker a fetch for each record.
    {"fetch.min.bytes", "1048576"},
    {"fetch.wait.max.ms", std::to_string(kafka.fetch_wait_max_ms)},
    {"socket.nagle.disable", "true"},
  };
  for (auto& [k, v] : kvs)
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      return caf::make_error(ec::storage_failure,
                             "fence watch config " + k + ": " + err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer{
    RdKafka::KafkaConsumer::create(conf.get(), err)};
  if (!consumer)
    return caf::make_error(ec::storage_failure, "fence watch: " + err);
  return consumer;
}

} // namespace

caf::expected<std::unique_ptr<fence_watch>>
fence_watch::make(const kafka_settings& kafka, fenced_fn on_fenced) {
  auto consumer = make_consumer(kafka);
  if (!consumer)
    return std::move(consumer.error());
  std::unique_ptr<fence_watch> self{new fence_watch};
  self->topic_ = kafka.topic;
  self->on_fenced_ = std::move(on_fenced);
  self->consumer_ = std::move(*consumer);
  self->thread_ = std::thread{[raw = self.get()] { raw->run(); }};
  return self;
}

std::map<int32_t, fence_watch::verdicts> fence_watch::drop_all() {
  std::map<int32_t, verdicts> left;
  for (auto& [id, p] : parts_)
    unknown_all(p, left[id]);
  parts_.clear();
  to_assign_.clear();
  to_unassign_.clear();
  return left;
}

/// Closes and destroys a consumer of a log left behind on a thread of its
/// own: closing may wait for brokers that are gone. The watch's consumer
/// calls nothing back.
void retire(std::unique_ptr<RdKafka::KafkaConsumer> consumer) {
  if (!consumer)
    return;
  std::thread{[consumer = std::move(consumer)]() mutable {
    consumer->close();
    destroy_apart(std::move(consumer));
  }}.detach();
}

caf::error fence_watch::follow(const kafka_settings& kafka) {
  auto consumer = make_consumer(kafka);
  if (!consumer)
    return std::move(consumer.error());
  {
    std::unique_lock<std::mutex> guard{mtx_};
    auto left = drop_all();
    // Made by an earlier follow the thread has not taken yet: it goes.
    std::swap(next_consumer_, *consumer);
    next_topic_ = kafka.topic;
    for (auto& [partition, out] : left)
      deliver(guard, partition, std::move(out));
  }
  retire(std::move(*consumer));
  return caf::none;
}

fence_watch::~fence_watch() {
  running_ = false;
  if (thread_.joinable())
    thread_.join();
  {
    std::unique_lock<std::mutex> guard{mtx_};
    for (auto& [partition, out] : drop_all())
      deliver(guard, partition, std::move(out));
    // A delivery another thread is making (a report's, which should have
    // come before) ends, with what was left to it, before the watch goes.
    delivered_.wait(guard, [this] {
      return std::none_of(deliveries_.begin(), deliveries_.end(),
                          [](const auto& d) { return d.second.busy; });
    });
  }
  for (auto* c : {&consumer_, &next_consumer_})
    if (*c) {
      (*c)->close();
      destroy_apart(std::move(*c));
    }
}

void fence_watch::watch(int32_t partition, int64_t from, uint64_t epoch) {
  std::unique_lock<std::mutex> guard{mtx_};
  verdicts left;
  auto& p = parts_[partition];
  unknown_all(p, left);
  p = part{read_back{epoch, from}, {}};
  to_assign_.emplace_back(partition, from);
  deliver(guard, partition, std::move(left));
}

void fence_watch::unwatch(int32_t partition) {
  std::unique_lock<std::mutex> guard{mtx_};
  auto i = parts_.find(partition);
  if (i == parts_.end())
    return;
  verdicts left;
  unknown_all(i->second, left);
  parts_.erase(i);
  to_unassign_.push_back(partition);
  deliver(guard, partition, std::move(left));
}

void fence_watch::confirm(int32_t partition, int64_t offset, uint64_t epoch,
                          verdict_fn done) {
  std::unique_lock<std::mutex> guard{mtx_};
  verdicts out;
  auto i = parts_.find(partition);
  // The caller's own record, of this watch's epoch: known now, whether or
  // not it was read.
  if (i == parts_.end() || !i->second.state.own(offset, epoch)) {
    out.emplace_back(std::move(done), verdict::unknown);
  } else {
    // Decided with the records before it, in offset order (reports of two
    // producers, the one replaced after a fatal error and its successor,
    // may come out of order).
    auto& p = i->second;
    p.waiting[offset].push_back(std::move(done));
    decide(p, out);
  }
  deliver(guard, partition, std::move(out));
}

int64_t fence_watch::fenced_at(int32_t partition) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = parts_.find(partition);
  return i != parts_.end() ? i->second.state.fenced_at() : -1;
}

int64_t fence_watch::read_to(int32_t partition) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = parts_.find(partition);
  return i != parts_.end() ? i->second.state.read_to() : -1;
}

size_t fence_watch::waiting() const {
  std::lock_guard<std::mutex> guard{mtx_};
  size_t n = 0;
  for (auto& [id, p] : parts_)
    for (auto& [offset, fns] : p.waiting)
      n += fns.size();
  return n;
}

void fence_watch::unknown_all(part& p, verdicts& out) {
  for (auto& [offset, fns] : p.waiting)
    for (auto& fn : fns)
      out.emplace_back(std::move(fn), verdict::unknown);
  p.waiting.clear();
}

void fence_watch::decide(part& p, verdicts& out) {
  auto end = p.waiting.lower_bound(p.state.known_to());
  for (auto i = p.waiting.begin(); i != end; ++i) {
    auto v = verdict_of(p.state.of(i->first));
    for (auto& fn : i->second)
      out.emplace_back(std::move(fn), v);
  }
  p.waiting.erase(p.waiting.begin(), end);
}

void fence_watch::deliver(std::unique_lock<std::mutex>& guard,
                          int32_t partition, verdicts out) {
  auto& d = deliveries_[partition];
  for (auto& x : out)
    d.ready.push_back(std::move(x));
  if (d.busy)
    return; // Its deliverer calls these after what it is calling.
  d.busy = true;
  while (!d.ready.empty()) {
    auto batch = std::move(d.ready);
    d.ready.clear();
    guard.unlock();
    for (auto& [fn, v] : batch)
      fn(v);
    guard.lock();
  }
  d.busy = false;
  delivered_.notify_all();
}

void fence_watch::run() {
  auto apply = [this](std::vector<std::pair<int32_t, int64_t>>& add,
                      std::vector<int32_t>& drop) {
    std::vector<RdKafka::TopicPartition*> parts;
    for (auto p : drop)
      parts.push_back(RdKafka::TopicPartition::create(topic_, p));
    if (!parts.empty())
      if (auto* err = consumer_->incremental_unassign(parts)) {
        spdlog::error("fence watch: unassign failed: {}", err->str());
        delete err;
      }
    RdKafka::TopicPartition::destroy(parts);
    for (auto& [p, from] : add)
      parts.push_back(RdKafka::TopicPartition::create(topic_, p, from));
    if (!parts.empty())
      if (auto* err = consumer_->incremental_assign(parts)) {
        spdlog::error("fence watch: assign failed: {}", err->str());
        delete err;
      }
    RdKafka::TopicPartition::destroy(parts);
  };
  std::set<int32_t> assigned;
  while (running_.load()) {
    std::vector<std::pair<int32_t, int64_t>> add;
    std::vector<int32_t> drop;
    std::unique_ptr<RdKafka::KafkaConsumer> old;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      // Kafka moved: what is watched from now on is of the new log.
      if (next_consumer_) {
        old = std::move(consumer_);
        consumer_ = std::move(next_consumer_);
        topic_ = next_topic_;
        assigned.clear();
      }
      add.swap(to_assign_);
      drop.swap(to_unassign_);
      // Watched and given up again since the last look: not read.
      add.erase(std::remove_if(add.begin(), add.end(),
                               [this](const auto& a) {
                                 return parts_.count(a.first) == 0;
                               }),
                add.end());
    }
    // A partition watched again starts anew: drop it, then assign it,
    // from where it was watched last (a takeover watches its fences, and
    // one of them given up and recovered at once is watched again before
    // this thread looks: librdkafka refuses a list with a partition twice,
    // and the partition would be read back by nobody).
    std::map<int32_t, int64_t> last;
    for (auto& [p, from] : add)
      last[p] = from;
    add.assign(last.begin(), last.end());
    for (auto& [p, from] : add)
      drop.push_back(p);
    drop.erase(std::remove_if(drop.begin(), drop.end(),
                              [&](int32_t p) { return !assigned.erase(p); }),
               drop.end());
    for (auto& [p, from] : add)
      assigned.insert(p);
    retire(std::move(old));
    if (!add.empty() || !drop.empty())
      apply(add, drop);
    std::unique_ptr<RdKafka::Message> msg{consumer_->consume(20)};
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      if (msg->err() != RdKafka::ERR__TIMED_OUT)
        spdlog::warn("fence watch: {}", msg->errstr());
      continue;
    }
    std::optional<uint64_t> fenced_by;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      auto i = parts_.find(msg->partition());
      // Read for a watch since replaced: of the log before a move
      // (`follow` came meanwhile), or of the partition's assignment
      // before `watch` started it anew (the records between were read
      // into the part it replaced, and a fence among them would be
      // skipped).
      auto again = std::any_of(
        to_assign_.begin(), to_assign_.end(),
        [&](const auto& a) { return a.first == msg->partition(); });
      if (i == parts_.end() || next_consumer_ || again)
        continue;
      auto& p = i->second;
      auto epoch = fence_in(*msg);
      if (p.state.read(msg->offset(), epoch))
        fenced_by = epoch;
      verdicts out;
      decide(p, out);
      deliver(guard, msg->partition(), std::move(out));
    }
    if (fenced_by) {
      spdlog::error("partition {} was fenced at offset {} by owner epoch {}",
                    msg->partition(), msg->offset(), *fenced_by);
      if (on_fenced_)
        on_fenced_(msg->partition(), msg->offset(), *fenced_by);
    }
  }
}

} // namespace dibs
