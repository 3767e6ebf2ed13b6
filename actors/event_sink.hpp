#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "actors/ownership.hpp"
#include "core/histogram.hpp"
#include "persistence/fence_watch.hpp"
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
/// a fatal error); a publish uses whichever is current. Each event carries
/// the epoch its shard is served with here, and is stored only once the
/// fence watch knows every record before it, read back or this node's own,
/// with no newer owner's fence among them (`fence_watch::confirm`): a
/// record after such a fence reports `failed` (it does not count), one
/// whose shard was given up (or given up and taken again) before it was
/// decided `unknown`. It counts what is in flight and times each report.
class kafka_sink : public event_sink {
public:
  kafka_sink(std::shared_ptr<kafka_producer> producer,
             const ownership& owners, fence_watch& watch)
    : producer_(std::move(producer)), owners_(owners), watch_(watch) {
  }

  void publish(const issuance_event& event, callback done) override {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    auto finish = [this, done = std::move(done),
                   started = std::chrono::steady_clock::now()](
                    delivery_report rep) {
      latency_.record(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started));
      outcomes_[static_cast<size_t>(rep.outcome)].fetch_add(
        1, std::memory_order_relaxed);
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      done(std::move(rep));
    };
    auto shard = owners_.shard_of(event.coupon_id);
    auto epoch = owners_.epoch(shard);
    if (epoch == 0) {
      delivery_report rep;
      rep.error = "the coupon's shard is not served here";
      return finish(std::move(rep));
    }
    auto stamped = event;
    stamped.shard_epoch = epoch;
    current()->produce(shard, stamped, [this, epoch,
                                        finish = std::move(finish)](
                                  delivery_report rep) mutable {
      if (rep.outcome != delivery_outcome::stored)
        return finish(std::move(rep));
      auto partition = rep.partition;
      auto offset = rep.offset;
      watch_.confirm(partition, offset, epoch,
                     [rep = std::move(rep), finish = std::move(finish)](
                       fence_watch::verdict v) mutable {
                       if (v == fence_watch::verdict::fenced) {
                         rep.outcome = delivery_outcome::failed;
                         rep.error = "a newer owner fenced the shard before "
                                     "the record";
                       } else if (v == fence_watch::verdict::unknown) {
                         rep.outcome = delivery_outcome::unknown;
                         rep.error = "the shard was given up before the "
                                     "record was decided";
                       }
                       finish(std::move(rep));
                     });
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
  const ownership& owners_;
  fence_watch& watch_;
  std::atomic<int64_t> in_flight_{0};
  latency_histogram latency_;
  std::array<std::atomic<uint64_t>, 3> outcomes_{};
};

} // namespace dibs
