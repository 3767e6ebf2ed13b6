#define CAF_SUITE gateway.http_session

// The session on Beast's test stream: no sockets, and `fail_count` fails
// each stream operation in turn. The test stream has no deadlines: one test
// runs the node's session on a loopback socket, whose sweeper cuts a
// header past its deadline (the integration tests hostile_http and
// slowhttptest cut every kind of slow client); the answer deadline is the
// session's own timer and is tested on the test stream.

#include "gateway/http_session_impl.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/_experimental/test/fail_count.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/http/read.hpp>

#include <caf/test/unit_test.hpp>
#include <nlohmann/json.hpp>

namespace test = boost::beast::test;
namespace http = boost::beast::http;
namespace net = boost::asio;

namespace dibs {

template <>
struct session_stream<test::stream> {
  static void prepare(test::stream&) {
    // Nothing to set up.
  }

  static boost::asio::ip::address peer(test::stream&) {
    return boost::asio::ip::address_v4::loopback();
  }

  template <class Session>
  static void watch(test::stream&, const std::shared_ptr<Session>&) {
    // Deadlines are not checked on the test stream.
  }

  static void close(test::stream& s) {
    s.close();
  }
};

} // namespace dibs

using namespace dibs;
using namespace std::chrono_literals;

namespace {

using test_session = basic_http_session<test::stream>;

/// A request as a client writes it, `fields` after the Host.
std::string request(const std::string& method, const std::string& target,
                    const std::string& fields = "",
                    const std::string& body = "") {
  auto head = method + " " + target + " HTTP/1.1\r\nHost: dibs.test\r\n"
              + fields;
  if (!body.empty())
    head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return head + "\r\n" + body;
}

/// `data` as one chunk of a chunked body.
std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

/// What the test's handler answers: 200 with the target as the body.
http_response echo(const http_request& req) {
  http_response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::string{req.target()};
  res.prepare_payload();
  return res;
}

/// The `code` of a JSON error answer.
std::string code_in(const http_response& res) {
  auto j = nlohmann::json::parse(res.body(), nullptr, false);
  return j.is_object() && j.contains("code") ? j["code"].get<std::string>()
                                             : "";
}

/// A 503 OUTCOME_UNKNOWN that keeps the connection, with Retry-After.
void check_outcome_unknown(const http_response& res) {
  CAF_CHECK_EQUAL(res.result_int(), 503u);
  CAF_CHECK_EQUAL(code_in(res), "OUTCOME_UNKNOWN");
  CAF_CHECK(res.count(http::field::retry_after) > 0);
  CAF_CHECK(res.keep_alive());
}

/// What the client saw of one connection.
struct transcript {
  /// Every byte the session wrote.
  std::string raw;
  /// `raw` parsed as answers.
  std::vector<http_response> answers;
  /// `raw` was whole answers, nothing cut.
  bool whole = false;
  /// The session closed the connection.
  bool closed = false;
};

/// Parses the bytes a session wrote into answers.
void parse_answers(transcript& t) {
  net::io_context io;
  test::stream in{io, t.raw};
  in.close_remote(); // End of input after the bytes.
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::response_parser<http::string_body> parser;
    boost::beast::error_code err;
    http::read(in, buffer, parser, err);
    if (err == http::error::end_of_stream) {
      t.whole = true;
      return;
    }
    if (err)
      return;
    t.answers.push_back(parser.release());
  }
}

/// One session over a test stream, with a handler that answers at once
/// (`echo`) or keeps the answer for later.
struct fixture {
  /// Declared first, destroyed last: sessions decrement its counters.
  session_context ctx{
    [this](const http_request& req, const boost::asio::ip::address&,
           exposure, respond_fn done) {
      handled.push_back(req.target().to_string());
      bodies.push_back(req.body());
      if (answer_from_thread)
        answerers.emplace_back(
          [done = std::move(done), res = echo(req)]() mutable {
            done(std::move(res));
          });
      else if (answer_at_once)
        done(echo(req));
      else if (drop_from_thread)
        // An actor's thread drops the continuation, as when it stops.
        answerers.emplace_back(
          [dropped = answered_if_dropped(std::move(done))]() mutable {
            dropped = nullptr;
          });
      else if (drop_unanswered)
        answered_if_dropped(std::move(done)); // Dropped at once.
      else
        held.push_back(std::move(done));
    },
    exposure::all,
    64,                 // body_limit_bytes
    512,                // header_limit_bytes
    framing_limits{64, 8},
    1s,                 // idle_timeout (no deadlines on the test stream)
    1s,                 // header_timeout
    1s,                 // body_timeout
    50ms,               // answer_timeout
    4,                  // max_connections
    4,                  // max_in_flight
    [this](ec code) { refused.push_back(code); },
  };
  /// Destroyed before `ctx`: pending handlers hold sessions.
  net::io_context ioc;
  bool answer_at_once = true;
  /// Drops the answer unanswered, through `answered_if_dropped`, at once
  /// or from a thread of its own (with `answer_at_once` false).
  bool drop_unanswered = false;
  bool drop_from_thread = false;
  /// Answers from a thread of its own, as the actors do.
  bool answer_from_thread = false;
  std::vector<std::thread> answerers;
  /// The targets the handler was given, in order, and their bodies.
  std::vector<std::string> handled;
  std::vector<std::string> bodies;
  /// Answers the handler has not given yet; destroyed first.
  std::vector<respond_fn> held;
  /// The codes the session told `on_refused`.
  std::vector<ec> refused;
  /// The last session, to check that it is gone.
  std::weak_ptr<test_session> last_session;

  /// Runs a session on a connection over which the client sends `bytes` and
  /// then shuts down its sending side, if `client_closes`, until the session
  /// closes the connection or 2 s pass. `fc` fails the session's stream
  /// operations; `read_size` bounds each read of the session.
  transcript talk(const std::string& bytes, bool client_closes = true,
                  test::fail_count* fc = nullptr, size_t read_size = 0) {
    ioc.restart();
    auto server = fc ? test::stream{ioc, *fc} : test::stream{ioc};
    if (read_size > 0)
      server.read_size(read_size);
    test::stream client{ioc};
    client.connect(server);
    net::write(client, net::buffer(bytes));
    // The client's half-close: the session reads the end of the input
    // after the bytes, and can still write.
    if (client_closes)
      server.close_remote();
    auto session = std::make_shared<test_session>(std::move(server), ctx);
    last_session = session;
    session->run();
    session.reset();
    // The client reads until the session closes the connection.
    struct reader {
      transcript t;
      char buf[1024];
    };
    auto r = std::make_shared<reader>();
    std::function<void()> read_more = [&] {
      client.async_read_some(net::buffer(r->buf),
                             [r, &read_more](boost::beast::error_code err,
                                             size_t n) {
                               r->t.raw.append(r->buf, n);
                               if (err)
                                 r->t.closed = err == net::error::eof;
                               else
                                 read_more();
                             });
    };
    read_more();
    ioc.run_for(2s);
    client.close(); // Cancels the read if the session never closed.
    ioc.poll();
    auto t = std::move(r->t);
    parse_answers(t);
    return t;
  }

  /// In flight and connections are back to zero and the session is gone.
  void check_nothing_left() {
    CAF_CHECK_EQUAL(ctx.in_flight.load(), 0);
    CAF_CHECK_EQUAL(ctx.connections.load(), 0);
    CAF_CHECK(last_session.expired());
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_session_tests, fixture)

CAF_TEST(a_request_gets_the_handlers_answer) {
  auto t = talk(request("GET", "/healthz"));
  CAF_CHECK(t.whole);
  CAF_REQUIRE_EQUAL(t.answers.size(), 1u);
  auto& res = t.answers[0];
  CAF_CHECK_EQUAL(res.result_int(), 200u);
  CAF_CHECK_EQUAL(res.body(), "/healthz");
  CAF_CHECK_EQUAL(res.version(), 11u);
  CAF_CHECK(res.keep_alive());
  CAF_CHECK(handled == std::vector<std::string>{"/healthz"});
  CAF_CHECK(refused.empty());
  check_nothing_left();
}

CAF_TEST(pipelined_requests_are_answered_in_order) {
  std::vector<std::string> targets{"/a", "/b", "/c"};
  auto t = talk(request("GET", targets[0])
                + request("POST", targets[1], "", "xyz")
                + request("GET", targets[2]));
  CAF_CHECK(t.whole);
  CAF_REQUIRE_EQUAL(t.answers.size(), targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    CAF_CHECK_EQUAL(t.answers[i].body(), targets[i]);
    CAF_CHECK(t.answers[i].keep_alive());
  }
  CAF_CHECK(handled == targets);
  check_nothing_left();
}

CAF_TEST(a_head_request_is_answered_without_the_body) {
  // The answer to a HEAD has the Content-Length of the body it leaves out:
  // a body written anyway would be read as the next answer.
  auto t = talk(request("HEAD", "/a") + request("GET", "/bc"));
  CAF_CHECK(handled == (std::vector<std::string>{"/a", "/bc"}));
  auto second = t.raw.find("HTTP/1.1", 1);
  CAF_REQUIRE(second != std::string::npos);
  auto first = t.raw.substr(0, second);
  CAF_CHECK(first.find("Content-Length: 2\r\n") != std::string::npos);
  CAF_CHECK_EQUAL(first.substr(first.size() - 4), "\r\n\r\n");
  transcript rest;
  rest.raw = t.raw.substr(second);
  parse_answers(rest);
  CAF_CHECK(rest.whole);
  CAF_REQUIRE_EQUAL(rest.answers.size(), 1u);
  CAF_CHECK_EQUAL(rest.answers[0].body(), "/bc");
  check_nothing_left();
  // A HEAD refused once its header was read: the refusal has no body.
  refused.clear();
  auto r = talk(request("HEAD", "/a", "Transfer-Encoding: chunked\r\n")
                  + chunk("x") + "0\r\nX-Late: 1\r\n\r\n",
                false);
  CAF_CHECK(r.closed);
  CAF_CHECK(refused == std::vector<ec>{ec::bad_request});
  CAF_CHECK_EQUAL(r.raw.substr(0, 13), "HTTP/1.1 400 ");
  CAF_CHECK(r.raw.find("Content-Length: ") != std::string::npos);
  CAF_CHECK_EQUAL(r.raw.substr(r.raw.size() - 4), "\r\n\r\n");
  check_nothing_left();
}

CAF_TEST(a_request_read_in_small_pieces_is_answered) {
  auto t = talk(request("POST", "/a", "X-Pad: 0123456789\r\n", "body"), true,
                nullptr, 3);
  CAF_REQUIRE_EQUAL(t.answers.size(), 1u);
  CAF_CHECK_EQUAL(t.answers[0].body(), "/a");
  check_nothing_left();
}

CAF_TEST(pipelined_chunked_requests_read_in_small_pieces_are_answered) {
  // Each read ends somewhere new: inside a chunk, its size, a header's
  // end; what the parser leaves in the buffer is the next request.
  auto chunked = request("POST", "/a", "Transfer-Encoding: chunked\r\n")
                 + chunk("hello") + chunk("world") + "0\r\n\r\n";
  for (size_t piece : {1u, 2u, 3u, 7u}) {
    CAF_MESSAGE("reads of " << piece << " bytes");
    handled.clear();
    bodies.clear();
    auto t = talk(chunked + request("POST", "/b", "", "xyz")
                    + request("GET", "/c"),
                  true, nullptr, piece);
    CAF_CHECK(t.whole);
    CAF_REQUIRE_EQUAL(t.answers.size(), 3u);
    CAF_CHECK(handled == (std::vector<std::string>{"/a", "/b", "/c"}));
    CAF_CHECK(bodies == (std::vector<std::string>{"helloworld", "xyz", ""}));
    check_nothing_left();
  }
}

CAF_TEST(a_request_cut_short_by_the_end_of_input_gets_400) {
  for (auto bytes : {request("POST", "/a", "Content-Length: 10\r\n") + "abc",
                     request("POST", "/a", "Transfer-Encoding: chunked\r\n")
                       + "5\r\nhel",
                     std::string{"GET /a HTTP/1.1\r\nHost: dibs.test\r\n"}}) {
    handled.clear();
    refused.clear();
    auto t = talk(bytes);
    CAF_CHECK(t.closed);
    CAF_REQUIRE_EQUAL(t.answers.size(), 1u);
    CAF_CHECK_EQUAL(t.answers[0].result_int(), 400u);
    CAF_CHECK(handled.empty());
    CAF_CHECK(refused == std::vector<ec>{ec::bad_request});
    check_nothing_left();
  }
  // Between requests, the end of input closes without an answer.
  handled.clear();
  auto t = talk(request("GET", "/a"));
  CAF_CHECK(t.closed);
  CAF_CHECK_EQUAL(t.answers.size(), 1u);
  check_nothing_left();
}

CAF_TEST(a_request_that_does_not_keep_alive_is_answered_then_closed) {
  for (auto bytes : {std::string{"GET /a HTTP/1.0\r\n\r\n"},
                     request("GET", "/a", "Connection: close\r\n")}) {
    handled.clear();
    auto t = talk(bytes + request("GET", "/canary"), false);
    CAF_CHECK(t.closed);
    CAF_REQUIRE_EQUAL(t.answers.size(), 1u);
    CAF_CHECK_EQUAL(t.answers[0].body(), "/a");
    CAF_CHECK(!t.answers[0].keep_alive());
    CAF_CHECK(handled == std::vector<std::string>{"/a"});
    check_nothing_left();
  }
}

CAF_TEST(an_http_10_request_is_answered_in_http_10) {
  auto t = talk("GET /a HTTP/1.0\r\n\r\n");
  CAF_REQUIRE_EQUAL(t.answers.size(), 1u);
  CAF_CHECK_EQUAL(t.answers[0].version(), 10u);
}

CAF_TEST(each_refusal_answers_once_and_closes) {
  struct row {
    const char* what;
    std::string bytes;
    unsigned status;
    ec code;
  };
  auto body_limit = ctx.body_limit_bytes;
  auto header_limit = ctx.header_limit_bytes;
  auto over_body = std::string(body_limit + 1, 'b');
  std::vector<row> rows{
    {"declared body over the limit",
     request("POST", "/a", "", over_body), 413, ec::body_too_large},
    {"chunked body over the limit",
     request("POST", "/a", "Transfer-Encoding: chunked\r\n")
       + chunk(over_body) + "0\r\n\r\n",
     413, ec::body_too_large},
    {"target over the limit",
     request("GET", "/" + std::string(ctx.framing.max_target_bytes, 't')),
     414, ec::uri_too_long},
    {"request line alone over the header limit",
     request("GET", "/" + std::string(header_limit, 't')), 414,
     ec::uri_too_long},
    {"header block over the limit",
     request("GET", "/a", "X-Big: " + std::string(header_limit, 'h') + "\r\n"),
     431, ec::headers_too_large},
    {"more fields than the limit",
     request("GET", "/a",
             [&] {
               std::string fields;
               // Host is one already.
               for (size_t i = 0; i < ctx.framing.max_header_fields; ++i)
                 fields += "X-F" + std::to_string(i) + ": v\r\n";
               return fields;
             }()),
     431, ec::headers_too_large},
    // Beast 1.74's parser refuses a version other than 1.0 and 1.1 itself
    // (http::error::bad_version) before check_framing could answer 505.
    {"HTTP/2.0", "GET /a HTTP/2.0\r\nHost: dibs.test\r\n\r\n", 400,
     ec::bad_request},
    {"HTTP/1.2", "GET /a HTTP/1.2\r\nHost: dibs.test\r\n\r\n", 400,
     ec::bad_request},
    {"Transfer-Encoding with Content-Length",
     request("POST", "/a", "Transfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400,
     ec::bad_request},
    {"HTTP/1.1 without Host", "GET /a HTTP/1.1\r\n\r\n", 400, ec::bad_request},
    {"no request line", "GARBAGE\r\n\r\n", 400, ec::bad_request},
    {"chunk extension over its bound",
     request("POST", "/a", "Transfer-Encoding: chunked\r\n") + "1;"
       + std::string(max_chunk_extension_bytes + 1, 'e')
       + "\r\nx\r\n0\r\n\r\n",
     400, ec::bad_request},
    {"a trailer field after a chunked body",
     request("POST", "/a", "Transfer-Encoding: chunked\r\n") + chunk("xy")
       + "0\r\nConnection: close\r\n\r\n",
     400, ec::bad_request},
  };
  for (auto& x : rows) {
    CAF_MESSAGE(x.what);
    handled.clear();
    refused.clear();
    // A canary behind the bad request: it must never run.
    auto t = talk(x.bytes + request("GET", "/canary"), false);
    CAF_CHECK(t.closed);
    CAF_CHECK(t.whole);
    CAF_REQUIRE_EQUAL(t.answers.size(), 1u);
    auto& res = t.answers[0];
    CAF_CHECK_EQUAL(res.result_int(), x.status);
    CAF_CHECK_EQUAL(code_in(res), to_string(x.code));
    CAF_CHECK(!res.keep_alive());
    CAF_CHECK(handled.empty());
    CAF_CHECK(refused == std::vector<ec>{x.code});
    check_nothing_left();
  }
}

CAF_TEST(a_connection_past_the_limit_is_refused_with_503) {
  ctx.max_connections = 0;
  auto t = talk(request("GET", "/a"), false);
  CAF_CHECK(t.closed);
  CAF_REQUIRE_EQUAL(t.answers.size(), 1u);
  CAF_CHECK_EQUAL(t.answers[0].result_int(), 503u);
  CAF_CHECK_EQUAL(code_in(t.answers[0]), "OVERLOADED");
  CAF_CHECK(t.answers[0].count(http::field::retry_after) > 0);
  CAF_CHECK(handled.empty());
  CAF_CHECK(refused == std::vector<ec>{ec::overloaded});
  check_nothing_left();
}

CAF_TEST(a_saturated_node_answers_503_and_keeps_the_connection) {
  ctx.max_in_flight = 0;
  auto t = talk(request("GET", "/a") + request("GET", "/b"));
  CAF_REQUIRE_EQUAL(t.answers.size(), 2u);
  for (auto& res : t.answers) {
    CAF_CHECK_EQUAL(res.result_int(), 503u);
    CAF_CHECK_EQUAL(code_in(res), "OVERLOADED");
    CAF_CHECK(res.keep_alive());
  }
  CAF_CHECK(handled.empty());
  // Not a refusal of the request itself: the connection goes on.
  CAF_CHECK(refused.empty());
  check_nothing_left();
}

CAF_TEST(an_unanswered_request_gets_503_at_the_answer_timeout) {
  answer_at_once = false;
  auto start = std::chrono::steady_clock::now();
  auto t = talk(request("GET", "/a") + request("GET", "/b"));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - start);
  // Each request waited for its deadline, one after the other.
  CAF_CHECK_GREATER_OR_EQUAL(took.count(), 2 * ctx.answer_timeout.count());
  CAF_REQUIRE_EQUAL(t.answers.size(), 2u);
  for (auto& res : t.answers)
    check_outcome_unknown(res);
  CAF_CHECK(handled == (std::vector<std::string>{"/a", "/b"}));
  CAF_CHECK_EQUAL(ctx.in_flight.load(), 0);
  // The answers come after all: dropped, and counted out only once.
  CAF_REQUIRE_EQUAL(held.size(), 2u);
  for (auto& done : held)
    done(http_response{http::status::ok, 11});
  ioc.restart();
  ioc.run_for(1s);
  CAF_CHECK_EQUAL(ctx.in_flight.load(), 0);
  held.clear();
  check_nothing_left();
}

/// Both requests answered 503 OUTCOME_UNKNOWN by their dropped
/// continuation, not by the deadline.
void check_dropped(const transcript& t) {
  CAF_REQUIRE_EQUAL(t.answers.size(), 2u);
  for (auto& res : t.answers) {
    check_outcome_unknown(res);
    CAF_CHECK(res.body().find("dropped unanswered") != std::string::npos);
  }
}

CAF_TEST(a_request_dropped_unanswered_gets_503_before_the_deadline) {
  answer_at_once = false;
  drop_unanswered = true;
  check_dropped(talk(request("GET", "/a") + request("GET", "/b")));
  CAF_CHECK(handled == (std::vector<std::string>{"/a", "/b"}));
  check_nothing_left();
}

CAF_TEST(a_request_dropped_by_another_thread_gets_503_before_the_deadline) {
  answer_at_once = false;
  drop_from_thread = true;
  auto t = talk(request("GET", "/a") + request("GET", "/b"));
  for (auto& th : answerers)
    th.join();
  check_dropped(t);
  check_nothing_left();
}

CAF_TEST(an_answer_from_another_thread_is_written) {
  answer_from_thread = true;
  auto t = talk(request("GET", "/a") + request("GET", "/b"));
  for (auto& th : answerers)
    th.join();
  CAF_REQUIRE_EQUAL(t.answers.size(), 2u);
  CAF_CHECK_EQUAL(t.answers[0].result_int(), 200u);
  CAF_CHECK_EQUAL(t.answers[0].body(), "/a");
  CAF_CHECK_EQUAL(t.answers[1].result_int(), 200u);
  CAF_CHECK_EQUAL(t.answers[1].body(), "/b");
  check_nothing_left();
}

CAF_TEST(after_a_failed_write_nothing_more_of_the_connection_runs) {
  // The client sends two requests and is gone before the first answer:
  // that write fails, and the request behind it must not run.
  ioc.restart();
  test::stream server{ioc};
  {
    test::stream client{ioc};
    client.connect(server);
    net::write(client,
               net::buffer(request("GET", "/a") + request("GET", "/b")));
  }
  auto session = std::make_shared<test_session>(std::move(server), ctx);
  last_session = session;
  session->run();
  session.reset();
  ioc.run_for(2s);
  CAF_CHECK(handled == std::vector<std::string>{"/a"});
  check_nothing_left();
}

CAF_TEST(each_failing_stream_operation_closes_cleanly) {
  // Pipelined requests with a body, read 16 bytes at a time: reads of the
  // idle wait, the header and the body, and writes, each failing in turn.
  auto bytes = request("POST", "/a", "", "0123456789") + request("GET", "/b");
  auto intact = talk(bytes, true, nullptr, 16);
  CAF_REQUIRE_EQUAL(intact.answers.size(), 2u);
  check_nothing_left();
  bool all_failed = false;
  for (size_t n = 1; n < 100 && !all_failed; ++n) {
    CAF_MESSAGE("failing operation " << n);
    test::fail_count fc{n};
    auto t = talk(bytes, true, &fc, 16);
    // What was written is what would have been, cut at an answer.
    CAF_CHECK_EQUAL(intact.raw.compare(0, t.raw.size(), t.raw), 0);
    CAF_CHECK(t.whole);
    CAF_CHECK(t.closed);
    check_nothing_left();
    // Failing the last operation (the read that finds the client gone)
    // changes nothing the client sees: past it, every one has failed.
    all_failed = t.raw == intact.raw;
  }
  CAF_CHECK(all_failed);
}

CAF_TEST(deadlines_are_checked_ten_times_within_the_shortest_timeout) {
  CAF_CHECK_EQUAL(deadline_check_period(ctx).count(), 100); // All 1 s.
  ctx.header_timeout = 300ms;
  CAF_CHECK_EQUAL(deadline_check_period(ctx).count(), 30);
  ctx.body_timeout = 5ms;
  CAF_CHECK_EQUAL(deadline_check_period(ctx).count(), 1);
  ctx.idle_timeout = 30s;
  ctx.header_timeout = ctx.body_timeout = 20s;
  CAF_CHECK_EQUAL(deadline_check_period(ctx).count(), 100);
}

CAF_TEST(a_real_connection_is_closed_past_its_header_deadline) {
  // The node's session on a socket over loopback: its io thread's sweeper
  // closes the connection of a header that never ends.
  ctx.header_timeout = 200ms;
  net::io_context io;
  net::ip::tcp::acceptor acceptor{io, {net::ip::address_v4::loopback(), 0}};
  net::ip::tcp::socket client{io};
  client.connect(acceptor.local_endpoint());
  tcp_socket accepted{io.get_executor()};
  acceptor.accept(accepted);
  auto session = std::make_shared<http_session>(
    http_stream{std::move(accepted)}, ctx);
  std::weak_ptr<http_session> watched = session;
  session->run();
  session.reset();
  auto sent = std::chrono::steady_clock::now();
  net::write(client, net::buffer(std::string{"GET /a HTTP/1.1\r\nHo"}));
  bool closed = false;
  std::chrono::steady_clock::duration took{};
  char buf[64];
  client.async_read_some(net::buffer(buf),
                         [&](boost::system::error_code err, size_t) {
                           closed = err == net::error::eof;
                           took = std::chrono::steady_clock::now() - sent;
                         });
  io.run_for(5s);
  CAF_CHECK(closed);
  // Not before its deadline (a bound on the far side would time the
  // machine, not the session).
  CAF_CHECK(took >= ctx.header_timeout);
  CAF_CHECK(handled.empty());
  client.close();
  io.poll();
  CAF_CHECK(watched.expired());
  check_nothing_left();
}

CAF_TEST_FIXTURE_SCOPE_END()
