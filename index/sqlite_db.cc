#include "sqlite_db.h"

namespace imprint::detail {

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

Statement& Statement::bind(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind_blob(int i, std::span<const uint8_t> v) {
  sqlite3_bind_blob(stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Statement::step(Status* status) {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    const int ext = sqlite3_extended_errcode(db_);
    const std::string msg = std::string("database: ") + sqlite3_errmsg(db_);
    *status = (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
                  ? already_exists(msg)
              : (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? failed_precondition(msg)
              : (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) ? corruption(msg)
                                                              : io_error(msg);
  }
  return false;
}

Status Statement::run() {
  Status s;
  while (step(&s)) {
  }
  reset();
  return s;
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(stmt_, col)))
           : std::string();
}

std::vector<uint8_t> Statement::blob(int col) const {
  const uint8_t* d = blob_data(col);
  return d ? std::vector<uint8_t>(d, d + blob_size(col)) : std::vector<uint8_t>();
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Result<Database> Database::open(const std::string& path, bool read_only) {
  Database d;
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &d.db_, flags, nullptr) != SQLITE_OK) {
    Status s = io_error(std::string("cannot open database ") + path + ": " +
                        (d.db_ ? sqlite3_errmsg(d.db_) : "out of memory"));
    return s;
  }
  sqlite3_busy_timeout(d.db_, 10'000);
  sqlite3_extended_result_codes(d.db_, 1);
  return d;
}

Status Database::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    const int rc = sqlite3_errcode(db_);
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return corruption("database: " + msg);
    if (rc == SQLITE_BUSY) return failed_precondition("database: " + msg);
    return io_error("database: " + msg);
  }
  return Status::Ok();
}

Result<Statement> Database::prepare(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), int(sql.size()), &s, nullptr) != SQLITE_OK) {
    return error("prepare");
  }
  return Statement(db_, s);
}

Status Database::error(const std::string& what) const {
  const int rc = sqlite3_errcode(db_);
  std::string msg = "database " + what + ": " + sqlite3_errmsg(db_);
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return corruption(msg);
  return io_error(msg);
}

}  // namespace imprint::detail
