#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "persistence/kafka.hpp"
#include "persistence/mysql_store.hpp"
#include "persistence/redis_client.hpp"

namespace dibs {

/// The default of every option (`options.def`), named <group>_<member>:
/// what settings made without a configuration start from.
namespace option_default {
#define DIBS_OPTION(group, member, name, type, value, help)                    \
  inline const type group##_##member = value;
#include "actors/options.def"
#undef DIBS_OPTION
} // namespace option_default

/// The value of every option of a dibs node (`options.def`), one member
/// each, named <group>_<member>; default-constructed, the defaults.
/// Header-only, so `dibsctl` takes its defaults from here without linking
/// the node.
struct option_values {
#define DIBS_OPTION(group, member, name, type, value, help)                    \
  type group##_##member = option_default::group##_##member;
#include "actors/options.def"
#undef DIBS_OPTION

  /// How dibs talks to Kafka, without the bootstrap servers.
  kafka_settings kafka_base() const {
    kafka_settings s;
    s.topic = kafka_topic;
    s.group_id = kafka_group_id;
    s.message_timeout_ms = static_cast<int>(kafka_message_timeout_ms);
    s.request_timeout_ms = static_cast<int>(kafka_request_timeout_ms);
    s.linger_ms = kafka_linger_ms;
    s.session_timeout_ms = static_cast<int>(kafka_session_timeout_ms);
    s.fetch_wait_max_ms = static_cast<int>(kafka_fetch_wait_max_ms);
    s.admin_timeout_ms = static_cast<int>(kafka_admin_timeout_ms);
    return s;
  }

  mysql_settings mysql() const {
    return mysql_settings{mysql_host,     mysql_port,
                          mysql_user,     mysql_password,
                          mysql_database, static_cast<int>(mysql_io_timeout_s)};
  }

  redis_settings redis() const {
    redis_settings s;
    s.host = redis_host;
    s.port = redis_port;
    return s;
  }
};

} // namespace dibs
