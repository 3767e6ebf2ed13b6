#pragma once

#include <functional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

// How the gateway's answers are made: JSON bodies, and errors as
// `{"code", "message"}` with the status `status_of` gives their code.
namespace dibs {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response
  = boost::beast::http::response<boost::beast::http::string_body>;

/// Answers a request, possibly later and from another thread.
using respond_fn = std::function<void(http_response)>;

/// Seconds a client should wait before retrying after a 503.
constexpr const char* retry_after_seconds = "1";

http_response json_response(boost::beast::http::status status,
                            std::string body);

http_response json_response(boost::beast::http::status status,
                            const nlohmann::json& body);

/// An error answer: `{"code", "message"}` plus Retry-After on 503.
http_response error_response(ec code, std::string message);

/// Writes `res` into `out` as the bytes of an HTTP/1.x answer (status
/// line, fields, body), with a Content-Length when it has none: what
/// Beast's serializer writes for these answers, without its cost per
/// answer (its buffer sequences were a tenth of the io threads' time on
/// the sold-out path). Answers are never chunked. Without `with_body`
/// (the answer to a HEAD) the body is left out and its Content-Length
/// kept.
void render_answer(const http_response& res, std::string& out,
                   bool with_body = true);

/// Renders an actor's error, with the existing issuance id for
/// ALREADY_ISSUED.
http_response actor_error(const caf::error& err);

/// `done`, shared by every copy of the result: when the last copy goes
/// away uncalled, it answers 503 OUTCOME_UNKNOWN at once. An actor that
/// stops holding requests (its shard given up, a crash) drops their
/// continuations; their clients need not wait for the session's answer
/// deadline.
respond_fn answered_if_dropped(respond_fn done);

} // namespace dibs
