#include "actors/logging.hpp"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>
#include <spdlog/formatter.h>

#include "core/error.hpp"

namespace dibs {

namespace {

/// One JSON object per line. A payload that is itself a JSON object (from
/// `log_event`) is merged; any other is escaped into `msg`.
class json_formatter : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count();
    auto secs = static_cast<time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    auto level = spdlog::level::to_string_view(msg.level);
    fmt::format_to(std::back_inserter(dest),
                   R"({{"ts":"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",)"
                   R"("level":"{}","thread":{},)",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, ms % 1000,
                   std::string_view{level.data(), level.size()},
                   msg.thread_id);
    std::string_view payload{msg.payload.data(), msg.payload.size()};
    if (payload.size() >= 2 && payload.front() == '{'
        && payload.back() == '}') {
      dest.append(payload.data() + 1, payload.data() + payload.size());
    } else {
      auto text = nlohmann::json(std::string{payload})
                    .dump(-1, ' ', false,
                          nlohmann::json::error_handler_t::replace);
      dest.append(std::string_view{R"("msg":)"});
      dest.append(text.data(), text.data() + text.size());
      dest.push_back('}');
    }
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

caf::error setup_logging(const std::string& format, const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return caf::make_error(ec::bad_request, "log.level must be one of trace, "
                                            "debug, info, warning, error, "
                                            "critical, off");
  if (format == "json")
    spdlog::set_formatter(std::make_unique<json_formatter>());
  else if (format != "text")
    return caf::make_error(ec::bad_request, "log.format must be json or text");
  spdlog::set_level(lvl);
  return caf::none;
}

} // namespace dibs
