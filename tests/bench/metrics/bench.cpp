// Micro-benchmark: dibs' hand-written Prometheus metrics against
// prometheus-cpp 1.0.1 (Debian's prometheus-cpp-dev, libprometheus-cpp-core).
// Built and run by tests/bench/metrics.sh; results in docs/performance.md.
//
// Ours is this checkout's core/histogram.cpp, gateway/metrics.cpp,
// actors/node_metrics.cpp and actors/introspection.cpp, compiled as they
// are. The /metrics page's assembly (gateway/metrics_page.cpp) needs a live
// node and its kafka_sink (CAF, librdkafka): our_page below re-creates it
// with the same calls, and the sink's three figures with the same types.
//
//   bench <test> <side> [threads] [iterations]
//   bench mem
//   bench dump <directory>
//
// tests: hist | counter | gateway | stock | kafka | render
// sides: ours | theirs | lookup (gateway only: prometheus-cpp resolving the
//        labelled series with Family::Add on every request) | split (render
//        only: theirs' Registry::Collect and TextSerializer apart)
//
// One process measures one side of one test, so runs can be alternated.
// Prints one line: test side threads iterations ns_per_op <ns per operation
// of one thread> mops <all threads' operations per µs>.
#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "actors/introspection.hpp"
#include "actors/node_metrics.hpp"
#include "core/histogram.hpp"
#include "gateway/metrics.hpp"

using namespace std::chrono;
namespace prom = prometheus;

namespace {

// ---- workload: a ring of requests, identical for both sides ---------------

struct request {
  dibs::route r;
  unsigned status;
  int64_t took_ns; // as a steady_clock::duration would hold it
};

constexpr size_t ring_size = 4096; // power of two
std::vector<request> ring;

void make_ring() {
  std::mt19937_64 rng{42};
  std::uniform_real_distribution<double> u{0, 1};
  // Latency log-uniform from 30 µs to 200 ms: spans most buckets.
  auto latency = [&] {
    return static_cast<int64_t>(std::exp(std::log(30e3)
                                         + u(rng) * (std::log(200e6) - std::log(30e3))));
  };
  ring.resize(ring_size);
  for (auto& q : ring) {
    double p = u(rng);
    using dibs::route;
    if (p < 0.70) { // a rush: issue answers
      double s = u(rng);
      q = {route::issue, s < .30 ? 201u : s < .50 ? 202u : s < .90 ? 409u : 429u,
           latency()};
    } else if (p < 0.85)
      q = {route::get_coupon, 200, latency()};
    else if (p < 0.95)
      q = {route::issuance_status, u(rng) < .9 ? 200u : 404u, latency()};
    else if (p < 0.97)
      q = {route::healthz, 200, latency()};
    else if (p < 0.98)
      q = {route::metrics, 200, latency()};
    else
      q = {route::unmatched, 404, latency()};
  }
}

const std::vector<double>& buckets_s() {
  static const std::vector<double> b = [] {
    std::vector<double> v;
    for (auto us : dibs::latency_histogram::bounds_us)
      v.push_back(static_cast<double>(us) / 1e6);
    return v;
  }();
  return b;
}

// Same linear scan as gateway_metrics::slot_of (private there).
size_t slot_of(unsigned status) {
  auto& s = dibs::gateway_metrics::statuses;
  size_t i = 0;
  while (i + 1 < s.size() && s[i] != status)
    ++i;
  return i;
}

// ---- prometheus-cpp equivalents ----------------------------------------------

/// The gateway's families, every (route, status) and route resolved once at
/// start-up into plain pointers.
struct prom_gateway {
  prom::Family<prom::Counter>& requests;
  prom::Family<prom::Histogram>& durations;
  prom::Counter* counts[dibs::route_count][dibs::gateway_metrics::statuses.size()];
  prom::Histogram* latency[dibs::route_count];

  explicit prom_gateway(prom::Registry& reg, bool resolve_all = true)
    : requests(prom::BuildCounter()
                 .Name("dibs_http_requests_total")
                 .Help("HTTP requests by route and status.")
                 .Register(reg)),
      durations(prom::BuildHistogram()
                 .Name("dibs_http_request_duration_seconds")
                 .Help("From a request read in full to its answer, by route.")
                 .Register(reg)) {
    if (!resolve_all)
      return;
    for (size_t r = 0; r < dibs::route_count; ++r) {
      auto rn = dibs::to_string(static_cast<dibs::route>(r));
      for (size_t s = 0; s < dibs::gateway_metrics::statuses.size(); ++s)
        counts[r][s] = &requests.Add(
          {{"route", rn},
           {"status", std::to_string(dibs::gateway_metrics::statuses[s])}});
      latency[r] = &durations.Add({{"route", rn}}, buckets_s());
    }
  }

  void count(dibs::route r, unsigned status, steady_clock::duration took) {
    counts[static_cast<size_t>(r)][slot_of(status)]->Increment();
    latency[static_cast<size_t>(r)]->Observe(duration<double>(took).count());
  }

  /// What code that does not keep the references does: Family::Add (a
  /// mutex, a label map built and hashed, a metric constructed and thrown
  /// away when the series exists) on every request.
  void count_by_labels(dibs::route r, unsigned status,
                       steady_clock::duration took) {
    auto rn = dibs::to_string(r);
    requests.Add({{"route", rn}, {"status", std::to_string(status)}}).Increment();
    durations.Add({{"route", rn}}, buckets_s())
      .Observe(duration<double>(took).count());
  }
};

// ---- harness -----------------------------------------------------------------

struct result {
  double ns_per_op; // wall time / iterations of one thread
  double mops;      // all threads' operations per µs
};

template <class Body>
result run_threads(unsigned threads, uint64_t iters, Body body) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      // Warm-up, then wait for everybody.
      body(t, iters / 10);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      body(t, iters);
    });
  while (ready.load() != threads) {
  }
  auto start = steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : ts)
    t.join();
  double ns = duration<double, std::nano>(steady_clock::now() - start).count();
  return {ns / static_cast<double>(iters),
          static_cast<double>(iters) * threads / ns * 1e3};
}

// ---- the /metrics page -------------------------------------------------------

constexpr size_t stock_actors = 100;
constexpr size_t writers = 4;
constexpr size_t partitions_per_writer = 3;

/// Ours: what render_metrics_page (gateway/metrics_page.cpp) renders, the
/// gateway's, node's and introspection's figures through their own render
/// code, the producer's and the log's lines re-created below.
struct our_page {
  dibs::gateway_metrics gateway;
  dibs::node_metrics node;
  dibs::introspection figures;
  // kafka_sink's figures (actors/event_sink.hpp; the sink needs a live
  // producer to update them), same types.
  std::atomic<int64_t> in_flight{7};
  dibs::latency_histogram delivery;
  std::array<std::atomic<uint64_t>, 3> reports{};

  our_page() {
    for (size_t i = 0; i < 200'000; ++i) {
      auto& q = ring[i % ring_size];
      gateway.count(q.r, q.status, duration_cast<microseconds>(nanoseconds{q.took_ns}));
    }
    node.snapshot_appends = 12345;
    node.snapshot_rewrites = 17;
    node.recovered_from_snapshot = 90;
    node.recovered_from_mysql = 10;
    node.recovery_ms = 812;
    for (size_t i = 0; i < 5000; ++i)
      node.snapshot_latency.record(microseconds{ring[i % ring_size].took_ns / 1000});
    for (size_t c = 1; c <= stock_actors; ++c) {
      dibs::coupon info;
      info.id = static_cast<dibs::coupon_id_t>(1000 + c);
      info.name = fmt::format("coupon-{}", c);
      auto s = figures.stock(info);
      s->remaining = static_cast<uint32_t>(10'000 - c * 37);
      s->pending = static_cast<uint32_t>(c % 5);
      s->unresolved = static_cast<uint32_t>(c % 2);
      s->mailbox = c % 9;
      for (size_t o = 0; o < dibs::issue_outcome_count; ++o)
        s->outcomes[o] = c * (o + 1);
      s->resolved_stored = c;
      s->resolved_not_stored = c / 10;
    }
    for (size_t w = 0; w < writers; ++w) {
      auto ws = figures.writer(w);
      ws->rows = 100'000 + w;
      ws->failed_batches = w;
      std::vector<dibs::writer_stats::partition_lag> parts;
      for (size_t p = 0; p < partitions_per_writer; ++p)
        parts.push_back({static_cast<int32_t>(w * partitions_per_writer + p), 10, 20,
                         static_cast<int64_t>(10 + p)});
      ws->set_partitions(std::move(parts));
      for (size_t i = 0; i < 2000; ++i)
        ws->batch_latency.record(microseconds{ring[(i + w) % ring_size].took_ns / 1000});
    }
    for (size_t i = 0; i < 50'000; ++i)
      delivery.record(microseconds{ring[i % ring_size].took_ns / 1000});
    reports[0] = 49'990;
    reports[1] = 7;
    reports[2] = 3;
  }

  std::string render() const {
    // render_metrics_page and its render_producer, with the sink's and the
    // log's figures from the fields above.
    auto out = gateway.render();
    out += node.render();
    figures.render(out);
    dibs::render_family(out, "dibs_kafka_in_flight", "gauge",
                        "Issuance records published and not yet acknowledged.");
    out += fmt::format("dibs_kafka_in_flight {}\n", in_flight.load());
    dibs::render_family(out, "dibs_kafka_delivery_reports_total", "counter",
                        "Kafka delivery reports by outcome.");
    const char* names[] = {"stored", "failed", "unknown"};
    for (size_t i = 0; i < 3; ++i)
      out += fmt::format("dibs_kafka_delivery_reports_total{{outcome=\"{}\"}} {}\n",
                         names[i], reports[i].load());
    dibs::render_family(out, "dibs_kafka_produce_duration_seconds", "histogram",
                        "From publishing an issuance record to its delivery report.");
    delivery.render(out, "dibs_kafka_produce_duration_seconds");
    dibs::render_family(out, "dibs_kafka_log_info", "gauge",
                        "The Kafka log the node writes to.");
    out += fmt::format("dibs_kafka_log_info{{bootstrap=\"{}\",log_id=\"{}\"}} 1\n",
                       "127.0.0.1:9092", "MkU3OEVBNTcwNTJENDM2Qg");
    return out;
  }
};

/// Theirs: the same families and series in a prometheus::Registry, every
/// figure a prometheus-cpp metric that the code would update, rendered by
/// Registry::Collect and TextSerializer. Holds only the series our page
/// shows (the gateway's non-zero ones), so both pages carry the same
/// samples.
struct their_page {
  prom::Registry reg;

  template <class T>
  static auto& family(prom::detail::Builder<T> b, prom::Registry& reg,
                      const char* name, const char* help) {
    return b.Name(name).Help(help).Register(reg);
  }

  explicit their_page(const our_page& ours) {
    // Gateway: same non-zero series as ours, same observations.
    prom_gateway gw{reg, false};
    for (size_t i = 0; i < 200'000; ++i) {
      auto& q = ring[i % ring_size];
      auto rn = dibs::to_string(q.r);
      gw.requests.Add({{"route", rn}, {"status", std::to_string(q.status)}}).Increment();
      // Ours feeds whole µs; so does this, for identical sums.
      auto us = duration_cast<microseconds>(nanoseconds{q.took_ns});
      gw.durations.Add({{"route", rn}}, buckets_s())
        .Observe(static_cast<double>(us.count()) / 1e6);
    }
    auto counter = [&](const char* name, const char* help,
                       std::initializer_list<std::pair<prom::Labels, double>> xs) {
      auto& f = family(prom::BuildCounter(), reg, name, help);
      for (auto& [labels, v] : xs)
        f.Add(labels).Increment(v);
    };
    auto gauge = [&](const char* name, const char* help,
                     std::initializer_list<std::pair<prom::Labels, double>> xs) {
      auto& f = family(prom::BuildGauge(), reg, name, help);
      for (auto& [labels, v] : xs)
        f.Add(labels).Set(v);
    };
    auto hist = [&](const char* name, const char* help) -> auto& {
      return family(prom::BuildHistogram(), reg, name, help);
    };
    auto& n = ours.node;
    auto d = [](const std::atomic<uint64_t>& x) { return static_cast<double>(x.load()); };
    counter("dibs_snapshot_writes_total", "Snapshot chunks appended to Redis.",
            {{{}, d(n.snapshot_appends)}});
    counter("dibs_snapshot_rewrites_total",
            "Snapshots written whole (after recovery or divergence).",
            {{{}, d(n.snapshot_rewrites)}});
    counter("dibs_snapshot_failures_total", "Snapshot writes Redis did not take.",
            {{{}, 0}});
    counter("dibs_snapshot_fenced_total",
            "Snapshot writes refused because a newer owner epoch holds the coupon.",
            {{{}, 0}});
    gauge("dibs_snapshots_paused", "1 while Redis is unreachable and snapshots wait.",
          {{{}, 0}});
    counter("dibs_stock_recoveries_total", "Stock actors recovered, by source.",
            {{{{"source", "snapshot"}}, d(n.recovered_from_snapshot)},
             {{{"source", "mysql"}}, d(n.recovered_from_mysql)}});
    gauge("dibs_recovery_duration_ms",
          "How long the last recovery of the node's stock took.",
          {{{}, d(n.recovery_ms)}});
    counter("dibs_supervisor_restarts_total",
            "Actors the supervisor restarted after a crash, by kind.",
            {{{{"kind", "stock"}}, 0}, {{{"kind", "writer"}}, 0},
             {{{"kind", "producer"}}, 0}, {{{"kind", "other"}}, 0}});
    counter("dibs_kafka_log_changes_total",
            "Times the node followed Kafka to another log (another cluster "
            "or other brokers) and published again the accepted issuances "
            "MySQL may lack.",
            {{{}, 0}});
    {
      auto& h = hist("dibs_snapshot_duration_seconds",
                     "How long a snapshot write to Redis took, failed ones included.")
                  .Add({}, buckets_s());
      for (size_t i = 0; i < 5000; ++i)
        h.Observe(static_cast<double>(ring[i % ring_size].took_ns / 1000) / 1e6);
    }
    // Stock actors: one gauge per actor and figure; outcomes a shared family.
    auto stock = ours.figures.all_stock();
    auto& outcomes = family(prom::BuildCounter(), reg, "dibs_issue_outcomes_total",
                            "Answers of the stock actors to issue requests, by outcome.");
    for (size_t o = 0; o < dibs::issue_outcome_count; ++o) {
      double sum = 0;
      for (auto& s : stock)
        sum += static_cast<double>(s->outcomes[o].load());
      outcomes.Add({{"outcome", dibs::to_string(static_cast<dibs::issue_outcome>(o))}})
        .Increment(sum);
    }
    {
      double found = 0, missing = 0;
      for (auto& s : stock) {
        found += static_cast<double>(s->resolved_stored.load());
        missing += static_cast<double>(s->resolved_not_stored.load());
      }
      counter("dibs_resolutions_total",
              "Possibly stored issuances the log settled, by whether it held them.",
              {{{{"stored", "true"}}, found}, {{{"stored", "false"}}, missing}});
    }
    auto& remaining = family(prom::BuildGauge(), reg, "dibs_stock_remaining",
                             "Stock left per coupon.");
    auto& pending = family(prom::BuildGauge(), reg, "dibs_stock_pending",
                           "Reservations per coupon waiting for Kafka's acknowledgement.");
    auto& in_flight = family(prom::BuildGauge(), reg, "dibs_stock_in_flight",
                             "Reservations per coupon whose outcome in Kafka is "
                             "not settled, a holder the writers committed first "
                             "included.");
    auto& mailbox = family(prom::BuildGauge(), reg, "dibs_actor_mailbox_depth",
                           "Messages waiting in a stock actor's mailbox when it "
                           "last handled one.");
    for (auto& s : stock) {
      auto id = std::to_string(s->info.id);
      remaining.Add({{"coupon", id}}).Set(s->remaining.load());
      pending.Add({{"coupon", id}}).Set(s->pending.load() + s->unresolved.load());
      in_flight.Add({{"coupon", id}}).Set(s->in_flight.load());
      mailbox.Add({{"actor", "stock-" + id}}).Set(static_cast<double>(s->mailbox.load()));
    }
    auto ws = ours.figures.all_writers();
    auto& rows = family(prom::BuildCounter(), reg, "dibs_writer_rows_total",
                        "Issuance rows each writer committed to MySQL.");
    auto& failed = family(prom::BuildCounter(), reg, "dibs_writer_failed_batches_total",
                          "Batches MySQL refused (retried).");
    auto& lag = family(prom::BuildGauge(), reg, "dibs_writer_lag_records",
                       "Records of a partition in Kafka the writer has not "
                       "written yet (as of its last fetch).");
    auto& batch = hist("dibs_writer_batch_duration_seconds",
                       "How long a writer's batch transaction in MySQL took.");
    for (auto& w : ws) {
      auto id = std::to_string(w->index);
      rows.Add({{"writer", id}}).Increment(static_cast<double>(w->rows.load()));
      failed.Add({{"writer", id}}).Increment(static_cast<double>(w->failed_batches.load()));
      for (auto& p : w->partitions())
        lag.Add({{"writer", id}, {"partition", std::to_string(p.partition)}})
          .Set(static_cast<double>(p.lag));
      auto& h = batch.Add({{"writer", id}}, buckets_s());
      for (size_t i = 0; i < 2000; ++i)
        h.Observe(static_cast<double>(ring[(i + w->index) % ring_size].took_ns / 1000) / 1e6);
    }
    gauge("dibs_kafka_in_flight", "Issuance records published and not yet acknowledged.",
          {{{}, static_cast<double>(ours.in_flight.load())}});
    counter("dibs_kafka_delivery_reports_total", "Kafka delivery reports by outcome.",
            {{{{"outcome", "stored"}}, d(ours.reports[0])},
             {{{"outcome", "failed"}}, d(ours.reports[1])},
             {{{"outcome", "unknown"}}, d(ours.reports[2])}});
    {
      auto& h = hist("dibs_kafka_produce_duration_seconds",
                     "From publishing an issuance record to its delivery report.")
                  .Add({}, buckets_s());
      for (size_t i = 0; i < 50'000; ++i)
        h.Observe(static_cast<double>(ring[i % ring_size].took_ns / 1000) / 1e6);
    }
    gauge("dibs_kafka_log_info", "The Kafka log the node writes to.",
          {{{{"bootstrap", "127.0.0.1:9092"}, {"log_id", "MkU3OEVBNTcwNTJENDM2Qg"}}, 1}});
  }

  std::string render() const {
    return prom::TextSerializer{}.Serialize(reg.Collect());
  }
};

size_t heap_in_use() {
  auto mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

uint64_t arg_u64(int argc, char** argv, int i, uint64_t dflt) {
  return argc > i ? std::strtoull(argv[i], nullptr, 10) : dflt;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s hist|counter|gateway|stock|kafka|render "
                         "ours|theirs|lookup|split [threads] [iterations]\n"
                         "       %s mem | dump <directory>\n", argv[0], argv[0]);
    return 2;
  }
  std::string test = argv[1], side = argc > 2 ? argv[2] : "";
  auto threads = static_cast<unsigned>(arg_u64(argc, argv, 3, 1));
  make_ring();
  constexpr size_t mask = ring_size - 1;
  result res{};
  uint64_t iters = 0;

  if (test == "hist") {
    iters = arg_u64(argc, argv, 4, 20'000'000);
    if (side == "ours") {
      dibs::latency_histogram h;
      res = run_threads(threads, iters, [&](unsigned t, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i)
          h.record(duration_cast<microseconds>(nanoseconds{ring[(i + t * 977) & mask].took_ns}));
      });
      if (h.count() == 0) return 1;
    } else {
      prom::Histogram h{buckets_s()};
      res = run_threads(threads, iters, [&](unsigned t, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i)
          h.Observe(duration<double>(nanoseconds{ring[(i + t * 977) & mask].took_ns}).count());
      });
    }
  } else if (test == "counter") {
    iters = arg_u64(argc, argv, 4, 50'000'000);
    if (side == "ours") {
      std::atomic<uint64_t> c{0};
      res = run_threads(threads, iters, [&](unsigned, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i)
          c.fetch_add(1, std::memory_order_relaxed);
      });
    } else {
      prom::Counter c;
      res = run_threads(threads, iters, [&](unsigned, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i)
          c.Increment();
      });
    }
  } else if (test == "gateway") {
    if (side == "ours") {
      iters = arg_u64(argc, argv, 4, 20'000'000);
      dibs::gateway_metrics m;
      res = run_threads(threads, iters, [&](unsigned t, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i) {
          auto& q = ring[(i + t * 977) & mask];
          m.count(q.r, q.status, duration_cast<microseconds>(nanoseconds{q.took_ns}));
        }
      });
    } else {
      bool lookup = side == "lookup";
      iters = arg_u64(argc, argv, 4, lookup ? 1'000'000 : 10'000'000);
      prom::Registry reg;
      prom_gateway g{reg};
      res = run_threads(threads, iters, [&](unsigned t, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i) {
          auto& q = ring[(i + t * 977) & mask];
          if (lookup)
            g.count_by_labels(q.r, q.status, nanoseconds{q.took_ns});
          else
            g.count(q.r, q.status, nanoseconds{q.took_ns});
        }
      });
    }
  } else if (test == "stock") {
    // stock_state::handled() after every message: the figures part (the
    // history sample is the same either way and left out), plus the outcome
    // count of stock_stats::record for an answer. Each thread is one actor
    // with its own figures, as in dibs; the outcome counter is per actor in
    // ours and one shared family series (summed at render in ours) in theirs.
    iters = arg_u64(argc, argv, 4, 20'000'000);
    if (side == "ours") {
      std::vector<std::unique_ptr<dibs::stock_stats>> s;
      for (unsigned t = 0; t < threads; ++t)
        s.push_back(std::make_unique<dibs::stock_stats>(dibs::coupon{}));
      res = run_threads(threads, iters, [&](unsigned t, uint64_t n) {
        constexpr auto relaxed = std::memory_order_relaxed;
        auto& x = *s[t];
        for (uint64_t i = 0; i < n; ++i) {
          auto v = static_cast<uint32_t>(i);
          x.outcomes[i & 3].fetch_add(1, relaxed);
          x.remaining.store(v, relaxed);
          x.pending.store(v & 7, relaxed);
          x.unresolved.store(v & 1, relaxed);
          x.accepted.store(v >> 1, relaxed);
          x.committed.store(v >> 2, relaxed);
          x.messages.fetch_add(1, relaxed);
          x.mailbox.store(i & 15, relaxed);
        }
      });
    } else {
      prom::Registry reg;
      auto& outcomes = prom::BuildCounter().Name("dibs_issue_outcomes_total").Register(reg);
      prom::Counter* oc[4];
      for (int o = 0; o < 4; ++o)
        oc[o] = &outcomes.Add({{"outcome", std::to_string(o)}});
      auto& g = prom::BuildGauge().Name("g").Register(reg);
      auto& c = prom::BuildCounter().Name("c").Register(reg);
      struct actor { prom::Gauge *rem, *pen, *unr, *acc, *com, *mbx; prom::Counter* msg; };
      std::vector<actor> a;
      for (unsigned t = 0; t < threads; ++t) {
        auto id = std::to_string(t);
        a.push_back({&g.Add({{"f", "remaining"}, {"c", id}}), &g.Add({{"f", "pending"}, {"c", id}}),
                     &g.Add({{"f", "unresolved"}, {"c", id}}), &g.Add({{"f", "accepted"}, {"c", id}}),
                     &g.Add({{"f", "committed"}, {"c", id}}), &g.Add({{"f", "mailbox"}, {"c", id}}),
                     &c.Add({{"c", id}})});
      }
      res = run_threads(threads, iters, [&](unsigned t, uint64_t n) {
        auto& x = a[t];
        for (uint64_t i = 0; i < n; ++i) {
          auto v = static_cast<uint32_t>(i);
          oc[i & 3]->Increment();
          x.rem->Set(v);
          x.pen->Set(v & 7);
          x.unr->Set(v & 1);
          x.acc->Set(v >> 1);
          x.com->Set(v >> 2);
          x.msg->Increment();
          x.mbx->Set(static_cast<double>(i & 15));
        }
      });
    }
  } else if (test == "kafka") {
    // kafka_sink: publish (in flight +1) and its delivery report (latency,
    // outcome, in flight -1), from any thread.
    iters = arg_u64(argc, argv, 4, 20'000'000);
    if (side == "ours") {
      std::atomic<int64_t> in_flight{0};
      dibs::latency_histogram h;
      std::array<std::atomic<uint64_t>, 3> outcomes{};
      res = run_threads(threads, iters, [&](unsigned t, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i) {
          in_flight.fetch_add(1, std::memory_order_relaxed);
          h.record(duration_cast<microseconds>(nanoseconds{ring[(i + t * 977) & mask].took_ns}));
          outcomes[0].fetch_add(1, std::memory_order_relaxed);
          in_flight.fetch_sub(1, std::memory_order_relaxed);
        }
      });
    } else {
      prom::Registry reg;
      auto& g = prom::BuildGauge().Name("dibs_kafka_in_flight").Register(reg).Add({});
      auto& h = prom::BuildHistogram().Name("dibs_kafka_produce_duration_seconds")
                  .Register(reg).Add({}, buckets_s());
      auto& f = prom::BuildCounter().Name("dibs_kafka_delivery_reports_total").Register(reg);
      auto& stored = f.Add({{"outcome", "stored"}});
      res = run_threads(threads, iters, [&](unsigned t, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i) {
          g.Increment();
          h.Observe(duration<double>(nanoseconds{ring[(i + t * 977) & mask].took_ns}).count());
          stored.Increment();
          g.Decrement();
        }
      });
    }
  } else if (test == "render") {
    iters = arg_u64(argc, argv, 4, 2000);
    our_page ours;
    size_t bytes = 0;
    if (side == "ours") {
      res = run_threads(1, iters, [&](unsigned, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i)
          bytes += ours.render().size();
      });
    } else if (side == "theirs") {
      their_page theirs{ours};
      res = run_threads(1, iters, [&](unsigned, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i)
          bytes += theirs.render().size();
      });
    } else { // the two halves of theirs: Collect, then Serialize
      their_page theirs{ours};
      auto fams = theirs.reg.Collect();
      auto c = run_threads(1, iters, [&](unsigned, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i)
          bytes += theirs.reg.Collect().size();
      });
      auto s = run_threads(1, iters, [&](unsigned, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i)
          bytes += prom::TextSerializer{}.Serialize(fams).size();
      });
      std::printf("render-split collect_us %.2f serialize_us %.2f\n", c.ns_per_op / 1e3,
                  s.ns_per_op / 1e3);
      return 0;
    }
    std::printf("%s %s 1 %llu us_per_render %.2f bytes %zu\n", test.c_str(), side.c_str(),
                static_cast<unsigned long long>(iters), res.ns_per_op / 1e3,
                bytes / (iters + iters / 10));
    return 0;
  } else if (test == "dump") {
    // Both pages with the same samples, and a family that has no series yet
    // (the writers' before any writer started) rendered by each side.
    std::string dir = argc > 2 ? argv[2] : ".";
    our_page ours;
    their_page theirs{ours};
    std::ofstream{dir + "/page_ours.txt"} << ours.render();
    std::ofstream{dir + "/page_theirs.txt"} << theirs.render();
    std::string ours_empty;
    dibs::render_family(ours_empty, "dibs_writer_rows_total", "counter",
                        "Issuance rows each writer committed to MySQL.");
    prom::Registry reg;
    prom::BuildCounter().Name("dibs_writer_rows_total")
      .Help("Issuance rows each writer committed to MySQL.").Register(reg);
    auto theirs_empty = prom::TextSerializer{}.Serialize(reg.Collect());
    std::printf("wrote %s/page_ours.txt, page_theirs.txt\n", dir.c_str());
    std::printf("a family without series: ours %zu bytes (HELP and TYPE), "
                "theirs %zu bytes\n", ours_empty.size(), theirs_empty.size());
    return 0;
  } else if (test == "mem") {
    std::printf("sizeof(dibs::latency_histogram) %zu\n", sizeof(dibs::latency_histogram));
    std::printf("sizeof(dibs::gateway_metrics) %zu (no heap)\n", sizeof(dibs::gateway_metrics));
    std::printf("sizeof(prometheus::Histogram) %zu, Counter %zu, Gauge %zu\n",
                sizeof(prom::Histogram), sizeof(prom::Counter), sizeof(prom::Gauge));
    auto before = heap_in_use();
    auto h = std::make_unique<prom::Histogram>(buckets_s());
    std::printf("one prometheus::Histogram (%zu bounds), heap incl. object: %zu B\n",
                buckets_s().size(), heap_in_use() - before);
    before = heap_in_use();
    {
      auto reg = std::make_unique<prom::Registry>();
      auto g = std::make_unique<prom_gateway>(*reg);
      std::printf("gateway families, %zux%zu counters + %zu histograms pre-resolved, "
                  "heap: %zu B\n", dibs::route_count, dibs::gateway_metrics::statuses.size(),
                  dibs::route_count, heap_in_use() - before);
      auto b2 = heap_in_use();
      auto& f = prom::BuildGauge().Name("dibs_stock_remaining").Register(*reg);
      for (int c = 0; c < 100; ++c)
        f.Add({{"coupon", std::to_string(1000 + c)}});
      std::printf("100 labelled gauges (one stock figure of 100 actors), heap: %zu B "
                  "(ours: 4 B atomic each inside stock_stats)\n", heap_in_use() - b2);
    }
    return 0;
  } else {
    std::fprintf(stderr, "unknown test %s\n", test.c_str());
    return 2;
  }
  std::printf("%s %s %u %llu ns_per_op %.2f mops %.2f\n", test.c_str(), side.c_str(),
              threads, static_cast<unsigned long long>(iters), res.ns_per_op, res.mops);
  return 0;
}
