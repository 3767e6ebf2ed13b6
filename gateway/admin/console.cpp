#include "gateway/admin/admin.hpp"

#include <utility>

namespace dibs::admin {

namespace {

constexpr std::pair<std::string_view, std::string_view> files[] = {
#include "console_assets.inc"
};

std::string_view type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size()
           && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html"))
    return "text/html; charset=utf-8";
  if (ends(".js"))
    return "text/javascript; charset=utf-8";
  return "text/css; charset=utf-8";
}

} // namespace

std::optional<asset> console_asset(std::string_view name) {
  for (auto& [file, body] : files)
    if (file == name)
      return asset{type_of(file), body};
  return std::nullopt;
}

} // namespace dibs::admin
