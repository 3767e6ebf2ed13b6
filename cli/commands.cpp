#include "cli/commands.hpp"

#include <sys/utsname.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include <caf/error.hpp>
#include <fmt/format.h>

#include "cli/integrity.hpp"
#include "cli/lag_sampler.hpp"
#include "cli/node_client.hpp"
#include "cli/report.hpp"
#include "persistence/log_tail.hpp"

namespace dibs::load {

using nlohmann::json;

kafka_settings endpoints::kafka_resolved() const {
  auto result = kafka;
  if (result.bootstrap_servers.empty() && !kafka_bootstrap_file.empty()) {
    std::ifstream in{kafka_bootstrap_file};
    std::getline(in, result.bootstrap_servers);
  }
  if (result.bootstrap_servers.empty())
    throw std::runtime_error("no Kafka bootstrap servers: set "
                             "--kafka.bootstrap-servers or a readable "
                             "--kafka.bootstrap-file");
  return result;
}

namespace {

constexpr int kafka_timeout_ms = 30'000;

std::string utc_now() {
  auto t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string machine() {
  std::string cpu = "unknown CPU";
  std::ifstream info{"/proc/cpuinfo"};
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  long mem_kb = 0;
  std::ifstream meminfo{"/proc/meminfo"};
  for (std::string key; meminfo >> key;)
    if (key == "MemTotal:") {
      meminfo >> mem_kb;
      break;
    }
  utsname u{};
  uname(&u);
  return fmt::format("{} cores ({}), {:.0f} GiB, {} {}",
                     std::thread::hardware_concurrency(), cpu,
                     static_cast<double>(mem_kb) / (1024 * 1024), u.sysname,
                     u.release);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path};
  out << text;
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

json ledger_to_json(const ledger& l, const std::vector<uint32_t>& ids) {
  json accepted = json::array();
  for (auto& [pair, id] : l.accepted)
    accepted.push_back({pair.coupon, pair.user, id});
  json undecided = json::array();
  for (auto& pair : l.undecided)
    undecided.push_back({pair.coupon, pair.user});
  json conflicts = json::array();
  for (auto& c : l.conflicts)
    conflicts.push_back({c.pair.coupon, c.pair.user, c.first, c.second});
  return json{{"couponIds", ids},
              {"accepted", accepted},
              {"undecided", undecided},
              {"conflicts", conflicts},
              {"soldOut", l.sold_out}};
}

ledger ledger_from_json(const json& doc) {
  ledger l;
  for (auto& a : doc.at("accepted"))
    l.accept({a[0].get<uint32_t>(), a[1].get<uint64_t>()}, a[2].get<uint64_t>());
  for (auto& u : doc.at("undecided"))
    l.undecided.insert({u[0].get<uint32_t>(), u[1].get<uint64_t>()});
  for (auto& c : doc.at("conflicts"))
    l.conflicts.push_back({{c[0].get<uint32_t>(), c[1].get<uint64_t>()},
                           c[2].get<uint64_t>(),
                           c[3].get<uint64_t>()});
  for (auto& c : doc.at("soldOut"))
    l.sold_out.insert(c.get<uint32_t>());
  return l;
}

/// Waits until the writers have drained Kafka (lag 0) and MySQL holds as
/// many rows per coupon as the stock actors issued. Fills the node's live
/// stock per coupon. Returns the seconds since `since`, or nothing
/// after `timeout`.
std::optional<double> wait_drained(mysql_store& db,
                                   const std::function<kafka_log&()>& log,
                                   node_client& node,
                                   const std::vector<uint32_t>& ids,
                                   clock::time_point since,
                                   millis timeout,
                                   std::map<uint32_t, int64_t>& live) {
  auto list = fmt::format("{}", fmt::join(ids, ","));
  auto deadline = clock::now() + timeout;
  for (;;) {
    auto lag = unwritten_count(db, log(), kafka_timeout_ms);
    std::map<uint32_t, int64_t> issued;
    if (lag && *lag == 0) {
      try {
        for (auto id : ids) {
          auto view = node.coupon(id);
          issued[id] = view.value("issuedQuantity", int64_t{-1});
          live[id] = view.value("remainingQuantity", int64_t{-1});
        }
      } catch (const std::exception&) {
        issued.clear(); // The node is restarting, say: ask again.
      }
    }
    if (!issued.empty()) {
      auto rows = db.query(fmt::format("SELECT coupon_id, COUNT(*) FROM "
                                       "user_coupons WHERE coupon_id IN ({}) "
                                       "GROUP BY coupon_id",
                                       list));
      if (rows) {
        std::map<uint32_t, int64_t> counts;
        for (auto& r : *rows)
          counts[static_cast<uint32_t>(std::stoul(r[0]))] = std::stoll(r[1]);
        bool done = true;
        for (auto& [id, n] : issued)
          done = done && counts[id] == n;
        if (done)
          return std::chrono::duration<double>(clock::now() - since).count();
      }
    }
    if (clock::now() > deadline)
      return std::nullopt;
    std::this_thread::sleep_for(millis{20});
  }
}

/// MySQL and Kafka, connected before the load ends so that the drain time
/// does not include connecting.
struct storage {
  std::unique_ptr<mysql_store> db;
  std::unique_ptr<kafka_log> log;
  endpoints where;
  /// The Kafka log when the load began.
  std::string log_id;
  std::string bootstrap;

  /// The scanner, reopened when the bootstrap file names other brokers
  /// during the run.
  kafka_log& current_log() {
    auto now = where.kafka_resolved();
    if (now.bootstrap_servers != bootstrap) {
      if (auto next = kafka_log::scanner(now)) {
        log = std::move(*next);
        bootstrap = now.bootstrap_servers;
      }
    }
    return *log;
  }

  /// The log the load began with is gone (the broker restarted empty).
  bool log_changed() {
    auto id = current_log().identity(kafka_timeout_ms);
    return !id || id->log_id != log_id;
  }

  static storage open(const endpoints& where) {
    storage s;
    s.where = where;
    auto db = mysql_store::open(where.mysql);
    if (!db)
      throw std::runtime_error("MySQL: " + caf::to_string(db.error()));
    auto settings = where.kafka_resolved();
    auto log = kafka_log::scanner(settings);
    if (!log)
      throw std::runtime_error("Kafka: " + caf::to_string(log.error()));
    s.db = std::move(*db);
    s.log = std::move(*log);
    s.bootstrap = settings.bootstrap_servers;
    // The first metadata request is the slow one.
    auto id = s.log->identity(kafka_timeout_ms);
    if (!id)
      throw std::runtime_error("Kafka: " + caf::to_string(id.error()));
    s.log_id = id->log_id;
    return s;
  }
};

/// Drains, then runs every integrity check into `r`.
void settle_and_check(storage& st, node_client& node,
                      const std::vector<uint32_t>& ids, const ledger& seen,
                      clock::time_point since, millis drain_timeout,
                      report& r) {
  r.drain_timeout_s = std::chrono::duration<double>(drain_timeout).count();
  integrity_input in;
  in.coupon_ids = ids;
  in.seen = &seen;
  r.drain_s = wait_drained(
    *st.db, [&st]() -> kafka_log& { return st.current_log(); }, node, ids,
    since, drain_timeout, in.live_remaining);
  // After the broker restarted empty, its log holds only what came since:
  // rows are then compared with MySQL alone.
  if (st.log_changed()) {
    std::fprintf(stderr, "dibsctl: the Kafka log changed during the run (the "
                         "broker restarted); conservation is checked without "
                         "it\n");
  } else {
    auto events = distinct_events_per_coupon(*st.log, kafka_timeout_ms);
    if (!events) {
      r.integrity_error = "Kafka: " + caf::to_string(events.error());
      return;
    }
    in.kafka_events.emplace();
    for (auto [coupon, n] : *events)
      (*in.kafka_events)[coupon] = static_cast<int64_t>(n);
  }
  r.integrity_error = check_integrity(*st.db, in, r.integrity);
}

std::string integrity_markdown(const report& r) {
  auto md = to_markdown(r);
  auto at = md.find("## Kafka and the writers");
  return at == std::string::npos ? md : md.substr(at);
}

} // namespace

int run_load_command(const load_options& opts) {
  report r;
  std::vector<uint32_t> ids;
  std::unique_ptr<node_client> node;
  storage st;
  run_options run;
  try {
    r.plan = load_scenario(opts.scenario, opts.scenario_dir);
    if (opts.duration_scale != 1)
      r.plan.scale_duration(opts.duration_scale);
    if (opts.rate > 0)
      r.plan.set_rate(opts.rate);
    if (opts.vus > 0 && !r.plan.open_loop())
      r.plan.set_peak_vus(opts.vus);
    if (opts.max_connections > 0)
      r.plan.max_connections = opts.max_connections;
    if (opts.think_time)
      r.plan.think_time = *opts.think_time;
    r.duration_scale = opts.duration_scale;
    r.command = opts.command;
    r.machine = machine();
    r.url = opts.where.url;
    r.threads = std::max(1u, opts.threads);
    r.seed = opts.seed ? opts.seed : std::random_device{}();
    run.server = parse_url(opts.where.url);
    run.plan = r.plan;
    run.threads = r.threads;
    run.seed = r.seed;
    run.request_timeout = opts.request_timeout;
    st = storage::open(opts.where); // Fail before the load, not after it.
    node = std::make_unique<node_client>(run.server, opts.where.admin_token);
    auto ready = node->call("GET", "/readyz");
    if (ready.status != 200)
      throw std::runtime_error(fmt::format("the node is not ready ({})",
                                           ready.status));
    auto tag = fmt::format("{}-{}", r.plan.name, r.seed % 100000);
    for (auto& g : r.plan.coupons)
      for (uint32_t i = 0; i < g.count; ++i)
        ids.push_back(node->create_coupon(
          fmt::format("{}-{}-{}", tag, g.total_quantity, i + 1),
          g.total_quantity, g.discount));
    run.coupon_ids = ids;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dibsctl load: %s\n", e.what());
    return 2;
  }
  if (!opts.quiet)
    std::fprintf(stderr, "%s: %zu coupons (ids %u..%u), %s, seed %llu\n",
                 r.plan.name.c_str(), ids.size(), ids.front(), ids.back(),
                 to_string(r.plan.total_duration()).c_str(),
                 static_cast<unsigned long long>(r.seed));
  r.started_at = utc_now();
  auto start = clock::now();
  run_progress progress;
  std::atomic<bool> loading{true};
  std::thread reporter{[&] {
    uint64_t last = 0;
    auto next = clock::now();
    while (loading) {
      next += std::chrono::seconds{5};
      while (loading && clock::now() < next)
        std::this_thread::sleep_for(millis{20});
      if (!loading || opts.quiet)
        continue;
      auto n = progress.requests.load();
      std::fprintf(stderr, "[%6.1f s] %u VUs, %llu requests, %.0f req/s\n",
                   std::chrono::duration<double>(clock::now() - start).count(),
                   progress.vus.load(), static_cast<unsigned long long>(n),
                   static_cast<double>(n - last) / 5.0);
      last = n;
    }
  }};
  std::unique_ptr<lag_sampler> sampler;
  try {
    sampler = std::make_unique<lag_sampler>(
      [where = opts.where] { return where.kafka_resolved(); },
      opts.where.mysql, opts.lag_interval, start);
    r.stats = run_load(run, progress);
  } catch (const std::exception& e) {
    loading = false;
    reporter.join();
    std::fprintf(stderr, "dibsctl load: %s\n", e.what());
    return 2;
  }
  loading = false;
  reporter.join();
  if (!opts.quiet)
    std::fprintf(stderr, "load done: %llu requests; waiting for the writers\n",
                 static_cast<unsigned long long>(r.stats.requests()));
  // The load ends when its last answer arrived or, when the last virtual
  // users idled through a ramp-down, when its last stage ended.
  settle_and_check(st, *node, ids, r.stats.seen, clock::now(),
                   opts.drain_timeout, r);
  r.lag = sampler->stop();
  if (auto err = sampler->error(); err && !opts.quiet)
    std::fprintf(stderr, "lag sampling: %s\n", err->c_str());
  try {
    auto md = to_markdown(r);
    std::fwrite(md.data(), 1, md.size(), stdout);
    if (!opts.markdown_path.empty())
      write_file(opts.markdown_path, md);
    if (!opts.json_path.empty())
      write_file(opts.json_path, to_json(r).dump(2) + "\n");
    if (!opts.ledger_path.empty())
      write_file(opts.ledger_path, ledger_to_json(r.stats.seen, ids).dump());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dibsctl load: %s\n", e.what());
    return 2;
  }
  return r.passed() ? 0 : 1;
}

int run_check_command(const check_options& opts) {
  report r;
  std::vector<uint32_t> ids;
  try {
    std::ifstream in{opts.ledger_path};
    if (!in)
      throw std::runtime_error("cannot read " + opts.ledger_path);
    auto doc = json::parse(in);
    ids = doc.at("couponIds").get<std::vector<uint32_t>>();
    r.stats.seen = ledger_from_json(doc);
    r.plan.name = "check";
    node_client node{parse_url(opts.where.url), opts.where.admin_token};
    auto st = storage::open(opts.where);
    settle_and_check(st, node, ids, r.stats.seen, clock::now(),
                     opts.drain_timeout, r);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dibsctl check: %s\n", e.what());
    return 2;
  }
  auto md = integrity_markdown(r);
  std::fwrite(md.data(), 1, md.size(), stdout);
  if (!opts.json_path.empty())
    write_file(opts.json_path, to_json(r)["integrity"].dump(2) + "\n");
  return r.passed() ? 0 : 1;
}

int run_log_count(const endpoints& where) {
  try {
    auto log = kafka_log::scanner(where.kafka_resolved());
    if (!log)
      throw std::runtime_error(caf::to_string(log.error()));
    auto events = distinct_events_per_coupon(**log, kafka_timeout_ms);
    if (!events)
      throw std::runtime_error(caf::to_string(events.error()));
    for (auto [coupon, n] : *events)
      std::printf("%u %zu\n", coupon, n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dibsctl log-count: %s\n", e.what());
    return 2;
  }
  return 0;
}

} // namespace dibs::load
