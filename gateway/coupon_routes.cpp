// The coupon API: each request is validated by the pure rules
// (request_rules.hpp), then sent to the actor that owns the answer with a
// `reply_to` continuation (no actor hop in between), and its answer
// rendered as JSON.

#include <memory>
#include <vector>

#include <caf/send.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/logging.hpp"
#include "gateway/admin/admin.hpp"
#include "gateway/http_errors.hpp"
#include "gateway/rate_limiter.hpp"
#include "gateway/routes.hpp"

namespace dibs {

namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

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

void log_issue_answered(const std::string& request_id, coupon_id_t id,
                        user_id_t user, const http_response& answer) {
  log_event(spdlog::level::debug, "issue.answered",
            R"("requestId":"{}","couponId":{},"userId":{},"status":{})",
            request_id, id, user, answer.result_int());
}

/// The routes' shared state: the node and the issue route's rate limits.
class coupon_api : public std::enable_shared_from_this<coupon_api> {
public:
  explicit coupon_api(node& n)
    : node_(n),
      user_limits_(n.cfg().limits_user_per_s, n.cfg().limits_user_burst),
      address_limits_(n.cfg().limits_address_per_s,
                      n.cfg().limits_address_burst) {
    // Empty.
  }

  void create(const request_context& rc, respond_fn done);
  void get(const request_context& rc, respond_fn done);
  void issue(const request_context& rc, respond_fn done);
  void issuance_status(const request_context& rc, respond_fn done);
  void user_coupons(const request_context& rc, respond_fn done);

private:
  /// Sends (atom, xs..., reply) to the coupon's stock actor, or (atom, id,
  /// xs..., reply) to the peer actor of its owner in a cluster, the reply
  /// made by `make_reply` only then. Answers at once when neither can take
  /// it: 503 for an owner that is down, the `no_stock_actor` answer here;
  /// or when `here`, asked with the gate of the stock actor here (null for
  /// an owner elsewhere or a stock without a gate), answers in its place
  /// (returns true).
  template <class Here, class Atom, class MakeReply, class... Ts>
  void to_owner(coupon_id_t id, const respond_fn& done, Here here, Atom atom,
                MakeReply make_reply, Ts&&... xs);

  /// `to_owner`'s `here` for requests only the actor answers.
  static bool actor_answers(const sold_out_gate*) {
    return false;
  }

  /// The answer when no stock actor owns a coupon id.
  http_response no_stock_actor(coupon_id_t id) const;

  node& node_;
  /// Issue requests per user id and per client address.
  rate_limiter user_limits_;
  rate_limiter address_limits_;
};

template <class Here, class Atom, class MakeReply, class... Ts>
void coupon_api::to_owner(coupon_id_t id, const respond_fn& done, Here here,
                          Atom atom, MakeReply make_reply, Ts&&... xs) {
  // The owner's peer actor takes the coupon id too; a stock actor here
  // knows its own.
  if (auto* owner = node_.owners().remote_owner(id)) {
    if (!owner->status->up)
      return done(error_response(ec::unavailable,
                                 "the coupon's node is down"));
    if (here(nullptr))
      return;
    return caf::anon_send(owner->actor, atom, id, std::forward<Ts>(xs)...,
                          make_reply());
  }
  auto stock = node_.stock_entry(id);
  if (!stock.actor)
    return done(no_stock_actor(id));
  if (here(stock.gate.get()))
    return;
  caf::anon_send(stock.actor, atom, std::forward<Ts>(xs)..., make_reply());
}

http_response coupon_api::no_stock_actor(coupon_id_t id) const {
  // While the node starts or stops, a coupon may exist without its actor.
  if (!node_.ready())
    return error_response(ec::not_ready, "the node is not ready");
  if (node_.recovering(id))
    return error_response(ec::unavailable,
                          "the coupon's stock is being recovered");
  // Nobody serves its shard now: it is moving (a node died, joined or left).
  if (!node_.owners().owns(id))
    return error_response(ec::unavailable,
                          "the coupon's shard is moving to another node");
  return error_response(ec::coupon_not_found, "no such coupon");
}

void coupon_api::create(const request_context& rc, respond_fn done) {
  if (!node_.ready())
    return done(error_response(ec::not_ready, "the node is not ready"));
  auto key = read_idempotency_key(rc.req);
  if (auto* r = std::get_if<refusal>(&key))
    return done(error_response(r->code, std::move(r->message)));
  auto decoded = decode_coupon_body(rc.req.body());
  if (auto* r = std::get_if<refusal>(&decoded))
    return done(error_response(r->code, std::move(r->message)));
  caf::anon_send(
    node_.store(), create_atom::value, std::move(std::get<coupon>(decoded)),
    std::move(std::get<std::string>(key)),
    reply_to<created_coupon>{
      [api = shared_from_this(), done](caf::expected<created_coupon> res) {
        if (!res)
          return done(actor_error(res.error()));
        auto& c = res->info;
        if (res->fresh)
          return done(json_response(
            http::status::created,
            coupon_json(coupon_view{c, c.total_quantity, 0})));
        // An earlier request with the key made it: the same answer, with
        // the coupon's live stock, as GET gives it. It exists: one not
        // served yet is a moment's wait, not a 404.
        auto reply = [&done] {
          return reply_to<coupon_view>{[done](caf::expected<coupon_view> v) {
            if (!v && code_of(v.error()) == ec::coupon_not_found)
              return done(error_response(ec::unavailable,
                                         "the coupon is not served yet"));
            if (!v)
              return done(actor_error(v.error()));
            auto out = json_response(http::status::created, coupon_json(*v));
            out.set("Idempotent-Replayed", "true");
            done(std::move(out));
          }};
        };
        api->to_owner(c.id, done, actor_answers, view_atom::value, reply);
      }});
}

void coupon_api::get(const request_context& rc, respond_fn done) {
  auto reply = [&done] {
    return reply_to<coupon_view>{[done](caf::expected<coupon_view> res) {
      if (!res)
        return done(actor_error(res.error()));
      done(json_response(http::status::ok, coupon_json(*res)));
    }};
  };
  to_owner(rc.match.coupon, done, actor_answers, view_atom::value, reply);
}

void coupon_api::issue(const request_context& rc, respond_fn done) {
  auto decoded = decode_issue_body(rc.req.body());
  if (auto* r = std::get_if<refusal>(&decoded))
    return done(error_response(r->code, std::move(r->message)));
  auto user = std::get<user_id_t>(decoded);
  auto limited = [&](std::chrono::milliseconds wait_for) {
    auto res = error_response(ec::rate_limited, "too many issue requests, "
                                                "retry later");
    res.set(http::field::retry_after,
            std::to_string(std::max<int64_t>(1, (wait_for.count() + 999)
                                                  / 1000)));
    log_issue_answered(rc.request_id, rc.match.coupon, user, res);
    done(std::move(res));
  };
  // The address first: a bot cycling through user ids is stopped there
  // without using up the users' own budgets.
  auto now = rate_limiter::clock::now();
  if (auto wait_for = address_limits_.take(address_key(rc.client), now))
    return limited(*wait_for);
  if (!node_.ready())
    return done(error_response(ec::not_ready, "the node is not ready"));
  auto id = rc.match.coupon;
  auto wait = rc.match.wait;
  log_event(spdlog::level::debug, "issue.received",
            R"("requestId":"{}","couponId":{},"userId":{},"wait":{})",
            rc.request_id, id, user, wait);
  // Sold out here and the user holds none: the actor's answer is known
  // without asking it (sold_out_gate.hpp), and it changes nothing, so it
  // comes before the user's budget, whose bucket costs more to look up
  // among a million users than the answer costs. Then the user's budget.
  auto answered_here = [&](const sold_out_gate* gate) {
    if (gate && gate->answers_sold_out(user, now_ms())) {
      auto answer = error_response(ec::sold_out,
                                   default_message(ec::sold_out));
      log_issue_answered(rc.request_id, id, user, answer);
      done(std::move(answer));
      return true;
    }
    if (auto wait_for = user_limits_.take(user, now)) {
      limited(*wait_for);
      return true;
    }
    return false;
  };
  // Which node decides: tests check that no two answer yes for one coupon
  // at a time.
  auto reply = [&] {
    auto owner = node_.owners().owns(id) ? node_.cfg().node_id
                                         : node_.owners().owner_name(id);
    return reply_to<issuance>{[done, request_id = rc.request_id, id, user,
                               owner = std::move(owner)](
                                caf::expected<issuance> res) {
      auto answer = [&] {
        if (!res)
          return actor_error(res.error());
        auto status = res->status == issuance_status::issued
                        ? http::status::created
                        : http::status::accepted;
        auto out = json_response(status, issuance_json(*res));
        out.set("X-Dibs-Owner", owner);
        return out;
      }();
      log_issue_answered(request_id, id, user, answer);
      done(std::move(answer));
    }};
  };
  to_owner(id, done, answered_here, issue_atom::value, reply, user, wait,
           rc.request_id);
}

void coupon_api::issuance_status(const request_context& rc, respond_fn done) {
  auto reply = [&done] {
    return reply_to<issuance>{[done](caf::expected<issuance> res) {
      if (!res)
        return done(actor_error(res.error()));
      done(json_response(http::status::ok, issuance_json(*res)));
    }};
  };
  to_owner(rc.match.coupon, done, actor_answers, status_atom::value, reply,
           rc.match.user);
}

void coupon_api::user_coupons(const request_context& rc, respond_fn done) {
  using holdings = std::vector<user_coupon>;
  if (!node_.ready())
    return done(error_response(ec::not_ready, "the node is not ready"));
  auto user = rc.match.user;
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

} // namespace

void register_coupon_routes(route_table& table, node& n) {
  auto api = std::make_shared<coupon_api>(n);
  auto bind = [api](void (coupon_api::*fn)(const request_context&,
                                           respond_fn)) {
    return [api, fn](const request_context& rc, respond_fn done) {
      ((*api).*fn)(rc, std::move(done));
    };
  };
  // Creating a coupon is part of the public API but takes the admin token.
  table.add(route::create_coupon, bind(&coupon_api::create), true);
  table.add(route::get_coupon, bind(&coupon_api::get));
  table.add(route::issue, bind(&coupon_api::issue));
  table.add(route::issuance_status, bind(&coupon_api::issuance_status));
  table.add(route::user_coupons, bind(&coupon_api::user_coupons));
}

} // namespace dibs
