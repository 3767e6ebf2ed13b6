#include "cli/load_engine.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <fmt/format.h>

namespace dibs::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

const char* to_string(endpoint x) {
  switch (x) {
    case endpoint::issue: return "issue";
    case endpoint::issue_wait: return "issue?wait=true";
    case endpoint::status: return "status";
  }
  return "?";
}

const char* to_string(outcome x) {
  static constexpr const char* names[] = {
    "accepted",        "issued",       "sold_out",     "already_issued",
    "not_open",        "closed",       "coupon_not_found", "bad_request",
    "rate_limited",    "unavailable",  "outcome_unknown", "other_status",
    "timeout",
    "transport_error", "status_accepted", "status_issued",
    "status_not_issued"};
  static_assert(std::size(names) == outcome_count);
  return names[static_cast<size_t>(x)];
}

bool undecided(outcome x) {
  // A 503 UNAVAILABLE is a definite "no": a row for it is a phantom. Only an
  // answer saying the outcome is unknown, or none at all, leaves it open.
  return x == outcome::outcome_unknown || x == outcome::timeout
         || x == outcome::transport_error;
}

void ledger::accept(pair_key pair, uint64_t issuance_id) {
  auto [i, added] = accepted.emplace(pair, issuance_id);
  if (!added && i->second != issuance_id)
    conflicts.push_back(conflict{pair, i->second, issuance_id});
}

void ledger::merge(const ledger& other) {
  for (auto& [pair, id] : other.accepted)
    accept(pair, id);
  undecided.insert(other.undecided.begin(), other.undecided.end());
  conflicts.insert(conflicts.end(), other.conflicts.begin(),
                   other.conflicts.end());
  sold_out.insert(other.sold_out.begin(), other.sold_out.end());
}

uint64_t run_stats::requests() const {
  uint64_t n = 0;
  for (size_t e = 0; e < endpoint_count; ++e)
    n += requests(static_cast<endpoint>(e));
  return n;
}

uint64_t run_stats::requests(endpoint x) const {
  uint64_t n = 0;
  for (auto c : outcomes[static_cast<size_t>(x)])
    n += c;
  return n;
}

uint64_t run_stats::count(outcome x) const {
  uint64_t n = 0;
  for (auto& per_endpoint : outcomes)
    n += per_endpoint[static_cast<size_t>(x)];
  return n;
}

void run_stats::merge(const run_stats& other) {
  for (size_t e = 0; e < endpoint_count; ++e) {
    latency[e].merge(other.latency[e]);
    for (size_t o = 0; o < outcome_count; ++o)
      outcomes[e][o] += other.outcomes[e][o];
    for (size_t s = 0; s < statuses[e].size(); ++s)
      statuses[e][s] += other.statuses[e][s];
  }
  iterations += other.iterations;
  missed += other.missed;
  peak_vus += other.peak_vus;
  started = std::min(started, other.started);
  last_answer = std::max(last_answer, other.last_answer);
  if (per_second.size() < other.per_second.size())
    per_second.resize(other.per_second.size());
  for (size_t i = 0; i < other.per_second.size(); ++i)
    per_second[i] += other.per_second[i];
  seen.merge(other.seen);
}

target parse_url(const std::string& url) {
  std::string_view rest = url;
  constexpr std::string_view scheme = "http://";
  if (rest.substr(0, scheme.size()) != scheme)
    throw std::invalid_argument("only http:// URLs are supported: " + url);
  rest.remove_prefix(scheme.size());
  rest = rest.substr(0, rest.find('/'));
  target t;
  auto colon = rest.rfind(':');
  t.host = std::string{rest.substr(0, colon)};
  if (colon != std::string_view::npos) {
    auto port = rest.substr(colon + 1);
    auto [end, err] = std::from_chars(port.data(), port.data() + port.size(),
                                      t.port);
    if (err != std::errc{} || end != port.data() + port.size() || t.port == 0)
      throw std::invalid_argument("bad port in " + url);
  } else {
    t.port = 80;
  }
  if (t.host.empty())
    throw std::invalid_argument("no host in " + url);
  return t;
}

namespace {

/// The number after `"key":` in a JSON body we know the shape of.
std::optional<uint64_t> number_after(std::string_view body,
                                     std::string_view key) {
  auto at = body.find(key);
  if (at == std::string_view::npos)
    return std::nullopt;
  auto p = body.data() + at + key.size();
  auto end = body.data() + body.size();
  while (p < end && (*p == '"' || *p == ':' || *p == ' '))
    ++p;
  uint64_t value = 0;
  auto [stop, err] = std::from_chars(p, end, value);
  if (err != std::errc{} || stop == p)
    return std::nullopt;
  return value;
}

bool contains(std::string_view body, std::string_view word) {
  return body.find(word) != std::string_view::npos;
}

class worker;

/// One virtual user: a keep-alive connection that sends one request,
/// waits for its answer, and goes on.
class vu : public std::enable_shared_from_this<vu> {
public:
  vu(worker& w, asio::io_context& ioc) : w_(w), sock_(ioc), timer_(ioc) {
    // Empty.
  }

  /// Starts one iteration; `due` is when it should have started (open
  /// loop), which is where its first request's latency counts from.
  void begin(clock::time_point due);

  /// Ends the user after its current iteration.
  void stop() {
    stopping_ = true;
    timer_.cancel();
  }

  bool stopping() const { return stopping_; }

  /// Ends an idle user at once.
  void retire();

  /// Called by the worker's sweep: gives up on an answer past its deadline.
  void check_deadline(clock::time_point now) {
    if (busy_ && now > deadline_) {
      timed_out_ = true;
      beast::error_code ignored;
      sock_.close(ignored);
    }
  }

private:
  void send(endpoint e, clock::time_point t0);
  void on_answer(beast::error_code err);
  void handle_issue(int status, std::string_view body);
  void handle_status(int status, std::string_view body);
  void after(millis pause, void (vu::*next)());
  void poll();
  void end_iteration();
  void fail(outcome o, bool reconnect_pause);

  worker& w_;
  tcp::socket sock_;
  asio::steady_timer timer_;
  beast::flat_buffer buf_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::string out_;
  endpoint endpoint_ = endpoint::issue;
  pair_key pair_{0, 0};
  clock::time_point t0_;
  clock::time_point deadline_;
  uint32_t polls_ = 0;
  bool busy_ = false;
  bool timed_out_ = false;
  bool stopping_ = false;
  bool sent_ = false;
};

/// One thread's share of the load: its io_context, its virtual users and
/// its own statistics (merged when every worker is done).
class worker {
public:
  worker(const run_options& opts, unsigned index, run_progress& progress)
    : opts_(opts), plan_(opts.plan), index_(index), progress_(progress),
      rng_(opts.seed * 1'000'003 + index), tick_(ioc_) {
    auto peer = tcp::resolver{ioc_}.resolve(opts.server.host,
                                            std::to_string(opts.server.port));
    endpoint_ = *peer.begin();
    host_header_ = fmt::format("{}:{}", opts.server.host, opts.server.port);
  }

  void run(clock::time_point start) {
    stats_.started = start;
    stats_.last_answer = start;
    start_ = start;
    end_ = start + plan_.total_duration();
    on_tick();
    ioc_.run();
  }

  run_stats& stats() { return stats_; }

  // -- used by the virtual users ---------------------------------------------

  const scenario& plan() const { return plan_; }
  const tcp::endpoint& peer() const { return endpoint_; }
  const std::string& host_header() const { return host_header_; }
  millis request_timeout() const { return opts_.request_timeout; }

  pair_key draw() {
    auto& ids = opts_.coupon_ids;
    std::uniform_int_distribution<size_t> coupon(0, ids.size() - 1);
    std::uniform_int_distribution<uint64_t> user(plan_.users_from,
                                                 plan_.users_to);
    return pair_key{ids[coupon(rng_)], user(rng_)};
  }

  void record(endpoint e, outcome o, int status, clock::time_point t0) {
    auto now = clock::now();
    auto i = static_cast<size_t>(e);
    ++stats_.outcomes[i][static_cast<size_t>(o)];
    if (status > 0 && status < 600) {
      ++stats_.statuses[i][static_cast<size_t>(status)];
      stats_.latency[i].record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - t0)
          .count()));
    }
    stats_.last_answer = std::max(stats_.last_answer, now);
    auto second = static_cast<size_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - start_).count());
    if (stats_.per_second.size() <= second)
      stats_.per_second.resize(second + 1);
    ++stats_.per_second[second];
    progress_.requests.fetch_add(1, std::memory_order_relaxed);
  }

  ledger& seen() { return stats_.seen; }

  /// A virtual user finished an iteration.
  void iteration_done(const std::shared_ptr<vu>& user) {
    ++stats_.iterations;
    if (plan_.open_loop()) {
      idle_.push_back(user);
      dispatch();
    }
  }

  /// A virtual user ended for good.
  void finished(vu* user) {
    auto i = std::find_if(users_.begin(), users_.end(),
                          [user](auto& u) { return u.get() == user; });
    if (i != users_.end())
      users_.erase(i);
    progress_.vus.fetch_sub(1, std::memory_order_relaxed);
  }

  /// Whether a closed-loop user should think before its next iteration.
  bool open_loop() const { return plan_.open_loop(); }

private:
  /// This worker's share of `total` (virtual users or arrival rate).
  double share(double total) const {
    auto n = opts_.threads;
    if (plan_.open_loop())
      return total / n;
    auto whole = static_cast<uint32_t>(total);
    return whole / n + (index_ < whole % n ? 1 : 0);
  }

  void spawn() {
    auto user = std::make_shared<vu>(*this, ioc_);
    users_.push_back(user);
    progress_.vus.fetch_add(1, std::memory_order_relaxed);
    stats_.peak_vus = std::max<uint32_t>(stats_.peak_vus,
                                         static_cast<uint32_t>(users_.size()));
    if (plan_.open_loop())
      idle_.push_back(user);
    else
      user->begin(clock::now());
  }

  void dispatch() {
    while (!due_.empty() && !idle_.empty()) {
      auto user = idle_.back();
      idle_.pop_back();
      if (user->stopping())
        continue;
      auto due = due_.front();
      due_.pop_front();
      user->begin(due);
    }
  }

  void on_tick() {
    auto now = clock::now();
    for (auto& u : users_)
      u->check_deadline(now);
    bool over = now >= end_;
    if (plan_.open_loop())
      tick_open(now, over);
    else
      tick_closed(now, over);
    if (over && users_.empty())
      return; // Nothing left: the io_context runs out of work.
    tick_.expires_after(plan_.open_loop() ? millis{1} : millis{20});
    tick_.async_wait([this](beast::error_code err) {
      if (!err)
        on_tick();
    });
  }

  void tick_closed(clock::time_point now, bool over) {
    auto elapsed = std::chrono::duration_cast<millis>(now - start_);
    auto want = over ? 0 : static_cast<size_t>(share(plan_.target_vus(elapsed)));
    size_t active = 0;
    for (auto& u : users_)
      active += u->stopping() ? 0 : 1;
    for (; active < want; ++active)
      spawn();
    for (auto i = users_.rbegin(); active > want && i != users_.rend(); ++i)
      if (!(*i)->stopping()) {
        (*i)->stop();
        --active;
      }
  }

  void tick_open(clock::time_point now, bool over) {
    auto rate = share(plan_.rate_per_s);
    if (!over) {
      auto elapsed = std::chrono::duration<double>(now - start_).count();
      auto due_total = static_cast<uint64_t>(elapsed * rate);
      for (; scheduled_ < due_total; ++scheduled_)
        due_.push_back(start_ + std::chrono::duration_cast<clock::duration>(
                                  std::chrono::duration<double>(scheduled_ / rate)));
      dispatch();
      auto max_users = std::max<size_t>(1, static_cast<size_t>(
                                             share(plan_.max_connections)));
      for (auto backlog = due_.size(); backlog > 0 && users_.size() < max_users;
           --backlog)
        spawn();
      dispatch();
      return;
    }
    stats_.missed += due_.size();
    due_.clear();
    for (auto& u : users_)
      u->stop();
    // Idle users hold no request: they end now, busy ones after their answer.
    auto idle = std::move(idle_);
    idle_.clear();
    for (auto& u : idle)
      u->retire();
  }

  const run_options& opts_;
  const scenario& plan_;
  unsigned index_;
  run_progress& progress_;
  std::mt19937_64 rng_;
  asio::io_context ioc_{1};
  asio::steady_timer tick_;
  tcp::endpoint endpoint_;
  std::string host_header_;
  clock::time_point start_;
  clock::time_point end_;
  std::vector<std::shared_ptr<vu>> users_;
  // Open loop: users waiting for work, and iterations waiting for a user.
  std::vector<std::shared_ptr<vu>> idle_;
  std::deque<clock::time_point> due_;
  uint64_t scheduled_ = 0;
  run_stats stats_;
};

void vu::begin(clock::time_point due) {
  if (stopping_) {
    end_iteration();
    return;
  }
  pair_ = w_.draw();
  polls_ = 0;
  send(w_.plan().kind == flow::issue_wait ? endpoint::issue_wait
                                          : endpoint::issue,
       due);
}

void vu::send(endpoint e, clock::time_point t0) {
  endpoint_ = e;
  t0_ = t0;
  if (e == endpoint::status) {
    out_ = fmt::format("GET /api/coupons/{}/issuances/{} HTTP/1.1\r\n"
                       "Host: {}\r\n\r\n",
                       pair_.coupon, pair_.user, w_.host_header());
  } else {
    auto body = fmt::format(R"({{"userId":{}}})", pair_.user);
    out_ = fmt::format("POST /api/coupons/{}/issue{} HTTP/1.1\r\n"
                       "Host: {}\r\nContent-Type: application/json\r\n"
                       "Content-Length: {}\r\n\r\n{}",
                       pair_.coupon,
                       e == endpoint::issue_wait ? "?wait=true" : "",
                       w_.host_header(), body.size(), body);
  }
  busy_ = true;
  timed_out_ = false;
  sent_ = false;
  deadline_ = clock::now() + w_.request_timeout();
  auto self = shared_from_this();
  auto write = [this, self] {
    asio::async_write(sock_, asio::buffer(out_),
                      [this, self](beast::error_code err, size_t) {
                        sent_ = true;
                        if (err)
                          return on_answer(err);
                        parser_.emplace();
                        parser_->body_limit(1 << 20);
                        http::async_read(sock_, buf_, *parser_,
                                         [this, self](beast::error_code err,
                                                      size_t) {
                                           on_answer(err);
                                         });
                      });
  };
  if (sock_.is_open())
    return write();
  sock_.async_connect(w_.peer(), [this, self, write](beast::error_code err) {
    if (err) {
      beast::error_code ignored;
      sock_.close(ignored);
      return fail(timed_out_ ? outcome::timeout : outcome::transport_error,
                  true);
    }
    sock_.set_option(tcp::no_delay{true});
    write();
  });
}

void vu::on_answer(beast::error_code err) {
  busy_ = false;
  if (err)
    return fail(timed_out_ ? outcome::timeout : outcome::transport_error,
                !timed_out_);
  auto& res = parser_->get();
  auto status = static_cast<int>(res.result_int());
  std::string_view body = res.body();
  if (!res.keep_alive()) {
    beast::error_code ignored;
    sock_.close(ignored);
    buf_.clear();
  }
  if (endpoint_ == endpoint::status)
    handle_status(status, body);
  else
    handle_issue(status, body);
}

void vu::handle_issue(int status, std::string_view body) {
  auto& seen = w_.seen();
  auto o = outcome::other_status;
  auto id = number_after(body, "\"issuanceId\"");
  switch (status) {
    case 202:
    case 201:
      if (id) {
        o = status == 202 ? outcome::accepted : outcome::issued;
        seen.accept(pair_, *id);
      }
      break;
    case 409:
      if (contains(body, "ALREADY_ISSUED") && id) {
        o = outcome::already_issued;
        seen.accept(pair_, *id);
      } else if (contains(body, "SOLD_OUT")) {
        o = outcome::sold_out;
        seen.sold_out.insert(pair_.coupon);
      }
      break;
    case 403:
      o = contains(body, "NOT_OPEN") ? outcome::not_open
          : contains(body, "CLOSED") ? outcome::closed
                                     : outcome::other_status;
      break;
    case 404: o = outcome::coupon_not_found; break;
    case 400: o = outcome::bad_request; break;
    case 429: o = outcome::rate_limited; break;
    case 503:
      o = contains(body, "OUTCOME_UNKNOWN") ? outcome::outcome_unknown
                                            : outcome::unavailable;
      break;
    default: break;
  }
  if (undecided(o))
    seen.undecided.insert(pair_);
  w_.record(endpoint_, o, status, t0_);
  if (o == outcome::accepted && w_.plan().kind == flow::issue_then_poll)
    return after(w_.plan().poll_interval, &vu::poll);
  end_iteration();
}

void vu::handle_status(int status, std::string_view body) {
  auto o = outcome::other_status;
  if (status == 200)
    o = contains(body, "\"ISSUED\"") ? outcome::status_issued
                                     : outcome::status_accepted;
  else if (status == 404)
    o = outcome::status_not_issued;
  else if (status == 503)
    o = contains(body, "OUTCOME_UNKNOWN") ? outcome::outcome_unknown
                                          : outcome::unavailable;
  w_.record(endpoint_, o, status, t0_);
  if (o == outcome::status_accepted && polls_ < w_.plan().max_polls)
    return after(w_.plan().poll_interval, &vu::poll);
  end_iteration();
}

void vu::retire() {
  beast::error_code ignored;
  sock_.close(ignored);
  w_.finished(this);
}

void vu::poll() {
  ++polls_;
  send(endpoint::status, clock::now());
}

void vu::after(millis pause, void (vu::*next)()) {
  if (stopping_)
    return end_iteration();
  if (pause.count() == 0)
    return (this->*next)();
  timer_.expires_after(pause);
  timer_.async_wait([this, self = shared_from_this(), next](beast::error_code) {
    if (stopping_)
      return end_iteration();
    (this->*next)();
  });
}

void vu::fail(outcome o, bool reconnect_pause) {
  // Only a request that went out may have done something.
  if (sent_ && endpoint_ != endpoint::status)
    w_.seen().undecided.insert(pair_);
  w_.record(endpoint_, o, 0, t0_);
  beast::error_code ignored;
  sock_.close(ignored);
  buf_.clear();
  // A refused or reset connection: do not spin against a server that is
  // down.
  if (reconnect_pause && !stopping_) {
    timer_.expires_after(millis{100});
    timer_.async_wait([this, self = shared_from_this()](beast::error_code) {
      end_iteration();
    });
    return;
  }
  end_iteration();
}

void vu::end_iteration() {
  auto self = shared_from_this();
  if (stopping_) {
    beast::error_code ignored;
    sock_.close(ignored);
    busy_ = false;
    w_.finished(this);
    return;
  }
  w_.iteration_done(self);
  if (w_.open_loop())
    return;
  auto think = w_.plan().think_time;
  if (think.count() == 0)
    return begin(clock::now());
  timer_.expires_after(think);
  timer_.async_wait([this, self](beast::error_code) {
    begin(clock::now());
  });
}

} // namespace

run_stats run_load(const run_options& opts, run_progress& progress) {
  if (opts.coupon_ids.empty())
    throw std::invalid_argument("no coupons to load");
  auto n = std::max(1u, opts.threads);
  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned i = 0; i < n; ++i)
    workers.push_back(std::make_unique<worker>(opts, i, progress));
  auto start = clock::now();
  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&w, start] { w->run(start); });
  for (auto& t : threads)
    t.join();
  run_stats total = std::move(workers.front()->stats());
  for (size_t i = 1; i < workers.size(); ++i)
    total.merge(workers[i]->stats());
  return total;
}

} // namespace dibs::load
