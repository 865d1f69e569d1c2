// imprint scan: audit a corpus (folders, lists, WebDataset tar shards) for registered works.
#include <iostream>

#include "catalog_args.h"
#include "commands.h"
#include "scan_pipeline.h"

namespace imprint::cli {
namespace {

struct ScanArgs {
  CatalogArgs catalog;
  ScanOptions scan;
  std::string shard = "0/1";
  std::string purpose = "ai-training";
  std::string progress = "auto";
  bool no_dihedral = false;
  std::string video_mode = "exact";
  std::string mode = "fast";
};

bool parse_shard(const std::string& s, size_t* index, size_t* count) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos) return false;
  try {
    size_t used = 0;
    const unsigned long i = std::stoul(s.substr(0, slash), &used);
    if (used != slash) return false;
    const std::string rest = s.substr(slash + 1);
    const unsigned long n = std::stoul(rest, &used);
    if (used != rest.size() || n == 0 || i >= n) return false;
    *index = i;
    *count = n;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

int run(ScanArgs& a) {
  ScanOptions& o = a.scan;
  o.catalog_dir = a.catalog.dir;
  o.index = a.catalog.index;
  o.dihedral = !a.no_dihedral;
  Result<HashMode> mode = parse_hash_mode(a.mode);
  if (!mode.ok() || *mode == HashMode::kReferenceCli) {
    std::cerr << "imprint scan: --mode takes fast or exact\n";
    return 2;
  }
  o.mode = *mode;
  if (!parse_shard(a.shard, &o.shard_index, &o.shard_count)) {
    std::cerr << "imprint scan: --shard takes I/N with 0 <= I < N, e.g. 0/4\n";
    return 2;
  }
  Result<Purpose> purpose = parse_purpose(a.purpose);
  if (!purpose.ok()) {
    std::cerr << "imprint scan: " << purpose.status().message() << '\n';
    return 2;
  }
  o.purpose = *purpose;
  Result<HashMode> video_mode = parse_hash_mode(a.video_mode);
  if (!video_mode.ok()) {
    std::cerr << "imprint scan: --video-mode: " << video_mode.status().message() << '\n';
    return 2;
  }
  o.video_mode = *video_mode;
  if (a.progress == "auto")
    o.progress = ProgressMode::kAuto;
  else if (a.progress == "bar")
    o.progress = ProgressMode::kBar;
  else if (a.progress == "lines")
    o.progress = ProgressMode::kLines;
  else if (a.progress == "none")
    o.progress = ProgressMode::kNone;
  else {
    std::cerr << "imprint scan: --progress takes auto, bar, lines or none\n";
    return 2;
  }
  if (o.unit_size == 0 || o.batch == 0) {
    std::cerr << "imprint scan: --unit-size and --batch must be positive\n";
    return 2;
  }
  return run_scan(o);
}

}  // namespace

void add_scan_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ScanArgs>();
  CLI::App* cmd = app.add_subcommand(
      "scan",
      "Audit a corpus for registered works: directories, lists of paths, WebDataset tar shards");
  cmd->footer(
      "SOURCE is a directory (recursed, image extensions), a text file listing paths (one per "
      "line, relative to the list), an image file, or a tar shard (.tar, .tar.gz, .tgz, .tar.*) "
      "read "
      "as a stream. Tar shards are WebDataset: KEY.jpg|png|webp with KEY.json (url, caption) and "
      "KEY.txt.\n\n"
      "The report directory gets findings.jsonl, errors.jsonl, summary.json, report.html and a "
      "journal: rerun the same command with --resume after any interruption (even kill -9) and "
      "the scan continues, with no finding lost or repeated.\n\n"
      "Scaling out: run N copies with the same SOURCE list and --shard 0/N .. N-1/N (each into its "
      "own --report), then `imprint report merge OUT SHARD_REPORTS...`.\n\n"
      "Exit status: 0 scanned everything (bad items are reported, not failures); 1 some unit "
      "(a tar shard) could not be opened: listed in summary.json, retried by --resume; 2 the scan "
      "could not run; 130 interrupted (resume it).");
  add_catalog_option(cmd, a->catalog);
  cmd->add_option("--report", a->scan.report_dir, "Report directory (new, or --resume)")
      ->required();
  cmd->add_option("sources", a->scan.sources, "Directories, path lists, image or video files, tar shards")
      ->required();
  cmd->add_option("--threads", a->scan.threads, "Decode, hash and match threads (0: one per core)");
  cmd->add_option("--readers", a->scan.readers,
                  "Units read at once (0: one per four threads, at least one)");
  cmd->add_option("--shard", a->shard,
                  "Take part I of N of the units (same SOURCE list in every part)")
      ->capture_default_str();
  cmd->add_flag("--resume", a->scan.resume,
                "Continue the scan in --report (or start it when the directory is empty)");
  cmd->add_option("--purpose", a->purpose, "Licence purpose: ai-training, commercial, any-use")
      ->capture_default_str();
  cmd->add_option("--licensee", a->scan.licensee,
                  "The party whose use is checked (licensed works)");
  cmd->add_option("--match-distance", a->scan.match_distance,
                  "PDQ distance at or below which a sample matches")
      ->capture_default_str();
  cmd->add_option("--review-band", a->scan.review_band,
                  "Distances above the match distance sent to review")
      ->capture_default_str();
  cmd->add_option("--top-k", a->scan.top_k, "Works listed per finding")->capture_default_str();
  cmd->add_flag("--no-dihedral", a->no_dihedral,
                "Match samples as they are only, not their rotations and mirrors");
  cmd->add_flag("--second-stage,!--no-second-stage", a->scan.second_stage,
                "The second stage (local features and picture regions: crops, screenshots, "
                "collages) on samples PDQ does not settle, as `imprint query` runs it (default); "
                "--no-second-stage: PDQ and identical bytes only, many times faster, finds "
                "near-duplicates only")
      ->capture_default_str();
  cmd->add_option("--mode", a->mode,
                  "Image hashing: fast (scaled decode) or exact (as `imprint query` hashes)")
      ->capture_default_str();
  cmd->add_option("--video-mode", a->video_mode, "Videos: exact (the reference vPDQ's frame hashes, bit for bit) or fast (approximate: a few bits off, about twice as fast at 1080p)")
      ->capture_default_str();
  cmd->add_option("--unit-size", a->scan.unit_size, "Items per unit of a directory or list")
      ->capture_default_str();
  cmd->add_option("--batch", a->scan.batch, "Samples per match call")->capture_default_str();
  cmd->add_option("--max-error-lines", a->scan.max_error_lines_per_unit,
                  "Bad items listed in errors.jsonl per unit (all are counted)")
      ->capture_default_str();
  cmd->add_option("--max-pixels", a->scan.max_pixels, "Refuse images declaring more pixels")
      ->capture_default_str();
  cmd->add_option("--max-bytes", a->scan.max_member_bytes,
                  "Refuse files and tar members larger than this")
      ->capture_default_str();
  cmd->add_option("--save-catalog", a->scan.save_catalog,
                  "Also register every sample's fingerprint in this catalog (ids: SHARD/KEY or the "
                  "path), so creators can later `imprint query --catalog DIR2 their-art/`");
  cmd->add_option("--progress", a->progress,
                  "auto (a bar on a terminal, lines otherwise), bar, lines, none")
      ->capture_default_str();
  cmd->callback([a, &exit_code] { exit_code = run(*a); });
}

}  // namespace imprint::cli
