#include "gateway/answers.hpp"

#include <algorithm>
#include <iterator>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "gateway/http_errors.hpp"

namespace dibs {

namespace http = boost::beast::http;

http_response json_response(http::status status, std::string body) {
  http_response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response json_response(http::status status, const nlohmann::json& body) {
  return json_response(status, body.dump());
}

http_response error_response(ec code, std::string message) {
  // Messages are ours and rarely need escaping: skip the JSON tree then.
  bool plain = std::all_of(message.begin(), message.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != '"' && c != '\\';
  });
  auto res = json_response(
    status_of(code),
    plain ? fmt::format(R"({{"code":"{}","message":"{}"}})", to_string(code),
                        message)
          : nlohmann::json{{"code", to_string(code)},
                           {"message", std::move(message)}}
              .dump());
  if (res.result() == http::status::service_unavailable)
    res.set(http::field::retry_after, retry_after_seconds);
  return res;
}

void render_answer(const http_response& res, std::string& out,
                   bool with_body) {
  out.clear();
  auto add = [&out](std::string_view s) { out.append(s.data(), s.size()); };
  fmt::format_to(std::back_inserter(out), "HTTP/{}.{} {} ",
                 res.version() / 10, res.version() % 10, res.result_int());
  add({res.reason().data(), res.reason().size()});
  add("\r\n");
  for (const auto& f : res) {
    add({f.name_string().data(), f.name_string().size()});
    add(": ");
    add({f.value().data(), f.value().size()});
    add("\r\n");
  }
  if (!res.has_content_length())
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n",
                   res.body().size());
  add("\r\n");
  if (with_body)
    add(res.body());
}

http_response actor_error(const caf::error& err) {
  auto code = code_of(err);
  if (code == ec::already_issued && err.context().match_elements<uint64_t>())
    return json_response(
      status_of(code),
      fmt::format(R"({{"code":"{}","message":"{}","issuanceId":{}}})",
                  to_string(code), default_message(code),
                  err.context().get_as<uint64_t>(0)));
  return error_response(code, default_message(code));
}

respond_fn answered_if_dropped(respond_fn done) {
  struct once {
    respond_fn done;
    bool called = false;

    ~once() {
      if (called)
        return;
      try {
        done(error_response(ec::outcome_unknown,
                            "the request was dropped unanswered (the actor "
                            "holding it stopped): it may have taken effect; "
                            "retrying is safe"));
      } catch (...) {
        // The session's answer deadline answers instead.
      }
    }
  };
  auto state = std::make_shared<once>();
  state->done = std::move(done);
  return [state](http_response res) {
    state->called = true;
    state->done(std::move(res));
  };
}

} // namespace dibs
