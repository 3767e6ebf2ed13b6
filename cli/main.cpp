// dibsctl: the command-line tool of dibs.
//
//   dibsctl load --scenario hot-coupon [--duration-scale 0.1] [--json out.json]
//   dibsctl check --ledger ledger.json
//   dibsctl log-count
//   dibsctl top
//
// `dibsctl <command> --help` lists every option.

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "actors/options.hpp"
#include "cli/commands.hpp"
#include "cli/top.hpp"

namespace {

using namespace dibs;

/// The options every command that talks to the node and its storage shares;
/// the names match the node's own options.
void add_endpoints(CLI::App& cmd, load::endpoints& e, bool node, bool mysql) {
  if (node) {
    cmd.add_option("--url", e.url, "the node's HTTP address")
      ->envname("DIBS_URL")
      ->capture_default_str();
    cmd.add_option("--admin-token", e.admin_token,
                   "admin token (creating coupons)")
      ->envname("DIBS_ADMIN_TOKEN");
  }
  if (mysql) {
    cmd.add_option("--mysql.host", e.mysql.host)->capture_default_str();
    cmd.add_option("--mysql.port", e.mysql.port)->capture_default_str();
    cmd.add_option("--mysql.user", e.mysql.user)->capture_default_str();
    cmd.add_option("--mysql.password", e.mysql.password)->capture_default_str();
    cmd.add_option("--mysql.database", e.mysql.database)->capture_default_str();
  }
  cmd.add_option("--kafka.bootstrap-servers", e.kafka.bootstrap_servers,
                 "host:port list; wins over the bootstrap file");
  cmd.add_option("--kafka.bootstrap-file", e.kafka_bootstrap_file,
                 "file the embedded broker wrote its address to")
    ->capture_default_str();
  cmd.add_option("--kafka.topic", e.kafka.topic)->capture_default_str();
}

std::string command_line(int argc, char** argv) {
  std::string out = "dibsctl";
  for (int i = 1; i < argc; ++i)
    out += std::string{" "} + argv[i];
  return out;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"dibsctl: load tests and tools for dibs"};
  app.require_subcommand(1);
  // The node's own defaults: dibsctl reads what a node with them writes.
  dibs::option_values node_defaults;
  load::endpoints defaults;
  defaults.mysql = node_defaults.mysql();
  defaults.kafka = node_defaults.kafka_base();
  defaults.kafka_bootstrap_file = node_defaults.kafka_bootstrap_file;

  load::load_options load_opts;
  load_opts.where = defaults;
  load_opts.scenario_dir = DIBS_SCENARIO_DIR;
  auto* load_cmd = app.add_subcommand(
    "load", "run a load scenario against a node and report, with integrity "
            "checks (exit 1 when one fails)");
  add_endpoints(*load_cmd, load_opts.where, true, true);
  load_cmd->add_option("--scenario,-s", load_opts.scenario,
                       "scenario name (sync-rush, async-poll, "
                       "hundred-coupons, hot-coupon) or JSON file")
    ->required();
  load_cmd->add_option("--scenario-dir", load_opts.scenario_dir)
    ->capture_default_str();
  load_cmd->add_option("--duration-scale", load_opts.duration_scale,
                       "multiply every duration (0.01: 10 min -> 6 s)")
    ->check(CLI::PositiveNumber)
    ->capture_default_str();
  load_cmd->add_option("--vus", load_opts.vus,
                       "peak virtual users (stages scaled to it)");
  load_cmd->add_option("--rate", load_opts.rate,
                       "open loop instead: iterations per second");
  load_cmd->add_option("--max-connections", load_opts.max_connections,
                       "open loop: connection cap");
  std::string think_time;
  load_cmd->add_option("--think-time", think_time,
                       "override the scenario's think time (e.g. 0ms)");
  load_cmd->add_option("--threads", load_opts.threads, "generator threads")
    ->capture_default_str();
  load_cmd->add_option("--seed", load_opts.seed, "random seed (0: random)");
  size_t request_timeout_ms = 10'000, lag_interval_ms = 500,
         drain_timeout_s = 60;
  load_cmd->add_option("--request-timeout-ms", request_timeout_ms)
    ->capture_default_str();
  load_cmd->add_option("--lag-interval-ms", lag_interval_ms,
                       "how often the writers' Kafka lag is sampled")
    ->capture_default_str();
  load_cmd->add_option("--drain-timeout-s", drain_timeout_s,
                       "how long the writers may take to drain")
    ->capture_default_str();
  load_cmd->add_option("--json", load_opts.json_path, "write the report as JSON");
  load_cmd->add_option("--markdown", load_opts.markdown_path,
                       "write the Markdown report to a file too");
  load_cmd->add_option("--ledger", load_opts.ledger_path,
                       "write every issuance the clients were told of (for "
                       "`check`)");
  load_cmd->add_flag("--quiet,-q", load_opts.quiet, "no progress lines");

  load::check_options check_opts;
  check_opts.where = defaults;
  auto* check_cmd = app.add_subcommand(
    "check", "the integrity checks again, for a ledger `load --ledger` wrote");
  add_endpoints(*check_cmd, check_opts.where, true, true);
  check_cmd->add_option("--ledger", check_opts.ledger_path)->required();
  check_cmd->add_option("--json", check_opts.json_path);
  size_t check_drain_s = 60;
  check_cmd->add_option("--drain-timeout-s", check_drain_s)
    ->capture_default_str();

  load::endpoints count_opts = defaults;
  auto* count_cmd = app.add_subcommand(
    "log-count", "distinct issuance events per coupon in the Kafka topic");
  add_endpoints(*count_cmd, count_opts, false, false);

  load::top_options top_opts;
  top_opts.where = defaults;
  auto* top_cmd = app.add_subcommand(
    "top", "live view of a node's stock actors, writers and supervisor "
           "(q quits, s changes the sort)");
  add_endpoints(*top_cmd, top_opts.where, true, false);
  size_t top_interval_ms = 1000;
  top_cmd->add_option("--interval-ms", top_interval_ms, "refresh interval")
    ->capture_default_str();
  top_cmd->add_option("--iterations,-n", top_opts.iterations,
                      "frames to show, then exit (0: until q)")
    ->capture_default_str();
  top_cmd->add_flag("--plain", top_opts.plain,
                    "print frames as text instead of a full-screen view");
  top_cmd->add_option("--sort", top_opts.sort, "stock actor column, largest first")
    ->check(CLI::IsMember({"issued", "remaining", "waiting", "mailbox",
                           "messages", "restarts", "coupon"}))
    ->capture_default_str();
  top_cmd->add_option("--rows", top_opts.rows, "stock actors shown")
    ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  mysql_store::init_driver();
  if (*load_cmd) {
    load_opts.request_timeout = load::millis{request_timeout_ms};
    load_opts.lag_interval = load::millis{lag_interval_ms};
    load_opts.drain_timeout = load::millis{drain_timeout_s * 1000};
    load_opts.command = command_line(argc, argv);
    try {
      if (!think_time.empty())
        load_opts.think_time = load::parse_duration(think_time);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dibsctl load: %s\n", e.what());
      return 2;
    }
    return load::run_load_command(load_opts);
  }
  if (*check_cmd) {
    check_opts.drain_timeout = load::millis{check_drain_s * 1000};
    return load::run_check_command(check_opts);
  }
  if (*top_cmd) {
    top_opts.interval = load::millis{top_interval_ms};
    return load::run_top(top_opts);
  }
  return load::run_log_count(count_opts);
}
