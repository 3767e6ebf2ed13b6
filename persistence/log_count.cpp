// dibs-log-count: reads the whole issuance topic and prints, per coupon, the
// number of distinct issuance events in it ("coupon_id count" lines). The
// integration tests compare it with MySQL: conservation at quiescence says
// rows = distinct issuance events in Kafka, for every coupon.
//
//   dibs-log-count (--bootstrap-file PATH | --bootstrap-servers LIST) [--topic NAME]

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <caf/error.hpp>

#include "persistence/kafka.hpp"

namespace {

constexpr int scan_timeout_ms = 30'000;

int usage(const char* self) {
  std::fprintf(stderr,
               "usage: %s (--bootstrap-file PATH | --bootstrap-servers LIST) "
               "[--topic NAME]\n",
               self);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  dibs::kafka_settings settings;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    std::string value = argv[i + 1];
    if (key == "--bootstrap-file") {
      std::ifstream in{value};
      std::getline(in, settings.bootstrap_servers);
    } else if (key == "--bootstrap-servers") {
      settings.bootstrap_servers = value;
    } else if (key == "--topic") {
      settings.topic = value;
    } else {
      return usage(argv[0]);
    }
  }
  if (argc % 2 == 0 || settings.bootstrap_servers.empty())
    return usage(argv[0]);
  auto scanner = dibs::kafka_log::scanner(settings);
  if (!scanner) {
    std::fprintf(stderr, "%s\n", caf::to_string(scanner.error()).c_str());
    return 1;
  }
  auto parts = (*scanner)->partitions(scan_timeout_ms);
  if (!parts) {
    std::fprintf(stderr, "%s\n", caf::to_string(parts.error()).c_str());
    return 1;
  }
  std::map<dibs::coupon_id_t, std::set<dibs::issuance_id_t>> ids;
  for (auto p : *parts) {
    auto records = (*scanner)->read_to_end(p, 0, scan_timeout_ms);
    if (!records) {
      std::fprintf(stderr, "%s\n", caf::to_string(records.error()).c_str());
      return 1;
    }
    for (auto& r : *records)
      if (r.event)
        ids[r.event->coupon_id].insert(r.event->issuance_id);
  }
  for (auto& [coupon, set] : ids)
    std::printf("%u %zu\n", coupon, set.size());
  return 0;
}
