// The scan pipeline: sources -> units -> samples -> fingerprints -> matches -> report.
//
//   planner (1)   walks the sources into units, keeps this shard's, skips journaled ones
//   readers (R)   read a unit's samples (files, or tar members streamed by libarchive)
//   workers (T)   decode and hash in fast mode, match their batch against the catalog, write
//                 thumbnails of findings
//   writer (1)    commits each finished unit, in unit order, through the journal
// Between the stages are bounded queues (by item count and by bytes), so memory stays flat
// whatever the corpus size, and the workers, which do nearly all the computing, keep every core
// busy while the readers wait on the disk.
//
// Interrupting (SIGINT, SIGTERM) stops reading, commits nothing that is incomplete, writes the
// summary and report of what is done and returns 130; --resume continues from there. A second
// signal kills at once, which --resume also survives (see scan_journal.h).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog.h"

namespace imprint::cli {

enum class ProgressMode { kAuto, kBar, kLines, kNone };

// The counts of a running scan, for ScanOptions::on_progress.
struct ScanProgress {
  int64_t items = 0;  // finished by the workers (scanned or failed)
  int64_t matched = 0, flagged = 0, errors = 0;
  double seconds = 0;
  // Items this run will see, once the counting walk is done (tar shards' counts estimated from
  // the bytes read so far); -1 until then.
  double total_items = -1;
};

struct ScanOptions {
  std::string catalog_dir;
  std::string index = "auto";  // in-memory index structure of the catalog
  std::string report_dir;
  std::vector<std::string> sources;
  int threads = 0;  // decode+hash+match workers; 0: one per core
  int readers = 0;  // unit readers; 0: one per four workers, at least one (reading is cheap)
  size_t shard_index = 0, shard_count = 1;
  bool resume = false;
  Purpose purpose = Purpose::kAiTraining;  // an audit of a training set asks about training
  std::string licensee;
  int match_distance = kPdqMatchDistance;
  int review_band = MatchOptions{}.review_band;
  int top_k = 5;
  // Search the 8 rotations and mirrors of each sample, as `imprint query` does: mirrored copies
  // are common on the web. Costs one DCT (nothing) and 8 index probes instead of 1.
  bool dihedral = true;
  // The second matching stage (index/second_stage.h) for samples PDQ does not settle, exactly as
  // `imprint query` runs it: finds crops, screenshots, collages and pictures in pictures. It costs
  // a full decode and ORB features for every sample PDQ does not settle (most of a corpus), so a
  // scan with it runs at a fraction of the PDQ-only rate (README, Auditing a corpus); off
  // (--no-second-stage) finds near-duplicates only, at the decode limit.
  bool second_stage = true;
  // Images: fast mode (scaled decode, within the README's measured drift of exact hashes) or
  // exact, `imprint query`'s default, for answers equal to the query's bit for bit.
  HashMode mode = HashMode::kFast;
  int fast_min_side = HashOptions{}.fast_min_side;
  size_t unit_size = 1000;  // items per unit of a directory or list
  int64_t max_pixels = DecodeOptions{}.max_pixels;
  int64_t max_member_bytes = DecodeOptions{}.max_bytes;
  size_t batch = 32;  // samples per match call
  // Video samples (by extension: .mp4, .webm, .mkv, ...): one frame hash per this many seconds,
  // 0 for every frame; matched against the catalog's video works with the copied seconds.
  double video_seconds_per_hash = 1.0;
  // Exact (the reference vPDQ's hashes) or fast (VideoOptions::mode). Images are always hashed in
  // fast mode by a scan.
  HashMode video_mode = HashMode::kExact;
  // Error lines kept per unit in errors.jsonl; beyond it errors are only counted (by reason), so a
  // shard of a million junk members cannot fill the disk or the writer's memory.
  size_t max_error_lines_per_unit = 10000;
  std::string save_catalog;  // also register every sample's fingerprint here
  ProgressMode progress = ProgressMode::kAuto;
  // Called about twice a second from a scan thread, and once at the end; returning false stops
  // the scan as SIGINT does (what is committed stays, --resume continues).
  std::function<bool(const ScanProgress&)> on_progress;
  // SIGINT and SIGTERM stop the scan cleanly while it runs. Off: the host program handles them
  // (and stops the scan through on_progress).
  bool handle_signals = true;
};

// Runs the scan and writes the report. Returns the process exit code: 0 finished, 1 finished
// but some unit could not be opened (listed; --resume retries it), 2 the scan could not run
// (its message also in *error when given), 130 interrupted. Messages go to stderr.
int run_scan(const ScanOptions& options, Status* error = nullptr);

// The scan's identity as stored in scan.json and compared on resume and merge.
nlohmann::json scan_identity(const ScanOptions& o, const CatalogStats& catalog);

}  // namespace imprint::cli
