#define CAF_SUITE actors.failover

// Failover's fencing, one process, no Kafka: one shard's partition is a
// vector, nodes take it over the way `node::take_over` does (a new epoch,
// a fence, the partition read to its end with `fence_filter`), publish
// records stamped with their epoch, and tell a client yes only for a
// record their `read_back` decided counts, as `kafka_sink` does with the
// fence watch: a record is decided once every record before it was read
// or is one of the node's own whose delivery report it has (`report`).
// Transcripts (takeover, a zombie that wakes after the move, a record its
// producer held across a retake, a node cut off from Kafka, rejoin) and
// seeded runs (whose nodes also pause, lose Kafka and hold records in their
// producers) check after every step what every reader of the log will
// count against what clients were told.

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <caf/test/unit_test.hpp>

#include "persistence/records.hpp"

using namespace dibs;

namespace {

constexpr uint32_t stock = 5;
constexpr int32_t partition = 0;

struct record {
  std::optional<issuance_event> event;
  std::optional<uint64_t> fence;
};

struct shard_model {
  /// The partition.
  std::vector<record> log;
  /// The shard's epoch in MySQL.
  uint64_t claimed = 0;
  /// The next issuance's sequence number.
  uint32_t next_seq = 0;

  struct node {
    std::string name;
    /// Takes no step: killed, or stopped.
    bool paused = false;
    /// Reaches no broker: publishes fail, nothing is read.
    bool cut = false;
    /// Its producer holds what it publishes (the broker slow to take it):
    /// the records land when their reports come, after a retake too.
    bool slow = false;
    bool serving = false;
    uint64_t epoch = 0;
    read_back reader;
    std::set<user_id_t> holders;
    uint32_t remaining = 0;
    /// Published, waiting for the read-back: user -> offset.
    std::map<user_id_t, int64_t> waiting;
    /// Published, the delivery report not yet in: user -> offset.
    std::map<user_id_t, int64_t> unreported;
    /// Held by its producer, not in the log yet, stamped with the epoch
    /// it was published at.
    std::vector<std::pair<user_id_t, issuance_event>> queued;
  };
  std::vector<node> nodes;

  /// What clients were told.
  std::vector<std::pair<user_id_t, std::string>> yes;
  std::set<user_id_t> definite_no;
  /// Requests that never got an answer (the client's outcome is unknown).
  std::set<user_id_t> unanswered;

  explicit shard_model(std::vector<std::string> names) {
    for (auto& n : names) {
      nodes.emplace_back();
      nodes.back().name = n;
    }
  }

  node& at(const std::string& name) {
    for (auto& n : nodes)
      if (n.name == name)
        return n;
    CAF_FAIL("no node " << name);
    return nodes.front();
  }

  /// What every reader of the log counts: the events no fence voids.
  std::vector<issuance_event> counted() const {
    fence_filter f;
    for (size_t i = 0; i < log.size(); ++i)
      if (log[i].fence)
        f.add({partition, static_cast<int64_t>(i), *log[i].fence});
    std::vector<issuance_event> out;
    for (size_t i = 0; i < log.size(); ++i)
      if (log[i].event
          && !f.voids(partition, static_cast<int64_t>(i),
                      log[i].event->shard_epoch))
        out.push_back(*log[i].event);
    return out;
  }

  /// `node::take_over`: a new epoch, a fence, the partition read to its
  /// end; false when the node cannot reach Kafka.
  bool take_over(const std::string& name) {
    auto& n = at(name);
    if (n.paused || n.cut)
      return false;
    n.epoch = ++claimed;
    auto f = static_cast<int64_t>(log.size());
    log.push_back(record{std::nullopt, n.epoch});
    n.reader = read_back{n.epoch, f};
    n.holders.clear();
    for (auto& e : counted())
      n.holders.insert(e.user_id);
    n.remaining = stock - static_cast<uint32_t>(n.holders.size());
    // Its old actors are gone with their requests: never answered. What
    // its producer still holds lands later, stamped with the old epoch.
    for (auto& w : n.waiting)
      unanswered.insert(w.first);
    for (auto& w : n.unreported)
      unanswered.insert(w.first);
    n.waiting.clear();
    n.unreported.clear();
    n.serving = true;
    return true;
  }

  /// A client asks node `name` for the coupon.
  void issue(const std::string& name, user_id_t user) {
    auto& n = at(name);
    if (n.paused || !n.serving)
      return; // Not taken (503 at the gateway, or a request held).
    if (n.holders.count(user))
      return; // ALREADY_ISSUED: no record.
    if (n.remaining == 0) {
      definite_no.insert(user); // SOLD_OUT: no record.
      return;
    }
    if (n.cut) {
      definite_no.insert(user); // The record could not be queued.
      return;
    }
    --n.remaining;
    n.holders.insert(user);
    issuance_event e{make_issuance_id(1, next_seq++), 1, user, 0};
    e.shard_epoch = n.epoch;
    n.queued.emplace_back(user, e);
    if (!n.slow)
      land(n);
  }

  /// What node `n`'s producer holds reaches the log.
  void land(node& n) {
    for (auto& [user, e] : n.queued) {
      n.unreported[user] = static_cast<int64_t>(log.size());
      log.push_back(record{e, std::nullopt});
    }
    n.queued.clear();
  }

  /// Node `name` gets the delivery reports of what it published, tells
  /// its reader they are its own (`fence_watch::confirm`) and answers what
  /// it can.
  void report(const std::string& name) {
    auto& n = at(name);
    if (n.paused || n.cut)
      return;
    land(n);
    for (auto& [user, offset] : n.unreported) {
      // A record of another epoch is left to the log (`unknown`).
      if (!n.reader.own(offset, log[offset].event->shard_epoch)) {
        unanswered.insert(user);
        continue;
      }
      n.waiting[user] = offset;
    }
    n.unreported.clear();
    answer(n);
  }

  /// Node `name` gets its reports, reads up to `k` records back and
  /// answers what it can.
  void read(const std::string& name, size_t k) {
    auto& n = at(name);
    if (n.paused || n.cut || n.epoch == 0)
      return;
    report(name);
    for (size_t i = 0; i < k && n.reader.read_to() < int64_t(log.size());
         ++i) {
      auto off = n.reader.read_to();
      if (n.reader.read(off, log[off].fence))
        n.serving = false; // A newer owner fenced it: give the shard up.
    }
    answer(n);
  }

  /// Answers the reported records the reader has decided.
  void answer(node& n) {
    for (auto i = n.waiting.begin(); i != n.waiting.end();) {
      auto v = n.reader.of(i->second);
      if (v == read_back::verdict::pending) {
        ++i;
        continue;
      }
      if (v == read_back::verdict::counts) {
        yes.emplace_back(i->first, n.name);
      } else {
        // Does not count: a definite no, the unit given back.
        definite_no.insert(i->first);
        n.holders.erase(i->first);
        ++n.remaining;
      }
      i = n.waiting.erase(i);
    }
  }

  /// PRODUCT's invariants against what every reader counts.
  void check(const std::string& when) {
    auto events = counted();
    std::set<user_id_t> users;
    for (auto& e : events)
      if (!users.insert(e.user_id).second)
        CAF_FAIL(when << ": user " << e.user_id << " counted twice");
    if (events.size() > stock)
      CAF_FAIL(when << ": " << events.size() << " counted for " << stock);
    for (auto& [user, who] : yes)
      if (!users.count(user))
        CAF_FAIL(when << ": " << who << " told " << user
                      << " yes, and it does not count");
    // A definite no for a pair that counts is a phantom, unless the pair
    // was also told yes or still waits for an answer (a request with no
    // answer yet, or never: the client's outcome is unknown).
    for (auto user : definite_no)
      if (users.count(user)) {
        bool told_yes = false;
        for (auto& y : yes)
          told_yes = told_yes || y.first == user;
        for (auto& n : nodes)
          told_yes = told_yes || n.waiting.count(user) > 0
                     || n.unreported.count(user) > 0;
        for (auto& n : nodes)
          for (auto& q : n.queued)
            told_yes = told_yes || q.first == user;
        told_yes = told_yes || unanswered.count(user) > 0;
        if (!told_yes)
          CAF_FAIL(when << ": user " << user
                        << " was told no, and it counts");
      }
  }

  size_t counted_count() const {
    return counted().size();
  }
};

} // namespace

CAF_TEST(takeover) {
  shard_model m{{"a", "b"}};
  CAF_REQUIRE(m.take_over("a"));
  for (user_id_t u = 1; u <= 3; ++u)
    m.issue("a", u);
  m.read("a", 10);
  m.check("a served");
  CAF_CHECK_EQUAL(m.yes.size(), 3u);
  // a dies; b takes the shard over and knows what a gave.
  m.at("a").paused = true;
  CAF_REQUIRE(m.take_over("b"));
  CAF_CHECK_EQUAL(m.at("b").remaining, stock - 3);
  m.issue("b", 2); // Holds it already: no.
  for (user_id_t u = 4; u <= 9; ++u)
    m.issue("b", u);
  m.read("b", 20);
  m.check("b served");
  CAF_CHECK_EQUAL(m.counted_count(), stock);
  CAF_CHECK_EQUAL(m.yes.size(), size_t{stock});
}

CAF_TEST(a_zombie_that_wakes_after_the_move) {
  shard_model m{{"a", "b"}};
  CAF_REQUIRE(m.take_over("a"));
  m.issue("a", 1); // In the log, not read back yet: no answer yet.
  m.at("a").paused = true;
  CAF_REQUIRE(m.take_over("b")); // After a's record: it counts, b has it.
  m.check("b took over");
  CAF_CHECK(m.at("b").holders.count(1));
  // a wakes, still believing it serves: its next record lands after b's
  // fence.
  m.at("a").paused = false;
  m.issue("a", 2);
  m.issue("b", 3);
  m.check("both published");
  // Their reports come: a's first record follows its own fence, so it is
  // known, and counts; neither later record follows its node's own
  // records alone (b's fence is between a's, a's record between b's fence
  // and b's), so both wait for the read-back.
  m.report("a");
  m.report("b");
  m.check("both reported");
  CAF_REQUIRE_EQUAL(m.yes.size(), 1u);
  CAF_CHECK_EQUAL(m.yes[0].first, 1u);
  m.read("a", 10);
  m.check("a read back");
  // Its first record counts: yes. The second is after the fence: no, and
  // a gives the shard up.
  CAF_CHECK(!m.at("a").serving);
  CAF_CHECK(m.definite_no.count(2));
  CAF_REQUIRE_EQUAL(m.yes.size(), 1u);
  CAF_CHECK_EQUAL(m.yes[0].first, 1u);
  // The user a refused gets it from b.
  m.issue("b", 2);
  m.read("b", 10);
  m.check("b served");
  CAF_CHECK_EQUAL(m.counted_count(), 3u);
}

CAF_TEST(an_owner_alone_answers_its_records_as_they_are_reported) {
  shard_model m{{"a", "b"}};
  CAF_REQUIRE(m.take_over("a"));
  // Record after record of its own, from its own fence on: each is
  // answered as its report comes, nothing read back.
  m.issue("a", 1);
  m.report("a");
  CAF_CHECK_EQUAL(m.yes.size(), 1u);
  m.issue("a", 2);
  m.issue("a", 3);
  m.report("a");
  m.check("reported");
  CAF_CHECK_EQUAL(m.yes.size(), 3u);
  CAF_CHECK_EQUAL(m.at("a").reader.read_to(), 0);
  // b takes over; a, paused meanwhile, wakes with a record after b's
  // fence: a gap it did not write, so it waits, and reading finds the
  // fence.
  m.at("a").paused = true;
  CAF_REQUIRE(m.take_over("b"));
  m.at("a").paused = false;
  m.issue("a", 4);
  m.report("a");
  m.check("a's record after the fence reported");
  CAF_CHECK_EQUAL(m.yes.size(), 3u);
  m.read("a", 10);
  CAF_CHECK(m.definite_no.count(4));
  CAF_CHECK(!m.at("a").serving);
  m.check("a read b's fence");
}

CAF_TEST(a_record_held_across_a_retake_lands_after_the_new_fence) {
  shard_model m{{"a", "b"}};
  CAF_REQUIRE(m.take_over("a"));
  // a's producer holds its record of epoch 1 while a gives the shard up
  // and takes it again (epoch 2): the record lands after a's own new
  // fence, which voids it for every reader. Its report is of the earlier
  // epoch: not a's own for this reading, so no yes (left to the log).
  m.at("a").slow = true;
  m.issue("a", 1);
  CAF_REQUIRE(m.take_over("a"));
  m.at("a").slow = false;
  m.report("a");
  m.check("the held record reported");
  CAF_CHECK(m.yes.empty());
  CAF_CHECK(m.unanswered.count(1));
  CAF_CHECK_EQUAL(m.counted_count(), 0u);
  // Asked again, the user gets the coupon of this epoch, once the held
  // record (not a's own for this reading: a gap) is read back.
  m.issue("a", 1);
  m.report("a");
  CAF_CHECK(m.yes.empty());
  m.read("a", 10);
  m.check("asked again");
  CAF_REQUIRE_EQUAL(m.yes.size(), 1u);
  CAF_CHECK_EQUAL(m.counted_count(), 1u);
}

CAF_TEST(a_node_cut_off_from_kafka_and_the_other_side) {
  shard_model m{{"a", "b"}};
  CAF_REQUIRE(m.take_over("a"));
  m.issue("a", 1);
  m.read("a", 10);
  // The network splits a from the broker: it cannot publish, so it tells
  // nobody yes; the group moves the shard to b.
  m.at("a").cut = true;
  m.issue("a", 2);
  CAF_CHECK(m.definite_no.count(2));
  CAF_CHECK(!m.take_over("a"));
  CAF_REQUIRE(m.take_over("b"));
  m.issue("b", 2);
  m.read("b", 10);
  m.check("b served");
  // a reaches the broker again, reads b's fence and stops.
  m.at("a").cut = false;
  m.read("a", 10);
  CAF_CHECK(!m.at("a").serving);
  m.issue("a", 3); // Not taken any more.
  m.check("a back");
  CAF_CHECK_EQUAL(m.counted_count(), 2u);
  CAF_CHECK_EQUAL(m.yes.size(), 2u);
}

CAF_TEST(rejoin_takes_the_shard_back_after_a_clean_handover) {
  shard_model m{{"a", "b"}};
  CAF_REQUIRE(m.take_over("a"));
  m.at("a").paused = true;
  CAF_REQUIRE(m.take_over("b"));
  m.issue("b", 1);
  m.issue("b", 2);
  // The group gives the shard back to a: b stops taking issuances, reads
  // back what it published (its answers go out), then a takes over.
  m.at("b").serving = false;
  m.read("b", 10);
  m.at("a").paused = false;
  CAF_REQUIRE(m.take_over("a"));
  CAF_CHECK_EQUAL(m.at("a").remaining, stock - 2);
  m.issue("a", 3);
  m.read("a", 10);
  m.check("a back");
  CAF_CHECK_EQUAL(m.yes.size(), 3u);
  // b, never told, reads a's fence: nothing of its own is left waiting.
  m.read("b", 10);
  CAF_CHECK(m.at("b").waiting.empty());
}

CAF_TEST(seeded_runs_keep_the_invariants_at_every_step) {
  size_t yes = 0, takeovers = 0, fenced_noes = 0;
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng{seed};
    shard_model m{{"a", "b", "c"}};
    std::vector<std::string> names{"a", "b", "c"};
    auto pick = [&] { return names[rng() % names.size()]; };
    CAF_REQUIRE(m.take_over(pick()));
    for (int step = 0; step < 300; ++step) {
      auto op = rng() % 100;
      auto who = pick();
      if (op < 40) {
        m.issue(who, 1 + rng() % 12);
      } else if (op < 55) {
        m.report(who);
      } else if (op < 80) {
        m.read(who, 1 + rng() % 4);
      } else if (op < 87) {
        takeovers += m.take_over(who) ? 1 : 0;
      } else if (op < 93) {
        m.at(who).paused = !m.at(who).paused;
      } else if (op < 97) {
        m.at(who).slow = !m.at(who).slow;
      } else {
        m.at(who).cut = !m.at(who).cut;
      }
      m.check("seed " + std::to_string(seed) + " step "
              + std::to_string(step));
    }
    yes += m.yes.size();
    for (auto& n : m.nodes)
      fenced_noes += n.reader.fenced_at() >= 0 ? 1 : 0;
  }
  CAF_MESSAGE("200 seeded runs of 300 steps: " << yes << " yes answers, "
                                               << takeovers << " takeovers, "
                                               << fenced_noes
                                               << " nodes that read a newer "
                                                  "owner's fence");
  CAF_CHECK_GREATER(yes, 0u);
  CAF_CHECK_GREATER(fenced_noes, 0u);
}
