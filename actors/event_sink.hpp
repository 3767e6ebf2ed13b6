#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "core/histogram.hpp"
#include "persistence/kafka.hpp"
#include "core/domain.hpp"

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
/// a fatal error); a publish uses whichever is current. It counts what is in
/// flight and times each delivery report.
class kafka_sink : public event_sink {
public:
  explicit kafka_sink(std::shared_ptr<kafka_producer> producer)
    : producer_(std::move(producer)) {
  }

  void publish(const issuance_event& event, callback done) override {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    current()->produce(
      event, [this, done = std::move(done),
              started = std::chrono::steady_clock::now()](delivery_report rep) {
        latency_.record(std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - started));
        outcomes_[static_cast<size_t>(rep.outcome)].fetch_add(
          1, std::memory_order_relaxed);
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        done(std::move(rep));
      });
  }

  /// Records published and not yet reported.
  int64_t in_flight() const {
    return in_flight_.load(std::memory_order_relaxed);
  }

  /// From publish to delivery report.
  const latency_histogram& delivery_latency() const {
    return latency_;
  }

  /// Delivery reports by outcome (stored, failed, unknown).
  uint64_t reports(delivery_outcome x) const {
    return outcomes_[static_cast<size_t>(x)].load(std::memory_order_relaxed);
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
  std::atomic<int64_t> in_flight_{0};
  latency_histogram latency_;
  std::array<std::atomic<uint64_t>, 3> outcomes_{};
};

} // namespace dibs
