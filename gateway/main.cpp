// dibs: one node of the coupon issuance service.
//
//   dibs [--config-file=FILE] [--http.port=8080] [--kafka.bootstrap-servers=...]
//
// Every option is declared in actors/config.cpp; `dibs --help` lists them.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <spdlog/spdlog.h>

#include "actors/config.hpp"
#include "actors/logging.hpp"
#include "actors/node.hpp"
#include "gateway/listener.hpp"
#include "gateway/routes.hpp"

namespace {

using namespace dibs;
using std::chrono::milliseconds;

/// Waits until in-flight requests are answered or the deadline passes.
void wait_idle(session_context& ctx, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ctx.in_flight.load() > 0
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
}

int run(config& cfg) {
  // Every thread started from here on inherits this mask, so only sigwait
  // below sees SIGTERM and SIGINT.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A write to a peer that went away (hiredis after Redis was killed) must
  // fail with EPIPE, not kill the node.
  std::signal(SIGPIPE, SIG_IGN);
  const char* token = std::getenv("DIBS_ADMIN_TOKEN");
  if (!token || !*token)
    spdlog::warn("DIBS_ADMIN_TOKEN is not set: admin routes refuse every "
                 "request");
  // The listeners' contexts and the io_contexts outlive the actor system:
  // an actor stopping at the end may still drop a request's continuation,
  // which answers on the session's io_context (stopped by then) and, with
  // its session, counts out of the context.
  std::vector<std::unique_ptr<session_context>> contexts;
  std::vector<std::unique_ptr<boost::asio::io_context>> iocs;
  // An answer counts itself in the metrics, whenever an actor gives it.
  gateway_metrics metrics;
  auto system = std::make_unique<caf::actor_system>(cfg);
  auto& sys = *system;
  int exit_code = 0;
  {
    node n{sys, cfg};
    routes api{n, token ? token : "", metrics};
    bool admin_apart = cfg.http_admin_port != 0;
    // Each listener counts its own connections and requests: clients
    // filling the public one leave the admin one reachable.
    auto make_context = [&](exposure on) {
      auto handle = [&api](const http_request& req,
                           const boost::asio::ip::address& client,
                           exposure served, respond_fn done) {
        api.handle(req, client, served, std::move(done));
      };
      return std::unique_ptr<session_context>(new session_context{
        handle, on, cfg.http_body_limit_bytes, cfg.http_header_limit_bytes,
        framing_limits{cfg.http_max_target_bytes, cfg.http_max_header_fields},
        milliseconds(cfg.http_idle_timeout_ms),
        milliseconds(cfg.http_header_timeout_ms),
        milliseconds(cfg.http_body_timeout_ms),
        milliseconds(cfg.http_answer_timeout_ms), cfg.http_max_connections,
        cfg.http_max_in_flight,
        [&metrics](ec code) { metrics.refused(code); }});
    };
    contexts.push_back(
      make_context(admin_apart ? exposure::public_only : exposure::all));
    if (admin_apart)
      contexts.push_back(make_context(exposure::admin_only));
    // One io_context per io thread; see http_session.hpp.
    auto io_count = std::max<size_t>(cfg.http_io_threads, 1);
    std::vector<boost::asio::io_context*> ioc_ptrs;
    for (size_t i = 0; i < io_count; ++i) {
      iocs.push_back(std::make_unique<boost::asio::io_context>(1));
      ioc_ptrs.push_back(iocs.back().get());
    }
    std::vector<std::shared_ptr<listener>> listeners;
    auto listen = [&](session_context& ctx, const std::string& address,
                      uint16_t port, bool loopback_only) {
      boost::system::error_code ec_addr;
      auto addr = boost::asio::ip::make_address(address, ec_addr);
      if (ec_addr || (loopback_only && !addr.is_loopback())) {
        spdlog::critical("bad address {}{}", address,
                         loopback_only ? " (must be a loopback address)" : "");
        return false;
      }
      auto lst = std::make_shared<listener>(ioc_ptrs, ctx);
      if (auto err = lst->open({addr, port})) {
        spdlog::critical("cannot listen on {}:{}: {}", address, port,
                         err.message());
        return false;
      }
      lst->run();
      listeners.push_back(lst);
      return true;
    };
    if (!listen(*contexts[0], cfg.http_address, cfg.http_port, false)
        || (admin_apart
            && !listen(*contexts[1], cfg.http_admin_address,
                       cfg.http_admin_port, true)))
      return 1;
    // Keep each io_context running while it has no connection yet.
    std::vector<boost::asio::executor_work_guard<io_executor>> work;
    std::vector<std::thread> io_threads;
    for (auto& ioc : iocs) {
      work.emplace_back(ioc->get_executor());
      io_threads.emplace_back([&ioc] { ioc->run(); });
    }
    spdlog::info("dibs listening on http://{}:{}", cfg.http_address,
                 cfg.http_port);
    if (admin_apart)
      spdlog::info("admin routes on http://{}:{}", cfg.http_admin_address,
                   cfg.http_admin_port);
    // A cluster member that cannot publish its endpoint, or whose peers
    // read another configuration, must not serve.
    int sig = 0;
    if (auto err = n.join_cluster()) {
      spdlog::critical("cannot join the cluster: {}", sys.render(err));
      exit_code = 2;
    } else {
      // Recover, then take issuances; until then /readyz and every issuing
      // route answer 503. A dependency that is down delays the start
      // instead of failing it.
      auto retry = milliseconds(500);
      while (auto err = n.start()) {
        spdlog::error("cannot start yet: {}; retrying in {} ms",
                      sys.render(err), retry.count());
        timespec wait{retry.count() / 1000,
                      (retry.count() % 1000) * 1'000'000};
        if ((sig = sigtimedwait(&signals, nullptr, &wait)) > 0)
          break;
        retry = std::min(retry * 2, milliseconds(5000));
      }
      if (sig <= 0)
        sigwait(&signals, &sig);
      spdlog::info("signal {}: draining", sig);
    }
    // Graceful stop: no new connections, answer what is in flight, flush
    // Kafka, let the writers drain, then stop.
    for (auto& lst : listeners)
      lst->stop();
    n.begin_drain();
    for (auto& ctx : contexts)
      wait_idle(*ctx, milliseconds(cfg.node_drain_timeout_ms));
    n.stop();
    for (auto& ioc : iocs)
      ioc->stop();
    for (auto& t : io_threads)
      t.join();
  }
  // Leaving the scope released every actor handle; the actor system's
  // destructor waits for the actors to finish.
  spdlog::info("node stopped; stopping the actor system");
  system.reset();
  spdlog::info("stopped");
  return exit_code;
}

} // namespace

int main(int argc, char** argv) {
  dibs::config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    std::cerr << "dibs: bad options: " << caf::to_string(err) << std::endl;
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  if (auto why = cfg.check(); !why.empty()) {
    std::cerr << "dibs: bad options: " << why << std::endl;
    return 2;
  }
  if (auto err = setup_logging(cfg.log_format, cfg.log_level)) {
    std::cerr << "dibs: " << caf::to_string(err) << std::endl;
    return 2;
  }
  // A cluster member listens where the cluster configuration says and
  // talks to the other members through CAF's middleman.
  auto members = cfg.cluster();
  if (!members) {
    spdlog::critical("{}", caf::to_string(members.error()));
    return 2;
  }
  if (!members->empty()) {
    auto& self = members->members()[members->self()];
    cfg.http_address = self.http_host;
    cfg.http_port = self.http_port;
    cfg.load<caf::io::middleman>();
  }
  return run(cfg);
}
