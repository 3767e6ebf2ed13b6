// dibs-kafka: the embedded default Kafka broker. Runs librdkafka's mock
// cluster in this process, creates the issuance topic and writes the
// bootstrap list to a file, then serves until SIGTERM or SIGINT.
//
// The mock cluster keeps everything in memory: a restart loses topics, data
// and offsets. dibs stores the writers' offsets in MySQL for that reason.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) {
  stop_requested = true;
}

int usage(const char* self) {
  std::fprintf(stderr,
               "usage: %s --bootstrap-file PATH [--brokers N] "
               "[--partitions N] [--topic NAME]\n",
               self);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  std::string bootstrap_file;
  std::string topic = "dibs.issuance";
  int brokers = 3;
  int partitions = 6;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::exit(usage(argv[0]));
      }
      return argv[++i];
    };
    if (arg == "--bootstrap-file")
      bootstrap_file = value();
    else if (arg == "--brokers")
      brokers = std::atoi(value().c_str());
    else if (arg == "--partitions")
      partitions = std::atoi(value().c_str());
    else if (arg == "--topic")
      topic = value();
    else
      return usage(argv[0]);
  }
  if (bootstrap_file.empty() || brokers < 1 || partitions < 1)
    return usage(argv[0]);
  char err[512];
  auto* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "socket.nagle.disable", "true", err, sizeof(err));
  auto* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) {
    std::fprintf(stderr, "dibs-kafka: %s\n", err);
    return 1;
  }
  auto* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (!cluster) {
    std::fprintf(stderr, "dibs-kafka: cannot create the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  auto replication = brokers < 3 ? brokers : 3;
  auto rc = rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions,
                                       replication);
  if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "dibs-kafka: topic %s: %s\n", topic.c_str(),
                 rd_kafka_err2str(rc));
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
    return 1;
  }
  std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
  {
    // Write then rename, so a reader never sees half a list.
    auto tmp = bootstrap_file + ".tmp";
    std::ofstream out{tmp, std::ios::trunc};
    out << bootstraps << '\n';
    out.close();
    if (!out || std::rename(tmp.c_str(), bootstrap_file.c_str()) != 0) {
      std::fprintf(stderr, "dibs-kafka: cannot write %s\n",
                   bootstrap_file.c_str());
      return 1;
    }
  }
  std::printf("dibs-kafka: %d brokers at %s, topic %s with %d partitions\n",
              brokers, bootstraps.c_str(), topic.c_str(), partitions);
  std::fflush(stdout);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  while (!stop_requested)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
