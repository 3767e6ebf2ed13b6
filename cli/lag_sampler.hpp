#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cli/report.hpp"
#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"

namespace dibs::load {

/// Samples the writers' lag (Kafka high watermarks minus the offsets the
/// writers stored in MySQL) on a thread of its own while a load runs.
///
/// librdkafka 2.0.2 does not always honour the timeout of a watermark query
/// whose brokers were killed: a sample may then never return. The thread
/// shares its state with the sampler, and `stop` leaves such a thread
/// behind after a grace period instead of waiting for it.
class lag_sampler {
public:
  /// Where Kafka is; asked again when a sample fails, since the embedded
  /// broker may have restarted on other ports.
  using kafka_fn = std::function<kafka_settings()>;

  lag_sampler(kafka_fn kafka, mysql_settings mysql, millis interval,
              clock::time_point start);
  ~lag_sampler();

  /// Stops sampling and returns the samples taken so far.
  std::vector<lag_sample> stop();

  /// The last error a sample ran into, if any.
  std::optional<std::string> error() const;

private:
  struct state;

  std::shared_ptr<state> state_;
};

/// One sample of the writers' lag; `error` says why there is none.
std::optional<lag_sample> sample_lag(mysql_store& db, kafka_log& log,
                                     clock::time_point start,
                                     std::string& error);

} // namespace dibs::load
