#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "core/error.hpp"
#include "persistence/records.hpp"

namespace sql {
class Connection;
} // namespace sql

namespace dibs {

/// Where MySQL is and who we are there.
struct mysql_settings {
  std::string host;
  uint16_t port = 0;
  std::string user;
  std::string password;
  std::string database;
  /// Seconds a connection waits to connect, for an answer or to send
  /// before the call fails as a lost connection; 0: the client's defaults
  /// (no limit on reads).
  int io_timeout_s = 0;
};

/// One Connector/C++ connection and every SQL statement dibs runs. Not
/// thread-safe: each thread (actor) owns its own store. Connector/C++
/// exceptions never leave this class: they become `ec::storage_failure`,
/// or `ec::outcome_unknown` when the connection was lost during the call
/// (its COMMIT may have been applied).
class mysql_store {
public:
  /// Calls `get_driver_instance()`, which is not thread-safe on first use.
  /// Call once on the main thread before any store opens.
  static void init_driver();

  /// Connects, with autocommit off and the session time zone set to UTC.
  static caf::expected<std::unique_ptr<mysql_store>>
  open(const mysql_settings& settings);

  ~mysql_store();

  /// Creates the tables of the storage contract if they do not exist.
  caf::expected<void> ensure_schema();

  /// Inserts a coupon and its stock row in one transaction; returns it with
  /// its new id and creation time. With an idempotency key (`is_request_id`),
  /// a coupon an earlier call made with the same key is returned instead,
  /// not fresh, and nothing is inserted; `idempotency_key_reused` when that
  /// coupon differs from `spec`; `coupon_ids_exhausted`, and nothing
  /// inserted, when the new id would be past `max_coupon_id`.
  caf::expected<created_coupon> create_coupon(coupon spec,
                                              const std::string& key = {});

  /// Every coupon with an id of at least `first`, by ascending id.
  caf::expected<std::vector<coupon>> load_coupons(coupon_id_t first = 0);

  /// Takes every coupon over for this node: raises each coupon's owner
  /// epoch by one (a coupon without one gets 1) and returns the new epochs.
  /// A snapshot written under the epoch before is this node's to trust.
  caf::expected<std::map<coupon_id_t, uint64_t>> claim_epochs();

  /// The same for the coupons `ids` only (the ones a cluster member owns).
  caf::expected<std::map<coupon_id_t, uint64_t>>
  claim_epochs(const std::vector<coupon_id_t>& ids);

  /// Takes one coupon over (a restarted stock actor): raises its owner
  /// epoch by one and returns it.
  caf::expected<uint64_t> claim_epoch(coupon_id_t id);

  /// Every issuance row of one coupon.
  caf::expected<std::vector<issuance_event>> load_issuances(coupon_id_t id);

  /// The consumed positions the writers stored for this log; positions
  /// stored for another log id of the same topic are not returned.
  caf::expected<std::vector<partition_offset>> load_offsets(const log_ref& log);

  /// Writes a batch exactly once: inserts the events that are not rows yet,
  /// lowers `coupon_stocks` by the rows actually inserted per coupon and
  /// stores `offsets` and the `fences` read, all in one transaction.
  /// Replaying a committed batch inserts nothing and changes no stock.
  /// Returns the rows inserted.
  caf::expected<size_t> write_batch(const log_ref& log,
                                    const std::vector<issuance_event>& events,
                                    const std::vector<partition_offset>& offsets,
                                    const std::vector<log_fence>& fences = {});

  /// Takes a shard (a partition of `log.topic`) over for node `owner`:
  /// raises its epoch by one and returns it. A claim called again with
  /// its `token` (`new_token`) after a failed call keeps the epoch its
  /// first call made, if the server committed that and no other claim came
  /// in between; without one, each call is a claim of its own.
  caf::expected<uint64_t> claim_shard(const log_ref& log, int32_t partition,
                                      const std::string& owner,
                                      const std::string& token = {});

  /// A token no other call has: 128 random bits, in hex.
  static std::string new_token();

  /// Records a fence of the log (idempotent).
  caf::expected<void> add_fence(const log_ref& log, const log_fence& fence);

  /// Every fence recorded for the log: whoever writes a fence records it
  /// before serving, and the writers record those they read with the
  /// offsets past them, so a reader starting at a stored position finds
  /// every fence before it here.
  caf::expected<std::vector<log_fence>> load_fences(const log_ref& log);

  /// The coupons a user holds, newest first.
  caf::expected<std::vector<user_coupon>> user_coupons(user_id_t user);

  /// `coupon_stocks.remaining_quantity` of a coupon.
  caf::expected<int64_t> remaining_quantity(coupon_id_t id);

  /// Whether an issuance id is a row of this user.
  caf::expected<bool> has_issuance(issuance_id_t id, user_id_t user);

  /// Runs a statement that returns nothing; for tests and tools.
  caf::expected<void> execute(const std::string& statement);

  /// Runs a query and returns its rows as text (NULL as ""), then commits
  /// so the next query sees what others committed since; for tools.
  caf::expected<std::vector<std::vector<std::string>>>
  query(const std::string& statement);

private:
  explicit mysql_store(std::unique_ptr<sql::Connection> conn);

  /// Runs `f`, reconnecting and retrying once on a lost connection
  /// (errors 2006, 2013) and rolling back on any failure.
  template <class F>
  auto guarded(const char* what, F f) -> decltype(f());

  /// Commits the open transaction; throws when the server did not answer
  /// that it did. (Connector/C++ 1.1's `Connection::commit()` drops the
  /// error: a COMMIT lost with the connection passed for done.)
  void commit();

  std::unique_ptr<sql::Connection> conn_;
};

} // namespace dibs
