#include "gateway/routes.hpp"

#include <algorithm>
#include <optional>
#include <random>
#include <vector>

#include <caf/make_message.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <caf/send.hpp>
#include "actors/logging.hpp"
#include "gateway/admin/admin.hpp"
#include "gateway/http_errors.hpp"
#include "gateway/request_rules.hpp"

namespace dibs {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

/// Seconds a client should wait before retrying after a 503.
constexpr const char* retry_after_seconds = "1";

constexpr size_t max_name_length = 200;
constexpr uint32_t max_total_quantity = 100'000'000;

http_response json_response(http::status status, std::string body) {
  http_response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response json_response(http::status status, const json& body) {
  return json_response(status, body.dump());
}

json coupon_json(const coupon_view& v) {
  return json{{"couponId", v.info.id},
              {"name", v.info.name},
              {"discount", v.info.discount},
              {"totalQuantity", v.info.total_quantity},
              {"remainingQuantity", v.remaining},
              {"issuedQuantity", v.issued},
              {"opensAt", admin::time_or_null(v.info.opens_at)},
              {"closesAt", admin::time_or_null(v.info.closes_at)},
              {"createdAt", admin::time_or_null(v.info.created_at)}};
}

// The issue path renders its answers with fmt rather than building JSON
// trees: they hold numbers and fixed words only, and this is the hot path.

std::string issuance_json(const issuance& x) {
  return fmt::format(R"({{"issuanceId":{},"couponId":{},"userId":{},)"
                     R"("status":"{}","issuedAt":"{}"}})",
                     x.event.issuance_id, x.event.coupon_id, x.event.user_id,
                     to_string(x.status), format_time(x.event.issued_at));
}

/// Renders an actor's error, with the existing issuance id for
/// ALREADY_ISSUED.
http_response actor_error(const caf::error& err) {
  auto code = code_of(err);
  if (code == ec::already_issued && err.context().match_elements<uint64_t>())
    return json_response(
      status_of(code),
      fmt::format(R"({{"code":"{}","message":"{}","issuanceId":{}}})",
                  to_string(code), default_message(code),
                  err.context().get_as<uint64_t>(0)));
  return routes::error_response(code, default_message(code));
}

/// Compares every byte whatever the first difference, so the time taken does
/// not tell an attacker how much of the token was right.
bool constant_time_equal(std::string_view expected, std::string_view given) {
  if (expected.empty())
    return false;
  size_t diff = expected.size() ^ given.size();
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i])
            ^ static_cast<unsigned char>(expected[i % expected.size()]);
  return diff == 0;
}

/// The rate limiter's key of a client: an IPv4 address, or the /64 prefix of
/// an IPv6 one (a host usually holds a whole /64), marked apart.
uint64_t address_key(const boost::asio::ip::address& a) {
  if (a.is_v4())
    return a.to_v4().to_uint();
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return a.to_v6().to_v4().to_uint();
  uint64_t key = 0;
  auto bytes = a.to_v6().to_bytes();
  for (size_t i = 0; i < 8; ++i)
    key = key << 8 | bytes[i];
  return key | (uint64_t{1} << 63);
}

} // namespace

routes::routes(node& n, std::string admin_token, gateway_metrics& metrics)
  : node_(n), admin_token_(std::move(admin_token)), metrics_(metrics),
    user_limits_(n.cfg().limits_user_per_s, n.cfg().limits_user_burst),
    address_limits_(n.cfg().limits_address_per_s,
                    n.cfg().limits_address_burst) {
  std::random_device rd;
  id_prefix_ = fmt::format("{:05x}", rd() & 0xfffff);
}

std::string routes::request_id_of(const http_request& req) {
  auto given = req["X-Request-Id"];
  if (is_request_id({given.data(), given.size()}))
    return std::string{given.data(), given.size()};
  return fmt::format("{}{:010x}", id_prefix_,
                     next_id_.fetch_add(1, std::memory_order_relaxed)
                       & 0xff'ffff'ffffULL);
}

http_response routes::error_response(ec code, std::string message) {
  // Messages are ours and rarely need escaping: skip the JSON tree then.
  bool plain = std::all_of(message.begin(), message.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != '"' && c != '\\';
  });
  auto res = json_response(
    status_of(code),
    plain ? fmt::format(R"({{"code":"{}","message":"{}"}})", to_string(code),
                        message)
          : json{{"code", to_string(code)}, {"message", std::move(message)}}
              .dump());
  if (res.result() == http::status::service_unavailable)
    res.set(http::field::retry_after, retry_after_seconds);
  return res;
}

template <class Atom, class Reply, class... Ts>
void routes::to_owner(coupon_id_t id, const respond_fn& done, Atom atom,
                      Reply reply, Ts&&... xs) {
  // The owner's peer actor takes the coupon id too; a stock actor here
  // knows its own.
  if (auto* owner = node_.remote_owner(id)) {
    if (!owner->status->up)
      return done(error_response(ec::unavailable,
                                 "the coupon's node is down"));
    return caf::anon_send(owner->actor, atom, id, std::forward<Ts>(xs)...,
                          std::move(reply));
  }
  auto stock = node_.stock(id);
  if (!stock)
    return done(no_stock_actor(id));
  caf::anon_send(stock, atom, std::forward<Ts>(xs)..., std::move(reply));
}

http_response routes::no_stock_actor(coupon_id_t id) const {
  // While the node starts or stops, a coupon may exist without its actor.
  if (!node_.ready())
    return error_response(ec::not_ready, "the node is not ready");
  if (node_.recovering(id))
    return error_response(ec::unavailable,
                          "the coupon's stock is being recovered");
  return error_response(ec::coupon_not_found, "no such coupon");
}

ec routes::authorize(const http_request& req) const {
  auto field = req[http::field::authorization];
  std::string_view header{field.data(), field.size()};
  constexpr std::string_view prefix = "Bearer ";
  if (header.empty())
    return ec::unauthorized;
  if (header.substr(0, prefix.size()) != prefix)
    return ec::forbidden;
  return constant_time_equal(admin_token_, header.substr(prefix.size()))
           ? ec::none
           : ec::forbidden;
}

void routes::handle(const http_request& req,
                    const boost::asio::ip::address& client, exposure on,
                    respond_fn done) {
  auto m = match_route(req.method(),
                       {req.target().data(), req.target().size()}, on);
  auto started = std::chrono::steady_clock::now();
  auto request_id = request_id_of(req);
  // Counts the answer under its route and tags it with the request id
  // before passing it on; answers may come later, from another thread.
  auto counted = [this, r = m.r, &done, started, &request_id] {
    return [this, r, done, started, request_id](http_response res) {
      metrics_.count(r, res.result_int(),
                     std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - started));
      res.set("X-Request-Id", request_id);
      done(std::move(res));
    };
  };
  if (m.refused)
    return counted()(error_response(m.refused->code,
                                    std::move(m.refused->message)));
  if (m.r == route::create_coupon || m.r == route::introspection
      || m.r == route::faults) {
    auto code = authorize(req);
    if (code != ec::none)
      return counted()(
        error_response(code, code == ec::unauthorized ? "admin token required"
                                                      : "admin token rejected"));
  }
  switch (m.r) {
    case route::healthz:
      return counted()(json_response(http::status::ok,
                                     json{{"status", "ok"}}));
    case route::readyz:
      return readyz(counted());
    case route::metrics: {
      http_response res{http::status::ok, 11};
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = metrics_.render() + node_.render_metrics();
      res.prepare_payload();
      return counted()(std::move(res));
    }
    case route::introspection:
      return introspect(m.seg, counted());
    case route::console:
      return console(m.seg, counted());
    case route::faults:
      return inject_fault(req, counted());
    case route::create_coupon:
      return create_coupon(req, counted());
    case route::get_coupon:
      return get_coupon(m.coupon, counted());
    case route::issue:
      return issue(m.coupon, req, m.wait, client, request_id, counted());
    case route::issuance_status:
      return issuance_status(m.coupon, m.user, counted());
    case route::user_coupons:
      return user_coupons(m.user, counted());
    case route::unmatched:
      break;
  }
  counted()(error_response(ec::not_found, "no such route"));
}

void routes::console(const std::vector<std::string_view>& seg,
                     const respond_fn& done) {
  auto asset = admin::console_asset(seg.size() == 1 || seg[1].empty()
                                      ? "index.html"
                                      : seg[1]);
  if (!asset)
    return done(error_response(ec::not_found, "no such file"));
  http_response res{http::status::ok, 11};
  res.set(http::field::content_type,
          boost::beast::string_view{asset->content_type.data(),
                                    asset->content_type.size()});
  res.set(http::field::cache_control, "no-store");
  res.body() = std::string{asset->body};
  res.prepare_payload();
  done(std::move(res));
}

void routes::introspect(const std::vector<std::string_view>& seg,
                        const respond_fn& done) {
  auto ok = [&](const json& body) {
    auto res = json_response(http::status::ok, body);
    res.set(http::field::cache_control, "no-store");
    done(std::move(res));
  };
  auto area = seg[2];
  if (seg.size() == 3) {
    if (area == "nodes")
      return ok(admin::nodes(node_));
    if (area == "overview")
      return ok(admin::overview(node_, metrics_));
    if (area == "stock")
      return ok(admin::stock_list(node_));
    if (area == "writers")
      return ok(admin::writers(node_));
    if (area == "supervision")
      return ok(admin::supervision(node_));
    if (area == "producer")
      return ok(admin::producer(node_));
  }
  if (seg.size() == 4 && area == "stock") {
    auto id = parse_id(seg[3], max_coupon_id);
    if (!id)
      return done(error_response(ec::bad_request,
                                 "couponId must be a positive integer"));
    if (auto one = admin::stock_one(node_, static_cast<coupon_id_t>(*id)))
      return ok(*one);
    return done(error_response(ec::coupon_not_found,
                               "no stock actor for this coupon here"));
  }
  done(error_response(ec::not_found, "no such introspection route"));
}

void routes::inject_fault(const http_request& req, const respond_fn& done) {
  if (!node_.cfg().node_fault_injection)
    return done(error_response(ec::forbidden, "fault injection is off "
                                              "(node.fault-injection)"));
  auto parsed = parse_object(req.body());
  auto* body = std::get_if<json>(&parsed);
  if (!body || !body->contains("fault") || !(*body)["fault"].is_string())
    return done(error_response(ec::bad_request,
                               "the body must be {\"fault\": NAME, "
                               "\"couponId\": ID}"));
  auto fault = (*body)["fault"].get<std::string>();
  coupon_id_t coupon = 0;
  if (body->contains("couponId")) {
    auto v = get_int((*body)["couponId"], 1, max_coupon_id);
    if (!v)
      return done(error_response(ec::bad_request,
                                 "couponId must be a positive integer"));
    coupon = static_cast<coupon_id_t>(*v);
  }
  if (auto err = node_.inject_fault(fault, coupon))
    return done(actor_error(err));
  spdlog::warn("fault injected: {} {}", fault, coupon);
  done(json_response(http::status::accepted,
                     json{{"fault", fault}, {"status", "INJECTED"}}));
}

void routes::create_coupon(const http_request& req, respond_fn done) {
  auto bad = [&](std::string message) {
    done(error_response(ec::bad_request, std::move(message)));
  };
  if (!node_.ready())
    return done(error_response(ec::not_ready, "the node is not ready"));
  auto parsed = parse_object(req.body());
  if (auto* r = std::get_if<refusal>(&parsed))
    return bad(r->message);
  auto* body = &std::get<json>(parsed);
  coupon spec;
  for (auto& [key, value] : body->items()) {
    if (key == "name") {
      if (!value.is_string())
        return bad("name must be a string");
      spec.name = value.get<std::string>();
      if (spec.name.empty() || spec.name.size() > max_name_length)
        return bad("name must have 1 to 200 characters");
    } else if (key == "discount") {
      auto v = get_int(value, 0, std::numeric_limits<int64_t>::max());
      if (!v)
        return bad("discount must be a non-negative integer");
      spec.discount = *v;
    } else if (key == "totalQuantity") {
      auto v = get_int(value, 1, max_total_quantity);
      if (!v)
        return bad("totalQuantity must be an integer from 1 to 100000000");
      spec.total_quantity = static_cast<uint32_t>(*v);
    } else if (key == "opensAt" || key == "closesAt") {
      if (value.is_null())
        continue;
      auto t = value.is_string() ? parse_time(value.get<std::string>())
                                 : std::nullopt;
      if (!t)
        return bad(key + " must be an ISO-8601 UTC time like "
                         "2026-11-22T12:00:00Z");
      (key == "opensAt" ? spec.opens_at : spec.closes_at) = *t;
    } else {
      return bad("unknown field " + key);
    }
  }
  if (spec.name.empty())
    return bad("name is required");
  if (!body->contains("discount"))
    return bad("discount is required");
  if (spec.total_quantity == 0)
    return bad("totalQuantity is required");
  if (spec.opens_at != 0 && spec.closes_at != 0
      && spec.closes_at <= spec.opens_at)
    return bad("closesAt must be after opensAt");
  caf::anon_send(node_.store(), create_atom::value, std::move(spec),
                 reply_to<coupon_view>{[done](caf::expected<coupon_view> res) {
                     if (!res)
                       return done(actor_error(res.error()));
                   done(json_response(http::status::created,
                                      coupon_json(*res)));
                 }});
}

void routes::get_coupon(coupon_id_t id, respond_fn done) {
  reply_to<coupon_view> reply{[done](caf::expected<coupon_view> res) {
    if (!res)
      return done(actor_error(res.error()));
    done(json_response(http::status::ok, coupon_json(*res)));
  }};
  to_owner(id, done, view_atom::value, std::move(reply));
}

void routes::issue(coupon_id_t id, const http_request& req, bool wait,
                   const boost::asio::ip::address& client,
                   std::string request_id, respond_fn done) {
  auto bad = [&](std::string message) {
    done(error_response(ec::bad_request, std::move(message)));
  };
  auto decoded = decode_issue_body(req.body());
  if (auto* r = std::get_if<refusal>(&decoded))
    return bad(std::move(r->message));
  auto user = std::get<user_id_t>(decoded);
  // The address first: a bot cycling through user ids is stopped there
  // without using up the users' own budgets.
  auto now = rate_limiter::clock::now();
  auto wait_for = address_limits_.take(address_key(client), now);
  if (!wait_for)
    wait_for = user_limits_.take(user, now);
  if (wait_for) {
    auto res = error_response(ec::rate_limited, "too many issue requests, "
                                                "retry later");
    res.set(http::field::retry_after,
            std::to_string(std::max<int64_t>(1, (wait_for->count() + 999)
                                                  / 1000)));
    return done(std::move(res));
  }
  if (!node_.ready())
    return done(error_response(ec::not_ready, "the node is not ready"));
  log_event(spdlog::level::debug, "issue.received",
            R"("requestId":"{}","couponId":{},"userId":{},"wait":{})",
            request_id, id, user, wait);
  reply_to<issuance> reply{[done, request_id, id,
                            user](caf::expected<issuance> res) {
    auto answer = [&] {
      if (!res)
        return actor_error(res.error());
      auto status = res->status == issuance_status::issued
                      ? http::status::created
                      : http::status::accepted;
      return json_response(status, issuance_json(*res));
    }();
    log_event(spdlog::level::debug, "issue.answered",
              R"("requestId":"{}","couponId":{},"userId":{},"status":{})",
              request_id, id, user, answer.result_int());
    done(std::move(answer));
  }};
  to_owner(id, done, issue_atom::value, std::move(reply), user, wait,
           std::move(request_id));
}

void routes::issuance_status(coupon_id_t id, user_id_t user, respond_fn done) {
  reply_to<issuance> reply{[done](caf::expected<issuance> res) {
    if (!res)
      return done(actor_error(res.error()));
    done(json_response(http::status::ok, issuance_json(*res)));
  }};
  to_owner(id, done, status_atom::value, std::move(reply), user);
}

void routes::user_coupons(user_id_t user, respond_fn done) {
  using holdings = std::vector<user_coupon>;
  if (!node_.ready())
    return done(error_response(ec::not_ready, "the node is not ready"));
  caf::anon_send(
    node_.store(), holdings_atom::value, user,
    reply_to<holdings>{[done, user](caf::expected<holdings> res) {
      if (!res)
        return done(actor_error(res.error()));
      auto list = json::array();
      for (auto& uc : *res)
        list.push_back(json{{"issuanceId", uc.event.issuance_id},
                            {"couponId", uc.event.coupon_id},
                            {"name", uc.coupon_name},
                            {"discount", uc.discount},
                            {"status", "ISSUED"},
                            {"issuedAt", format_time(uc.event.issued_at)}});
      done(json_response(http::status::ok,
                         json{{"userId", user}, {"coupons", list}}));
    }});
}

void routes::readyz(respond_fn done) {
  if (!node_.ready())
    return done(error_response(ec::not_ready, "recovering or stopping"));
  if (!node_.writers_assigned())
    return done(error_response(ec::not_ready,
                               "writers are joining their consumer group"));
  // Ready when what issuing needs answers; without Redis the node issues on
  // and only its snapshots wait, so Redis is named as degraded instead.
  caf::anon_send(node_.store(), ready_atom::value,
                 reply_to<readiness>{[done](caf::expected<readiness> res) {
                   if (!res)
                     return done(error_response(ec::not_ready,
                                                "readiness check failed"));
                   std::vector<std::string> down;
                   for (auto [name, up] : {std::pair{"mysql", res->mysql},
                                           std::pair{"kafka", res->kafka},
                                           std::pair{"redis", res->redis}})
                     if (!up)
                       down.push_back(name);
                   if (!res->mysql || !res->kafka)
                     return done(error_response(
                       ec::not_ready, fmt::format("unreachable: {}",
                                                  fmt::join(down, ", "))));
                   done(json_response(http::status::ok,
                                      json{{"status", "ready"},
                                           {"degraded", std::move(down)}}));
                 }});
}

} // namespace dibs
