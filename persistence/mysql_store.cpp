#include "persistence/mysql_store.hpp"

#include <map>
#include <random>
#include <set>
#include <sstream>

#include <cppconn/connection.h>
#include <cppconn/datatype.h>
#include <cppconn/driver.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/resultset_metadata.h>
#include <cppconn/statement.h>
#include <spdlog/spdlog.h>

namespace dibs {

namespace {

sql::Driver* driver() {
  static sql::Driver* instance = get_driver_instance();
  return instance;
}

constexpr int cr_server_gone_error = 2006;
constexpr int cr_server_lost = 2013;

const char* schema_statements[] = {
  "CREATE TABLE IF NOT EXISTS coupons ("
  " id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
  " name VARCHAR(200) NOT NULL,"
  " discount BIGINT NOT NULL,"
  " total_quantity INT UNSIGNED NOT NULL,"
  " opens_at DATETIME(3) NULL,"
  " closes_at DATETIME(3) NULL,"
  " created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
  ") ENGINE=InnoDB",
  "CREATE TABLE IF NOT EXISTS coupon_stocks ("
  " coupon_id INT UNSIGNED NOT NULL PRIMARY KEY,"
  " remaining_quantity INT NOT NULL"
  ") ENGINE=InnoDB",
  "CREATE TABLE IF NOT EXISTS user_coupons ("
  " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
  " coupon_id INT UNSIGNED NOT NULL,"
  " user_id BIGINT UNSIGNED NOT NULL,"
  " issuance_id BIGINT UNSIGNED NOT NULL,"
  " issued_at DATETIME(3) NOT NULL,"
  " request_id VARCHAR(64) NOT NULL DEFAULT '',"
  " UNIQUE KEY uq_user_coupon (user_id, coupon_id),"
  " UNIQUE KEY uq_issuance (issuance_id),"
  " KEY ix_coupon (coupon_id)"
  ") ENGINE=InnoDB",
  // The writers' bookkeeping: the next offset to consume per partition,
  // committed in the same transaction as the rows it covers.
  "CREATE TABLE IF NOT EXISTS writer_offsets ("
  " topic VARCHAR(200) NOT NULL,"
  " partition_id INT NOT NULL,"
  " next_offset BIGINT NOT NULL,"
  " log_id VARCHAR(200) NOT NULL DEFAULT '',"
  " PRIMARY KEY (topic, partition_id)"
  ") ENGINE=InnoDB",
  "ALTER TABLE writer_offsets ADD COLUMN IF NOT EXISTS"
  " log_id VARCHAR(200) NOT NULL DEFAULT ''",
  // The request that made each issuance, for tracing (X-Request-Id).
  "ALTER TABLE user_coupons ADD COLUMN IF NOT EXISTS"
  " request_id VARCHAR(64) NOT NULL DEFAULT ''",
  // The owner epoch of each coupon's stock actor: raised each time a node
  // takes the coupon over, so a snapshot written by an earlier owner is
  // recognized and a late write of that owner is fenced.
  "CREATE TABLE IF NOT EXISTS coupon_owners ("
  " coupon_id INT UNSIGNED NOT NULL PRIMARY KEY,"
  " epoch BIGINT UNSIGNED NOT NULL"
  ") ENGINE=InnoDB",
  // The epoch of each shard (a partition of the issuance topic): raised
  // each time a node takes the shard over; its records carry it.
  "CREATE TABLE IF NOT EXISTS shard_owners ("
  " topic VARCHAR(200) NOT NULL,"
  " partition_id INT NOT NULL,"
  " epoch BIGINT UNSIGNED NOT NULL,"
  " owner VARCHAR(200) NOT NULL,"
  " PRIMARY KEY (topic, partition_id)"
  ") ENGINE=InnoDB",
  // The calls' own tokens (`new_token`): a claim or a coupon creation run
  // again after its COMMIT's answer was lost finds its token and does not
  // raise the epoch, or make the coupon, a second time.
  "ALTER TABLE shard_owners ADD COLUMN IF NOT EXISTS"
  " claim CHAR(32) NOT NULL DEFAULT ''",
  "ALTER TABLE coupon_owners ADD COLUMN IF NOT EXISTS"
  " claim CHAR(32) NOT NULL DEFAULT ''",
  "ALTER TABLE coupons ADD COLUMN IF NOT EXISTS create_token CHAR(32) NULL",
  "CREATE UNIQUE INDEX IF NOT EXISTS uq_create_token ON coupons"
  " (create_token)",
  // A client's idempotency key of a coupon creation: a request with a key
  // already used gets the coupon made then. Compared byte for byte.
  "ALTER TABLE coupons ADD COLUMN IF NOT EXISTS idempotency_key"
  " VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL",
  "CREATE UNIQUE INDEX IF NOT EXISTS uq_idempotency_key ON coupons"
  " (idempotency_key)",
  // The fences of each log: from `offset_at` on, records of an epoch below
  // `epoch` do not count.
  "CREATE TABLE IF NOT EXISTS log_fences ("
  " topic VARCHAR(200) NOT NULL,"
  " log_id VARCHAR(200) NOT NULL,"
  " partition_id INT NOT NULL,"
  " offset_at BIGINT NOT NULL,"
  " epoch BIGINT UNSIGNED NOT NULL,"
  " PRIMARY KEY (topic, log_id, partition_id, offset_at)"
  ") ENGINE=InnoDB",
};

/// The update of an epoch claimed with a token (`new_token`), for
/// `INSERT ... (..., claim) ... ON DUPLICATE KEY UPDATE`: the claim's first
/// run raises the epoch, a run again after it committed finds its own token
/// and keeps it. The comparison comes before the token is set: MariaDB
/// assigns left to right.
constexpr const char* raise_epoch_once
  = " epoch = IF(claim = VALUES(claim), epoch, epoch + 1),"
    " claim = VALUES(claim)";

/// Renders an epoch-millisecond value as a SQL expression (NULL for 0).
std::string sql_time(epoch_ms t) {
  if (t == 0)
    return "NULL";
  std::ostringstream out;
  out << "FROM_UNIXTIME(" << t / 1000 << "." << (t % 1000) / 100
      << (t % 100) / 10 << t % 10 << ")";
  return out.str();
}

/// Reads a DATETIME column selected as epoch milliseconds (NULL gives 0).
epoch_ms get_ms(sql::ResultSet& rs, const char* col) {
  return rs.isNull(col) ? 0 : rs.getInt64(col);
}

const char* coupon_columns
  = "id, name, discount, total_quantity,"
    " CAST(UNIX_TIMESTAMP(opens_at) * 1000 AS SIGNED) AS opens_ms,"
    " CAST(UNIX_TIMESTAMP(closes_at) * 1000 AS SIGNED) AS closes_ms,"
    " CAST(UNIX_TIMESTAMP(created_at) * 1000 AS SIGNED) AS created_ms";

coupon read_coupon(sql::ResultSet& rs) {
  coupon c;
  c.id = rs.getUInt("id");
  c.name = rs.getString("name");
  c.discount = rs.getInt64("discount");
  c.total_quantity = rs.getUInt("total_quantity");
  c.opens_at = get_ms(rs, "opens_ms");
  c.closes_at = get_ms(rs, "closes_ms");
  c.created_at = get_ms(rs, "created_ms");
  return c;
}

void insert_fence(sql::Connection& conn, const log_ref& log,
                  const log_fence& f) {
  std::unique_ptr<sql::PreparedStatement> st{conn.prepareStatement(
    "INSERT IGNORE INTO log_fences (topic, log_id, partition_id, offset_at, "
    "epoch) VALUES (?, ?, ?, ?, ?)")};
  st->setString(1, log.topic);
  st->setString(2, log.log_id);
  st->setInt(3, f.partition);
  st->setInt64(4, f.offset);
  st->setUInt64(5, f.epoch);
  st->executeUpdate();
}

/// What every connection's session needs, on a new connection and after a
/// reconnect: explicit transactions, times in UTC, and REPEATABLE READ
/// whatever the server's default. `write_batch`'s careful path counts the
/// rows its INSERT IGNORE added against the snapshot of its first read:
/// under READ COMMITTED a row another writer committed between its reads
/// would count as this batch's too, and the stock be lowered twice.
/// (Connector/C++ asks for REPEATABLE READ when it connects, not when it
/// reconnects.)
void set_up_session(sql::Connection& conn) {
  conn.setAutoCommit(false);
  std::unique_ptr<sql::Statement> st{conn.createStatement()};
  st->execute("SET time_zone = '+00:00'");
  st->execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
}

} // namespace

/// A token for one call of a statement that must not take effect twice:
/// `guarded` runs the call again, with the same token, when the connection
/// was lost, and the server may have committed the first run.
std::string mysql_store::new_token() {
  std::random_device bits;
  std::ostringstream out;
  out << std::hex;
  for (int i = 0; i < 4; ++i) {
    out.width(8);
    out.fill('0');
    out << bits();
  }
  return out.str();
}

void mysql_store::init_driver() {
  driver();
}

mysql_store::mysql_store(std::unique_ptr<sql::Connection> conn)
  : conn_(std::move(conn)) {
  // Empty.
}

mysql_store::~mysql_store() = default;

caf::expected<std::unique_ptr<mysql_store>>
mysql_store::open(const mysql_settings& settings) {
  try {
    sql::ConnectOptionsMap opts;
    opts["hostName"] = sql::SQLString("tcp://" + settings.host);
    opts["port"] = static_cast<int>(settings.port);
    opts["userName"] = sql::SQLString(settings.user);
    opts["password"] = sql::SQLString(settings.password);
    opts["schema"] = sql::SQLString(settings.database);
    // With reconnect on, a lost connection comes back in autocommit mode and
    // silently drops the open transaction; we reconnect by hand instead.
    opts["OPT_RECONNECT"] = false;
    // A server that stops answering (stalled, or cut off without a reset)
    // fails the call as a lost connection instead of blocking its actor
    // for good; the connection is then made again (`guarded`).
    if (settings.io_timeout_s > 0) {
      opts["OPT_CONNECT_TIMEOUT"] = settings.io_timeout_s;
      opts["OPT_READ_TIMEOUT"] = settings.io_timeout_s;
      opts["OPT_WRITE_TIMEOUT"] = settings.io_timeout_s;
    }
    std::unique_ptr<sql::Connection> conn{driver()->connect(opts)};
    set_up_session(*conn);
    return std::unique_ptr<mysql_store>{new mysql_store(std::move(conn))};
  } catch (const sql::SQLException& e) {
    return caf::make_error(ec::storage_failure,
                           std::string{"mysql connect: "} + e.what());
  }
}

template <class F>
auto mysql_store::guarded(const char* what, F f) -> decltype(f()) {
  bool was_lost = false;
  for (int attempt = 0;; ++attempt) {
    try {
      auto result = f();
      // A call that gave up without an exception leaves nothing open for
      // the next call's COMMIT to take along.
      if (!result)
        conn_->rollback();
      return result;
    } catch (const sql::SQLException& e) {
      auto code = e.getErrorCode();
      bool lost = code == cr_server_gone_error || code == cr_server_lost;
      was_lost = was_lost || lost;
      if (!lost) {
        try {
          conn_->rollback();
        } catch (const sql::SQLException&) {
          // The rollback failing too leaves nothing else to undo.
        }
      }
      if (lost && attempt == 0) {
        try {
          if (conn_->reconnect()) {
            set_up_session(*conn_);
            continue;
          }
        } catch (const sql::SQLException&) {
          // Fall through and report the original error.
        }
      }
      spdlog::warn("mysql {} failed: {} ({})", what, e.what(), code);
      // A connection lost may have taken a COMMIT the server applied
      // along: whether the call took effect is not known.
      return caf::make_error(was_lost ? ec::outcome_unknown
                                      : ec::storage_failure,
                             std::string{"mysql "} + what + ": " + e.what());
    }
  }
}

void mysql_store::commit() {
  std::unique_ptr<sql::Statement> st{conn_->createStatement()};
  st->execute("COMMIT");
}

caf::expected<void> mysql_store::ensure_schema() {
  return guarded("ensure_schema", [&]() -> caf::expected<void> {
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    for (auto stmt : schema_statements)
      st->execute(stmt);
    commit();
    return caf::unit;
  });
}

caf::expected<created_coupon>
mysql_store::create_coupon(coupon spec, const std::string& key) {
  auto token = new_token();
  return guarded("create_coupon", [&]() -> caf::expected<created_coupon> {
    // Made by this call: by its own earlier run (a COMMIT whose answer was
    // lost), when not by its insert.
    auto ours = [&](sql::ResultSet& rs) {
      return !rs.isNull("create_token")
             && rs.getString("create_token") == token;
    };
    // A coupon made before: by another call with the key, which must have
    // asked for the same coupon, or by this call's earlier run.
    auto made_before = [&](sql::ResultSet& rs)
      -> caf::expected<created_coupon> {
      created_coupon result{read_coupon(rs), ours(rs)};
      commit();
      auto& c = result.info;
      if (!result.fresh
          && (c.name != spec.name || c.discount != spec.discount
              || c.total_quantity != spec.total_quantity
              || c.opens_at != spec.opens_at || c.closes_at != spec.closes_at))
        return caf::make_error(ec::idempotency_key_reused,
                               "the Idempotency-Key was used for coupon "
                                 + std::to_string(c.id)
                                 + ", which differs from this one");
      return result;
    };
    const auto select = std::string{"SELECT "} + coupon_columns
                        + ", create_token FROM coupons WHERE ";
    // Looked up first: an insert that finds a duplicate still uses up an id.
    if (!key.empty()) {
      std::unique_ptr<sql::PreparedStatement> q{
        conn_->prepareStatement(select + "idempotency_key = ?")};
      q->setString(1, key);
      std::unique_ptr<sql::ResultSet> rs{q->executeQuery()};
      if (rs->next())
        return made_before(*rs);
    }
    // Made meanwhile by a call with the same key, or by this call's earlier
    // run: the insert only selects it.
    std::unique_ptr<sql::PreparedStatement> ins{conn_->prepareStatement(
      "INSERT INTO coupons (name, discount, total_quantity, opens_at, "
      "closes_at, create_token, idempotency_key) VALUES (?, ?, ?, "
      + sql_time(spec.opens_at) + ", " + sql_time(spec.closes_at)
      + ", ?, ?) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)")};
    ins->setString(1, spec.name);
    ins->setInt64(2, spec.discount);
    ins->setUInt(3, spec.total_quantity);
    ins->setString(4, token);
    if (key.empty())
      ins->setNull(5, sql::DataType::VARCHAR);
    else
      ins->setString(5, key);
    ins->executeUpdate();
    // A locking read: a row another call committed after this
    // transaction's key lookup is not in the lookup's snapshot.
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
      select + "id = LAST_INSERT_ID() LOCK IN SHARE MODE")};
    if (!rs->next())
      return caf::make_error(ec::storage_failure, "coupon vanished on insert");
    if (!ours(*rs))
      return made_before(*rs);
    // This call's: its stock and owner rows, which its earlier run may have
    // made. An id past the largest an issuance id can hold is refused (and
    // the insert rolled back); AUTO_INCREMENT stays past it.
    auto c = read_coupon(*rs);
    if (c.id > max_coupon_id)
      return caf::make_error(ec::coupon_ids_exhausted,
                             "coupon id " + std::to_string(c.id)
                               + " is past the largest, "
                               + std::to_string(max_coupon_id));
    auto id = std::to_string(c.id);
    st->executeUpdate("INSERT INTO coupon_stocks (coupon_id, "
                      "remaining_quantity) VALUES (" + id + ", "
                      + std::to_string(c.total_quantity)
                      + ") ON DUPLICATE KEY UPDATE coupon_id = coupon_id");
    st->executeUpdate("INSERT INTO coupon_owners (coupon_id, epoch) VALUES ("
                      + id
                      + ", 1) ON DUPLICATE KEY UPDATE coupon_id = coupon_id");
    commit();
    return created_coupon{std::move(c), true};
  });
}

caf::expected<std::vector<coupon>> mysql_store::load_coupons(coupon_id_t first) {
  return guarded("load_coupons", [&]() -> caf::expected<std::vector<coupon>> {
    std::vector<coupon> result;
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
      std::string{"SELECT "} + coupon_columns + " FROM coupons WHERE id >= "
      + std::to_string(first) + " ORDER BY id")};
    while (rs->next())
      result.emplace_back(read_coupon(*rs));
    commit();
    return result;
  });
}

caf::expected<std::map<coupon_id_t, uint64_t>> mysql_store::claim_epochs() {
  auto token = new_token();
  return guarded("claim_epochs",
                 [&]() -> caf::expected<std::map<coupon_id_t, uint64_t>> {
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    st->executeUpdate("INSERT INTO coupon_owners (coupon_id, epoch, claim) "
                      "SELECT id, 1, '" + token + "' FROM coupons ON "
                      "DUPLICATE KEY UPDATE" + raise_epoch_once);
    std::unique_ptr<sql::ResultSet> rs{
      st->executeQuery("SELECT coupon_id, epoch FROM coupon_owners")};
    std::map<coupon_id_t, uint64_t> result;
    while (rs->next())
      result[rs->getUInt("coupon_id")] = rs->getUInt64("epoch");
    commit();
    return result;
  });
}

caf::expected<std::map<coupon_id_t, uint64_t>>
mysql_store::claim_epochs(const std::vector<coupon_id_t>& ids) {
  auto token = new_token();
  return guarded("claim_epochs",
                 [&]() -> caf::expected<std::map<coupon_id_t, uint64_t>> {
    std::map<coupon_id_t, uint64_t> result;
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    // In slices, so that no statement grows past the server's limits.
    constexpr size_t slice = 1000;
    for (size_t from = 0; from < ids.size(); from += slice) {
      std::string list;
      for (size_t i = from; i < std::min(ids.size(), from + slice); ++i)
        list += (list.empty() ? "" : ",") + std::to_string(ids[i]);
      st->executeUpdate("INSERT INTO coupon_owners (coupon_id, epoch, claim) "
                        "SELECT id, 1, '" + token + "' FROM coupons WHERE id "
                        "IN (" + list + ") ON DUPLICATE KEY UPDATE"
                        + raise_epoch_once);
      std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
        "SELECT coupon_id, epoch FROM coupon_owners WHERE coupon_id IN ("
        + list + ")")};
      while (rs->next())
        result[rs->getUInt("coupon_id")] = rs->getUInt64("epoch");
    }
    commit();
    return result;
  });
}

caf::expected<uint64_t> mysql_store::claim_epoch(coupon_id_t id) {
  auto token = new_token();
  return guarded("claim_epoch", [&]() -> caf::expected<uint64_t> {
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    auto key = std::to_string(id);
    st->executeUpdate("INSERT INTO coupon_owners (coupon_id, epoch, claim) "
                      "VALUES (" + key + ", 1, '" + token + "') ON DUPLICATE "
                      "KEY UPDATE" + raise_epoch_once);
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
      "SELECT epoch FROM coupon_owners WHERE coupon_id = " + key)};
    if (!rs->next())
      return caf::make_error(ec::storage_failure, "owner epoch vanished");
    auto epoch = rs->getUInt64("epoch");
    commit();
    return epoch;
  });
}

caf::expected<std::vector<issuance_event>>
mysql_store::load_issuances(coupon_id_t id) {
  return guarded("load_issuances",
                 [&]() -> caf::expected<std::vector<issuance_event>> {
    std::vector<issuance_event> result;
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
      "SELECT issuance_id, user_id, CAST(UNIX_TIMESTAMP(issued_at) * 1000 AS "
      "SIGNED) AS issued_ms FROM user_coupons WHERE coupon_id = "
      + std::to_string(id))};
    // A coupon may have a million rows: columns by position (a name is
    // looked up for every row), and the vector sized once.
    result.reserve(rs->rowsCount());
    while (rs->next())
      result.push_back(issuance_event{rs->getUInt64(1), id, rs->getUInt64(2),
                                      rs->getInt64(3)});
    commit();
    return result;
  });
}

caf::expected<std::vector<partition_offset>>
mysql_store::load_offsets(const log_ref& log) {
  return guarded("load_offsets",
                 [&]() -> caf::expected<std::vector<partition_offset>> {
    std::vector<partition_offset> result;
    std::unique_ptr<sql::PreparedStatement> st{conn_->prepareStatement(
      "SELECT partition_id, next_offset FROM writer_offsets WHERE topic = ? "
      "AND log_id = ?")};
    st->setString(1, log.topic);
    st->setString(2, log.log_id);
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery()};
    while (rs->next())
      result.push_back(
        partition_offset{rs->getInt("partition_id"), rs->getInt64("next_offset")});
    commit();
    return result;
  });
}

caf::expected<size_t>
mysql_store::write_batch(const log_ref& log,
                         const std::vector<issuance_event>& events,
                         const std::vector<partition_offset>& offsets,
                         const std::vector<log_fence>& fences) {
  return guarded("write_batch", [&]() -> caf::expected<size_t> {
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    size_t inserted = 0;
    if (!events.empty()) {
      // A republished event carries the same issuance id: drop repeats
      // within the batch.
      std::set<issuance_id_t> ids;
      std::map<coupon_id_t, size_t> per_coupon;
      std::ostringstream values;
      for (auto& e : events) {
        if (!ids.insert(e.issuance_id).second)
          continue;
        ++per_coupon[e.coupon_id];
        if (ids.size() > 1)
          values << ',';
        // A request id is [A-Za-z0-9._-] only (is_request_id): no quoting
        // needed inside the literal.
        values << '(' << e.coupon_id << ',' << e.user_id << ','
               << e.issuance_id << ',' << sql_time(e.issued_at) << ",'"
               << (is_request_id(e.request_id) ? e.request_id : "") << "')";
      }
      auto insert = "INSERT IGNORE INTO user_coupons (coupon_id, user_id, "
                    "issuance_id, issued_at, request_id) VALUES "
                    + values.str();
      // Fast path: every row is new, so each coupon loses exactly its
      // count in the batch. Anything ignored (a replayed batch, a row that
      // exists) sends us back to the savepoint for the careful path.
      st->execute("SAVEPOINT batch");
      auto n = static_cast<size_t>(st->executeUpdate(insert));
      if (n != ids.size()) {
        st->execute("ROLLBACK TO SAVEPOINT batch");
        per_coupon.clear();
        std::ostringstream id_list;
        for (auto i = ids.begin(); i != ids.end(); ++i)
          id_list << (i == ids.begin() ? "" : ",") << *i;
        // Which ids are rows already? They must not lower the stock twice.
        std::set<issuance_id_t> existing;
        {
          std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
            "SELECT issuance_id FROM user_coupons WHERE issuance_id IN ("
            + id_list.str() + ")")};
          while (rs->next())
            existing.insert(rs->getUInt64(1));
        }
        st->executeUpdate(insert);
        // Count per coupon the rows this statement really added: rows with
        // these ids that did not exist before.
        std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
          "SELECT issuance_id, coupon_id FROM user_coupons WHERE issuance_id "
          "IN (" + id_list.str() + ")")};
        while (rs->next())
          if (existing.count(rs->getUInt64(1)) == 0)
            ++per_coupon[rs->getUInt(2)];
      }
      for (auto& kvp : per_coupon)
        inserted += kvp.second;
      if (!per_coupon.empty()) {
        std::ostringstream upd;
        upd << "UPDATE coupon_stocks SET remaining_quantity = "
               "remaining_quantity - CASE coupon_id";
        for (auto& [c, k] : per_coupon)
          upd << " WHEN " << c << " THEN " << k;
        upd << " END WHERE coupon_id IN (";
        for (auto i = per_coupon.begin(); i != per_coupon.end(); ++i)
          upd << (i == per_coupon.begin() ? "" : ",") << i->first;
        upd << ')';
        st->executeUpdate(upd.str());
      }
    }
    if (!offsets.empty()) {
      std::unique_ptr<sql::PreparedStatement> off{conn_->prepareStatement(
        "INSERT INTO writer_offsets (topic, partition_id, next_offset, log_id) "
        "VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE next_offset = "
        "VALUES(next_offset), log_id = VALUES(log_id)")};
      for (auto& o : offsets) {
        off->setString(1, log.topic);
        off->setInt(2, o.partition);
        off->setInt64(3, o.next_offset);
        off->setString(4, log.log_id);
        off->executeUpdate();
      }
    }
    for (auto& f : fences)
      insert_fence(*conn_, log, f);
    commit();
    return inserted;
  });
}

caf::expected<uint64_t> mysql_store::claim_shard(const log_ref& log,
                                                 int32_t partition,
                                                 const std::string& owner,
                                                 const std::string& given) {
  auto token = given.empty() ? new_token() : given;
  return guarded("claim_shard", [&]() -> caf::expected<uint64_t> {
    std::unique_ptr<sql::PreparedStatement> up{conn_->prepareStatement(
      std::string{"INSERT INTO shard_owners (topic, partition_id, epoch, "
                  "owner, claim) VALUES (?, ?, 1, ?, ?) ON DUPLICATE KEY "
                  "UPDATE owner = VALUES(owner),"} + raise_epoch_once)};
    up->setString(1, log.topic);
    up->setInt(2, partition);
    up->setString(3, owner);
    up->setString(4, token);
    up->executeUpdate();
    std::unique_ptr<sql::PreparedStatement> st{conn_->prepareStatement(
      "SELECT epoch FROM shard_owners WHERE topic = ? AND partition_id = ?")};
    st->setString(1, log.topic);
    st->setInt(2, partition);
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery()};
    if (!rs->next())
      return caf::make_error(ec::storage_failure, "shard epoch vanished");
    auto epoch = rs->getUInt64(1);
    commit();
    return epoch;
  });
}

caf::expected<void> mysql_store::add_fence(const log_ref& log,
                                           const log_fence& fence) {
  return guarded("add_fence", [&]() -> caf::expected<void> {
    insert_fence(*conn_, log, fence);
    commit();
    return caf::unit;
  });
}

caf::expected<std::vector<log_fence>>
mysql_store::load_fences(const log_ref& log) {
  return guarded("load_fences",
                 [&]() -> caf::expected<std::vector<log_fence>> {
    std::unique_ptr<sql::PreparedStatement> st{conn_->prepareStatement(
      "SELECT partition_id, offset_at, epoch FROM log_fences WHERE topic = ? "
      "AND log_id = ? ORDER BY partition_id, offset_at")};
    st->setString(1, log.topic);
    st->setString(2, log.log_id);
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery()};
    std::vector<log_fence> result;
    while (rs->next())
      result.push_back(log_fence{rs->getInt(1), rs->getInt64(2),
                                 rs->getUInt64(3)});
    commit();
    return result;
  });
}

caf::expected<std::vector<user_coupon>>
mysql_store::user_coupons(user_id_t user) {
  return guarded("user_coupons",
                 [&]() -> caf::expected<std::vector<user_coupon>> {
    std::vector<user_coupon> result;
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
      "SELECT u.issuance_id, u.coupon_id, u.user_id, CAST(UNIX_TIMESTAMP("
      "u.issued_at) * 1000 AS SIGNED) AS issued_ms, c.name, c.discount FROM "
      "user_coupons u JOIN coupons c ON c.id = u.coupon_id WHERE u.user_id = "
      + std::to_string(user) + " ORDER BY u.issued_at DESC, u.id DESC")};
    while (rs->next()) {
      user_coupon uc;
      uc.event = issuance_event{rs->getUInt64(1), rs->getUInt(2),
                                rs->getUInt64(3), rs->getInt64(4)};
      uc.coupon_name = rs->getString(5);
      uc.discount = rs->getInt64(6);
      result.push_back(std::move(uc));
    }
    commit();
    return result;
  });
}

caf::expected<int64_t> mysql_store::remaining_quantity(coupon_id_t id) {
  return guarded("remaining_quantity", [&]() -> caf::expected<int64_t> {
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
      "SELECT remaining_quantity FROM coupon_stocks WHERE coupon_id = "
      + std::to_string(id))};
    if (!rs->next())
      return caf::make_error(ec::coupon_not_found);
    auto result = rs->getInt64(1);
    commit();
    return result;
  });
}

caf::expected<bool> mysql_store::has_issuance(issuance_id_t id,
                                              user_id_t user) {
  return guarded("has_issuance", [&]() -> caf::expected<bool> {
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery(
      "SELECT 1 FROM user_coupons WHERE issuance_id = " + std::to_string(id)
      + " AND user_id = " + std::to_string(user))};
    bool found = rs->next();
    commit();
    return found;
  });
}

caf::expected<void> mysql_store::execute(const std::string& statement) {
  return guarded("execute", [&]() -> caf::expected<void> {
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    st->execute(statement);
    commit();
    return caf::unit;
  });
}

caf::expected<std::vector<std::vector<std::string>>>
mysql_store::query(const std::string& statement) {
  using rows = std::vector<std::vector<std::string>>;
  return guarded("query", [&]() -> caf::expected<rows> {
    std::unique_ptr<sql::Statement> st{conn_->createStatement()};
    std::unique_ptr<sql::ResultSet> rs{st->executeQuery(statement)};
    auto columns = rs->getMetaData()->getColumnCount();
    rows result;
    while (rs->next()) {
      auto& row = result.emplace_back();
      for (unsigned i = 1; i <= columns; ++i)
        row.push_back(rs->isNull(i) ? std::string{} : std::string{rs->getString(i)});
    }
    // Ends the transaction, so the next query sees what others committed.
    commit();
    return result;
  });
}

} // namespace dibs
