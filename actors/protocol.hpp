#pragma once

// The table of contents of dibs' messages: every atom and every type that
// travels between actors, grouped by recipient. Each atom means one thing,
// whoever receives it.

#include <cstdint>
#include <functional>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/response_promise.hpp>
#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include "core/error.hpp"
#include "persistence/kafka.hpp"
#include "core/domain.hpp"
#include "persistence/snapshot_store.hpp"

namespace caf {
class actor_system_config;
} // namespace caf

namespace dibs {

// -- replies ------------------------------------------------------------------

/// Where an issuance stands, as the API reports it.
enum class issuance_status : uint8_t {
  /// Durable in Kafka, not yet a row in MySQL.
  accepted,
  /// Committed in MySQL.
  issued,
};

const char* to_string(issuance_status x);

/// Answer to an issue or status request.
struct issuance {
  issuance_event event;
  issuance_status status = issuance_status::accepted;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, issuance& x) {
  return f(caf::meta::type_name("issuance"), x.event, x.status);
}

/// A coupon with its live stock, as the stock actor sees it.
struct coupon_view {
  coupon info;
  uint32_t remaining = 0;
  uint32_t issued = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, coupon_view& x) {
  return f(caf::meta::type_name("coupon_view"), x.info, x.remaining, x.issued);
}

// -- how answers travel -------------------------------------------------------

/// A continuation passed in a message by a caller that is no actor (the
/// gateway's io threads). The callee calls it once with the answer; it must
/// only hand the answer over to the caller's own executor.
template <class T>
struct reply_to {
  std::function<void(caf::expected<T>)> fn;
};

/// Where an answer goes: a CAF response promise (actor callers) or a
/// `reply_to` continuation. Lets one handler serve both kinds of callers.
template <class T>
struct replier {
  caf::response_promise promise;
  std::function<void(caf::expected<T>)> fn;

  void operator()(T x) {
    if (fn)
      fn(std::move(x));
    else
      promise.deliver(std::move(x));
  }

  void operator()(caf::error err) {
    if (fn)
      fn(std::move(err));
    else
      promise.deliver(std::move(err));
  }
};

// -- stock actor --------------------------------------------------------------

/// (issue_atom, user_id_t, bool wait, std::string request_id) -> issuance
/// (issue_atom, user_id_t, bool wait, std::string request_id,
///  reply_to<issuance>)
/// Decide an issuance; with `wait`, answer once the row is committed or the
/// wait limit passes. A cluster's peer and endpoint actors take the same
/// with the coupon id after the atom.
using issue_atom = caf::atom_constant<caf::atom("issue")>;

/// (status_atom, user_id_t) -> issuance
/// (status_atom, user_id_t, reply_to<issuance>)
using status_atom = caf::atom_constant<caf::atom("status")>;

/// (view_atom) -> coupon_view
/// (view_atom, reply_to<coupon_view>)
using view_atom = caf::atom_constant<caf::atom("view")>;

/// (delivered_atom, issuance_id_t, delivery_report): from the producer's
/// delivery thread.
using delivered_atom = caf::atom_constant<caf::atom("delivered")>;

/// (resolve_atom, issuance_id_t): time to resolve an unknown delivery.
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;

/// (committed_atom, std::vector<issuance_event>): rows the writers committed.
using committed_atom = caf::atom_constant<caf::atom("committed")>;

/// (expire_atom, user_id_t): the wait limit of a `?wait=true` request passed.
using expire_atom = caf::atom_constant<caf::atom("expire")>;

/// (snapshot_atom): time to write the snapshot if anything is pending.
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;

/// (republish_atom, std::string log_id, int32_t partition_count): Kafka
/// moved to a new log; publish again every issuance accepted but not known
/// committed, and base the snapshot on the new log.
using republish_atom = caf::atom_constant<caf::atom("republish")>;

/// (republished_atom, issuance_id_t, delivery_report): the outcome of
/// publishing an accepted issuance again.
using republished_atom = caf::atom_constant<caf::atom("repub_done")>;

/// What a stock actor takes from others: the gateway (`reply_to`), the
/// cluster's endpoint and the tests (request and response), the writers
/// (`committed_atom`) and the node (`republish_atom`). A message of another
/// shape does not compile.
using stock_api = caf::typed_actor<
  caf::replies_to<issue_atom, user_id_t, bool, std::string>::with<issuance>,
  caf::reacts_to<issue_atom, user_id_t, bool, std::string, reply_to<issuance>>,
  caf::replies_to<status_atom, user_id_t>::with<issuance>,
  caf::reacts_to<status_atom, user_id_t, reply_to<issuance>>,
  caf::replies_to<view_atom>::with<coupon_view>,
  caf::reacts_to<view_atom, reply_to<coupon_view>>,
  caf::reacts_to<committed_atom, std::vector<issuance_event>>,
  caf::reacts_to<republish_atom, std::string, int32_t>>;

/// The stock actor itself: `stock_api` and what it sends itself and gets
/// from the producer's delivery thread.
using stock_actor_type = stock_api::extend<
  caf::reacts_to<delivered_atom, issuance_id_t, delivery_report>,
  caf::reacts_to<resolve_atom, issuance_id_t>,
  caf::reacts_to<expire_atom, user_id_t>,
  caf::reacts_to<republished_atom, issuance_id_t, delivery_report>,
  caf::reacts_to<snapshot_atom>>;

// -- resolver -----------------------------------------------------------------

/// (find_atom, issuance_event) -> bool: is this issuance in MySQL or in the
/// Kafka log?
using find_atom = caf::atom_constant<caf::atom("find")>;

// -- snapshotter --------------------------------------------------------------

/// (save_atom, coupon_id_t, snapshot_meta, std::vector<issuance_event>,
/// bool whole) -> snapshot_write: write a coupon's snapshot to Redis, the
/// whole of it or the events since the last one.
using save_atom = caf::atom_constant<caf::atom("save")>;

// -- writer -------------------------------------------------------------------

/// (poll_atom): read and write the next batch.
using poll_atom = caf::atom_constant<caf::atom("poll")>;

// -- producer guard -----------------------------------------------------------

/// (check_atom): time to check the producer and where Kafka is.
using check_atom = caf::atom_constant<caf::atom("check")>;

// -- supervisor ---------------------------------------------------------------

/// (supervise_atom, child_spec): watch a child and restart it when it dies.
using supervise_atom = caf::atom_constant<caf::atom("supervise")>;

/// (restart_atom, std::string name): the backoff of a dead child passed.
using restart_atom = caf::atom_constant<caf::atom("restart")>;

/// (stop_atom) -> bool: restart nothing from now on (the node stops).
using stop_atom = caf::atom_constant<caf::atom("stop")>;

// -- store actor --------------------------------------------------------------

// The store actor serves only the gateway, so it answers through `reply_to`.

/// (create_atom, coupon, std::string idempotency_key,
///  reply_to<created_coupon>); the key may be empty.
using create_atom = caf::atom_constant<caf::atom("create")>;

/// (holdings_atom, user_id_t, reply_to<std::vector<user_coupon>>)
using holdings_atom = caf::atom_constant<caf::atom("holdings")>;

/// (kafka_atom, kafka_settings): Kafka moved; use these settings.
using kafka_atom = caf::atom_constant<caf::atom("kafka")>;

/// Which dependencies answered a readiness check. MySQL and Kafka are on the
/// issuing path; Redis is not (without it only snapshots wait).
struct readiness {
  bool mysql = false;
  bool kafka = false;
  bool redis = false;
};

/// (ready_atom, reply_to<readiness>): which dependencies are reachable?
using ready_atom = caf::atom_constant<caf::atom("ready")>;

/// (scan_atom): in a cluster, look for coupons other nodes created.
using scan_atom = caf::atom_constant<caf::atom("scan")>;

/// (adopt_atom, coupon_id_t) -> bool: a coupon another node created that
/// this one owns; load it and serve it. Also between nodes (cluster.hpp).
using adopt_atom = caf::atom_constant<caf::atom("adopt")>;

/// The store actor: what the gateway, the node and the cluster's endpoint
/// send it, and its own scan timer.
using store_api = caf::typed_actor<
  caf::reacts_to<create_atom, coupon, std::string, reply_to<created_coupon>>,
  caf::reacts_to<holdings_atom, user_id_t, reply_to<std::vector<user_coupon>>>,
  caf::reacts_to<ready_atom, reply_to<readiness>>,
  caf::reacts_to<kafka_atom, kafka_settings>,
  caf::replies_to<adopt_atom, coupon_id_t>::with<bool>,
  caf::reacts_to<scan_atom>>;

// -- between nodes (cluster.hpp) ----------------------------------------------

/// (hello_atom, uint64_t fingerprint, std::string member_id)
///   -> (hello_atom, std::string member_id)
/// Fails with `ec::forbidden` when the fingerprints differ.
using hello_atom = caf::atom_constant<caf::atom("hello")>;

/// (ping_atom, int64_t sent_us) -> (int64_t sent_us, std::vector<uint64_t>
/// served): a heartbeat, answered with the shards the node serves
/// (`ownership::pack`).
using ping_atom = caf::atom_constant<caf::atom("ping")>;

/// (tick_atom): a peer's heartbeat and reconnect timer.
using tick_atom = caf::atom_constant<caf::atom("tick")>;

/// A peer actor: the gateway's requests for another member's coupons
/// (`reply_to`), the writers' committed rows and the store actor's
/// adoptions for that member, and its own heartbeat timer.
using peer_api = caf::typed_actor<
  caf::reacts_to<tick_atom>,
  caf::reacts_to<issue_atom, coupon_id_t, user_id_t, bool, std::string,
                 reply_to<issuance>>,
  caf::reacts_to<status_atom, coupon_id_t, user_id_t, reply_to<issuance>>,
  caf::reacts_to<view_atom, coupon_id_t, reply_to<coupon_view>>,
  caf::reacts_to<committed_atom, coupon_id_t, std::vector<issuance_event>>,
  caf::replies_to<adopt_atom, coupon_id_t>::with<bool>>;

// An endpoint takes hello and ping, and (issue_atom, coupon_id_t,
// user_id_t, bool wait, std::string request_id) -> issuance; (status_atom,
// coupon_id_t, user_id_t) -> issuance; (view_atom, coupon_id_t) ->
// coupon_view; (committed_atom, coupon_id_t, std::vector<issuance_event>);
// (adopt_atom, coupon_id_t) -> bool. It stays untyped: peers reach it
// through the middleman's connect, which yields an untyped handle.

/// Registers every type above with CAF.
void register_message_types(caf::actor_system_config& cfg);

} // namespace dibs

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<dibs::issuance>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<dibs::coupon_view>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<dibs::created_coupon>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<std::vector<dibs::user_coupon>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::reply_to<dibs::readiness>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::kafka_settings)
