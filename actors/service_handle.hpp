#pragma once

#include <mutex>

#include <caf/actor.hpp>

namespace dibs {

/// The current handle of a node-wide service actor (snapshotter, resolver)
/// that the supervisor may replace: holders ask for it at each use instead
/// of keeping a handle that could be dead.
class service_handle {
public:
  service_handle() = default;

  explicit service_handle(caf::actor hdl) : hdl_(std::move(hdl)) {
    // Nothing else.
  }

  caf::actor get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return hdl_;
  }

  void set(caf::actor hdl) {
    std::lock_guard<std::mutex> guard{mtx_};
    hdl_ = std::move(hdl);
  }

private:
  mutable std::mutex mtx_;
  caf::actor hdl_;
};

} // namespace dibs
