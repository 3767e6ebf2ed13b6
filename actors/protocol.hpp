#pragma once

// The table of contents of dibs' messages: every atom and every type that
// travels between actors, grouped by recipient.

#include <cstdint>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "persistence/error.hpp"
#include "persistence/kafka.hpp"
#include "persistence/records.hpp"

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

// -- stock actor --------------------------------------------------------------

/// (issue_atom, user_id_t, bool wait) -> issuance
/// Decide an issuance; with `wait`, answer once the row is committed or the
/// wait limit passes.
using issue_atom = caf::atom_constant<caf::atom("issue")>;

/// (status_atom, user_id_t) -> issuance
using status_atom = caf::atom_constant<caf::atom("status")>;

/// (view_atom) -> coupon_view
using view_atom = caf::atom_constant<caf::atom("view")>;

/// (delivered_atom, issuance_id_t, delivery_report): from the producer's
/// delivery thread.
using delivered_atom = caf::atom_constant<caf::atom("delivered")>;

/// (resolve_atom, issuance_id_t): time to resolve an unknown delivery.
/// To the resolver: (resolve_atom, issuance_event) -> bool found.
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;

/// (committed_atom, std::vector<issuance_event>): rows the writers committed.
using committed_atom = caf::atom_constant<caf::atom("committed")>;

/// (expire_atom, user_id_t): the wait limit of a `?wait=true` request passed.
using expire_atom = caf::atom_constant<caf::atom("expire")>;

// -- writer -------------------------------------------------------------------

/// (poll_atom): read and write the next batch.
using poll_atom = caf::atom_constant<caf::atom("poll")>;

// -- store actor --------------------------------------------------------------

/// (create_atom, coupon) -> coupon_view
using create_atom = caf::atom_constant<caf::atom("create")>;

/// (holdings_atom, user_id_t) -> std::vector<user_coupon>
using holdings_atom = caf::atom_constant<caf::atom("holdings")>;

/// (ready_atom) -> bool: are MySQL and Redis reachable?
using ready_atom = caf::atom_constant<caf::atom("ready")>;

/// Registers every type above with CAF.
void register_message_types(caf::actor_system_config& cfg);

} // namespace dibs
