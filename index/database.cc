#include "database.h"

#include <endian.h>
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace imprint::detail {

namespace {

// PostgreSQL type oids (server/catalog/pg_type.dat), fixed since forever.
constexpr Oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23;

// Every writer of a catalog takes this transaction-scoped advisory lock (one catalog per database).
constexpr const char* kWriterLockKey = "7307450121";

Status pg_status(const PGresult* r, PGconn* conn, const std::string& what) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  msg = "database " + what + ": " + msg;
  const std::string code = state ? state : "";
  if (code == "23505") return already_exists(msg);
  if (code == "40001" || code == "40P01" || code == "55P03") return failed_precondition(msg);
  if (code.rfind("22", 0) == 0) return invalid_argument(msg);  // data exceptions: bad text, range
  if (code == "XX001" || code == "XX002") return corruption(msg);
  return io_error(msg);
}

// `?` placeholders to $1, $2...; quoted text and identifiers are left alone.
std::string number_placeholders(const std::string& sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  char quote = 0;
  int n = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += '$' + std::to_string(++n);
    } else {
      out += c;
    }
  }
  *count = n;
  return out;
}

void ignore_notice(void*, const char*) {}

}  // namespace

bool is_postgres_uri(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

std::string redact_uri(const std::string& uri) {
  if (!is_postgres_uri(uri)) return uri;
  const size_t scheme = uri.find("://") + 3;
  const size_t at = uri.find('@', scheme);
  const size_t slash = uri.find('/', scheme);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return uri;
  const size_t colon = uri.find(':', scheme);
  if (colon == std::string::npos || colon > at) return uri;
  return uri.substr(0, colon) + ":***" + uri.substr(at);
}

struct PgStatement {
  PGconn* conn = nullptr;
  std::string sql;
  std::vector<std::string> values;
  std::vector<char> is_null;
  std::vector<int> formats;
  std::vector<Oid> types;
  PGresult* result = nullptr;
  int row = -1;
  int rows = 0;
  bool executed = false;

  ~PgStatement() { clear(); }
  void clear() {
    if (result) PQclear(result);
    result = nullptr;
    executed = false;
    row = -1;
    rows = 0;
  }
  void set(int i, std::string v, Oid type, int format, bool null = false) {
    if (i < 1 || size_t(i) > values.size()) return;  // as sqlite3_bind_*: out of range, ignored
    values[size_t(i) - 1] = std::move(v);
    types[size_t(i) - 1] = type;
    formats[size_t(i) - 1] = format;
    is_null[size_t(i) - 1] = null;
  }
  const char* value(int col) const { return PQgetvalue(result, row, col); }
};

Statement::Statement() = default;
Statement::Statement(sqlite3* db, sqlite3_stmt* s) : db_(db), stmt_(s) {}
Statement::Statement(std::unique_ptr<PgStatement> pg) : pg_(std::move(pg)) {}
Statement::Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_), pg_(std::move(o.pg_)) {
  o.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
    pg_ = std::move(o.pg_);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int i, int64_t v) {
  if (pg_) {
    pg_->set(i, std::to_string(v), kInt8Oid, 0);
  } else {
    sqlite3_bind_int64(stmt_, i, v);
  }
  return *this;
}

Statement& Statement::bind(int i, const std::string& v) {
  if (pg_) {
    pg_->set(i, v, 0, 0);  // untyped: the server takes the type its context gives it
  } else {
    sqlite3_bind_text(stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
  }
  return *this;
}

Statement& Statement::bind_blob(int i, std::span<const uint8_t> v) {
  if (pg_) {
    pg_->set(i, std::string(reinterpret_cast<const char*>(v.data()), v.size()), kByteaOid, 1);
  } else {
    sqlite3_bind_blob(stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
  }
  return *this;
}

Statement& Statement::bind_null(int i) {
  if (pg_) {
    pg_->set(i, std::string(), 0, 0, true);
  } else {
    sqlite3_bind_null(stmt_, i);
  }
  return *this;
}

bool Statement::step(Status* status) {
  if (pg_) {
    PgStatement& p = *pg_;
    if (!p.executed) {
      if (PQstatus(p.conn) != CONNECTION_OK) PQreset(p.conn);
      std::vector<const char*> values(p.values.size());
      std::vector<int> lengths(p.values.size());
      for (size_t i = 0; i < p.values.size(); ++i) {
        values[i] = p.is_null[i] ? nullptr : p.values[i].data();
        lengths[i] = int(p.values[i].size());
      }
      p.result = PQexecParams(p.conn, p.sql.c_str(), int(values.size()), p.types.data(),
                              values.data(), lengths.data(), p.formats.data(), 1);
      p.executed = true;
      const ExecStatusType rs = PQresultStatus(p.result);
      if (rs != PGRES_TUPLES_OK && rs != PGRES_COMMAND_OK) {
        *status = pg_status(p.result, p.conn, "statement");
        return false;
      }
      p.rows = PQntuples(p.result);
    }
    return ++p.row < p.rows;
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    const int ext = sqlite3_extended_errcode(db_);
    const std::string msg = std::string("database: ") + sqlite3_errmsg(db_);
    *status = (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
                  ? already_exists(msg)
              : (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)    ? failed_precondition(msg)
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

Result<int64_t> Statement::insert_returning() {
  Status s;
  if (!step(&s)) {
    reset();
    return s.ok() ? internal_error("INSERT ... RETURNING gave no row") : s;
  }
  const int64_t pk = int64(0);
  while (step(&s)) {
  }
  reset();
  if (!s.ok()) return s;
  return pk;
}

void Statement::reset() {
  if (pg_) {
    pg_->clear();
    for (size_t i = 0; i < pg_->values.size(); ++i) pg_->set(int(i) + 1, std::string(), 0, 0, true);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::int64(int col) const {
  if (!pg_) return sqlite3_column_int64(stmt_, col);
  const PgStatement& p = *pg_;
  if (PQgetisnull(p.result, p.row, col)) return 0;
  const char* v = p.value(col);
  switch (PQftype(p.result, col)) {
    case kInt8Oid: {
      uint64_t x;
      std::memcpy(&x, v, 8);
      return int64_t(be64toh(x));
    }
    case kInt4Oid: {
      uint32_t x;
      std::memcpy(&x, v, 4);
      return int32_t(be32toh(x));
    }
    case kInt2Oid: {
      uint16_t x;
      std::memcpy(&x, v, 2);
      return int16_t(be16toh(x));
    }
    case kBoolOid:
      return v[0] != 0;
    default:  // text
      return std::strtoll(std::string(v, size_t(PQgetlength(p.result, p.row, col))).c_str(),
                          nullptr, 10);
  }
}

std::string Statement::text(int col) const {
  if (pg_) {
    const PgStatement& p = *pg_;
    const Oid t = PQftype(p.result, col);
    if (t == kInt8Oid || t == kInt4Oid || t == kInt2Oid) return std::to_string(int64(col));
    return std::string(p.value(col), size_t(PQgetlength(p.result, p.row, col)));
  }
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(stmt_, col)))
           : std::string();
}

bool Statement::is_null(int col) const {
  if (pg_) return PQgetisnull(pg_->result, pg_->row, col);
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

const uint8_t* Statement::blob_data(int col) const {
  if (pg_) {
    if (PQgetisnull(pg_->result, pg_->row, col)) return nullptr;
    return reinterpret_cast<const uint8_t*>(pg_->value(col));
  }
  return static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
}

int Statement::blob_size(int col) const {
  if (pg_) return PQgetlength(pg_->result, pg_->row, col);
  return sqlite3_column_bytes(stmt_, col);
}

std::vector<uint8_t> Statement::blob(int col) const {
  const uint8_t* d = blob_data(col);
  return d ? std::vector<uint8_t>(d, d + blob_size(col)) : std::vector<uint8_t>();
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
  if (pg_) PQfinish(pg_);
}

Result<Database> Database::open(const std::string& path, bool read_only) {
  Database d;
  const int flags =
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
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

Result<Database> Database::connect(const std::string& uri) {
  Database d;
  d.uri_ = uri;
  // The URI as dbname with expand_dbname, so the defaults below apply unless it names its own.
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {uri.c_str(), "10", "imprint", nullptr};
  d.pg_ = PQconnectdbParams(keys, values, 1);
  if (!d.pg_) return io_error("cannot connect to " + redact_uri(uri) + ": out of memory");
  if (PQstatus(d.pg_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(d.pg_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return io_error("cannot connect to " + redact_uri(uri) + ": " + msg);
  }
  PQsetNoticeProcessor(d.pg_, ignore_notice, nullptr);
  return d;
}

Status Database::pg_ensure_connected() {
  if (PQstatus(pg_) == CONNECTION_OK) return Status::Ok();
  PQreset(pg_);
  if (PQstatus(pg_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(pg_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return io_error("cannot reach " + redact_uri(uri_) + ": " + msg);
  }
  PQsetNoticeProcessor(pg_, ignore_notice, nullptr);
  return Status::Ok();
}

Status Database::exec(const std::string& sql) {
  if (pg_) {
    IMPRINT_RETURN_IF_ERROR(pg_ensure_connected());
    PGresult* r = PQexec(pg_, sql.c_str());
    const ExecStatusType rs = PQresultStatus(r);
    Status s = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK ? Status::Ok()
                                                               : pg_status(r, pg_, "statement");
    PQclear(r);
    return s;
  }
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

Status Database::listen(const std::string& channel) {
  if (!pg_) return failed_precondition("LISTEN needs a PostgreSQL catalog");
  return exec("LISTEN " + channel);
}

Result<bool> Database::wait_notification(int timeout_ms) {
  if (!pg_) return failed_precondition("notifications need a PostgreSQL catalog");
  bool got = false;
  const auto drain = [&] {
    while (PGnotify* n = PQnotifies(pg_)) {
      got = true;
      PQfreemem(n);
    }
  };
  drain();  // arrived with an earlier result
  if (got) return true;
  const int fd = PQsocket(pg_);
  if (fd < 0 || PQstatus(pg_) != CONNECTION_OK) return io_error("database connection lost");
  pollfd p{fd, POLLIN, 0};
  const int rc = ::poll(&p, 1, std::max(0, timeout_ms));
  if (rc < 0 && errno != EINTR) return io_error(std::string("poll: ") + std::strerror(errno));
  if (rc > 0) {
    if (!PQconsumeInput(pg_)) {
      std::string msg = PQerrorMessage(pg_);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      return io_error("database connection: " + msg);
    }
    drain();
  }
  return got;
}

Status Database::exec_schema(const std::string& sqlite_ddl) {
  if (!pg_) return exec(sqlite_ddl);
  std::string ddl = sqlite_ddl;
  const auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = ddl.find(from); at != std::string::npos; at = ddl.find(from, at + to.size())) {
      ddl.replace(at, from.size(), to);
    }
  };
  replace_all("INTEGER PRIMARY KEY AUTOINCREMENT",
              "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
  replace_all("INTEGER", "BIGINT");
  replace_all("BLOB", "BYTEA");
  return exec(ddl);
}

Status Database::begin_write() {
  if (pg_) {
    return exec(std::string("BEGIN; SELECT pg_advisory_xact_lock(") + kWriterLockKey + ")");
  }
  return exec("BEGIN IMMEDIATE");
}

Status Database::begin_read() {
  return exec(pg_ ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
}

Result<Statement> Database::prepare(const std::string& sql) {
  if (pg_) {
    IMPRINT_RETURN_IF_ERROR(pg_ensure_connected());
    auto p = std::make_unique<PgStatement>();
    p->conn = pg_;
    int n = 0;
    p->sql = number_placeholders(sql, &n);
    p->values.assign(size_t(n), std::string());
    p->is_null.assign(size_t(n), 1);
    p->formats.assign(size_t(n), 0);
    p->types.assign(size_t(n), 0);
    return Statement(std::move(p));
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), int(sql.size()), &s, nullptr) != SQLITE_OK) {
    return error("prepare");
  }
  return Statement(db_, s);
}

Status Database::error(const std::string& what) const {
  if (pg_) return pg_status(nullptr, pg_, what);
  const int rc = sqlite3_errcode(db_);
  std::string msg = "database " + what + ": " + sqlite3_errmsg(db_);
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return corruption(msg);
  return io_error(msg);
}

}  // namespace imprint::detail
