// Test doubles shared by the cluster suites (actors.cluster on the core test
// DSL, actors.cluster_io on the io test DSL).

#pragma once

#include <caf/all.hpp>

#include <map>
#include <string>
#include <vector>

#include "actors/cluster_map.hpp"
#include "actors/protocol.hpp"

namespace dibs::testing {

/// A stock actor that issues every user once, numbering its issuances; a
/// second request is refused with the first issuance's id as context.
inline caf::behavior
fake_stock(caf::stateful_actor<std::map<user_id_t, uint64_t>>* self,
           coupon_id_t coupon) {
  return {
    [=](issue_atom, user_id_t user, bool,
        std::string&) -> caf::result<issuance> {
      auto& issued = self->state;
      if (issued.count(user) > 0)
        return caf::make_error(ec::already_issued, "again", issued[user]);
      issued[user] = make_issuance_id(coupon, issued.size() + 1);
      issuance x;
      x.event.issuance_id = issued[user];
      x.event.coupon_id = coupon;
      x.event.user_id = user;
      return x;
    },
    [](committed_atom, std::vector<issuance_event>&) {
      // Taken; what a real stock actor does with it is tested elsewhere.
    },
    [=](view_atom) {
      coupon_view v;
      v.info.id = coupon;
      v.info.name = "coupon";
      v.issued = static_cast<uint32_t>(self->state.size());
      return v;
    },
  };
}

/// Three members on loopback, actor ports 4241–4243.
inline std::vector<member> three_members() {
  return {{"n1", "127.0.0.1", 8081, "127.0.0.1", 4241},
          {"n2", "127.0.0.1", 8082, "127.0.0.1", 4242},
          {"n3", "127.0.0.1", 8083, "127.0.0.1", 4243}};
}

} // namespace dibs::testing
