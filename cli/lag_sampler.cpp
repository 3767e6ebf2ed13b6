#include "cli/lag_sampler.hpp"

#include <condition_variable>
#include <thread>

#include <caf/error.hpp>

#include "persistence/log_tail.hpp"

namespace dibs::load {

namespace {

constexpr int kafka_timeout_ms = 2'000;

} // namespace

std::optional<lag_sample> sample_lag(mysql_store& db, kafka_log& log,
                                     clock::time_point start,
                                     std::string& error) {
  auto lag = unwritten_by_partition(db, log, kafka_timeout_ms);
  if (!lag) {
    error = caf::to_string(lag.error());
    return std::nullopt;
  }
  lag_sample s;
  s.at_s = std::chrono::duration<double>(clock::now() - start).count();
  s.per_partition = std::move(*lag);
  for (auto [p, n] : s.per_partition)
    s.total += n;
  return s;
}

struct lag_sampler::state {
  millis interval;
  clock::time_point start;
  std::mutex mtx;
  std::condition_variable cv;
  bool running = true;
  bool done = false;
  std::vector<lag_sample> samples;
  std::optional<std::string> error;

  void fail(std::string what) {
    std::lock_guard<std::mutex> guard{mtx};
    error = std::move(what);
  }

  bool keep_running() {
    std::lock_guard<std::mutex> guard{mtx};
    return running;
  }

  void run(const kafka_fn& kafka, const mysql_settings& mysql);
};

lag_sampler::lag_sampler(kafka_fn kafka, mysql_settings mysql,
                         millis interval, clock::time_point start)
  : state_(std::make_shared<state>()) {
  state_->interval = interval;
  state_->start = start;
  std::thread{[st = state_, kafka = std::move(kafka), mysql] {
    st->run(kafka, mysql);
    std::lock_guard<std::mutex> guard{st->mtx};
    st->done = true;
    st->cv.notify_all();
  }}.detach();
}

lag_sampler::~lag_sampler() {
  stop();
}

std::vector<lag_sample> lag_sampler::stop() {
  std::unique_lock<std::mutex> guard{state_->mtx};
  if (!state_->running)
    return state_->samples;
  state_->running = false;
  // A sample in progress takes up to a few Kafka timeouts.
  if (!state_->cv.wait_for(guard, std::chrono::seconds{10},
                           [this] { return state_->done; })
      && !state_->error)
    state_->error = "a lag sample did not return (Kafka unreachable); "
                    "sampling abandoned";
  return state_->samples;
}

std::optional<std::string> lag_sampler::error() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->error;
}

void lag_sampler::state::run(const kafka_fn& kafka,
                             const mysql_settings& mysql) {
  auto db = mysql_store::open(mysql);
  if (!db)
    return fail(caf::to_string(db.error()));
  std::string bootstrap;
  std::unique_ptr<kafka_log> log;
  // (Re)opens the scanner when Kafka's address changed.
  auto reopen = [&]() -> bool {
    try {
      auto settings = kafka();
      if (log && settings.bootstrap_servers == bootstrap)
        return true;
      auto next = kafka_log::scanner(settings);
      if (!next) {
        fail(caf::to_string(next.error()));
        return false;
      }
      log = std::move(*next);
      bootstrap = settings.bootstrap_servers;
      return true;
    } catch (const std::exception& e) {
      fail(e.what());
      return false;
    }
  };
  auto next = clock::now();
  while (keep_running()) {
    std::string what;
    if (!reopen()) {
      // Tried again at the next interval.
    } else if (auto s = sample_lag(**db, *log, start, what)) {
      std::lock_guard<std::mutex> guard{mtx};
      samples.push_back(std::move(*s));
    } else {
      fail(what);
    }
    next += interval;
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_until(guard, next, [this] { return !running; });
  }
}

} // namespace dibs::load
