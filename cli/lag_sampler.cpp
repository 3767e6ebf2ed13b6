#include "cli/lag_sampler.hpp"

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

lag_sampler::lag_sampler(kafka_fn kafka, mysql_settings mysql,
                         millis interval, clock::time_point start)
  : interval_(interval), start_(start) {
  thread_ = std::thread{[this, kafka = std::move(kafka), mysql] {
    run(kafka, mysql);
  }};
}

lag_sampler::~lag_sampler() {
  stop();
}

std::vector<lag_sample> lag_sampler::stop() {
  running_ = false;
  if (thread_.joinable())
    thread_.join();
  std::lock_guard<std::mutex> guard{mtx_};
  return samples_;
}

std::optional<std::string> lag_sampler::error() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return error_;
}

void lag_sampler::run(kafka_fn kafka, mysql_settings mysql) {
  auto fail = [this](std::string what) {
    std::lock_guard<std::mutex> guard{mtx_};
    error_ = std::move(what);
  };
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
  while (running_) {
    std::string error;
    if (!reopen()) {
      // Tried again at the next interval.
    } else if (auto s = sample_lag(**db, *log, start_, error)) {
      std::lock_guard<std::mutex> guard{mtx_};
      samples_.push_back(std::move(*s));
    } else {
      fail(error);
    }
    next += interval_;
    while (running_ && clock::now() < next)
      std::this_thread::sleep_for(millis{10});
  }
}

} // namespace dibs::load
