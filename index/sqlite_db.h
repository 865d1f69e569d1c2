// Internal: thin RAII over the SQLite C API, turning its errors into Status values.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "status.h"

namespace imprint::detail {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* s) : db_(db), stmt_(s) {}
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;
  ~Statement();

  Statement& bind(int i, int64_t v);
  Statement& bind(int i, const std::string& v);
  Statement& bind_blob(int i, std::span<const uint8_t> v);
  Statement& bind_null(int i);

  // true: a row is ready; false: done. Errors come back as a Status in *status.
  bool step(Status* status);
  Status run();  // step to completion, expecting no rows
  void reset();

  int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const;
  std::vector<uint8_t> blob(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  const uint8_t* blob_data(int col) const {
    return static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  }
  int blob_size(int col) const { return sqlite3_column_bytes(stmt_, col); }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  Database() = default;
  Database(Database&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Database& operator=(Database&& o) noexcept {
    std::swap(db_, o.db_);
    return *this;
  }
  ~Database();

  static Result<Database> open(const std::string& path, bool read_only);
  Status exec(const std::string& sql);
  Result<Statement> prepare(const std::string& sql);
  Status error(const std::string& what) const;
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace imprint::detail
