#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/kafka.hpp"

namespace RdKafka {
class KafkaConsumer;
} // namespace RdKafka

namespace dibs {

/// How a member of the shard owners' group behaves.
struct owner_group_settings {
  /// The consumer group of the shard owners (not the writers').
  std::string group_id;
  /// This member's name, for the broker's logs and the console.
  std::string member;
  /// A member silent for this long is dropped and its partitions move
  /// (the broker's group.min.session.timeout.ms must allow it).
  int session_timeout_ms = 2000;
  int heartbeat_interval_ms = 500;
  /// The poll loop stalled this long: the member leaves the group
  /// (librdkafka's max.poll.interval.ms; at least the session timeout).
  int max_poll_interval_ms = 30000;
};

/// Membership of the shard owners on Kafka's group coordinator. Every node
/// joins one consumer group on the issuance topic with the cooperative-
/// sticky assignor: the partitions the group assigns a member are the
/// shards it owns. The coordinator drops a member silent for the session
/// timeout and moves its partitions to the living, as few as possible; a
/// member that joins takes its share from the others, each revoked before
/// it is assigned anew.
///
/// The group decides who should own a shard, not who may: a member the
/// group dropped may not know it yet (a paused process). Fences in the log
/// keep such a member from counting (`fence_watch`). The partitions are
/// paused: the group never fetches records, and it commits nothing (a
/// commit that races a rebalance makes librdkafka drop the whole
/// assignment as lost).
class owner_group {
public:
  using clock_type = std::chrono::steady_clock;

  /// Called on the group's thread: return soon.
  struct hooks {
    /// Partitions assigned to this member.
    std::function<void(std::vector<int32_t>)> assigned;
    /// Partitions taken from this member: `lost` when the group dropped
    /// it, else asked to give them up. On return they are not served.
    std::function<void(std::vector<int32_t>, bool lost)> revoked;
  };

  static caf::expected<std::unique_ptr<owner_group>>
  join(const kafka_settings& kafka, owner_group_settings settings,
       hooks callbacks);

  /// Leaves the group (its partitions are revoked through the hooks first).
  ~owner_group();

  /// The partitions the group assigns this member now.
  std::vector<int32_t> assignment() const;

  /// Assignments and revocations so far.
  uint64_t rebalances() const {
    return rebalances_.load();
  }

  const owner_group_settings& settings() const {
    return settings_;
  }

  /// Stops polling for `ms` (tests: a member that hangs).
  void stall_for(int ms);

  /// Joins the group again if it assigns this member nothing: after the
  /// topic was made in a new Kafka log. librdkafka 2.0.2 keeps an empty
  /// assignment got while the topic did not exist yet, though its metadata
  /// refresh sees the topic since (seen in integration.broker_restart).
  void rejoin_if_unassigned();

private:
  owner_group() = default;
  struct rebalance_callback;
  void run();

  owner_group_settings settings_;
  hooks hooks_;
  std::string topic_;
  std::unique_ptr<rebalance_callback> rebalance_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  mutable std::mutex mtx_;
  std::vector<int32_t> assigned_;
  std::atomic<uint64_t> rebalances_{0};
  std::atomic<int> stall_ms_{0};
  std::atomic<bool> rejoin_{false};
  std::atomic<bool> running_{true};
  std::thread thread_;
};

} // namespace dibs
