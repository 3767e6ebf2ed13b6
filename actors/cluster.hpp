#pragma once

#include <functional>
#include <unordered_map>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cluster_map.hpp"
#include "actors/coupon_directory.hpp"
#include "actors/options.hpp"
#include "actors/protocol.hpp"

// The cluster: each node publishes an endpoint actor on its actor address
// (CAF's middleman); for every other member it runs a peer actor that
// connects to that member's endpoint, checks that both read the same
// configuration, heartbeats it, and forwards the gateway's requests for the
// member's coupons over the one connection, pipelined.

namespace dibs {

// The messages between nodes (hello_atom, ping_atom, tick_atom and what an
// endpoint takes) are in protocol.hpp.

// -- settings and state -------------------------------------------------------

struct cluster_settings {
  std::chrono::milliseconds heartbeat_interval{
    option_default::cluster_heartbeat_interval_ms};
  /// No heartbeat answer for this long: the member is down.
  std::chrono::milliseconds heartbeat_timeout{
    option_default::cluster_heartbeat_timeout_ms};
  /// A forwarded request unanswered for this long fails (503).
  std::chrono::milliseconds forward_timeout{
    option_default::cluster_forward_timeout_ms};
};

/// What a node knows of another member, written by its peer actor and read
/// by the gateway's threads and the console without a message.
struct peer_status {
  /// Connected, same configuration, and a heartbeat answered within the
  /// timeout.
  std::atomic<bool> up{false};
  /// Its configuration disagrees with ours: never used.
  std::atomic<bool> conflict{false};
  /// Wall-clock ms of the last heartbeat answer, 0 for never.
  std::atomic<int64_t> last_heartbeat_ms{0};
  /// Round trip of the last heartbeat.
  std::atomic<int64_t> rtt_us{0};
  std::atomic<uint64_t> forwarded{0};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> downs{0};
  /// Told what the member serves (`ownership::pack`), from each heartbeat
  /// answer, and nothing when it is down. Set before the peer starts.
  std::function<void(const std::vector<uint64_t>&)> learned;
};

/// What an endpoint needs of its node.
struct endpoint_hooks {
  coupon_directory* directory = nullptr;
  /// The node takes requests (recovered, not stopping).
  std::function<bool()> ready;
  /// The store actor, which takes (adopt_atom, coupon_id_t) -> bool: loads
  /// a coupon this node owns that another node created and spawns its stock
  /// actor unless it has one. Invalid before the node started.
  std::function<store_api()> store;
  /// This node serves the coupon's shard; unset: every coupon.
  std::function<bool(coupon_id_t)> owns;
  /// The shards this node serves (`ownership::pack`), for heartbeat
  /// answers.
  std::function<std::vector<uint64_t>()> served;
  /// What member `index` serves, from its heartbeat answers.
  std::function<void(size_t, const std::vector<uint64_t>&)> learned;
};

/// The actor other nodes send to: answers hellos and heartbeats, hands
/// forwarded requests to the local stock actors (`delegate`: the answer goes
/// straight back to the caller).
caf::behavior endpoint_actor(caf::event_based_actor* self, uint64_t fingerprint,
                             std::string member_id, endpoint_hooks hooks);

struct peer_state {
  static inline const char* name = "dibs.peer";

  member target;
  std::string self_id;
  uint64_t fingerprint = 0;
  cluster_settings settings;
  std::shared_ptr<peer_status> status;
  /// Answers (connect_atom, host, port) like CAF's middleman actor.
  caf::actor connector;
  /// The member's endpoint while connected and agreed.
  caf::actor remote;
  bool connecting = false;
  /// When it last answered, on the actor clock (simulated in tests).
  caf::actor_clock::time_point last_answer;
  /// Requests forwarded to the member and not answered yet, each with how
  /// to fail it: when the member goes down they fail at once, as an
  /// unknown outcome, instead of waiting out the forward timeout. At most
  /// the gateway's in-flight cap.
  std::unordered_map<uint64_t, std::function<void(caf::error)>> pending;
  uint64_t next_request = 0;
};

/// One per other member: connects, says hello, heartbeats, forwards.
/// From the gateway: (issue_atom, coupon_id_t, user_id_t, bool,
/// std::string, reply_to<issuance>), (status_atom, coupon_id_t, user_id_t,
/// reply_to<issuance>), (view_atom, coupon_id_t, reply_to<coupon_view>);
/// from the writers: (committed_atom, coupon_id_t, rows); from the store
/// actor: (adopt_atom, coupon_id_t) -> bool.
peer_api::behavior_type
peer_actor(peer_api::stateful_pointer<peer_state> self, member target,
                         std::string self_id, uint64_t fingerprint,
                         cluster_settings settings,
                         std::shared_ptr<peer_status> status,
                         caf::actor connector);

/// A node's part of the cluster: the map, its published endpoint and its
/// peers.
class cluster {
public:
  cluster(caf::actor_system& sys, cluster_map map, cluster_settings settings);

  ~cluster();

  /// Publishes the endpoint on this member's actor address and starts the
  /// peers. `connector` answers connect requests (the middleman's actor).
  caf::error start(endpoint_hooks hooks, caf::actor connector);

  /// Stops the peers and the endpoint.
  void stop();

  const cluster_map& map() const {
    return map_;
  }

  /// The peer actor and status of the member owning `coupon`; null when
  /// this node owns it.
  struct peer_ref {
    peer_api actor;
    std::shared_ptr<peer_status> status;
  };
  const peer_ref* owner_of(coupon_id_t coupon) const;

  /// By member index; null for this node.
  const peer_ref* peer(size_t member) const;

  /// A peer disagreed with our configuration.
  bool conflict() const;

  /// Every other member answered a heartbeat, or `timeout` passed.
  void await_peers(std::chrono::milliseconds timeout) const;

private:
  caf::actor_system& sys_;
  cluster_map map_;
  cluster_settings settings_;
  caf::actor endpoint_;
  std::vector<peer_ref> peers_; // One per member; empty for this node.
};

} // namespace dibs
