#include "actors/fault_injection.hpp"

#include <caf/send.hpp>

#include "actors/node.hpp"

namespace dibs {

namespace {

constexpr std::pair<fault, std::string_view> names[] = {
  {fault::crash_stock, "crash-stock"},
  {fault::crash_writer, "crash-writer"},
  {fault::crash_snapshotter, "crash-snapshotter"},
  {fault::crash_resolver, "crash-resolver"},
  {fault::producer_fatal, "producer-fatal"},
  {fault::drop_shard, "drop-shard"},
  {fault::fail_fence, "fail-fence"},
};

template <class Handle>
caf::error crash(const Handle& hdl, ec missing) {
  if (!hdl)
    return caf::make_error(missing);
  caf::anon_send_exit(hdl, caf::exit_reason::kill);
  return caf::none;
}

} // namespace

std::string_view to_string(fault x) {
  for (auto& [f, name] : names)
    if (f == x)
      return name;
  return "?";
}

std::optional<fault> parse_fault(std::string_view name) {
  for (auto& [f, n] : names)
    if (n == name)
      return f;
  return std::nullopt;
}

caf::error inject_fault(node& n, fault x, coupon_id_t coupon) {
  switch (x) {
    case fault::crash_stock:
      return crash(n.stock(coupon), ec::coupon_not_found);
    case fault::crash_writer:
      return crash(n.writer(0), ec::not_found);
    case fault::crash_snapshotter:
      return crash(n.snapshotter(), ec::not_found);
    case fault::crash_resolver:
      return crash(n.resolver(), ec::not_found);
    case fault::producer_fatal:
      if (auto sink = n.sink()) {
        sink->current()->inject_fatal_error();
        return caf::none;
      }
      return caf::make_error(ec::not_found);
    case fault::drop_shard:
      return n.drop_shard_of(coupon);
    case fault::fail_fence:
      return n.fail_next_fence_of(coupon);
  }
  return caf::make_error(ec::bad_request);
}

} // namespace dibs
