#include "gateway/admin/admin.hpp"

namespace dibs::admin {

json supervision(const node& n) {
  json children = json::array();
  for (auto& c : n.figures().supervision().children()) {
    json history = json::array();
    for (auto& r : c.history)
      history.push_back(json{{"at", format_time(r.at)}, {"reason", r.reason}});
    children.push_back(json{{"name", c.name},
                            {"kind", c.kind},
                            {"state", c.state},
                            {"crashesInARow", c.crashes_in_a_row},
                            {"restarts", c.restarts},
                            {"startedAt", time_or_null(c.started)},
                            {"history", std::move(history)}});
  }
  return json{{"at", format_time(now_ms())},
              {"supervisor",
               {{"name", "dibs.supervisor"},
                {"node", n.cfg().node_id},
                {"restarts", restarts(n.metrics())},
                {"children", std::move(children)}}}};
}

} // namespace dibs::admin
