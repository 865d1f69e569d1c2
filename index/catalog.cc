// Catalog: opening, the SQLite store, registration and removal, and keeping the index in step.
#include "catalog.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string_view>

#include "catalog_impl.h"
#include "text.h"

namespace imprint {
namespace fs = std::filesystem;
using detail::Database;
using detail::Statement;

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS works(
  pk INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '',
  media TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  registered_at_ms INTEGER NOT NULL,
  sha256 BLOB,
  width INTEGER NOT NULL DEFAULT 0,
  height INTEGER NOT NULL DEFAULT 0,
  licence TEXT NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS works_sha256 ON works(sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX IF NOT EXISTS works_owner ON works(owner);
CREATE TABLE IF NOT EXISTS fingerprints(
  pk INTEGER PRIMARY KEY AUTOINCREMENT,
  work_pk INTEGER NOT NULL REFERENCES works(pk) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  data BLOB NOT NULL,
  quality INTEGER NOT NULL DEFAULT 0,
  t_ms INTEGER NOT NULL DEFAULT -1);
CREATE INDEX IF NOT EXISTS fingerprints_work ON fingerprints(work_pk);
CREATE INDEX IF NOT EXISTS fingerprints_kind ON fingerprints(kind, pk);
CREATE TABLE IF NOT EXISTS removed_fingerprints(
  pk INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  generation INTEGER NOT NULL);
)sql";

// On PostgreSQL (Database::exec_schema translates the types), removals also name their work, so a
// replica following the catalog can drop a removed work's local features and region hashes
// (catalog_follow.cc).
constexpr const char* kPostgresSchemaExtra = R"sql(
ALTER TABLE removed_fingerprints ADD COLUMN IF NOT EXISTS work_pk BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS removed_fingerprints_generation ON removed_fingerprints(generation);
)sql";

// Whether `table` has `column` (a statement naming it prepares and runs).
bool column_exists(Database& db, const std::string& table, const std::string& column) {
  Result<Statement> s = db.prepare("SELECT " + column + " FROM " + table + " LIMIT 0");
  if (!s.ok()) return false;
  Status st;
  (void)s->step(&st);
  return st.ok();
}

// Tombstones for a work's fingerprints, at a generation: (generation, work pk).
std::string tombstone_sql(const Database& db) {
  return db.postgres() ? "INSERT INTO removed_fingerprints(pk, kind, generation, work_pk) "
                         "SELECT pk, kind, ?, work_pk FROM fingerprints WHERE work_pk = ? "
                         "ON CONFLICT(pk) DO UPDATE SET generation = excluded.generation"
                       : "INSERT INTO removed_fingerprints(pk, kind, generation) "
                         "SELECT pk, kind, ? FROM fingerprints WHERE work_pk = ? "
                         "ON CONFLICT(pk) DO UPDATE SET generation = excluded.generation";
}

// Sets the catalog's generation inside a write transaction. On PostgreSQL it also queues the
// notification that wakes every replica's follower once the transaction commits (none if it
// rolls back).
Status write_generation(Database& db, int64_t gen) {
  Status s =
      db.exec("UPDATE meta SET value = '" + std::to_string(gen) + "' WHERE key = 'generation'");
  if (s.ok() && db.postgres()) s = db.exec(std::string("NOTIFY ") + Catalog::Impl::kFollowChannel);
  return s;
}

std::string random_id() {
  std::random_device rd;
  std::string s;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) s += kHex[rd() & 15];
  return s;
}

Status configure(Database& db, bool sync_commits) {
  if (db.postgres()) return Status::Ok();  // durability is the server's (synchronous_commit)
  IMPRINT_RETURN_IF_ERROR(db.exec("PRAGMA foreign_keys=ON"));
  return db.exec(std::string("PRAGMA synchronous=") + (sync_commits ? "FULL" : "NORMAL"));
}

Result<std::string> meta_value(Database& db, const std::string& key) {
  Result<Statement> s = db.prepare("SELECT value FROM meta WHERE key = ?");
  if (!s.ok()) return s.status();
  s->bind(1, key);
  Status st;
  if (!s->step(&st)) return st.ok() ? not_found("meta key " + key) : st;
  return s->text(0);
}

// Takes the writer lock; the file records the holder's pid for the error message.
Result<int> take_writer_lock(const std::string& dir) {
  const std::string path = dir + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string holder = n > 0 ? std::string(buf, size_t(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return failed_precondition("catalog " + dir + " is open for writing by another process (pid " +
                               holder + "); one writer per catalog");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is only for messages; the lock itself holds.
  }
  return fd;
}

// A 200 px JPEG at quality 80 is 5-20 KB; this bounds what a caller-made preview can store.
constexpr size_t kMaxPreviewBytes = 64 << 10;

Status validate(const WorkInput& in) {
  const std::string& id = in.work.id;
  Status checked = check_work_id(id);
  if (!checked.ok()) return invalid_argument("work id: " + checked.message());
  checked = check_work_fields(in.work);
  if (!checked.ok()) return invalid_argument("work " + id + ": " + checked.message());
  for (const WorkFingerprint& f : in.fingerprints) {
    if ((f.kind == kPdqKind || f.kind == kCropPdqKind) && f.data.size() != 32) {
      return invalid_argument("work " + id + ": a PDQ fingerprint must be 32 bytes");
    }
    if (is_video_frame_kind(f.kind) && f.data.size() != 32) {
      return invalid_argument("work " + id + ": a video frame fingerprint must be 32 bytes");
    }
    if (f.kind == kLocalFeaturesKind && !decode_local_features(f.data).ok()) {
      return invalid_argument("work " + id + ": local features blob is malformed");
    }
    if (f.kind == kPreviewKind && f.data.size() > kMaxPreviewBytes) {
      return invalid_argument("work " + id + ": preview is over " + std::to_string(kMaxPreviewBytes) + " bytes");
    }
    if (f.quality < 0 || f.quality > 100) {
      return invalid_argument("work " + id + ": fingerprint quality must be 0..100");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<int64_t> stored_generation(detail::Database& db) {
  Result<std::string> gen = meta_value(db, "generation");
  if (gen.status().code() == StatusCode::kNotFound) return corruption("catalog has no generation");
  if (!gen.ok()) return gen.status();
  return int64_t(std::stoll(*gen));
}

Status check_work_id(const std::string& id) {
  if (id.find_first_not_of(" \t\r\n") == std::string::npos)
    return invalid_argument("empty or blank");
  if (id.size() > WorkLimits::kId) {
    return invalid_argument(std::to_string(id.size()) + " bytes, over the limit of " +
                            std::to_string(WorkLimits::kId));
  }
  if (!is_valid_utf8(id)) return invalid_argument("not valid UTF-8");
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) return invalid_argument("contains a control character");
  }
  return Status::Ok();
}

Status check_text_field(const char* field, const std::string& value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return invalid_argument(std::string(field) + ": " + std::to_string(value.size()) +
                            " bytes, over the limit of " + std::to_string(max_bytes));
  }
  if (!is_valid_utf8(value)) return invalid_argument(std::string(field) + ": not valid UTF-8");
  return Status::Ok();
}

Status check_work_fields(const Work& w) {
  Status st = check_text_field("title", w.title, WorkLimits::kTitle);
  if (st.ok()) st = check_text_field("owner", w.owner, WorkLimits::kOwner);
  if (st.ok()) st = check_text_field("source", w.source, WorkLimits::kSource);
  if (!st.ok()) return st;
  if (w.media != "image" && w.media != "video") {
    return invalid_argument("media: must be image or video");
  }
  if (w.metadata.size() > WorkLimits::kMetadataEntries) {
    return invalid_argument("metadata: " + std::to_string(w.metadata.size()) +
                            " entries, over the limit of " +
                            std::to_string(WorkLimits::kMetadataEntries));
  }
  for (const auto& [key, value] : w.metadata) {
    if (key.empty()) return invalid_argument("metadata: a key is empty");
    st = check_text_field("metadata key", key, WorkLimits::kMetadataKey);
    if (st.ok()) st = check_text_field("metadata value", value, WorkLimits::kMetadataValue);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

std::string work_column_list(std::string_view table, bool has_metadata) {
  std::string out;
  for (const char* c : kWorkColumns) {
    if (!out.empty()) out += ", ";
    if (!has_metadata && std::string_view(c) == "metadata") {
      out += "'{}'";
      continue;
    }
    if (!table.empty()) out.append(table).append(".");
    out += c;
  }
  return out;
}

WorkFingerprint WorkFingerprint::pdq(const PdqHash& h, int quality) {
  WorkFingerprint f;
  f.kind = kPdqKind;
  const auto b = h.to_bytes();
  f.data.assign(b.begin(), b.end());
  f.quality = quality;
  return f;
}

// The work's preview: its pixels scaled to fit kPreviewSide, JPEG quality 80.
static WorkFingerprint preview_of(const Image& image) {
  cv::Mat m(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
            const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat bgr;
  if (image.channels == 3) {
    cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = m;
  }
  const double scale = double(kPreviewSide) / std::max(bgr.cols, bgr.rows);
  if (scale < 1) cv::resize(bgr, bgr, cv::Size(), scale, scale, cv::INTER_AREA);
  WorkFingerprint f;
  f.kind = kPreviewKind;
  cv::imencode(".jpg", bgr, f.data, {cv::IMWRITE_JPEG_QUALITY, 80});
  return f;
}

Result<WorkInput> work_input_from_image(std::span<const uint8_t> bytes, const DecodeOptions& decode) {
  HashOptions o;
  o.mode = HashMode::kExact;
  o.decode = decode;
  // One decode for both fingerprints; the same steps as fingerprint_image in exact mode.
  ImageInfo info;
  Result<Image> image = decode_image(bytes, decode, &info);
  if (!image.ok()) return image.status();
  const ImageFingerprint fp = fingerprint_decoded(*image, o);
  WorkInput in;
  in.work.media = "image";
  in.work.sha256 = sha256_of(bytes);
  in.work.width = info.width;
  in.work.height = info.height;
  in.fingerprints.push_back(WorkFingerprint::pdq(fp.pdq.hash, fp.pdq.quality));
  in.fingerprints.push_back(
      local_features_fingerprint(extract_local_features(*image, work_feature_options())));
  // Every crop, weak ones too: a soft work's crops are searched only by verified region matches.
  for (const RegionHash& r : hash_regions(*image, aspect_crops(image->width, image->height))) {
    WorkFingerprint f = WorkFingerprint::pdq(r.hash, r.quality);
    f.kind = kCropPdqKind;
    in.fingerprints.push_back(std::move(f));
  }
  WorkFingerprint preview = preview_of(*image);
  if (!preview.data.empty() && preview.data.size() <= kMaxPreviewBytes) in.fingerprints.push_back(std::move(preview));
  return in;
}

int64_t Catalog::Impl::now_ms() const {
  if (options.now_ms) return options.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<Work> Catalog::Impl::read_work(Statement& s) const {
  Work w;
  w.pk = s.int64(0);
  w.id = s.text(1);
  w.title = s.text(2);
  w.owner = s.text(3);
  w.media = s.text(4);
  w.source = s.text(5);
  w.registered_at_ms = s.int64(6);
  if (!s.is_null(7) && s.blob_size(7) == 32) {
    Sha256 d;
    std::memcpy(d.data(), s.blob_data(7), 32);
    w.sha256 = d;
  }
  w.width = int(s.int64(8));
  w.height = int(s.int64(9));
  Result<LicencePolicy> lic = LicencePolicy::from_json(s.text(10));
  if (!lic.ok()) return corruption("work " + w.id + ": stored licence unreadable");
  w.licence = *lic;
  const nlohmann::json meta = nlohmann::json::parse(s.text(11), nullptr, false);
  if (!meta.is_object()) return corruption("work " + w.id + ": stored metadata unreadable");
  for (const auto& [key, value] : meta.items()) {
    if (!value.is_string()) return corruption("work " + w.id + ": stored metadata unreadable");
    w.metadata[key] = value.get<std::string>();
  }
  return w;
}

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Catalog::~Catalog() {
  if (!impl_) return;
  impl_->stop_follower();
  if (!impl_->options.read_only && impl_->index_dirty) (void)save_index();
  if (impl_->lock_fd >= 0) ::close(impl_->lock_fd);
}

Status Catalog::Impl::create_schema(Database& db) {
  // Under the writer's lock, so that replicas starting together do not race to create tables.
  IMPRINT_RETURN_IF_ERROR(db.begin_write());
  Status s = db.exec_schema(kSchema);
  if (s.ok() && db.postgres()) s = db.exec(kPostgresSchemaExtra);
  // Catalogs made before works had metadata gain the column (an empty object for old works).
  if (s.ok() && !column_exists(db, "works", "metadata")) {
    s = db.exec("ALTER TABLE works ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'");
  }
  if (s.ok()) {
    s = db.exec("INSERT INTO meta(key, value) VALUES ('schema_version', '" +
                std::to_string(kSchemaVersion) + "'), ('generation', '0'), ('catalog_id', '" +
                random_id() + "') ON CONFLICT DO NOTHING");
  }
  if (s.ok()) s = db.exec("COMMIT");
  if (!s.ok()) (void)db.exec("ROLLBACK");
  return s;
}

Status Catalog::Impl::check_schema(const std::string& where) {
  Result<std::string> version = meta_value(rdb, "schema_version");
  if (!version.ok()) {
    return corruption("catalog " + where + " has no schema version: " + version.status().message());
  }
  if (*version != std::to_string(kSchemaVersion)) {
    return unsupported("catalog " + where + " has schema version " + *version +
                       "; this imprint reads " + std::to_string(kSchemaVersion));
  }
  Result<std::string> id = meta_value(rdb, "catalog_id");
  if (!id.ok()) return id.status();
  catalog_id = *id;
  // A catalog opened read-only that predates work metadata reads every work's as empty.
  const bool has_metadata = column_exists(rdb, "works", "metadata");
  work_columns = work_column_list("", has_metadata);
  joined_work_columns = work_column_list("w", has_metadata);
  return Status::Ok();
}

Result<std::unique_ptr<Catalog>> Catalog::open(const CatalogOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  const std::string& dir = options.dir;
  if (dir.empty()) return invalid_argument("no catalog directory given (--catalog or IMPRINT_CATALOG)");
  if (detail::is_postgres_uri(dir)) {
    IMPRINT_RETURN_IF_ERROR(impl->open_postgres());
    return std::unique_ptr<Catalog>(new Catalog(std::move(impl)));
  }
  impl->db_path = dir + "/catalog.sqlite";
  impl->index_path = dir + "/pdq.index";
  std::error_code ec;
  if (options.read_only) {
    if (!fs::exists(impl->db_path, ec)) return not_found("no catalog at " + dir);
  } else {
    fs::create_directories(dir, ec);
    if (ec) return io_error("cannot create catalog directory " + dir + ": " + ec.message());
    Result<int> lock = take_writer_lock(dir);
    if (!lock.ok()) return lock.status();
    impl->lock_fd = *lock;
  }

  if (!options.read_only) {
    Result<Database> w = Database::open(impl->db_path, false);
    if (!w.ok()) return w.status();
    impl->wdb = std::move(*w);
    IMPRINT_RETURN_IF_ERROR(impl->wdb.exec("PRAGMA journal_mode=WAL"));
    IMPRINT_RETURN_IF_ERROR(configure(impl->wdb, options.sync_commits));
    IMPRINT_RETURN_IF_ERROR(impl->create_schema(impl->wdb));
  }
  Result<Database> r = Database::open(impl->db_path, options.read_only);
  if (!r.ok()) return r.status();
  impl->rdb = std::move(*r);
  IMPRINT_RETURN_IF_ERROR(configure(impl->rdb, options.sync_commits));
  IMPRINT_RETURN_IF_ERROR(impl->check_schema(dir));
  IMPRINT_RETURN_IF_ERROR(impl->load_or_rebuild_index());
  IMPRINT_RETURN_IF_ERROR(impl->load_video_index());
  if (options.second_stage) IMPRINT_RETURN_IF_ERROR(impl->load_feature_index());
  return std::unique_ptr<Catalog>(new Catalog(std::move(impl)));
}

Status Catalog::Impl::add_to_index(std::span<const PdqHash> hashes, std::span<const int64_t> fp_pks,
                                   std::span<const int64_t> work_pks) {
  pdq->add(hashes, fp_pks);
  // With kAuto the structure follows the catalog's size: a catalog that grows past the flat
  // range while open moves to the structure its new size calls for.
  if (options.index == IndexKind::kAuto && choose_index_kind(pdq->size()) != pdq->kind()) {
    auto grown = make_index(choose_index_kind(pdq->size()));
    std::vector<PdqHash> all_hashes;
    std::vector<int64_t> all_labels;
    pdq->for_each([&](const PdqHash& h, int64_t label) {
      all_hashes.push_back(h);
      all_labels.push_back(label);
    });
    grown->add(all_hashes, all_labels);
    pdq = std::move(grown);
  }
  for (size_t i = 0; i < fp_pks.size(); ++i) {
    if (size_t(fp_pks[i]) >= work_of.size()) work_of.resize(size_t(fp_pks[i]) * 3 / 2 + 16, 0);
    work_of[size_t(fp_pks[i])] = work_pks[i];
    max_fp_pk = std::max(max_fp_pk, fp_pks[i]);
  }
  return Status::Ok();
}

Status Catalog::Impl::load_or_rebuild_index() {
  std::lock_guard<std::mutex> lk(rdb_mu);
  // Read the generation and the catch-up rows in one read transaction, so they agree.
  detail::ReadTransaction read(rdb);
  IMPRINT_RETURN_IF_ERROR(read.status());
  Result<int64_t> db_generation = stored_generation(rdb);
  if (!db_generation.ok()) return db_generation.status();

  Result<Statement> count = rdb.prepare(
      "SELECT COUNT(*) FROM fingerprints WHERE kind = 'pdq' AND quality >= " +
      std::to_string(kPdqMinUsefulQuality));
  if (!count.ok()) return count.status();
  Status st;
  count->step(&st);
  const int64_t n = count->int64(0);
  const IndexKind kind = options.index == IndexKind::kAuto ? choose_index_kind(size_t(n)) : options.index;
  pdq = make_index(kind);
  work_of.clear();
  max_fp_pk = 0;

  int64_t since_generation = -1, since_pk = 0;
  Result<IndexFileContents> file = read_index_file(index_path);
  if (file.ok() && file->catalog_id == catalog_id && file->generation <= *db_generation) {
    IMPRINT_RETURN_IF_ERROR(add_to_index(file->hashes, file->fp_pks, file->work_pks));
    since_generation = file->generation;
    since_pk = file->max_fp_pk;
    max_fp_pk = std::max(max_fp_pk, since_pk);
    origin = file->generation == *db_generation ? "loaded" : "caught-up";
  } else {
    origin = "rebuilt";
  }
  if (since_generation >= 0) {
    // Removals since the file was written.
    Result<Statement> rm = rdb.prepare(
        "SELECT pk FROM removed_fingerprints WHERE kind = 'pdq' AND generation > ?");
    if (!rm.ok()) return rm.status();
    rm->bind(1, since_generation);
    std::vector<int64_t> gone;
    while (rm->step(&st)) gone.push_back(rm->int64(0));
    IMPRINT_RETURN_IF_ERROR(st);
    pdq->remove(gone);
  }
  // Fingerprints added since (everything, when rebuilding).
  Result<Statement> add = rdb.prepare(
      "SELECT pk, work_pk, data FROM fingerprints WHERE kind = 'pdq' AND quality >= ? AND pk > ? "
      "ORDER BY pk");
  if (!add.ok()) return add.status();
  add->bind(1, int64_t(kPdqMinUsefulQuality)).bind(2, since_pk);
  std::vector<PdqHash> hashes;
  std::vector<int64_t> fps, works;
  auto flush = [&] {
    Status s = add_to_index(hashes, fps, works);
    hashes.clear();
    fps.clear();
    works.clear();
    return s;
  };
  while (add->step(&st)) {
    if (add->blob_size(2) != 32) continue;
    hashes.push_back(PdqHash::from_bytes(add->blob_data(2)));
    fps.push_back(add->int64(0));
    works.push_back(add->int64(1));
    if (hashes.size() == 65536) IMPRINT_RETURN_IF_ERROR(flush());
  }
  IMPRINT_RETURN_IF_ERROR(st);
  IMPRINT_RETURN_IF_ERROR(flush());
  generation = *db_generation;
  index_dirty = origin != "loaded";
  return Status::Ok();
}

Status Catalog::save_index() {
  Impl& m = *impl_;
  if (m.options.read_only) return failed_precondition("catalog opened read-only");
  // Replicas load from the database (catalog_follow.cc), or from their snapshot and catch up.
  if (m.pg) return m.options.snapshot_dir.empty() ? Status::Ok() : m.save_replica_snapshot();
  IndexFileContents c;
  {
    std::shared_lock<std::shared_mutex> lk(m.index_mu);
    c.catalog_id = m.catalog_id;
    c.generation = m.generation;
    c.max_fp_pk = m.max_fp_pk;
    m.pdq->for_each([&](const PdqHash& h, int64_t label) {
      c.hashes.push_back(h);
      c.fp_pks.push_back(label);
      c.work_pks.push_back(m.work_of[size_t(label)]);
    });
  }
  IMPRINT_RETURN_IF_ERROR(write_index_file(m.index_path, c));
  IMPRINT_RETURN_IF_ERROR(m.save_video_index());
  IMPRINT_RETURN_IF_ERROR(m.save_feature_index());
  m.index_dirty = false;
  return Status::Ok();
}

std::vector<Result<Work>> Catalog::register_works(std::span<const WorkInput> inputs, bool replace) {
  Impl& m = *impl_;
  std::vector<Result<Work>> results;
  if (m.options.read_only) {
    for (size_t i = 0; i < inputs.size(); ++i) results.emplace_back(failed_precondition("catalog opened read-only"));
    return results;
  }
  std::lock_guard<std::mutex> lk(m.wdb_mu);
  Database& db = m.wdb;
  auto fail_all = [&](const Status& s) {
    results.clear();
    for (size_t i = 0; i < inputs.size(); ++i) results.emplace_back(s);
    return results;
  };
  Status st = db.begin_write();
  if (!st.ok()) {
    (void)db.exec("ROLLBACK");
    return fail_all(st);
  }
  Result<std::string> gen_text = meta_value(db, "generation");
  if (!gen_text.ok()) {
    (void)db.exec("ROLLBACK");
    return fail_all(gen_text.status());
  }
  const int64_t gen = std::stoll(*gen_text) + 1;
  const int64_t now = m.now_ms();

  Result<Statement> find = db.prepare("SELECT pk FROM works WHERE id = ?");
  Result<Statement> tomb = db.prepare(tombstone_sql(db));
  Result<Statement> del = db.prepare("DELETE FROM works WHERE pk = ?");
  Result<Statement> ins = db.prepare(
      "INSERT INTO works(id, title, owner, media, source, registered_at_ms, sha256, width, height, "
      "licence, metadata) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING pk");
  Result<Statement> ins_fp = db.prepare(
      "INSERT INTO fingerprints(work_pk, kind, data, quality, t_ms) VALUES (?,?,?,?,?) RETURNING "
      "pk");
  for (auto* s : {&find, &tomb, &del, &ins, &ins_fp}) {
    if (!s->ok()) {
      (void)db.exec("ROLLBACK");
      return fail_all(s->status());
    }
  }

  std::vector<int64_t> removed_labels;
  std::vector<PdqHash> new_hashes;
  std::vector<int64_t> new_fps, new_works;
  std::vector<int64_t> replaced_works;                          // second stage: features to drop
  std::vector<std::pair<int64_t, LocalFeatures>> new_features;  // and to add
  int64_t max_feature_fp = 0;  // highest local-features row this call wrote
  std::vector<PdqHash> new_crops;                               // and centre crops' hashes
  std::vector<int64_t> new_crop_works;
  std::vector<PdqHash> new_weak;                                // and weak whole or crop hashes
  std::vector<int64_t> new_weak_works;
  FrameIndexUpdate frame_update;                                // video frames
  size_t ok_count = 0;
  for (const WorkInput& in : inputs) {
    Status v = validate(in);
    if (!v.ok()) {
      results.emplace_back(v);
      continue;
    }
    (void)db.exec("SAVEPOINT one_work");
    auto undo = [&](const Status& s) {
      (void)db.exec("ROLLBACK TO one_work");
      (void)db.exec("RELEASE one_work");
      results.emplace_back(s);
    };
    find->bind(1, in.work.id);
    Status s;
    std::vector<int64_t> old_removed;
    int64_t replaced_pk = 0;
    if (find->step(&s)) {
      const int64_t old_pk = find->int64(0);
      replaced_pk = old_pk;
      find->reset();
      if (!replace) {
        undo(already_exists("work id '" + in.work.id + "' is already registered"));
        continue;
      }
      Result<Statement> olds = db.prepare("SELECT pk FROM fingerprints WHERE work_pk = ? AND kind = 'pdq'");
      if (olds.ok()) {
        olds->bind(1, old_pk);
        while (olds->step(&s)) old_removed.push_back(olds->int64(0));
      }
      tomb->bind(1, gen).bind(2, old_pk);
      s = tomb->run();
      if (s.ok()) {
        del->bind(1, old_pk);
        s = del->run();
      }
      if (!s.ok()) {
        undo(s);
        continue;
      }
    } else {
      find->reset();
      if (!s.ok()) {
        undo(s);
        continue;
      }
    }
    Work w = in.work;
    w.registered_at_ms = in.keep_registered_at && w.registered_at_ms > 0 ? w.registered_at_ms : now;
    ins->bind(1, w.id).bind(2, w.title).bind(3, w.owner).bind(4, w.media).bind(5, w.source);
    ins->bind(6, w.registered_at_ms);
    if (w.sha256) {
      ins->bind_blob(7, *w.sha256);
    } else {
      ins->bind_null(7);
    }
    ins->bind(8, int64_t(w.width)).bind(9, int64_t(w.height)).bind(10, w.licence.to_json());
    ins->bind(11, nlohmann::json(w.metadata).dump());
    Result<int64_t> work_pk = ins->insert_returning();
    if (!work_pk.ok()) {
      undo(work_pk.status());
      continue;
    }
    w.pk = *work_pk;
    std::vector<PdqHash> hashes;
    std::vector<int64_t> fps;
    FrameIndexUpdate frames;
    for (const WorkFingerprint& f : in.fingerprints) {
      ins_fp->bind(1, w.pk).bind(2, f.kind).bind_blob(3, f.data).bind(4, int64_t(f.quality)).bind(5, f.t_ms);
      Result<int64_t> fp_pk = ins_fp->insert_returning();
      if (!fp_pk.ok()) {
        s = fp_pk.status();
        break;
      }
      frames.add_if_frame(f, *fp_pk, w.pk);
      if (f.kind == kLocalFeaturesKind) max_feature_fp = std::max(max_feature_fp, *fp_pk);
      if (f.kind == kPdqKind && f.quality >= kPdqMinUsefulQuality) {
        hashes.push_back(PdqHash::from_bytes(f.data.data()));
        fps.push_back(*fp_pk);
      }
    }
    if (!s.ok()) {
      undo(s);
      continue;
    }
    (void)db.exec("RELEASE one_work");
    if (replaced_pk) frames.removed_works.push_back(replaced_pk);
    frame_update.append(frames);
    if (m.features) {
      if (replaced_pk) replaced_works.push_back(replaced_pk);
      for (const WorkFingerprint& f : in.fingerprints) {
        const RegionIndex to = region_index_for(f.kind, f.quality);
        if (to == RegionIndex::kCrops) {
          new_crops.push_back(PdqHash::from_bytes(f.data.data()));  // 32 bytes: validated
          new_crop_works.push_back(w.pk);
        } else if (to == RegionIndex::kWeak) {
          new_weak.push_back(PdqHash::from_bytes(f.data.data()));
          new_weak_works.push_back(w.pk);
        }
        if (f.kind != kLocalFeaturesKind) continue;
        Result<LocalFeatures> lf = decode_local_features(f.data);  // validated above
        if (lf.ok()) new_features.emplace_back(w.pk, std::move(*lf));
      }
    }
    removed_labels.insert(removed_labels.end(), old_removed.begin(), old_removed.end());
    for (size_t k = 0; k < hashes.size(); ++k) {
      new_hashes.push_back(hashes[k]);
      new_fps.push_back(fps[k]);
      new_works.push_back(w.pk);
    }
    results.emplace_back(std::move(w));
    ++ok_count;
  }
  if (ok_count == 0) {
    (void)db.exec("ROLLBACK");
    return results;
  }
  st = write_generation(db, gen);
  if (st.ok()) st = db.exec("COMMIT");
  if (!st.ok()) {
    (void)db.exec("ROLLBACK");
    return fail_all(st);
  }
  // Committed: now visible to matching. A replica applies what the database now holds since its
  // last catch-up, other writers' commits included, in commit order.
  if (m.pg) {
    (void)m.catch_up();  // on failure the follower catches up later; the commit stands
    return results;
  }
  std::unique_lock<std::shared_mutex> ilk(m.index_mu);
  m.pdq->remove(removed_labels);
  (void)m.add_to_index(new_hashes, new_fps, new_works);
  if (m.features) {
    for (int64_t pk : replaced_works) m.features->remove(pk);
    for (const auto& [pk, lf] : new_features) m.features->add(pk, lf);
    m.crops->remove(replaced_works);
    m.crops->add(new_crops, new_crop_works);
    m.weak_regions->remove(replaced_works);
    m.weak_regions->add(new_weak, new_weak_works);
    m.max_feature_fp_pk = std::max(m.max_feature_fp_pk, max_feature_fp);
  }
  if (m.video) m.video->apply(frame_update);
  m.generation = gen;
  m.index_dirty = true;
  return results;
}

Status Catalog::remove_work(const std::string& id) {
  Impl& m = *impl_;
  if (m.options.read_only) return failed_precondition("catalog opened read-only");
  std::lock_guard<std::mutex> lk(m.wdb_mu);
  Database& db = m.wdb;
  if (Status b = db.begin_write(); !b.ok()) {
    (void)db.exec("ROLLBACK");
    return b;
  }
  auto rollback = [&](const Status& s) {
    (void)db.exec("ROLLBACK");
    return s;
  };
  Result<Statement> find = db.prepare("SELECT pk FROM works WHERE id = ?");
  if (!find.ok()) return rollback(find.status());
  find->bind(1, id);
  Status s;
  if (!find->step(&s)) return rollback(s.ok() ? not_found("no work with id '" + id + "'") : s);
  const int64_t pk = find->int64(0);
  find->reset();
  Result<std::string> gen_text = meta_value(db, "generation");
  if (!gen_text.ok()) return rollback(gen_text.status());
  const int64_t gen = std::stoll(*gen_text) + 1;
  std::vector<int64_t> labels;
  Result<Statement> fps = db.prepare("SELECT pk FROM fingerprints WHERE work_pk = ? AND kind = 'pdq'");
  if (!fps.ok()) return rollback(fps.status());
  fps->bind(1, pk);
  while (fps->step(&s)) labels.push_back(fps->int64(0));
  if (!s.ok()) return rollback(s);
  Result<Statement> tomb = db.prepare(tombstone_sql(db));
  Result<Statement> del = db.prepare("DELETE FROM works WHERE pk = ?");
  if (!tomb.ok() || !del.ok()) return rollback(io_error("cannot prepare removal"));
  tomb->bind(1, gen).bind(2, pk);
  s = tomb->run();
  if (s.ok()) {
    del->bind(1, pk);
    s = del->run();
  }
  if (s.ok()) s = write_generation(db, gen);
  if (s.ok()) s = db.exec("COMMIT");
  if (!s.ok()) return rollback(s);
  if (m.pg) {
    (void)m.catch_up();
    return Status::Ok();
  }
  std::unique_lock<std::shared_mutex> ilk(m.index_mu);
  m.pdq->remove(labels);
  if (m.features) m.features->remove(pk);
  if (m.crops) m.crops->remove(std::vector<int64_t>{pk});
  if (m.weak_regions) m.weak_regions->remove(std::vector<int64_t>{pk});
  if (m.video) m.video->remove_work(pk);
  m.generation = gen;
  m.index_dirty = true;
  return Status::Ok();
}

Result<Work> Catalog::get_work(const std::string& id) const {
  std::lock_guard<std::mutex> lk(impl_->rdb_mu);
  Result<Statement> s =
      impl_->rdb.prepare("SELECT " + impl_->work_columns + " FROM works WHERE id = ?");
  if (!s.ok()) return s.status();
  s->bind(1, id);
  Status st;
  if (!s->step(&st)) return st.ok() ? not_found("no work with id '" + id + "'") : st;
  return impl_->read_work(*s);
}

Result<std::vector<uint8_t>> Catalog::preview(const std::string& id) const {
  std::lock_guard<std::mutex> lk(impl_->rdb_mu);
  Result<Statement> s = impl_->rdb.prepare(
      "SELECT f.data FROM fingerprints f JOIN works w ON w.pk = f.work_pk WHERE w.id = ? AND f.kind = ? "
      "LIMIT 1");
  if (!s.ok()) return s.status();
  s->bind(1, id).bind(2, std::string(kPreviewKind));
  Status st;
  if (!s->step(&st)) return st.ok() ? not_found("no preview of work '" + id + "'") : st;
  return s->blob(0);
}

Result<std::vector<WorkFingerprint>> Catalog::work_fingerprints(const std::string& id,
                                                               const std::string& kind) const {
  std::lock_guard<std::mutex> lk(impl_->rdb_mu);
  Result<Statement> s = impl_->rdb.prepare(
      "SELECT f.kind, f.data, f.quality, f.t_ms FROM fingerprints f JOIN works w ON w.pk = "
      "f.work_pk WHERE w.id = ? AND f.kind = ? ORDER BY f.pk");
  if (!s.ok()) return s.status();
  s->bind(1, id).bind(2, kind);
  std::vector<WorkFingerprint> out;
  Status st;
  while (s->step(&st)) {
    WorkFingerprint f;
    f.kind = s->text(0);
    f.data = s->blob(1);
    f.quality = int(s->int64(2));
    f.t_ms = s->int64(3);
    out.push_back(std::move(f));
  }
  IMPRINT_RETURN_IF_ERROR(st);
  return out;
}

Result<Statement*> Catalog::Impl::cached_read(const std::string& sql) const {
  auto it = rdb_cache.find(sql);
  if (it == rdb_cache.end()) {
    Result<Statement> s = const_cast<detail::Database&>(rdb).prepare(sql);
    if (!s.ok()) return s.status();
    it = rdb_cache.emplace(sql, std::move(*s)).first;
  }
  it->second.reset();
  return &it->second;
}

Result<Work> Catalog::get_work_by_pk(int64_t pk) const {
  if (impl_->pg) {
    {
      std::lock_guard<std::mutex> lk(impl_->work_cache_mu);
      auto it = impl_->work_cache.find(pk);
      if (it != impl_->work_cache.end()) return it->second;
    }
    Result<Work> w = read_work_by_pk(pk);
    if (w.ok()) {
      std::lock_guard<std::mutex> lk(impl_->work_cache_mu);
      if (impl_->work_cache.size() >= Impl::kWorkCacheSize) impl_->work_cache.clear();
      impl_->work_cache.emplace(pk, *w);
    }
    return w;
  }
  return read_work_by_pk(pk);
}

Result<Work> Catalog::read_work_by_pk(int64_t pk) const {
  std::lock_guard<std::mutex> lk(impl_->rdb_mu);
  Result<Statement*> cached =
      impl_->cached_read("SELECT " + impl_->work_columns + " FROM works WHERE pk = ?");
  if (!cached.ok()) return cached.status();
  CachedRead s(*cached);
  s->bind(1, pk);
  Status st;
  if (!s->step(&st)) return st.ok() ? not_found("no work #" + std::to_string(pk)) : st;
  return impl_->read_work(*s);
}

Result<bool> Catalog::holds_registration(const WorkInput& in) const {
  Result<Work> w = get_work(in.work.id);
  if (!w.ok()) return w.status();
  if (w->title != in.work.title || w->owner != in.work.owner || w->media != in.work.media ||
      w->source != in.work.source || !(w->licence == in.work.licence)) {
    return false;
  }
  if (in.work.sha256 && w->sha256 != in.work.sha256) return false;
  if (w->metadata != in.work.metadata) return false;
  // The hashes that say what the work is: an image's PDQ hashes, a video's frame hashes with
  // their instants (the rest is derived from the same content).
  for (const char* kind : {"pdq", kVideoFrameKind}) {
    Result<std::vector<WorkFingerprint>> stored = work_fingerprints(in.work.id, kind);
    if (!stored.ok()) return stored.status();
    size_t k = 0;
    for (const WorkFingerprint& f : in.fingerprints) {
      if (f.kind != kind) continue;
      if (k >= stored->size() || (*stored)[k].data != f.data || (*stored)[k].quality != f.quality ||
          (*stored)[k].t_ms != f.t_ms) {
        return false;
      }
      ++k;
    }
    if (k != stored->size()) return false;
  }
  return true;
}

Status Catalog::list_works(const WorkFilter& filter, const std::function<bool(const Work&)>& fn) const {
  // A page at a time is copied under the read lock and handed to fn without it: fn may block (a
  // gRPC stream whose client stopped reading) and must not hold up matching and lookups.
  constexpr int64_t kPage = 256;
  // Reverse order starts below every row id when no cursor is given.
  int64_t after_pk = filter.after_pk > 0 ? filter.after_pk
                                         : (filter.newest_first ? std::numeric_limits<int64_t>::max() : 0);
  int64_t left = filter.limit;
  while (left != 0) {
    const int64_t want = left < 0 ? kPage : std::min(kPage, left);
    std::vector<Work> page;
    {
      std::lock_guard<std::mutex> lk(impl_->rdb_mu);
      std::string sql = "SELECT " + impl_->work_columns + " FROM works WHERE pk " +
                        (filter.newest_first ? "<" : ">") + " ?";
      if (!filter.owner.empty()) sql += " AND owner = ?";
      sql += filter.newest_first ? " ORDER BY pk DESC" : " ORDER BY pk";
      sql += " LIMIT " + std::to_string(want);
      Result<Statement> s = impl_->rdb.prepare(sql);
      if (!s.ok()) return s.status();
      s->bind(1, after_pk);
      if (!filter.owner.empty()) s->bind(2, filter.owner);
      Status st;
      while (s->step(&st)) {
        Result<Work> w = impl_->read_work(*s);
        if (!w.ok()) return w.status();
        page.push_back(std::move(*w));
      }
      if (!st.ok()) return st;
    }
    for (const Work& w : page) {
      if (!fn(w)) return Status::Ok();
    }
    if (int64_t(page.size()) < want) break;
    after_pk = page.back().pk;
    if (left > 0) left -= int64_t(page.size());
  }
  return Status::Ok();
}

Status Catalog::list_fingerprints(
    const std::string& kind, const std::function<bool(const Work&, const WorkFingerprint&)>& fn) const {
  return list_fingerprints(std::vector<std::string>{kind}, fn);
}

Status Catalog::list_fingerprints(
    const std::vector<std::string>& kinds,
    const std::function<bool(const Work&, const WorkFingerprint&)>& fn) const {
  // A page of rows at a time, by fingerprint row id, read under the lock and handed to fn
  // without it: memory stays bounded however large the catalog (PostgreSQL would otherwise hold
  // a whole result), and fn may block or call back in.
  constexpr int kPageRows = 1024;
  std::string marks;
  for (size_t i = 0; i < kinds.size(); ++i) marks += i == 0 ? "?" : ", ?";
  const std::string sql = "SELECT " + impl_->joined_work_columns +
                          ", f.kind, f.data, f.quality, f.t_ms, f.pk FROM fingerprints f "
                          "JOIN works w ON w.pk = f.work_pk WHERE f.pk > ?" +
                          (kinds.empty() ? std::string() : " AND f.kind IN (" + marks + ")") +
                          " ORDER BY f.pk LIMIT " + std::to_string(kPageRows);
  int64_t after = 0;
  while (true) {
    std::vector<std::pair<Work, WorkFingerprint>> page;
    {
      std::lock_guard<std::mutex> lk(impl_->rdb_mu);
      Result<Statement> s = impl_->rdb.prepare(sql);
      if (!s.ok()) return s.status();
      s->bind(1, after);
      for (size_t i = 0; i < kinds.size(); ++i) s->bind(int(i) + 2, kinds[i]);
      Status st;
      while (s->step(&st)) {
        Result<Work> w = impl_->read_work(*s);
        if (!w.ok()) return w.status();
        WorkFingerprint f;
        f.kind = s->text(12);
        f.data = s->blob(13);
        f.quality = int(s->int64(14));
        f.t_ms = s->int64(15);
        after = s->int64(16);
        page.emplace_back(std::move(*w), std::move(f));
      }
      if (!st.ok()) return st;
    }
    for (const auto& [w, f] : page) {
      if (!fn(w, f)) return Status::Ok();
    }
    if (page.size() < size_t(kPageRows)) return Status::Ok();
  }
}

Result<CatalogStats> Catalog::stats() const {
  CatalogStats out;
  {
    std::lock_guard<std::mutex> lk(impl_->rdb_mu);
    detail::Database& db = impl_->rdb;
    Status st;
    auto scalar = [&](const std::string& sql) -> int64_t {
      Result<Statement> s = db.prepare(sql);
      if (!s.ok() || !s->step(&st)) return 0;
      return s->int64(0);
    };
    out.works = scalar("SELECT COUNT(*) FROM works");
    out.fingerprints = scalar("SELECT COUNT(*) FROM fingerprints");
    Result<std::string> gen = meta_value(db, "generation");
    out.generation = gen.ok() ? std::stoll(*gen) : 0;
    for (auto [col, dest] : {std::pair{"owner", &out.works_by_owner}, std::pair{"media", &out.works_by_media}}) {
      Result<Statement> s = db.prepare(std::string("SELECT ") + col + ", COUNT(*) c FROM works GROUP BY " +
                                       col + " ORDER BY c DESC, " + col);
      if (!s.ok()) return s.status();
      while (s->step(&st)) dest->emplace_back(s->text(0), s->int64(1));
    }
  }
  out.catalog_id = impl_->catalog_id;
  std::shared_lock<std::shared_mutex> lk(impl_->index_mu);
  out.index_kind = index_kind_name(impl_->pdq->kind());
  out.index_entries = impl_->pdq->size();
  out.index_memory_bytes = impl_->pdq->memory_bytes() + impl_->work_of.capacity() * 8;
  if (impl_->features) {
    out.feature_works = impl_->features->live_works();
    out.features = impl_->features->live_features();
    out.feature_memory_bytes = impl_->features->memory_bytes();
  }
  return out;
}

const std::string& Catalog::dir() const { return impl_->options.dir; }
const std::string& Catalog::catalog_id() const { return impl_->catalog_id; }
const std::string& Catalog::index_origin() const { return impl_->origin; }
const std::string& Catalog::feature_index_origin() const { return impl_->feature_origin; }
const std::string& Catalog::snapshot_origin() const { return impl_->snapshot_origin; }

}  // namespace imprint
