#include "actors/resolver_actor.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <string>

#include "persistence/log_tail.hpp"

namespace dibs {

namespace {

/// The reads over the node's MySQL store and Kafka scanner, the log's
/// records read through the resolver's cache.
class store_reads : public issuance_reads {
public:
  store_reads(mysql_store& store, kafka_log& scanner,
              std::unique_ptr<kafka_producer>& prober,
              const kafka_settings& kafka,
              std::map<int32_t, resolver_state::tail_cache>& tails)
    : store_(store), scanner_(scanner), prober_(prober), kafka_(kafka),
      tails_(tails) {
    // Empty.
  }

  caf::expected<std::pair<int32_t, int64_t>>
  written(coupon_id_t coupon) override {
    auto positions = stored_positions(store_, scanner_,
                                      kafka_.admin_timeout_ms);
    if (!positions)
      return std::move(positions.error());
    auto p = partition_of(coupon, static_cast<int32_t>(positions->size()));
    return std::make_pair(p, (*positions)[p]);
  }

  caf::expected<bool> committed(const issuance_event& event) override {
    return store_.has_issuance(event.issuance_id, event.user_id);
  }

  caf::error readable(int32_t partition) override {
    if (!prober_) {
      auto p = kafka_producer::make(kafka_);
      if (!p)
        return std::move(p.error());
      prober_ = std::move(*p);
    }
    // Reported on the producer's thread, perhaps after this search gave up.
    auto report = std::make_shared<std::promise<delivery_report>>();
    auto reported = report->get_future();
    prober_->produce_probe(partition, "resolver",
                           [report](delivery_report r) {
                             report->set_value(std::move(r));
                           });
    // Not stored in time fails the search, which is retried with a new
    // producer (this one may be in a fatal state: an idempotent producer
    // is, after its broker lost what it had stored).
    auto failed = [&](const std::string& what) {
      prober_.reset();
      return caf::make_error(ec::storage_failure,
                             "kafka probe of partition "
                               + std::to_string(partition) + " " + what);
    };
    if (reported.wait_for(std::chrono::milliseconds{kafka_.admin_timeout_ms})
        != std::future_status::ready)
      return failed("not reported in time");
    auto r = reported.get();
    if (r.outcome != delivery_outcome::stored)
      return failed("not stored: " + r.error);
    return caf::none;
  }

  caf::expected<std::vector<issuance_event>>
  read_from(coupon_id_t coupon, int32_t partition, int64_t offset) override {
    auto& c = tails_[partition];
    if (offset < c.from || offset > c.end
        || c.events.size() > resolver_state::max_cached_records)
      c = resolver_state::tail_cache{offset, offset, {}};
    // What the writers committed since is in MySQL: not needed any more.
    auto keep = std::find_if(c.events.begin(), c.events.end(),
                             [&](auto& x) { return x.first >= offset; });
    c.events.erase(c.events.begin(), keep);
    c.from = offset;
    auto log = scanner_.identity(kafka_.admin_timeout_ms);
    if (!log)
      return std::move(log.error());
    auto fences = store_.load_fences(*log);
    if (!fences)
      return std::move(fences.error());
    scanner_.use_fences(*fences);
    auto some = scanner_.read_some(partition, c.end, kafka_.admin_timeout_ms);
    if (!some)
      return std::move(some.error());
    for (auto& r : some->first) {
      for (auto& e : r.events)
        c.events.emplace_back(r.offset, e);
      c.end = r.offset + 1;
    }
    // A search must see the whole tail; what was read is kept, so the next
    // attempt goes on from there.
    if (!some->second)
      return caf::make_error(ec::storage_failure,
                             "kafka scan timed out; resumes from offset "
                               + std::to_string(c.end));
    std::vector<issuance_event> result;
    for (auto& [off, e] : c.events)
      if (e.coupon_id == coupon)
        result.push_back(e);
    return result;
  }

private:
  mysql_store& store_;
  kafka_log& scanner_;
  std::unique_ptr<kafka_producer>& prober_;
  const kafka_settings& kafka_;
  std::map<int32_t, resolver_state::tail_cache>& tails_;
};

} // namespace

caf::expected<bool> find_issuance(issuance_reads& reads,
                                  const issuance_event& event) {
  auto from = reads.written(event.coupon_id);
  if (!from)
    return std::move(from.error());
  // The issuance id and the user: a newer owner of the shard that did not
  // see this record (never stored, or voided by its fence) gives its
  // sequence numbers out again, to other users.
  auto in_mysql = reads.committed(event);
  if (!in_mysql)
    return std::move(in_mysql.error());
  if (*in_mysql)
    return true;
  if (auto err = reads.readable(from->first))
    return err;
  // Only the coupon's partition: with the writers behind (MySQL was down),
  // reading all of them took tens of seconds on the mock broker dibs ran on
  // before Apache Kafka.
  auto tail = reads.read_from(event.coupon_id, from->first, from->second);
  if (!tail)
    return std::move(tail.error());
  for (auto& e : *tail)
    if (e.issuance_id == event.issuance_id && e.user_id == event.user_id)
      return true;
  return false;
}

caf::expected<bool> resolver_state::find(const issuance_event& event) {
  if (!store) {
    auto s = mysql_store::open(mysql);
    if (!s)
      return std::move(s.error());
    store = std::move(*s);
  }
  if (!scanner) {
    auto l = kafka_log::scanner(kafka);
    if (!l)
      return std::move(l.error());
    scanner = std::move(*l);
  }
  store_reads reads{*store, *scanner, prober, kafka, tails};
  return find_issuance(reads, event);
}

caf::behavior resolver_actor(caf::stateful_actor<resolver_state>* self,
                             kafka_settings kafka, mysql_settings mysql) {
  self->state.kafka = std::move(kafka);
  self->state.mysql = std::move(mysql);
  return {
    [=](find_atom, const issuance_event& event) -> caf::result<bool> {
      auto found = self->state.find(event);
      if (!found)
        return std::move(found.error());
      return *found;
    },
  };
}

} // namespace dibs
