#include "gateway/admin/admin.hpp"

namespace dibs::admin {

json producer(const node& n) {
  auto sink = n.sink();
  if (!sink)
    return json{{"at", format_time(now_ms())}, {"running", false}};
  auto current = sink->current();
  return json{{"at", format_time(now_ms())},
              {"running", true},
              {"inFlight", sink->in_flight()},
              {"queued", current ? current->queued() : 0},
              {"fatal", current ? current->fatal() : false},
              {"replacements",
               n.metrics().producer_restarts.load()},
              {"reports",
               {{"stored", sink->reports(delivery_outcome::stored)},
                {"failed", sink->reports(delivery_outcome::failed)},
                {"unknown", sink->reports(delivery_outcome::unknown)}}},
              {"deliveryLatency", histogram(sink->delivery_latency())}};
}

} // namespace dibs::admin
