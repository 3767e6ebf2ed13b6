#pragma once

#include <string>

#include <caf/error.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace dibs {

/// Sets the default logger's level (`trace` .. `critical`, `off`) and
/// format: `json`, one JSON object per line (`ts`, `level`, `thread`, then
/// `msg` or the fields of a structured event), or `text`.
caf::error setup_logging(const std::string& format, const std::string& level);

/// Logs a structured event: `fields` is the inside of a JSON object
/// (`"requestId":"x","couponId":3`), merged into the line as keys in the
/// JSON format. Callers put only numbers and strings that need no escaping
/// (ids) into it. Skipped, fields unformatted, below the logger's level.
template <class... Ts>
void log_event(spdlog::level::level_enum level, const char* event,
               fmt::format_string<Ts...> fields, Ts&&... xs) {
  if (!spdlog::should_log(level))
    return;
  spdlog::log(level, "{{\"event\":\"{}\",{}}}", event,
              fmt::format(fields, std::forward<Ts>(xs)...));
}

} // namespace dibs
