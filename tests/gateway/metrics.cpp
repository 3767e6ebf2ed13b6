#define CAF_SUITE gateway.metrics

#include "gateway/metrics.hpp"

#include <string>

#include <caf/test/unit_test.hpp>

using namespace dibs;
using namespace std::chrono_literals;

namespace {

bool has_line(const std::string& page, const std::string& line) {
  return page.find("\n" + line + "\n") != std::string::npos;
}

} // namespace

CAF_TEST(answers_are_counted_by_route_and_status) {
  gateway_metrics m;
  m.count(route::issue, 202, 300us);
  m.count(route::issue, 202, 300us);
  m.count(route::issue, 409, 300us);
  m.count(route::healthz, 200, 10us);
  CAF_CHECK_EQUAL(m.answers(route::issue, 202), 2u);
  CAF_CHECK_EQUAL(m.answers(route::issue, 409), 1u);
  CAF_CHECK_EQUAL(m.answers(route::healthz, 200), 1u);
  CAF_CHECK_EQUAL(m.latency(route::issue).count(), 3u);
  auto page = m.render();
  CAF_CHECK(has_line(page, R"(dibs_http_requests_total{route="issue",status="202"} 2)"));
  CAF_CHECK(has_line(page, R"(dibs_http_requests_total{route="healthz",status="200"} 1)"));
}

CAF_TEST(the_sessions_refusals_are_counted_by_their_status) {
  gateway_metrics m;
  m.refused(ec::body_too_large);
  m.refused(ec::body_too_large);
  m.refused(ec::uri_too_long);
  m.refused(ec::headers_too_large);
  m.refused(ec::version_not_supported);
  m.refused(ec::bad_request);
  auto page = m.render();
  CAF_CHECK(has_line(page, "# TYPE dibs_http_refused_total counter"));
  CAF_CHECK(has_line(page, R"(dibs_http_refused_total{status="413"} 2)"));
  CAF_CHECK(has_line(page, R"(dibs_http_refused_total{status="414"} 1)"));
  CAF_CHECK(has_line(page, R"(dibs_http_refused_total{status="431"} 1)"));
  CAF_CHECK(has_line(page, R"(dibs_http_refused_total{status="505"} 1)"));
  CAF_CHECK(has_line(page, R"(dibs_http_refused_total{status="400"} 1)"));
  // Refusals reach no route.
  CAF_CHECK_EQUAL(page.find("dibs_http_requests_total{"), std::string::npos);
}
