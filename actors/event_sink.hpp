#pragma once

#include <functional>

#include "persistence/kafka.hpp"
#include "persistence/records.hpp"

namespace dibs {

/// Where stock actors publish issuance events. The node's sink is the Kafka
/// producer; tests substitute one that records events and reports on demand.
class event_sink {
public:
  using callback = std::function<void(delivery_report)>;

  virtual ~event_sink() = default;

  /// Publishes `event`; `done` runs exactly once, on any thread, with the
  /// delivery outcome.
  virtual void publish(const issuance_event& event, callback done) = 0;
};

/// The production sink.
class kafka_sink : public event_sink {
public:
  explicit kafka_sink(kafka_producer& producer) : producer_(producer) {}

  void publish(const issuance_event& event, callback done) override {
    producer_.produce(event, std::move(done));
  }

private:
  kafka_producer& producer_;
};

} // namespace dibs
