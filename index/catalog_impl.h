// Internal: the state behind Catalog, shared by its store, index-file and matching parts.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "catalog.h"
#include "database.h"
#include "feature_index.h"
#include "video_index.h"

namespace imprint {

// Columns read by Impl::read_work, in order.
inline constexpr std::array<const char*, 12> kWorkColumns = {
    "pk",     "id",    "title",  "owner",   "media",   "source", "registered_at_ms",
    "sha256", "width", "height", "licence", "metadata"};
// kWorkColumns for a SELECT, each named through `table` (a join's alias; empty: unqualified), and
// metadata read as '{}' where the catalog has no such column (an old one opened read-only).
std::string work_column_list(std::string_view table, bool has_metadata);

class Catalog::Impl {
 public:
  CatalogOptions options;
  std::string db_path, index_path;
  int lock_fd = -1;

  // Two connections: the writer's (absent when read-only) and one for reads, so matching does
  // not wait behind a write transaction (WAL lets readers see the last commit meanwhile).
  detail::Database wdb;
  detail::Database rdb;
  mutable std::mutex wdb_mu;
  mutable std::mutex rdb_mu;
  // Prepared statements of the read connection by SQL, reused under rdb_mu: preparing costs more
  // than a lookup by key. Declared after rdb, so they are finalized before it closes.
  mutable std::map<std::string, detail::Statement> rdb_cache;
  // The cached statement for `sql`, reset and ready to bind. Call with rdb_mu held, and reset it
  // (CachedRead does) when done, so no read transaction stays open between lookups.
  Result<detail::Statement*> cached_read(const std::string& sql) const;

  // The PDQ index and the work of each fingerprint label; shared for searches, exclusive for
  // updates after a commit.
  mutable std::shared_mutex index_mu;
  std::unique_ptr<FingerprintIndex> pdq;
  std::vector<int64_t> work_of;  // fingerprint pk -> work pk
  // The second stage's local features by work; null when CatalogOptions::second_stage is off.
  // Loaded from features.index and caught up, or rebuilt from the database, at open
  // (feature_store.cc); updated after commits like pdq and saved with it.
  std::unique_ptr<FeatureIndex> features;
  // With it, the PDQ hashes of works' centre crops (kCropPdqKind) of at least
  // kPdqMinUsefulQuality, and the weaker crop and whole-work hashes, labelled by work pk. Weak
  // hashes are searched only for candidates that the layout check then verifies (region_match.cc).
  std::unique_ptr<FingerprintIndex> crops;
  std::unique_ptr<FingerprintIndex> weak_regions;
  // Video works' frames, apart from `pdq` (video_index.h); loaded at open, updated after commits
  // like pdq, saved with it as frames.index.
  std::unique_ptr<VideoFrameIndex> video;
  std::string video_origin;  // as `origin`, for frames.index
  std::string feature_origin;    // as `origin`, for features.index
  int64_t max_feature_fp_pk = 0;  // highest local-features row `features` reflects
  int64_t generation = 0;        // database generation the index reflects
  int64_t max_fp_pk = 0;         // highest fingerprint pk the index has seen
  bool index_dirty = false;

  std::string catalog_id;
  std::string origin;

  // PostgreSQL (catalog_follow.cc): the catalog lives in the database and this process is one of
  // any number of replicas. Each holds its indexes in memory and follows the database: a thread
  // catches up when a writer's commit notifies it (NOTIFY on kFollowChannel, in the writing
  // transaction) and at least every options.follow_interval_ms (the heartbeat readiness checks,
  // and the fallback when notifications are lost), applying in one snapshot the removals since the
  // generation it has and the fingerprints past the highest row it has (writers commit one at a
  // time, so rows arrive in commit order). Writes commit, then catch up.
  bool pg = false;
  detail::Database fdb;   // the follower's connection
  detail::Database ldb;   // the follower thread's LISTEN connection
  std::mutex follow_mu;   // one catch-up at a time; guards fdb and follow_pk
  int64_t follow_pk = 0;  // highest fingerprint row applied, of any kind
  std::thread follower;
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::atomic<int64_t> caught_up_ms{0};  // steady clock of the last catch-up that succeeded
  std::atomic<int64_t> seen_generation{0};
  mutable std::mutex follow_error_mu;
  std::string follow_error;

  // Works by pk as matches name them, so a replica's matches need no round trip to the database
  // for works it has seen (and answer from memory while the database is away). A work's row never
  // changes under its pk (a replacement gets a new one); catch-ups drop removed works. Bounded:
  // emptied when it reaches kWorkCacheSize.
  static constexpr size_t kWorkCacheSize = 1 << 16;
  mutable std::mutex work_cache_mu;
  mutable std::unordered_map<int64_t, Work> work_cache;

  static constexpr const char* kFollowChannel = "imprint_catalog";

  Status open_postgres();
  Status catch_up();
  // A replica's snapshot (replica_snapshot.cc, CatalogOptions::snapshot_dir): its indexes as
  // they stood at one generation and follow_pk, so the next start loads them and catches up
  // instead of reading every row. Loading leaves the indexes empty (a full catch-up follows)
  // when the files are missing, damaged, of another catalog or ahead of the database.
  Status load_replica_snapshot();
  Status save_replica_snapshot();
  std::string snapshot_origin;       // what the load at open found, for logs and tests
  std::mutex snapshot_mu;            // one save at a time; taken before follow_mu
  int64_t snapshot_generation = -1;  // the generation last saved or loaded; under snapshot_mu
  int64_t next_snapshot_ms = 0;      // steady clock: the follower saves after this
  void stop_follower();
  Status create_schema(detail::Database& db);
  Status check_schema(const std::string& where);

  int64_t now_ms() const;
  Result<Work> read_work(detail::Statement& s) const;  // from a SELECT of work_columns
  // work_column_list() unqualified and through the alias "w", set by check_schema.
  std::string work_columns = work_column_list("", true);
  std::string joined_work_columns = work_column_list("w", true);
  Status load_or_rebuild_index();
  Status load_feature_index();  // feature_store.cc
  Status load_video_index();    // video_index.cc
  Status save_video_index();    // video_index.cc
  Status save_feature_index();  // feature_store.cc
  // The second stage on one query's pixels (feature_store.cc): its local features and picture
  // regions are extracted, then searched under a shared index lock; regions match registered
  // PDQ hashes within match_distance. `dihedral`, when given, holds the whole query's eight
  // dihedral hashes (ImageFingerprint).
  std::vector<LocalMatch> second_stage(const Image& query, int match_distance,
                                       const std::array<PdqHash, kDihedralCount>* dihedral) const;
  // The query's picture regions against the works' whole and crop hashes (region_match.cc);
  // index_mu held shared.
  void match_regions(const LocalFeatures& query, int match_distance,
                     const std::array<PdqHash, kDihedralCount>* dihedral,
                     std::vector<LocalMatch>* out) const;
  Status add_to_index(std::span<const PdqHash> hashes, std::span<const int64_t> fp_pks,
                      std::span<const int64_t> work_pks);
};

// The catalog's generation as the database holds it (meta table); read it inside the read
// transaction whose rows it must agree with.
Result<int64_t> stored_generation(detail::Database& db);

// The second-stage hash index a stored fingerprint joins (feature_store.cc): centre crops of
// useful quality go to `crops`; weaker crops, and whole-work hashes too weak for the PDQ index, to
// `weak_regions`; anything else to neither.
enum class RegionIndex { kNone, kCrops, kWeak };
RegionIndex region_index_for(std::string_view kind, int quality);

// Resets a cached read statement when the lookup is done (see Impl::cached_read).
class CachedRead {
 public:
  explicit CachedRead(detail::Statement* s) : s_(s) {}
  ~CachedRead() { s_->reset(); }
  CachedRead(const CachedRead&) = delete;
  CachedRead& operator=(const CachedRead&) = delete;
  detail::Statement& operator*() const { return *s_; }
  detail::Statement* operator->() const { return s_; }

 private:
  detail::Statement* s_;
};

// Fingerprints of this kind with at least this quality go into the PDQ index; weaker ones are
// kept (and matched by content digest) but would only produce false matches (pdq/README).
inline constexpr const char* kPdqKind = "pdq";

// Index file I/O (index_file.cc).
// features.index (feature_store.cc, and a replica's snapshot).
inline constexpr char kFeatureIndexMagic[8] = {'I', 'M', 'P', 'F', 'E', 'A', 'T', '1'};

// The follower's next snapshot time (steady clock, ms): interval_s from now, +-25%.
int64_t next_snapshot_time_ms(int interval_s);

struct IndexFileContents {
  std::string catalog_id;
  int64_t generation = 0;
  int64_t max_fp_pk = 0;
  std::vector<PdqHash> hashes;
  std::vector<int64_t> fp_pks;
  std::vector<int64_t> work_pks;
};
Status write_index_file(const std::string& path, const IndexFileContents& c);

// Second stage (feature_store.cc): the decision for a local-features candidate, and merging one
// query's second-stage matches into its result (one candidate per work, best score first).
// Sets c.why (explain_match) and the decision it gives.
void decide(Candidate& c, bool weak, const MatchOptions& o);
void merge_local_matches(const Catalog& catalog, const std::vector<LocalMatch>& found,
                         const MatchOptions& o, double min_score, QueryResult* r);
Result<IndexFileContents> read_index_file(const std::string& path);

}  // namespace imprint
