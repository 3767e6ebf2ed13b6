#include "core/domain.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace dibs {

bool is_request_id(std::string_view text) {
  return !text.empty() && text.size() <= 64
         && std::all_of(text.begin(), text.end(), is_request_id_char);
}

std::string format_time(epoch_ms t) {
  auto secs = static_cast<time_t>(t / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(t % 1000));
  return buf;
}

std::optional<epoch_ms> parse_time(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year,
                  &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &consumed)
        != 6
      || consumed != 19)
    return std::nullopt;
  auto rest = text.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t digits = 1;
    while (digits < rest.size() && isdigit(static_cast<unsigned char>(rest[digits])))
      ++digits;
    if (digits < 2 || digits > 4)
      return std::nullopt;
    auto frac = rest.substr(1, digits - 1);
    while (frac.size() < 3)
      frac += '0';
    ms = std::stoi(frac);
    rest = rest.substr(digits);
  }
  if (rest != "Z")
    return std::nullopt;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31
      || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60
      || tm.tm_year < 1970 || tm.tm_year > 9999)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<epoch_ms>(timegm(&tm)) * 1000 + ms;
}

epoch_ms now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace dibs
