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
  auto& m = n.metrics();
  return json{{"at", format_time(now_ms())},
              {"supervisor",
               {{"name", "dibs.supervisor"},
                {"node", n.cfg().node_id},
                {"restarts",
                 {{"stock", m.stock_restarts.load()},
                  {"writer", m.writer_restarts.load()},
                  {"producer", m.producer_restarts.load()},
                  {"other", m.other_restarts.load()}}},
                {"children", std::move(children)}}}};
}

} // namespace dibs::admin
