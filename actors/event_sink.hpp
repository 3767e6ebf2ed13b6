#pragma once

#include <functional>
#include <memory>
#include <mutex>

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

/// The production sink. Its producer can be replaced while it serves (after
/// a fatal error); a publish uses whichever is current.
class kafka_sink : public event_sink {
public:
  explicit kafka_sink(std::shared_ptr<kafka_producer> producer)
    : producer_(std::move(producer)) {
  }

  void publish(const issuance_event& event, callback done) override {
    current()->produce(event, std::move(done));
  }

  std::shared_ptr<kafka_producer> current() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return producer_;
  }

  /// Installs `next`; returns the producer it replaces.
  std::shared_ptr<kafka_producer> replace(std::shared_ptr<kafka_producer> next) {
    std::lock_guard<std::mutex> guard{mtx_};
    std::swap(producer_, next);
    return next;
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<kafka_producer> producer_;
};

} // namespace dibs
