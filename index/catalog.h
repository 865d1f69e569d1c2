// imprint::Catalog: the registered works, their licences and fingerprints, and matching.
//
// A catalog is one directory:
//   catalog.sqlite   the source of truth (SQLite, WAL): works, licences, fingerprints, removals
//   pdq.index        derived: every live PDQ hash with its fingerprint id, stamped with the
//                    database generation it reflects and a checksum
//   LOCK             held (flock) by the one process that may write
// Opening loads pdq.index when it is intact, catches it up from the database when it is behind
// (fingerprints added and removed since its generation), and rebuilds it from the database when
// it is missing or corrupt. Writers save it again on close; a writer killed with SIGKILL loses
// nothing, because every acknowledged write was committed to SQLite first.
//
// Durability: register_works() and remove_work() return only after their transaction commits
// (synchronous=FULL by default, so a commit survives power loss, not just a killed process).
// Each input of a batch is all-or-nothing: a work and its fingerprints appear together or not at
// all.
//
// Thread safety: match(), get_work(), list_works() and stats() may run concurrently with each
// other and with one writer thread; writes are serialised internally. One process per catalog
// may open it writable; a second gets kFailedPrecondition naming the holder.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine.h"
#include "fingerprint_index.h"
#include "licence.h"
#include "second_stage.h"

namespace imprint {

struct VideoQuery;         // video_match.h
struct VideoMatchOptions;  // video_match.h
struct VideoQueryResult;   // video_match.h
struct VideoCandidate;     // video_match.h
struct FrameHash;          // engine/video.h

struct Work {
  int64_t pk = 0;          // internal row id
  std::string id;          // external id, unique, chosen by the registrant
  std::string title;
  std::string owner;
  std::string media = "image";
  std::string source;      // path or URL it was registered from
  int64_t registered_at_ms = 0;
  std::optional<Sha256> sha256;  // content digest of the registered bytes
  int width = 0;
  int height = 0;
  LicencePolicy licence;
  // The registrant's own fields (a catalogue number, a rights URL, a collection): UTF-8 strings
  // within WorkLimits. Stored and returned as given; never used for matching.
  std::map<std::string, std::string> metadata;
};

// The limits on a work's own fields, in bytes of UTF-8, the same for every way in: the catalog
// refuses a work past them, and the server checks a request against them (the same functions)
// before any work.
struct WorkLimits {
  static constexpr size_t kId = 512;
  static constexpr size_t kTitle = 4096;
  static constexpr size_t kOwner = 1024;
  static constexpr size_t kSource = 8192;
  static constexpr size_t kMetadataEntries = 64;
  static constexpr size_t kMetadataKey = 128;
  static constexpr size_t kMetadataValue = 4096;
};

// Why `id` cannot name a work (blank, over WorkLimits::kId, not UTF-8, a control character), as
// a message for the caller to put after the field's name; OK when it can.
Status check_work_id(const std::string& id);
// Why `value` cannot be stored as text field `field`: over max_bytes or not UTF-8, named
// ("title: 5000 bytes, over the limit of 4096"); OK when it can. The server checks its request
// fields with it too.
Status check_text_field(const char* field, const std::string& value, size_t max_bytes);
// Why a work's own fields other than its id (title, owner, source, media, metadata) are refused,
// naming the field ("title: 5000 bytes, over the limit of 4096"); OK when they are not.
Status check_work_fields(const Work& work);

// A stored fingerprint. Kinds so far: "pdq" (32-byte hash); for video works "pdq-frame",
// "pdq-frame-crop" and "video-info" (video_index.h). The schema keeps kind-specific data as a
// blob with an optional timestamp, so video frame hashes, local features and embeddings slot in
// without a migration.
struct WorkFingerprint {
  std::string kind = "pdq";
  std::vector<uint8_t> data;
  int quality = 0;
  int64_t t_ms = -1;  // position in a video, -1 for stills

  static WorkFingerprint pdq(const PdqHash& h, int quality);
};

// Local features (engine/local_features.h) are stored as fingerprints of this kind, in
// encode_local_features form, and indexed by the second matching stage.
inline constexpr const char* kLocalFeaturesKind = "orb";
// PDQ hashes of a work's centre crops to common aspect ratios (picture_regions.h aspect_crops):
// a collage cell, a thumbnail or a social-media preview shows the work cut to its frame. Searched
// only by the second stage, with the query's picture regions and the whole query.
inline constexpr const char* kCropPdqKind = "pdq-crop";
// A small JPEG of the work (at most kPreviewSide pixels a side), made from the registered
// pixels so the server can show creators what matched without reading any file named by the
// work's source (issue 21). Not a fingerprint: nothing indexes it.
inline constexpr const char* kPreviewKind = "preview-jpeg";
inline constexpr int kPreviewSide = 200;
// Candidate::method of matches the second stage found: by local features, or by the PDQ hash of
// a picture region of the query (a screenshot's viewer, a collage cell, a pasted picture).
inline constexpr const char* kLocalFeaturesMethod = "local-features";
inline constexpr const char* kPictureRegionMethod = "pdq-region";
inline bool is_second_stage_method(std::string_view method) {
  return method == kLocalFeaturesMethod || method == kPictureRegionMethod;
}
WorkFingerprint local_features_fingerprint(const LocalFeatures& features);

struct WorkInput {
  Work work;  // pk and registered_at_ms are assigned by the catalog
  std::vector<WorkFingerprint> fingerprints;
  // A copy between catalogs keeps the work's registration time (work.registered_at_ms).
  bool keep_registered_at = false;
};

// Fingerprints image bytes for registration: exact-mode PDQ (interoperable), SHA-256, size, and
// what the second matching stage needs: local features (work_feature_options()) and the PDQ
// hashes of centre crops (kCropPdqKind); and the work's preview (kPreviewKind).
Result<WorkInput> work_input_from_image(std::span<const uint8_t> bytes,
                                        const DecodeOptions& decode = {});

struct CatalogOptions {
  // A directory (the embedded SQLite form), or a PostgreSQL database by libpq URI
  // (postgresql://USER@HOST/DB), which any number of processes open as replicas: each follows
  // the database, so what one registers or removes reaches every other's matches.
  std::string dir;
  // PostgreSQL: a replica catches up as soon as another's commit notifies it (LISTEN/NOTIFY),
  // and at least this often (milliseconds) without one: readiness counts on that heartbeat, and it
  // covers notifications lost while the database was away.
  int follow_interval_ms = 200;
  // PostgreSQL: listen for other replicas' commits. Off: polling only, every follow_interval_ms
  // (benchmarks/replica_propagation compares the two).
  bool wake_on_commit = true;
  // PostgreSQL: a local directory where this replica keeps a snapshot of its indexes (the PDQ,
  // frame and feature indexes at one generation): written every snapshot_interval_s (jittered by
  // +-25%, so replicas do not write together) when the catalog changed, and by save_index(); an
  // open loads it and catches up from the database instead of reading every row. Empty: none.
  std::string snapshot_dir;
  int snapshot_interval_s = 600;
  // Readers take no lock and never write; several may share a catalog with one writer.
  bool read_only = false;
  // Structure of the in-memory PDQ index; kAuto picks by size (fingerprint_index.h).
  IndexKind index = IndexKind::kAuto;
  // fsync every commit (SQLite synchronous=FULL). Off: a killed process still loses nothing,
  // but a power cut may drop the last commits.
  bool sync_commits = true;
  // Milliseconds since the epoch; tests inject a fixed clock.
  std::function<int64_t()> now_ms;
  // The second matching stage (second_stage.h) for queries PDQ does not settle. Off: no feature
  // index is built at open and match() is PDQ and SHA-256 only. Registration stores local
  // features either way, so turning it on later needs no re-registration.
  bool second_stage = true;
  SecondStageOptions second_stage_options;
  FeatureIndexOptions feature_index_options;  // the second stage's index (feature_index.h)
  // Told how a slow open goes: while the feature index is rebuilt from the database (its file
  // missing, stale beyond catch-up or damaged), `done` of `total` works read, every 10,000 and
  // at the end, then once more with stage "training" before the tree is trained (the longest
  // step); when the file was behind, once with stage "catching up" and the works added to it.
  // Called on the opening thread; not called when the file loads current.
  std::function<void(std::string_view stage, int64_t done, int64_t total)> open_progress;
};

struct MatchOptions {
  int match_distance = kPdqMatchDistance;  // <= this: a match
  int review_band = 8;                     // (match, match + band]: a near miss to review
  int top_k = 10;                          // matches listed per query
  // Lowest score listed; below 0 means "the review band's lower edge". 0 lists the nearest
  // top_k works whatever their distance (evaluation tools need that).
  double min_score = -1;
  Purpose purpose = Purpose::kAnyUse;
  std::string licensee;  // the party asking; empty: nobody in particular
};

// What a match's fields mean, for every method (the README says the same):
//   score     in [0, 1], one scale for all methods: 0.5 is the match line, where the default
//             decisions flag (or allow) a copy, and the review band starts at
//             score_for_distance(match_distance + review_band). For "pdq" it is a fixed function
//             of the distance (score_for_distance); "local-features" and "pdq-region" scores are
//             mapped onto the same scale from their own evidence (second_stage.h), so that on the
//             robustness benchmark's tuning half no unrelated picture reaches the line but edits
//             of one road sign that shares another's frame (README; benchmarks/results/
//             robustness-wide.md measures both halves). A score depends only
//             on the query and the work, not on what else is registered, except that the
//             second stage's first projection comes from an approximate search (see README).
//   distance  the PDQ Hamming distance of the hash that matched: the query's (in the listed
//             transform) for "pdq", the picture region's for "pdq-region", 0 for "sha256", and
//             -1 (null in JSON) for "local-features", which rests on no hash.
//   weak      (of a query) its whole-image PDQ quality is below 50: that hash alone is too weak
//             to act on, so "pdq" matches of a weak query are listed and never flagged. Evidence
//             that does not rest on that hash still decides: identical bytes, local features
//             (geometry and pixels) and picture regions (a region's own useful hash, or the
//             layout check).
//   soft works (registered with PDQ quality below 50) are kept out of the PDQ index and found by
//             the second stage: their whole and crop hashes, in all eight dihedral variants of
//             the query, within region_radius, each verified by the layout check.
// Score in [0, 1], a fixed function of the distance so it is comparable across queries:
// 1 at distance 0, 0.5 at the reference match threshold (31), 0 at 64 and beyond.
double score_for_distance(int distance);
// The review line in score space, the lowest score listed by default and the lower edge of the
// review band for every method: score_for_distance(match_distance + review_band).
double review_line(const MatchOptions& o);

// Why a match has its decision, so an integrator need not re-derive the thresholds: what the
// method measured, the two lines the matcher held it against (this call's settings), and the
// licence terms that turned the evidence into the decision (licence_decision). The decision is
// computed from this very explanation (explain_match), so the two cannot disagree.
struct MatchExplanation {
  Evidence evidence = Evidence::kNone;
  // "pdq-distance" (pdq: lower is closer), "score" (the second stage's local-features and
  // pdq-region: higher is closer) or "same-bytes" (sha256).
  const char* measure = "";
  double value = 0;        // the distance or the score
  double match_line = 0;   // a copy at or under this distance, or at or over this score
  double review_line = 0;  // a near miss up to this distance, or down to this score
  // The query's PDQ quality is under 50: its "pdq" matches are not acted on.
  bool weak_query = false;
  Purpose purpose = Purpose::kAnyUse;
  Permission permission = Permission::kDeny;  // the work's terms for the purpose
  bool licensee_named = false;  // kLicensed: the asking licensee is one of the named licensees
};

struct Candidate {
  Work work;
  int distance = 0;
  double score = 0;
  Dihedral transform = Dihedral::kOriginal;  // which variant of the query matched
  // "sha256" (same bytes), "pdq", or the second stage's "local-features" or "pdq-region"
  std::string method;
  MatchDecision decision = MatchDecision::kNone;
  // Second-stage matches: where the work sits in the query and which part of it is shown.
  // distance is -1 for local features (score from the inlier count), the region's PDQ distance
  // for pdq-region.
  std::optional<MatchRegion> region;
  MatchExplanation why;  // set with the decision (image matches)
};

// The explanation of a candidate's decision for a query (weak: the query's PDQ quality is under
// 50) under these options; decision = licence_decision(why.evidence, ...).
MatchExplanation explain_match(const Candidate& c, bool weak, const MatchOptions& o);

// A copy, in every front end's words (scan counts, report totals, creator page): a match the
// matcher decides is one, flagged or allowed by the licence, whatever the method found it.
inline bool is_copy(const Candidate& c) {
  return c.decision == MatchDecision::kFlag || c.decision == MatchDecision::kAllow;
}

// Supplies the decoded pixels of query `i` when the second stage needs them: only for queries
// PDQ did not settle, so their cost is paid only there. The second stage extracts the query's
// local features and picture regions from them (query_feature_options()). An error skips the
// second stage for that query.
using QueryPixelSource = std::function<Result<Image>(size_t i)>;

struct QueryResult {
  std::vector<Candidate> matches;  // best first
  MatchDecision decision = MatchDecision::kNone;  // the most severe of the matches
  bool weak = false;  // quality below 50: reported, never flagged (unless the bytes are identical)
};

struct CatalogStats {
  int64_t works = 0;
  int64_t fingerprints = 0;
  int64_t generation = 0;
  std::string catalog_id;
  std::string index_kind;
  size_t index_entries = 0;
  size_t index_memory_bytes = 0;
  // The second stage's feature index (0 when the stage is off): works and features it holds, and
  // its memory.
  size_t feature_works = 0;
  size_t features = 0;
  size_t feature_memory_bytes = 0;
  std::vector<std::pair<std::string, int64_t>> works_by_owner;  // most works first
  std::vector<std::pair<std::string, int64_t>> works_by_media;
};

struct WorkFilter {
  std::string owner;  // empty: all
  int64_t limit = -1;
  // Registration order (row ids), or its reverse; after_pk > 0 continues after the work with
  // that row id (Work::pk of the last work an earlier listing in the same order gave).
  bool newest_first = false;
  int64_t after_pk = 0;
};

// A catalog location as logs and reports may show it: a directory as given, a PostgreSQL URI
// without its password.
std::string display_location(const std::string& location);
// True for the PostgreSQL form (postgresql:// or postgres://).
bool is_postgres_location(const std::string& location);

// Copies every work (its fields, licence and every fingerprint, in registration order) and every
// usage event from the catalog at `src` into the empty catalog at `dst`, either form to either
// (a directory, a PostgreSQL URI), then checks the copy: the same counts and the same checksum.
struct CatalogCopyReport {
  int64_t works = 0;
  int64_t fingerprints = 0;
  int64_t usage_events = 0;
  std::string checksum;  // catalog_checksum of both
};
Result<CatalogCopyReport> copy_catalog(const std::string& src, const std::string& dst);
// SHA-256 over every work (by id: its fields, licence and fingerprints in order), independent of
// the form and of row ids; counts in *works and *fingerprints.
class Catalog;
Result<std::string> catalog_checksum(const Catalog& c, int64_t* works, int64_t* fingerprints);

class Catalog {
 public:
  static Result<std::unique_ptr<Catalog>> open(const CatalogOptions& options);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // One result per input, in order. A taken id fails that input with kAlreadyExists unless
  // `replace` (then the old work and its fingerprints are replaced atomically).
  std::vector<Result<Work>> register_works(std::span<const WorkInput> inputs, bool replace = false);
  // Removes the work from matching at once and from the database durably.
  Status remove_work(const std::string& id);

  Result<Work> get_work(const std::string& id) const;
  // Whether the work registered under in.work.id is what `in` would register: the same title,
  // owner, media, source and licence, the same content digest when `in` has one, and the same
  // PDQ hashes with their qualities, in order. A retried registration (idempotent front ends
  // answer it with the stored work). kNotFound when no work has the id.
  Result<bool> holds_registration(const WorkInput& in) const;
  Result<Work> get_work_by_pk(int64_t pk) const;
  // The preview JPEG stored at registration (kPreviewKind); kNotFound when there is none.
  Result<std::vector<uint8_t>> preview(const std::string& id) const;
  // Calls fn for each work in registration order (WorkFilter) until it returns false. fn runs without the
  // catalog's lock (works are read a page at a time), so it may block or call back in.
  Status list_works(const WorkFilter& filter, const std::function<bool(const Work&)>& fn) const;
  // Every stored fingerprint of a kind with its work (for export), in fingerprint order. Read a
  // page at a time: fn runs without the catalog's lock and memory stays bounded.
  Status list_fingerprints(const std::string& kind,
                           const std::function<bool(const Work&, const WorkFingerprint&)>& fn) const;
  // The same for several kinds at once (none: every kind), still in fingerprint order: a work's
  // fingerprints were stored together, so they arrive one after another (an export reads a work's
  // hash and its list fields in one pass).
  Status list_fingerprints(const std::vector<std::string>& kinds,
                           const std::function<bool(const Work&, const WorkFingerprint&)>& fn) const;
  // One work's fingerprints of a kind, in the order they were stored (empty if it has none).
  Result<std::vector<WorkFingerprint>> work_fingerprints(const std::string& id,
                                                         const std::string& kind) const;
  Result<CatalogStats> stats() const;

  // One result per query fingerprint. Queries with dihedral hashes search all eight.
  std::vector<QueryResult> match(std::span<const ImageFingerprint> queries,
                                 const MatchOptions& options) const;
  // The same, and for each query that PDQ does not settle (no exact copy, no usable PDQ match at
  // the match threshold) the second stage, on the pixels `pixels` supplies. Its matches join
  // the PDQ candidates, ranked by score, with method "local-features" or "pdq-region" and a
  // region.
  std::vector<QueryResult> match(std::span<const ImageFingerprint> queries,
                                 const MatchOptions& options, const QueryPixelSource& pixels) const;

  // Video works (include video_match.h, which defines these types and says how matching works).
  // A video query's matching works with vPDQ percentages and aligned segments; and stills
  // matched against the frames of video works (match() searches image works only).
  VideoQueryResult match_video(const VideoQuery& query, const MatchOptions& options,
                               const VideoMatchOptions& video) const;
  std::vector<VideoQueryResult> match_stills_in_videos(std::span<const ImageFingerprint> stills,
                                                       const MatchOptions& options) const;

  // Writes the index files now: pdq.index, frames.index and, with the second stage on,
  // features.index (writers also do this on close). PostgreSQL: nothing to write.
  Status save_index();

  // PostgreSQL: applies what other replicas committed since the last catch-up, now (a thread
  // does this every follow_interval_ms anyway). The directory form: nothing to do.
  Status refresh();
  struct FollowState {
    bool following = false;    // a PostgreSQL replica
    int64_t generation = 0;    // the catalog generation its indexes reflect
    int64_t caught_up_ms = 0;  // steady clock (ms) of its last successful catch-up
    std::string error;         // the last catch-up's failure, empty after a success
  };
  FollowState follow_state() const;
  // Ready to answer: the directory form always; a replica whose last catch-up succeeded within
  // max_lag_ms (a lost database makes it unready until it catches up again).
  bool ready(int64_t max_lag_ms) const;

  const std::string& dir() const;
  const std::string& catalog_id() const;
  // How the index was obtained at open: "loaded", "caught-up", "rebuilt" (for logs and tests).
  const std::string& index_origin() const;
  // The same for the second stage's feature index (features.index; empty when the stage is off).
  const std::string& feature_index_origin() const;
  // PostgreSQL with a snapshot_dir: "loaded generation G" when the open loaded the snapshot,
  // else why not ("none", "another catalog", "damaged: ...", "ahead of the database").
  const std::string& snapshot_origin() const;

  class Impl;

 private:
  // match_video's search, candidates and scoring for one set of query frames (the video as it is,
  // or its mirror image, reported with `transform`).
  std::vector<VideoCandidate> match_video_frames(std::span<const FrameHash> frames,
                                                 std::span<const FrameHash> cropped,
                                                 const std::optional<Sha256>& sha256,
                                                 Dihedral transform, const MatchOptions& o,
                                                 const VideoMatchOptions& vo, bool* weak) const;
  Result<Work> read_work_by_pk(int64_t pk) const;  // from the database, without the work cache
  explicit Catalog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imprint
