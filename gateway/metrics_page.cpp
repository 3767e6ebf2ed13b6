#include "gateway/metrics_page.hpp"

#include <utility>

#include <fmt/format.h>

namespace dibs {

namespace {

void render_producer(std::string& out, const kafka_sink& sink) {
  render_family(out, "dibs_kafka_in_flight", "gauge",
                "Issuance records published and not yet acknowledged.");
  out += fmt::format("dibs_kafka_in_flight {}\n", sink.in_flight());
  render_family(out, "dibs_kafka_delivery_reports_total", "counter",
                "Kafka delivery reports by outcome.");
  for (auto [x, name] : {std::pair{delivery_outcome::stored, "stored"},
                         std::pair{delivery_outcome::failed, "failed"},
                         std::pair{delivery_outcome::unknown, "unknown"}})
    out += fmt::format(
      "dibs_kafka_delivery_reports_total{{outcome=\"{}\"}} {}\n", name,
      sink.reports(x));
  render_family(out, "dibs_kafka_produce_duration_seconds", "histogram",
                "From publishing an issuance record to its delivery report.");
  sink.delivery_latency().render(out, "dibs_kafka_produce_duration_seconds");
}

} // namespace

std::string render_metrics_page(const node& n, const gateway_metrics& gateway) {
  auto out = gateway.render();
  out += n.metrics().render();
  n.figures().render(out);
  if (auto sink = n.sink())
    render_producer(out, *sink);
  // Neither holds a quote, backslash or line break: a host list and a
  // cluster id.
  auto [bootstrap, log_id] = n.kafka_log_names();
  render_family(out, "dibs_kafka_log_info", "gauge",
                "The Kafka log the node writes to.");
  out += fmt::format("dibs_kafka_log_info{{bootstrap=\"{}\",log_id=\"{}\"}} 1\n",
                     bootstrap, log_id);
  return out;
}

} // namespace dibs
