#include "actors/protocol.hpp"

#include <caf/actor_system_config.hpp>

namespace dibs {

const char* to_string(issuance_status x) {
  return x == issuance_status::issued ? "ISSUED" : "ACCEPTED";
}

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<coupon>("dibs::coupon");
  cfg.add_message_type<coupon_view>("dibs::coupon_view");
  cfg.add_message_type<issuance_event>("dibs::issuance_event");
  cfg.add_message_type<std::vector<issuance_event>>(
    "std::vector<dibs::issuance_event>");
  cfg.add_message_type<issuance>("dibs::issuance");
  cfg.add_message_type<user_coupon>("dibs::user_coupon");
  cfg.add_message_type<std::vector<user_coupon>>(
    "std::vector<dibs::user_coupon>");
  cfg.add_message_type<delivery_report>("dibs::delivery_report");
  cfg.add_message_type<snapshot_meta>("dibs::snapshot_meta");
  cfg.add_message_type<snapshot_write>("dibs::snapshot_write");
  // The shards a node serves, in its heartbeat answers (ownership::pack).
  cfg.add_message_type<std::vector<uint64_t>>("std::vector<uint64_t>");
}

} // namespace dibs
