// Internal: one small SQL interface over the catalog's two stores, SQLite (a file beside the
// catalog's other files) and PostgreSQL (a libpq connection URI), turning their errors into Status
// values. Statements are written once with `?` placeholders; on PostgreSQL they become $1, $2...
// Where the dialects differ (schemas, taking the writer's lock), callers ask Database::postgres().
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "status.h"

typedef struct pg_conn PGconn;

namespace imprint::detail {

struct PgStatement;  // database.cc

// True for the PostgreSQL form of a catalog location (a libpq URI).
bool is_postgres_uri(const std::string& location);

// The URI with any password removed, for messages and logs.
std::string redact_uri(const std::string& uri);

class Statement {
 public:
  Statement();
  Statement(sqlite3* db, sqlite3_stmt* s);
  explicit Statement(std::unique_ptr<PgStatement> pg);
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&& o) noexcept;
  ~Statement();

  Statement& bind(int i, int64_t v);
  Statement& bind(int i, const std::string& v);
  Statement& bind_blob(int i, std::span<const uint8_t> v);
  Statement& bind_null(int i);

  // true: a row is ready; false: done. Errors come back as a Status in *status.
  bool step(Status* status);
  Status run();  // step to completion, expecting no rows
  // For an INSERT ... RETURNING pk: the pk of the inserted row; the statement is reset after.
  Result<int64_t> insert_returning();
  void reset();

  int64_t int64(int col) const;
  std::string text(int col) const;
  std::vector<uint8_t> blob(int col) const;
  bool is_null(int col) const;
  const uint8_t* blob_data(int col) const;
  int blob_size(int col) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::unique_ptr<PgStatement> pg_;
};

class Database {
 public:
  Database() = default;
  Database(Database&& o) noexcept : db_(o.db_), pg_(o.pg_), uri_(std::move(o.uri_)) {
    o.db_ = nullptr;
    o.pg_ = nullptr;
  }
  Database& operator=(Database&& o) noexcept {
    std::swap(db_, o.db_);
    std::swap(pg_, o.pg_);
    std::swap(uri_, o.uri_);
    return *this;
  }
  ~Database();

  // A SQLite file.
  static Result<Database> open(const std::string& path, bool read_only);
  // A PostgreSQL database by libpq URI. A connection that breaks (the server restarted) is
  // re-established by the next statement; the statement that found it broken fails.
  static Result<Database> connect(const std::string& uri);

  bool postgres() const { return pg_ != nullptr; }
  bool is_open() const { return db_ != nullptr || pg_ != nullptr; }

  Status exec(const std::string& sql);
  // Runs DDL written for SQLite; on PostgreSQL its types are translated first (an
  // INTEGER PRIMARY KEY AUTOINCREMENT becomes a BIGINT identity, INTEGER BIGINT, BLOB BYTEA), so
  // each table is written once for both forms.
  Status exec_schema(const std::string& sqlite_ddl);
  Result<Statement> prepare(const std::string& sql);
  // Starts a write transaction that excludes every other writer of the catalog: SQLite's
  // BEGIN IMMEDIATE; on PostgreSQL, BEGIN and a transaction-scoped advisory lock, so that writers
  // on any number of machines commit one at a time and row ids rise in commit order (followers
  // catch up by id, see Catalog::refresh).
  Status begin_write();
  // A read transaction that sees one snapshot (on PostgreSQL, REPEATABLE READ); end it with a
  // ReadTransaction guard or COMMIT.
  Status begin_read();
  // PostgreSQL only. listen() subscribes this connection to NOTIFY on `channel`;
  // wait_notification() returns true as soon as a notification on a channel it listens to has
  // arrived (one committed since the last call), false after timeout_ms without one, and an error
  // when the connection broke: listen() again, which reconnects.
  Status listen(const std::string& channel);
  Result<bool> wait_notification(int timeout_ms);
  Status error(const std::string& what) const;
  sqlite3* handle() { return db_; }

 private:
  Status pg_ensure_connected();

  sqlite3* db_ = nullptr;
  PGconn* pg_ = nullptr;
  std::string uri_;
};

// Begins a read transaction (Database::begin_read) and ends it when it goes out of scope.
class ReadTransaction {
 public:
  explicit ReadTransaction(Database& db) : db_(db) { began_ = db_.begin_read(); }
  ~ReadTransaction() {
    if (began_.ok()) (void)db_.exec("COMMIT");
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  const Status& status() const { return began_; }

 private:
  Database& db_;
  Status began_;
};

}  // namespace imprint::detail
