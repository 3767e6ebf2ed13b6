// What Kafka's transactional producer would cost on the issue path, against
// the idempotent producer dibs uses: librdkafka 2.0.2 against the embedded
// broker. tests/bench/kafka_txn.sh builds and runs it; docs/cluster.md
// records the figures and why failover fences with leases instead.
//
//   bench <bootstrap> <topic> <rounds>
//
// idempotent: one record in flight, from produce to its delivery report.
// txn-N: begin, N records over two partitions, commit; from begin to the
// commit's return (a yes could go out no sooner).

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t)
    .count();
}

void print(const char* name, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[static_cast<size_t>(q * (v.size() - 1))]; };
  std::printf("%-11s n=%zu p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
              name, v.size(), at(0.5), at(0.9), at(0.99), v.back());
}

struct counter : RdKafka::DeliveryReportCb {
  std::atomic<int> done{0};
  void dr_cb(RdKafka::Message&) override {
    ++done;
  }
};

std::unique_ptr<RdKafka::Producer> make(const std::string& bootstrap,
                                        const std::string& txn_id,
                                        counter* dr) {
  std::unique_ptr<RdKafka::Conf> conf{
    RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  std::string err;
  conf->set("bootstrap.servers", bootstrap, err);
  conf->set("enable.idempotence", "true", err);
  conf->set("linger.ms", "0", err);
  conf->set("socket.nagle.disable", "true", err);
  if (!txn_id.empty())
    conf->set("transactional.id", txn_id, err);
  if (dr)
    conf->set("dr_cb", dr, err);
  std::unique_ptr<RdKafka::Producer> p{RdKafka::Producer::create(conf.get(), err)};
  if (!p) {
    std::fprintf(stderr, "producer: %s\n", err.c_str());
    std::exit(2);
  }
  return p;
}

/// Creates the topic with two partitions (the broker creates none).
void create_topic(const std::string& bootstrap, const std::string& topic) {
  char err[512];
  auto* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err,
                    sizeof(err));
  auto* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  auto* spec = rd_kafka_NewTopic_new(topic.c_str(), 2, 1, err, sizeof(err));
  auto* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &spec, 1, nullptr, queue);
  auto* ev = rd_kafka_queue_poll(queue, 30'000);
  if (!ev || rd_kafka_event_error(ev)) {
    std::fprintf(stderr, "creating %s failed\n", topic.c_str());
    std::exit(2);
  }
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(spec);
  rd_kafka_destroy(rk);
}

void check(RdKafka::Error* e, const char* what) {
  if (e) {
    std::fprintf(stderr, "%s: %s\n", what, e->str().c_str());
    std::exit(2);
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <bootstrap> <topic> <rounds>\n", argv[0]);
    return 2;
  }
  std::string bootstrap = argv[1], topic = argv[2];
  int rounds = std::atoi(argv[3]);
  create_topic(bootstrap, topic);
  const char payload[] = R"({"issuanceId":1,"couponId":1,"userId":1,"issuedAt":1})";
  auto produce = [&](RdKafka::Producer& p, int32_t partition) {
    p.produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
              const_cast<char*>(payload), sizeof(payload) - 1, nullptr, 0, 0,
              nullptr);
  };
  {
    counter dr;
    auto p = make(bootstrap, "", &dr);
    std::vector<double> v;
    for (int i = 0; i < rounds + 20; ++i) {
      auto t = clock_type::now();
      int want = dr.done + 1;
      produce(*p, 0);
      while (dr.done < want)
        p->poll(1);
      if (i >= 20) // The first ones fetch metadata.
        v.push_back(ms_since(t));
    }
    print("idempotent", v);
  }
  for (int n : {1, 5}) {
    auto p = make(bootstrap, topic + ".bench-txn-" + std::to_string(n), nullptr);
    check(p->init_transactions(30'000), "init_transactions");
    std::vector<double> v;
    for (int i = 0; i < rounds + 20; ++i) {
      auto t = clock_type::now();
      check(p->begin_transaction(), "begin_transaction");
      for (int j = 0; j < n; ++j)
        produce(*p, j % 2);
      check(p->commit_transaction(30'000), "commit_transaction");
      if (i >= 20)
        v.push_back(ms_since(t));
    }
    print(("txn-" + std::to_string(n)).c_str(), v);
  }
  return 0;
}
