#include "usage_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "database.h"
#include "text.h"

namespace imprint {
using detail::Database;
using detail::Statement;

namespace {

constexpr const char* kUsageSchema = R"sql(
CREATE TABLE IF NOT EXISTS usage_events(
  pk INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  work_id TEXT NOT NULL,
  owner TEXT NOT NULL,
  decision TEXT NOT NULL,
  purpose TEXT NOT NULL,
  caller TEXT NOT NULL,
  query_sha256 TEXT NOT NULL DEFAULT '',
  reference TEXT NOT NULL DEFAULT '',
  distance INTEGER NOT NULL DEFAULT 0,
  event_id TEXT NOT NULL UNIQUE,
  request_id TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS usage_by_work ON usage_events(work_id, time_ms);
CREATE INDEX IF NOT EXISTS usage_by_owner ON usage_events(owner, time_ms);
CREATE INDEX IF NOT EXISTS usage_by_time ON usage_events(time_ms);
)sql";

}  // namespace

class UsageLog::Impl {
 public:
  Database wdb;  // the writer thread's
  Database rdb;
  mutable std::mutex rdb_mu;
  bool read_only = false;
  // False for a catalog read-only here whose usage table predates request ids.
  bool has_request_id = true;

  std::mutex mu;
  std::condition_variable wake_writer, committed;
  std::vector<std::pair<std::string, UsageEvent>> pending;  // (event id, event)
  int journal_fd = -1;
  std::string journal_path;
  std::string id_prefix;  // random per open, so ids never collide across runs
  uint64_t next_id = 0;
  uint64_t queued_seq = 0;     // batches handed to the writer
  uint64_t committed_seq = 0;  // batches committed
  // PostgreSQL: no journal; record() returns once its events are committed to the database.
  bool pg = false;
  uint64_t events_queued = 0;     // events handed to record(), ever
  uint64_t events_committed = 0;  // of those, committed (batches commit in queue order)
  Status last_error;
  // Group commit of the journal: record() returns once an fdatasync that began after its append
  // has finished; one caller syncs for all that appended before it began.
  uint64_t appended = 0;  // appends so far
  uint64_t synced = 0;    // appends an fdatasync has covered
  bool syncing = false;
  std::condition_variable sync_done;
  bool stopping = false;
  bool flush_requested = false;
  std::thread writer;

  // The writer commits when this many events wait, or options.commit_delay after the first of a
  // batch arrived, whichever comes first (see UsageLogOptions).
  static constexpr size_t kBatchEvents = 4096;
  UsageLogOptions options;
  // After a failed commit (SQLITE_BUSY past the busy timeout, a full disk): try again after this.
  static constexpr std::chrono::milliseconds kRetryDelay{1000};

  void run_writer() {
    std::unique_lock<std::mutex> lk(mu);
    while (true) {
      wake_writer.wait(lk, [&] { return stopping || !pending.empty(); });
      wake_writer.wait_for(lk, options.commit_delay, [&] {
        return stopping || flush_requested || pending.size() >= kBatchEvents;
      });
      if (pending.empty() && stopping) return;
      if (pending.empty()) continue;
      std::vector<std::pair<std::string, UsageEvent>> batch;
      batch.swap(pending);
      const uint64_t seq = ++queued_seq;
      lk.unlock();
      Status s = write(batch);
      lk.lock();
      committed_seq = seq;
      last_error = s;
      if (s.ok()) events_committed += batch.size();
      if (!s.ok()) {
        // Never dropped: the batch goes back to the head of the queue and is retried after a
        // pause (or at once for a flush). The journal still holds it and is not truncated while
        // anything waits; a process stopping now leaves it there for the next open to replay.
        batch.insert(batch.end(), std::make_move_iterator(pending.begin()),
                     std::make_move_iterator(pending.end()));
        pending.swap(batch);
        flush_requested = false;  // a flush() waiting now hears of the failure
        committed.notify_all();
        if (stopping) return;
        wake_writer.wait_for(lk, kRetryDelay, [&] { return stopping || flush_requested; });
        continue;
      }
      // Everything appended so far is committed: the journal can start over.
      if (s.ok() && pending.empty() && journal_fd >= 0 && ::ftruncate(journal_fd, 0) != 0) {
        last_error = io_error("cannot truncate " + journal_path);
      }
      if (pending.empty()) flush_requested = false;  // a flush() waiting now has what it asked for
      committed.notify_all();
    }
  }

  static constexpr int kColumns = 11;
  static constexpr const char* kInsertEvents =
      "INSERT INTO usage_events(time_ms, work_id, owner, decision, purpose, caller, query_sha256, "
      "reference, distance, event_id, request_id) VALUES ";
  // PostgreSQL: rows per INSERT statement (each a round trip to the server, parsed once).
  static constexpr size_t kRowsPerInsert = 256;

  // Binds one event's columns as the statement's row `row` (0-based) of kColumns parameters.
  static void bind_event(Statement& ins, int row, const std::string& id, const UsageEvent& e) {
    const int b = row * kColumns;
    ins.bind(b + 1, e.time_ms).bind(b + 2, e.work_id).bind(b + 3, e.owner);
    ins.bind(b + 4, std::string(decision_name(e.decision)));
    ins.bind(b + 5, std::string(purpose_name(e.purpose))).bind(b + 6, e.caller);
    ins.bind(b + 7, e.query_sha256).bind(b + 8, e.reference).bind(b + 9, int64_t(e.distance));
    ins.bind(b + 10, id).bind(b + 11, e.request_id);
  }

  static std::string insert_sql(size_t rows) {
    std::string sql = kInsertEvents;
    for (size_t i = 0; i < rows; ++i)
      sql += i ? ",(?,?,?,?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?,?,?,?)";
    return sql + " ON CONFLICT DO NOTHING";
  }

  Status write(const std::vector<std::pair<std::string, UsageEvent>>& batch) {
    if (pg) return write_postgres(batch);
    // SQLite: the writer takes the file's write lock; one prepared row insert, run per event.
    if (Status b = wdb.exec("BEGIN IMMEDIATE"); !b.ok()) {
      (void)wdb.exec("ROLLBACK");
      return b;
    }
    Result<Statement> ins = wdb.prepare(insert_sql(1));
    if (!ins.ok()) {
      (void)wdb.exec("ROLLBACK");
      return ins.status();
    }
    for (const auto& [id, e] : batch) {
      bind_event(*ins, 0, id, e);
      Status s = ins->run();
      if (!s.ok()) {
        (void)wdb.exec("ROLLBACK");
        return s;
      }
    }
    Status s = wdb.exec("COMMIT");
    if (!s.ok()) (void)wdb.exec("ROLLBACK");
    return s;
  }

  // PostgreSQL: replicas insert usage side by side (event ids keep them apart and make a retried
  // batch insert nothing twice). Each round trip to the server is a multi-row INSERT of up to
  // kRowsPerInsert events: a batch that fits is one statement, atomic by itself with no
  // transaction around it; a larger one is several inside one transaction.
  Status write_postgres(const std::vector<std::pair<std::string, UsageEvent>>& batch) {
    const bool several = batch.size() > kRowsPerInsert;
    if (several) {
      if (Status b = wdb.exec("BEGIN"); !b.ok()) {
        (void)wdb.exec("ROLLBACK");
        return b;
      }
    }
    for (size_t start = 0; start < batch.size(); start += kRowsPerInsert) {
      const size_t rows = std::min(kRowsPerInsert, batch.size() - start);
      Result<Statement> ins = wdb.prepare(insert_sql(rows));
      Status s = ins.status();
      if (s.ok()) {
        for (size_t i = 0; i < rows; ++i) {
          bind_event(*ins, int(i), batch[start + i].first, batch[start + i].second);
        }
        s = ins->run();
      }
      if (!s.ok()) {
        if (several) (void)wdb.exec("ROLLBACK");
        return s;
      }
    }
    if (!several) return Status::Ok();
    Status s = wdb.exec("COMMIT");
    if (!s.ok()) (void)wdb.exec("ROLLBACK");
    return s;
  }

  static bool column_exists(Database& db, const std::string& column) {
    Result<Statement> s = db.prepare("SELECT " + column + " FROM usage_events LIMIT 0");
    if (!s.ok()) return false;
    Status st;
    (void)s->step(&st);
    return st.ok();
  }

  // The event's own id when it has one (from an idempotency key), else a fresh one.
  std::string event_id_for(const UsageEvent& e) {
    return e.event_id.empty() ? id_prefix + std::to_string(next_id++) : e.event_id;
  }

  // Catalogs made before request ids were recorded gain the column (empty for older events).
  Status add_request_id_column(Database& db) {
    if (pg) {
      return db.exec(
          "ALTER TABLE usage_events ADD COLUMN IF NOT EXISTS request_id TEXT NOT NULL DEFAULT ''");
    }
    if (column_exists(db, "request_id")) return Status::Ok();
    return db.exec("ALTER TABLE usage_events ADD COLUMN request_id TEXT NOT NULL DEFAULT ''");
  }

  static nlohmann::json to_json(const std::string& id, const UsageEvent& e) {
    return {{"id", id}, {"t", e.time_ms}, {"w", e.work_id}, {"o", e.owner}, {"d", decision_name(e.decision)},
            {"p", purpose_name(e.purpose)}, {"c", e.caller}, {"s", e.query_sha256}, {"r", e.reference},
            {"k", e.distance}, {"q", e.request_id}};
  }

  // Events a killed process left in a journal go into the database before anything else.
  Status replay_journal(const std::string& path) {
    std::ifstream f(path);
    std::vector<std::pair<std::string, UsageEvent>> batch;
    std::string line;
    while (std::getline(f, line)) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("id")) continue;  // a torn last line
      UsageEvent e;
      e.time_ms = j.value("t", int64_t(0));
      e.work_id = j.value("w", "");
      e.owner = j.value("o", "");
      e.decision = j.value("d", "") == "allow" ? MatchDecision::kAllow : MatchDecision::kFlag;
      Result<Purpose> p = parse_purpose(j.value("p", "any-use"));
      e.purpose = p.ok() ? *p : Purpose::kAnyUse;
      e.caller = j.value("c", "");
      e.query_sha256 = j.value("s", "");
      e.reference = j.value("r", "");
      e.distance = j.value("k", 0);
      e.request_id = j.value("q", "");
      batch.emplace_back(j["id"].get<std::string>(), std::move(e));
    }
    if (!batch.empty()) IMPRINT_RETURN_IF_ERROR(write(batch));
    return Status::Ok();
  }
};

UsageLog::UsageLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

UsageLog::~UsageLog() {
  if (!impl_ || impl_->read_only) return;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake_writer.notify_all();
  if (impl_->writer.joinable()) impl_->writer.join();
  if (impl_->journal_fd >= 0) {
    // Everything was committed on the way out: the journal has nothing left to say.
    if (impl_->last_error.ok()) ::unlink(impl_->journal_path.c_str());
    ::close(impl_->journal_fd);
  }
}

Result<std::unique_ptr<UsageLog>> UsageLog::open(const std::string& catalog_dir, bool read_only,
                                                 const UsageLogOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->read_only = read_only;
  impl->options = options;
  if (detail::is_postgres_uri(catalog_dir)) return open_postgres(std::move(impl), catalog_dir);
  const std::string path = catalog_dir + "/catalog.sqlite";
  if (!read_only) {
    Result<Database> w = Database::open(path, false);
    if (!w.ok()) return w.status();
    impl->wdb = std::move(*w);
    IMPRINT_RETURN_IF_ERROR(impl->wdb.exec("PRAGMA journal_mode=WAL"));
    // FULL: a commit is on disk when COMMIT returns (NORMAL, in WAL mode, may lose the last
    // commits to a power cut), because the journal is emptied right after it. This connection
    // only writes usage batches, a few commits a second at most.
    IMPRINT_RETURN_IF_ERROR(impl->wdb.exec("PRAGMA synchronous=FULL"));
    IMPRINT_RETURN_IF_ERROR(impl->wdb.exec_schema(kUsageSchema));
    IMPRINT_RETURN_IF_ERROR(impl->add_request_id_column(impl->wdb));
    // Each writing process keeps its own journal, locked while it lives. A journal nobody holds
    // belonged to a process that died: replay it and remove it.
    std::error_code ec;
    // A journal gets its name only once it is locked (below), so a journal under its name and
    // not locked is one whose process is gone. Opened read-only: replaying never writes to it.
    for (const auto& entry : std::filesystem::directory_iterator(catalog_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("usage-", 0) != 0) continue;
      const bool unnamed =
          name.size() > 12 && name.compare(name.size() - 12, 12, ".journal.new") == 0;
      if (!unnamed && entry.path().extension() != ".journal") continue;
      const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) continue;
      if (unnamed) {
        // A process died between creating its journal and naming it: nothing was written yet.
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) std::filesystem::remove(entry.path(), ec);
        ::close(fd);
        continue;
      }
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        Status s = impl->replay_journal(entry.path().string());
        if (s.ok()) std::filesystem::remove(entry.path(), ec);
        ::close(fd);
        IMPRINT_RETURN_IF_ERROR(s);
      } else {
        ::close(fd);
      }
    }
    std::random_device rd;
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "%08x%08x", rd(), rd());
    impl->id_prefix = std::string(prefix) + "-";
    impl->journal_path = catalog_dir + "/usage-" + prefix + ".journal";
    // Created under a name other processes do not replay, locked, and only then renamed to its
    // own: no other process can take a journal for a dead one's (and replay and remove it)
    // between its creation and its lock.
    const std::string unnamed = impl->journal_path + ".new";
    impl->journal_fd =
        ::open(unnamed.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (impl->journal_fd < 0) {
      return io_error("cannot create " + unnamed + ": " + std::strerror(errno));
    }
    if (::flock(impl->journal_fd, LOCK_EX | LOCK_NB) != 0 ||
        ::rename(unnamed.c_str(), impl->journal_path.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      ::close(impl->journal_fd);
      impl->journal_fd = -1;
      std::filesystem::remove(unnamed, ec);
      return io_error("cannot lock and name " + impl->journal_path + ": " + why);
    }
    // The journal's name must outlive a power cut as its lines do.
    const int dir_fd = ::open(catalog_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }
  Result<Database> r = Database::open(path, read_only);
  if (!r.ok()) return r.status();
  impl->rdb = std::move(*r);
  if (read_only) {
    // An older catalog may have no usage table yet: reads then see no events.
    Result<Statement> probe = impl->rdb.prepare("SELECT 1 FROM usage_events LIMIT 1");
    if (!probe.ok()) return not_found("catalog " + catalog_dir + " has no usage records yet");
    impl->has_request_id = Impl::column_exists(impl->rdb, "request_id");
  }
  Impl* raw = impl.get();
  if (!read_only) raw->writer = std::thread([raw] { raw->run_writer(); });
  return std::unique_ptr<UsageLog>(new UsageLog(std::move(impl)));
}

Result<std::unique_ptr<UsageLog>> UsageLog::open_postgres(std::unique_ptr<Impl> impl,
                                                          const std::string& uri) {
  impl->pg = true;
  impl->options.commit_delay = std::chrono::milliseconds(0);  // record() waits for the commit
  if (!impl->read_only) {
    Result<Database> w = Database::connect(uri);
    if (!w.ok()) return w.status();
    impl->wdb = std::move(*w);
    // Under the catalog's writer lock, so replicas starting together do not race to create it.
    Status s = impl->wdb.begin_write();
    if (s.ok()) s = impl->wdb.exec_schema(kUsageSchema);
    if (s.ok()) s = impl->add_request_id_column(impl->wdb);
    if (s.ok()) s = impl->wdb.exec("COMMIT");
    if (!s.ok()) {
      (void)impl->wdb.exec("ROLLBACK");
      return s;
    }
    std::random_device rd;
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "%08x%08x", rd(), rd());
    impl->id_prefix = std::string(prefix) + "-";
  }
  Result<Database> r = Database::connect(uri);
  if (!r.ok()) return r.status();
  impl->rdb = std::move(*r);
  if (impl->read_only) {
    Result<Statement> probe = impl->rdb.prepare("SELECT 1 FROM usage_events LIMIT 1");
    Status st;
    if (!probe.ok() || (probe->step(&st), !st.ok())) {
      return not_found("catalog " + detail::redact_uri(uri) + " has no usage records yet");
    }
    impl->has_request_id = Impl::column_exists(impl->rdb, "request_id");
  }
  Impl* raw = impl.get();
  if (!raw->read_only) raw->writer = std::thread([raw] { raw->run_writer(); });
  return std::unique_ptr<UsageLog>(new UsageLog(std::move(impl)));
}

Status UsageLog::record(std::span<const UsageEvent> events) {
  if (events.empty()) return Status::Ok();
  Impl& m = *impl_;
  if (m.read_only) return failed_precondition("usage log opened read-only");
  // A stored event that is not UTF-8 would break every later listing (proto3 strings, JSON).
  for (const UsageEvent& e : events) {
    for (const std::string* text : {&e.work_id, &e.owner, &e.caller, &e.query_sha256, &e.reference,
                                    &e.event_id, &e.request_id}) {
      if (!is_valid_utf8(*text)) return invalid_argument("usage event: a text field is not valid UTF-8");
    }
    if (e.event_id.size() > 128) return invalid_argument("usage event: event_id over 128 bytes");
  }
  std::unique_lock<std::mutex> lk(m.mu);
  if (m.pg) {
    // Acknowledged once committed: the writer commits what waits as one batch, so concurrent
    // callers share a commit. A failed commit fails the callers waiting on it; their events stay
    // queued and are retried (the event id makes a retry insert nothing twice).
    for (const UsageEvent& e : events) m.pending.emplace_back(m.event_id_for(e), e);
    const uint64_t mine = (m.events_queued += events.size());
    const uint64_t failures_before = m.committed_seq;
    m.wake_writer.notify_one();
    m.committed.wait(lk, [&] {
      return m.events_committed >= mine ||
             (m.committed_seq > failures_before && !m.last_error.ok());
    });
    return m.events_committed >= mine ? Status::Ok() : m.last_error;
  }
  std::string lines;
  const size_t first = m.pending.size();
  for (const UsageEvent& e : events) {
    m.pending.emplace_back(m.event_id_for(e), e);
    lines += Impl::to_json(m.pending.back().first, e).dump() + "\n";
  }
  // One append under the lock: journal order is queue order, and a line is never interleaved.
  size_t done = 0;
  while (done < lines.size()) {
    const ssize_t n = ::write(m.journal_fd, lines.data() + done, lines.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      m.pending.resize(first);
      return io_error("cannot append to " + m.journal_path + ": " + std::strerror(errno));
    }
    done += size_t(n);
  }
  // The writer waits for the first event of a batch and for a full batch; other events need no
  // wake-up (each would cost it a futex round trip).
  if (first == 0 || (first < Impl::kBatchEvents && m.pending.size() >= Impl::kBatchEvents)) {
    m.wake_writer.notify_one();
  }
  // On disk before acknowledged. Callers that appended while another's fdatasync ran share the
  // next one, so concurrent matches cost about one sync per round, not one each.
  const uint64_t mine = ++m.appended;
  while (m.synced < mine) {
    if (m.syncing) {
      m.sync_done.wait(lk);
      continue;
    }
    m.syncing = true;
    const uint64_t upto = m.appended;
    const int fd = m.journal_fd;
    lk.unlock();
    const int rc = m.options.sync_journal ? m.options.sync_journal(fd) : ::fdatasync(fd);
    const int err = errno;
    lk.lock();
    m.syncing = false;
    m.sync_done.notify_all();
    // The events stay queued for the database; only their acknowledgement fails.
    if (rc != 0) return io_error("cannot sync " + m.journal_path + ": " + std::strerror(err));
    m.synced = std::max(m.synced, upto);
  }
  return m.last_error;
}

void UsageLog::flush() {
  Impl& m = *impl_;
  if (m.read_only) return;
  std::unique_lock<std::mutex> lk(m.mu);
  // Nothing waiting and no batch being written: everything is in the database already.
  if (m.pending.empty() && m.committed_seq == m.queued_seq) return;
  // The batch being written, or the next one when events wait.
  const uint64_t target = m.pending.empty() ? m.queued_seq : m.queued_seq + 1;
  m.flush_requested = true;
  m.wake_writer.notify_one();
  // Done when everything is in the database, or when the attempt failed (the events wait for
  // the next retry; record() reports the error).
  m.committed.wait(lk, [&] { return m.committed_seq >= target && (m.pending.empty() || !m.last_error.ok()); });
}

namespace {

// A listing cursor: "u1.<time_ms>.<pk>", the last event a page ended on.
std::string usage_cursor(int64_t time_ms, int64_t pk) {
  return "u1." + std::to_string(time_ms) + "." + std::to_string(pk);
}

bool parse_usage_cursor(const std::string& text, int64_t* time_ms, int64_t* pk) {
  if (text.rfind("u1.", 0) != 0) return false;
  const size_t dot = text.find('.', 3);
  if (dot == std::string::npos) return false;
  auto number = [](const std::string& digits, int64_t* out) {
    if (digits.empty() || digits.size() > 18) return false;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
    }
    *out = std::stoll(digits);
    return true;
  };
  return number(text.substr(3, dot - 3), time_ms) && number(text.substr(dot + 1), pk);
}

}  // namespace

Status UsageLog::list(const UsageFilter& f, const std::function<bool(const UsageEvent&)>& fn) const {
  int64_t after_time = 0, after_pk = 0;
  if (!f.after.empty() && !parse_usage_cursor(f.after, &after_time, &after_pk)) {
    return invalid_argument("page_token: not a cursor this listing gave ('" +
                            f.after.substr(0, 64) + "')");
  }
  std::lock_guard<std::mutex> lk(impl_->rdb_mu);
  std::string sql = std::string(
      "SELECT time_ms, work_id, owner, decision, purpose, caller, query_sha256, reference, "
      "distance, event_id, ") + (impl_->has_request_id ? "request_id" : "''") +
      ", pk FROM usage_events WHERE time_ms >= ?";
  if (f.until_ms > 0) sql += " AND time_ms < ?";
  if (!f.work_id.empty()) sql += " AND work_id = ?";
  if (!f.owner.empty()) sql += " AND owner = ?";
  if (f.decision) sql += " AND decision = ?";
  // Past the cursor in the listing's order: (time, pk) after or before the cursor's.
  const char* past = f.newest_first ? "<" : ">";
  if (!f.after.empty()) {
    sql += std::string(" AND (time_ms ") + past + " ? OR (time_ms = ? AND pk " + past + " ?))";
  }
  sql += f.newest_first ? " ORDER BY time_ms DESC, pk DESC" : " ORDER BY time_ms, pk";
  if (f.limit >= 0) sql += " LIMIT " + std::to_string(f.limit);
  Result<Statement> s = impl_->rdb.prepare(sql);
  if (!s.ok()) return s.status();
  int i = 1;
  s->bind(i++, f.since_ms);
  if (f.until_ms > 0) s->bind(i++, f.until_ms);
  if (!f.work_id.empty()) s->bind(i++, f.work_id);
  if (!f.owner.empty()) s->bind(i++, f.owner);
  if (f.decision) s->bind(i++, std::string(decision_name(*f.decision)));
  if (!f.after.empty()) {
    s->bind(i, after_time).bind(i + 1, after_time).bind(i + 2, after_pk);
    i += 3;
  }
  Status st;
  while (s->step(&st)) {
    UsageEvent e;
    e.time_ms = s->int64(0);
    e.work_id = s->text(1);
    e.owner = s->text(2);
    e.decision = s->text(3) == "allow" ? MatchDecision::kAllow : MatchDecision::kFlag;
    Result<Purpose> p = parse_purpose(s->text(4));
    e.purpose = p.ok() ? *p : Purpose::kAnyUse;
    e.caller = s->text(5);
    e.query_sha256 = s->text(6);
    e.reference = s->text(7);
    e.distance = int(s->int64(8));
    e.event_id = s->text(9);
    e.request_id = s->text(10);
    e.cursor = usage_cursor(e.time_ms, s->int64(11));
    if (!fn(e)) break;
  }
  return st;
}

Result<std::vector<UsageTotal>> UsageLog::totals() const {
  std::lock_guard<std::mutex> lk(impl_->rdb_mu);
  Result<Statement> s = impl_->rdb.prepare(
      "SELECT owner, work_id, decision, COUNT(*) FROM usage_events GROUP BY owner, work_id, decision "
      "ORDER BY owner, work_id, decision");
  if (!s.ok()) return s.status();
  std::vector<UsageTotal> out;
  Status st;
  while (s->step(&st)) out.push_back({s->text(0), s->text(1), s->text(2), s->int64(3)});
  if (!st.ok()) return st;
  return out;
}

int64_t usage_time_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string usage_event_id(const std::string& caller, const std::string& idempotency_key,
                           const std::string& work_id) {
  if (idempotency_key.empty()) return "";
  // Length-prefixed parts, so no two (caller, key, work) triples share a digest input.
  std::string in;
  for (const std::string* part : {&caller, &idempotency_key, &work_id}) {
    in += std::to_string(part->size()) + ":" + *part;
  }
  const Sha256 d = sha256_of(std::span(reinterpret_cast<const uint8_t*>(in.data()), in.size()));
  return "k-" + to_hex(d);
}

std::string usage_digest_hex(const Sha256& digest) {
  const bool known = std::any_of(digest.begin(), digest.end(), [](uint8_t b) { return b != 0; });
  return known ? to_hex(digest) : "";
}

Result<int64_t> parse_time(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  const char* end = nullptr;
  if (text.size() == 10) {
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  } else {
    end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end && *end == '.') {
      ms = std::atoi(end + 1);
      ++end;
      while (*end >= '0' && *end <= '9') ++end;
    }
    if (end && *end == 'Z') ++end;
  }
  if (!end || *end != '\0') {
    return invalid_argument("cannot read time '" + text + "' (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
  }
  return int64_t(timegm(&tm)) * 1000 + ms;
}

}  // namespace imprint
