#pragma once

#include <mutex>
#include <unordered_map>
#include <vector>

#include "actors/protocol.hpp"

namespace dibs {

/// The issuances of one coupon that are durable in Kafka and not yet known
/// committed in MySQL, kept by the node beside the coupon's stock actor and
/// outliving it. A crashed actor's successor normally finds them again in
/// the log; when that log was lost meanwhile (the cluster replaced), this
/// is where they still are, and the successor publishes them
/// again instead of selling those units a second time.
class accepted_ledger {
public:
  void add(const issuance_event& e) {
    std::lock_guard<std::mutex> guard{mtx_};
    events_[e.issuance_id] = e;
  }

  void erase(issuance_id_t id) {
    std::lock_guard<std::mutex> guard{mtx_};
    events_.erase(id);
  }

  /// Replaces the contents: what a new actor holds as accepted.
  void reset(const std::vector<issuance_event>& accepted) {
    std::lock_guard<std::mutex> guard{mtx_};
    events_.clear();
    for (auto& e : accepted)
      events_[e.issuance_id] = e;
  }

  std::vector<issuance_event> events() const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<issuance_event> result;
    result.reserve(events_.size());
    for (auto& [id, e] : events_)
      result.push_back(e);
    return result;
  }

private:
  mutable std::mutex mtx_;
  std::unordered_map<issuance_id_t, issuance_event> events_;
};

} // namespace dibs
