#include "actors/cluster.hpp"

#include <set>
#include <thread>

#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>


namespace dibs {

namespace {

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

} // namespace

// -- endpoint -----------------------------------------------------------------

caf::behavior endpoint_actor(caf::event_based_actor* self, uint64_t fingerprint,
                             std::string member_id, endpoint_hooks hooks) {
  // The stock actor serving a coupon here, or why there is none.
  auto stock = [hooks](coupon_id_t id) -> caf::expected<stock_api> {
    if (!hooks.ready())
      return caf::make_error(ec::not_ready, "the coupon's node is recovering");
    if (hooks.owns && !hooks.owns(id))
      return caf::make_error(ec::unavailable,
                             "the coupon's shard is moving to another node");
    if (auto hdl = hooks.directory->find(id))
      return hdl;
    if (hooks.directory->recovering(id))
      return caf::make_error(ec::unavailable,
                             "the coupon's stock is being recovered");
    return caf::make_error(ec::coupon_not_found, "no such coupon");
  };
  // Hands a request to the stock actor; its answer goes to the caller.
  auto forward = [self, stock](coupon_id_t id, auto... xs) {
    auto rp = self->make_response_promise();
    auto hdl = stock(id);
    if (!hdl)
      rp.deliver(std::move(hdl.error()));
    else
      rp.delegate(*hdl, xs...);
    return rp;
  };
  return {
    [=](hello_atom, uint64_t theirs, const std::string& from)
      -> caf::result<hello_atom, std::string> {
      if (theirs != fingerprint) {
        spdlog::error("cluster: node {} reads another cluster configuration "
                      "(fingerprint {:x}, ours {:x}): refused",
                      from, theirs, fingerprint);
        return caf::make_error(ec::forbidden,
                               "the cluster configurations differ");
      }
      return {hello_atom::value, member_id};
    },
    [=](ping_atom, int64_t sent) {
      // With the shards this node serves: the others route by them.
      return caf::make_message(sent, hooks.served ? hooks.served()
                                                  : std::vector<uint64_t>{});
    },
    [=](issue_atom a, coupon_id_t id, user_id_t user, bool wait,
        std::string& request_id) -> caf::result<issuance> {
      return forward(id, a, user, wait, std::move(request_id));
    },
    [=](status_atom a, coupon_id_t id, user_id_t user)
      -> caf::result<issuance> { return forward(id, a, user); },
    [=](view_atom a, coupon_id_t id) -> caf::result<coupon_view> {
      return forward(id, a);
    },
    [=](committed_atom a, coupon_id_t id, std::vector<issuance_event>& rows) {
      if (auto hdl = hooks.directory->find(id))
        self->send(hdl, a, std::move(rows));
    },
    [=](adopt_atom a, coupon_id_t id) -> caf::result<bool> {
      auto rp = self->make_response_promise();
      auto store = hooks.store ? hooks.store() : store_api{};
      if (!store)
        rp.deliver(caf::make_error(ec::not_ready, "not started"));
      else
        rp.delegate(store, a, id);
      return rp;
    },
  };
}

// -- peer ---------------------------------------------------------------------

namespace {

using peer_actor_t = std::remove_pointer_t<peer_api::stateful_pointer<peer_state>>;

void mark_down(peer_actor_t* self, const char* why) {
  auto& st = self->state;
  if (st.status->up.exchange(false)) {
    ++st.status->downs;
    spdlog::warn("cluster: node {} is down: {}", st.target.id, why);
  }
  // It serves nothing as far as this node can tell.
  if (st.status->learned)
    st.status->learned({});
  // The member may have decided what it was sent before it went away: not
  // a "no", an unknown outcome.
  auto pending = std::move(st.pending);
  st.pending.clear();
  for (auto& [id, fail] : pending)
    fail(caf::make_error(ec::outcome_unknown,
                         "the coupon's node went down with the request"));
}

void connect(peer_actor_t* self) {
  auto& st = self->state;
  st.connecting = true;
  self
    ->request(st.connector, st.settings.heartbeat_timeout,
              caf::connect_atom::value, st.target.actor_host,
              st.target.actor_port)
    .then(
      [self](const caf::node_id&, caf::strong_actor_ptr& ptr,
             const std::set<std::string>&) {
        auto& st = self->state;
        auto remote = caf::actor_cast<caf::actor>(ptr);
        if (!remote) {
          st.connecting = false;
          return;
        }
        self
          ->request(remote, st.settings.heartbeat_timeout, hello_atom::value,
                    st.fingerprint, st.self_id)
          .then(
            [self, remote](hello_atom, const std::string& id) {
              auto& st = self->state;
              st.connecting = false;
              if (id != st.target.id) {
                spdlog::error("cluster: {}:{} is node {}, not {}",
                              st.target.actor_host, st.target.actor_port, id,
                              st.target.id);
                st.status->conflict = true;
                return;
              }
              st.status->conflict = false;
              st.remote = remote;
              self->monitor(remote);
              st.last_answer = self->clock().now();
              st.status->last_heartbeat_ms = now_ms();
              ++st.status->connects;
              st.status->up = true;
              spdlog::info("cluster: node {} is up at {}:{}", st.target.id,
                           st.target.actor_host, st.target.actor_port);
            },
            [self](caf::error& err) {
              auto& st = self->state;
              st.connecting = false;
              if (err == ec::forbidden && !st.status->conflict.exchange(true))
                spdlog::critical("cluster: node {} reads another cluster "
                                 "configuration", st.target.id);
            });
      },
      [self](caf::error&) { self->state.connecting = false; });
}

void tick(peer_actor_t* self) {
  auto& st = self->state;
  if (!st.remote) {
    if (!st.connecting)
      connect(self);
    return;
  }
  self
    ->request(st.remote, st.settings.heartbeat_timeout, ping_atom::value,
              steady_us())
    .then(
      [self](int64_t sent, std::vector<uint64_t>& claims) {
        auto& st = self->state;
        if (st.status->learned)
          st.status->learned(claims);
        st.status->rtt_us = steady_us() - sent;
        st.last_answer = self->clock().now();
        st.status->last_heartbeat_ms = now_ms();
        if (!st.status->up.exchange(true))
          spdlog::info("cluster: node {} answers again", st.target.id);
      },
      [](caf::error&) {
        // The silence is judged below, at the next tick.
      });
  if (self->clock().now() - st.last_answer > st.settings.heartbeat_timeout)
    mark_down(self, "no heartbeat answer");
}

/// Sends a request to the member and passes its answer on; fails at once
/// when the member is not connected.
template <class T, class... Ts>
void relay(peer_actor_t* self, reply_to<T>& r, Ts... xs) {
  auto& st = self->state;
  if (!st.remote || !st.status->up) {
    r.fn(caf::make_error(ec::unavailable, "the coupon's node is down"));
    return;
  }
  ++st.status->forwarded;
  // Answered once: by the member, by its timeout, or by `mark_down`.
  auto id = ++st.next_request;
  st.pending.emplace(id, [fn = r.fn](caf::error err) { fn(std::move(err)); });
  self->request(st.remote, st.settings.forward_timeout, xs...)
    .then(
      [self, id, fn = r.fn](T& x) {
        if (self->state.pending.erase(id) > 0)
          fn(std::move(x));
      },
      [self, id, fn = r.fn](caf::error& err) {
        if (self->state.pending.erase(id) > 0)
          fn(std::move(err));
      });
}

} // namespace

peer_api::behavior_type
peer_actor(peer_api::stateful_pointer<peer_state> self, member target,
                         std::string self_id, uint64_t fingerprint,
                         cluster_settings settings,
                         std::shared_ptr<peer_status> status,
                         caf::actor connector) {
  auto& st = self->state;
  st.target = std::move(target);
  st.self_id = std::move(self_id);
  st.fingerprint = fingerprint;
  st.settings = settings;
  st.status = std::move(status);
  st.connector = std::move(connector);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source != st.remote.address())
      return;
    st.remote = nullptr;
    mark_down(self, "connection lost");
  });
  self->send(self, tick_atom::value);
  return {
    [self](tick_atom) {
      tick(self);
      self->delayed_send(self, self->state.settings.heartbeat_interval,
                         tick_atom::value);
    },
    [self](issue_atom a, coupon_id_t id, user_id_t user, bool wait,
           std::string& request_id, reply_to<issuance>& r) {
      relay(self, r, a, id, user, wait, std::move(request_id));
    },
    [self](status_atom a, coupon_id_t id, user_id_t user,
           reply_to<issuance>& r) { relay(self, r, a, id, user); },
    [self](view_atom a, coupon_id_t id, reply_to<coupon_view>& r) {
      relay(self, r, a, id);
    },
    [self](committed_atom a, coupon_id_t id, std::vector<issuance_event>& rows) {
      // Lost when the owner is down: it reads MySQL when it recovers.
      if (self->state.remote)
        caf::anon_send(self->state.remote, a, id, std::move(rows));
    },
    [self](adopt_atom a,
           coupon_id_t id) -> caf::typed_response_promise<bool> {
      auto& st = self->state;
      auto rp = self->make_response_promise<bool>();
      if (!st.remote)
        rp.deliver(caf::make_error(ec::unavailable,
                                   "the coupon's node is down"));
      else
        rp.delegate(st.remote, a, id);
      return rp;
    },
  };
}

// -- cluster ------------------------------------------------------------------

cluster::cluster(caf::actor_system& sys, cluster_map map,
                 cluster_settings settings)
  : sys_(sys), map_(std::move(map)), settings_(settings) {
  // Empty.
}

cluster::~cluster() {
  stop();
}

caf::error cluster::start(endpoint_hooks hooks, caf::actor connector) {
  if (endpoint_)
    return caf::none;
  auto& self = map_.members()[map_.self()];
  auto learned = hooks.learned;
  endpoint_ = sys_.spawn(endpoint_actor, map_.fingerprint(), self.id,
                         std::move(hooks));
  auto port = sys_.middleman().publish(endpoint_, self.actor_port,
                                       self.actor_host.c_str(), true);
  if (!port) {
    caf::anon_send_exit(endpoint_, caf::exit_reason::user_shutdown);
    endpoint_ = nullptr;
    return std::move(port.error());
  }
  peers_.resize(map_.members().size());
  for (size_t i = 0; i < map_.members().size(); ++i) {
    if (i == map_.self())
      continue;
    auto status = std::make_shared<peer_status>();
    if (learned)
      status->learned = [learned, i](const std::vector<uint64_t>& claims) {
        learned(i, claims);
      };
    auto hdl = sys_.spawn(peer_actor, map_.members()[i], self.id,
                          map_.fingerprint(), settings_, status, connector);
    peers_[i] = peer_ref{std::move(hdl), std::move(status)};
  }
  spdlog::info("cluster: node {} of {}, actors on {}:{}", self.id,
               map_.members().size(), self.actor_host, *port);
  return caf::none;
}

void cluster::stop() {
  for (auto& p : peers_)
    if (p.actor)
      caf::anon_send_exit(p.actor, caf::exit_reason::user_shutdown);
  peers_.clear();
  if (endpoint_) {
    sys_.middleman().unpublish(endpoint_,
                               map_.members()[map_.self()].actor_port);
    caf::anon_send_exit(endpoint_, caf::exit_reason::user_shutdown);
    endpoint_ = nullptr;
  }
}

const cluster::peer_ref* cluster::owner_of(coupon_id_t coupon) const {
  return peer(map_.owner_of(coupon));
}

const cluster::peer_ref* cluster::peer(size_t member) const {
  if (member >= peers_.size() || !peers_[member].actor)
    return nullptr;
  return &peers_[member];
}

bool cluster::conflict() const {
  for (auto& p : peers_)
    if (p.status && p.status->conflict)
      return true;
  return false;
}

void cluster::await_peers(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto settled = [this] {
    for (auto& p : peers_)
      if (p.status && !p.status->up && !p.status->conflict)
        return false;
    return true;
  };
  while (!settled() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

} // namespace dibs
