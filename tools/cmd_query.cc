// imprint query: does an image or a video copy a registered work, and may it be used for this
// purpose? Videos report which seconds were copied.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <optional>

#include "catalog_args.h"
#include "commands.h"
#include "image_query.h"
#include "input_paths.h"
#include "match_json.h"
#include "usage_log.h"
#include "video_ingest.h"
#include "video_match.h"

namespace imprint::cli {
namespace {

struct QueryArgs {
  CatalogArgs catalog;
  std::vector<std::string> paths;
  bool json = false;
  int top_k = 10;
  double min_score = -1;
  std::string purpose = "any-use";
  std::string licensee;
  std::string mode = "exact";
  int threads = 0;
  int match_distance = kPdqMatchDistance;
  int review_band = MatchOptions{}.review_band;
  bool record = false;
  std::string reference;
  double seconds_per_hash = VideoOptions{}.seconds_per_hash;
  bool video_frames = false;
};

// A video query's verdict and, per work, the copied seconds.
void print_video_human(const std::string& label, const VideoQuery& q, const VideoQueryResult& r) {
  std::cout << label << ": ";
  if (r.matches.empty()) {
    std::cout << (r.weak ? "no match (no frame reaches PDQ quality 50)" : "no match") << '\n';
    return;
  }
  std::cout << decision_name(r.decision) << " (video, " << q.fingerprint.frames.size() << " frames"
            << (q.fingerprint.partial ? ", partial" : "") << ")\n";
  std::cout << std::fixed;
  for (const VideoCandidate& c : r.matches) {
    std::cout << "  " << std::left << std::setw(7) << decision_name(c.decision) << c.work.id;
    if (!c.work.title.empty() && c.work.title != c.work.id) {
      std::cout << " \"" << c.work.title << "\"";
    }
    if (!c.work.owner.empty()) std::cout << " by " << c.work.owner;
    std::cout << std::setprecision(1) << "  query " << c.query_match_pct << "%, work "
              << c.work_match_pct << "% of frames, " << c.method
              << (c.transform == Dihedral::kOriginal ? "" : std::string(", ") + dihedral_name(c.transform))
              << "  ["
              << c.work.licence.summary() << "]\n";
    for (const VideoSegment& s : c.segments) {
      std::cout << "         query " << s.query_start << "-" << s.query_end << " s = work "
                << s.work_start << "-" << s.work_end << " s (" << s.frames << " frames";
      if (s.speed != 1.0) std::cout << std::setprecision(2) << ", speed " << s.speed;
      std::cout << ")\n";
    }
  }
  std::cout << std::defaultfloat;
}

bool is_hex_hash(const std::string& s) { return s.size() == 64 && PdqHash::from_hex(s).ok(); }

void print_human(const std::string& label, const QueryResult& r) {
  std::cout << label << ": ";
  if (r.matches.empty()) {
    std::cout << (r.weak ? "no match (weak hash: quality below 50)" : "no match") << '\n';
    return;
  }
  std::cout << decision_name(r.decision) << (r.weak ? " (weak hash: reported only)" : "") << '\n';
  for (const Candidate& c : r.matches) {
    std::cout << "  " << std::left << std::setw(7) << decision_name(c.decision) << c.work.id;
    if (!c.work.title.empty() && c.work.title != c.work.id) std::cout << " \"" << c.work.title << "\"";
    if (!c.work.owner.empty()) std::cout << " by " << c.work.owner;
    if (c.distance >= 0) std::cout << "  distance " << c.distance << ",";
    std::cout << "  score " << std::fixed << std::setprecision(2) << c.score << std::defaultfloat
              << ", " << c.method;
    if (c.transform != Dihedral::kOriginal) std::cout << ", " << dihedral_name(c.transform);
    if (c.region) {
      const PixelBox& q = c.region->query_box;
      const PixelBox& w = c.region->work_box;
      std::cout << ", work region " << w.width << "x" << w.height << "+" << w.x << "+" << w.y
                << " shown at " << q.width << "x" << q.height << "+" << q.x << "+" << q.y;
    }
    std::cout << "  [" << c.work.licence.summary() << "]\n";
  }
}

// The frame-grab matches of an image query, after its image matches.
void print_frames_human(const VideoQueryResult& r) {
  for (const VideoCandidate& c : r.matches) {
    std::cout << "  " << std::left << std::setw(7) << decision_name(c.decision) << c.work.id;
    if (!c.work.title.empty() && c.work.title != c.work.id) {
      std::cout << " \"" << c.work.title << "\"";
    }
    if (!c.work.owner.empty()) std::cout << " by " << c.work.owner;
    std::cout << "  distance " << c.distance << ", score " << std::fixed << std::setprecision(2)
              << c.score << ", video frame at " << std::setprecision(1) << c.work_time_s << " s"
              << std::defaultfloat;
    if (c.transform != Dihedral::kOriginal) std::cout << ", " << dihedral_name(c.transform);
    std::cout << "  [" << c.work.licence.summary() << "]\n";
  }
}

int run_query(const QueryArgs& a) {
  MatchOptions mo;
  Result<Purpose> purpose = parse_purpose(a.purpose);
  Result<HashMode> mode = parse_hash_mode(a.mode);
  for (const Status& s : {purpose.status(), mode.status()}) {
    if (!s.ok()) {
      std::cerr << "imprint query: " << s.message() << '\n';
      return 2;
    }
  }
  mo.purpose = *purpose;
  mo.licensee = a.licensee;
  mo.top_k = a.top_k;
  mo.min_score = a.min_score;
  mo.match_distance = a.match_distance;
  mo.review_band = a.review_band;
  std::unique_ptr<Catalog> catalog = open_catalog(a.catalog, true, "query");
  if (!catalog) return 2;
  std::unique_ptr<UsageLog> usage;
  if (a.record) {
    Result<std::unique_ptr<UsageLog>> u = UsageLog::open(a.catalog.dir, false);
    if (!u.ok()) {
      std::cerr << "imprint query: " << u.status().message() << '\n';
      return 2;
    }
    usage = std::move(*u);
  }

  const int threads = a.threads > 0 ? a.threads : default_thread_count();
  ImageQueryOptions qo;
  qo.match = mo;
  qo.hash.mode = *mode;
  qo.threads = threads;
  qo.video_frames = a.video_frames;
  VideoOptions vo;
  vo.seconds_per_hash = a.seconds_per_hash;
  vo.mode = *mode;  // reference-cli is exact for videos
  const VideoMatchOptions vmo;
  int failures = 0;
  std::vector<InputPath> batch;
  auto flush = [&] {
    // Videos first, one thread each (a lone video may decode on every thread); then the images
    // and hashes of the batch, hashed and matched together (image_query.h).
    std::vector<std::optional<Result<VideoQuery>>> videos(batch.size());
    std::vector<size_t> video_items;
    std::vector<ImageQueryInput> images;
    std::vector<int> image_slot(batch.size(), -1);
    for (size_t i = 0; i < batch.size(); ++i) {
      const std::string& path = batch[i].path;
      if (!batch[i].error.ok()) continue;
      if (is_hex_hash(path)) {
        image_slot[i] = int(images.size());
        images.push_back(ImageQueryInput::of_hash(*PdqHash::from_hex(path)));
      } else if (is_video_file(path)) {
        video_items.push_back(i);
      } else {
        image_slot[i] = int(images.size());
        images.push_back(ImageQueryInput::file(path));
      }
    }
    VideoOptions one = vo;
    one.threads = video_items.size() == 1 && images.empty() ? threads : 1;
    parallel_for(video_items.size(), threads, [&](size_t v) {
      const size_t i = video_items[v];
      const std::string& path = batch[i].path;
      Result<HashedVideo> hv = hash_video_for_catalog(path, one, VideoProgressLine("query", path));
      Result<Sha256> digest = hv.ok() ? sha256_of_file(path) : Result<Sha256>(hv.status());
      if (!digest.ok()) {
        videos[i] = digest.status();
        return;
      }
      videos[i] = video_query_of(std::move(*hv), *digest);
    });
    const std::vector<ImageQueryOutcome> outcomes = query_images(*catalog, images, qo);
    std::vector<std::optional<VideoQueryResult>> video_results(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const Status& err = !batch[i].error.ok() ? batch[i].error
                          : videos[i]          ? videos[i]->status()
                          : image_slot[i] >= 0 ? outcomes[size_t(image_slot[i])].fingerprint.status()
                                               : batch[i].error;
      if (!err.ok()) {
        ++failures;
        image_slot[i] = -1;
        std::cerr << "imprint query: error: " << err.message() << '\n';
      } else if (videos[i]) {
        video_results[i] = catalog->match_video(**videos[i], mo, vmo);
      }
    }
    if (usage) {
      // Findings become usage records before they are printed, as the server does.
      std::vector<UsageEvent> events;
      const int64_t now = usage_time_now_ms();
      auto context = [&](size_t input, const std::string& sha) {
        UsageContext uc;
        uc.purpose = mo.purpose;
        uc.caller = "cli";
        uc.time_ms = now;
        uc.query_sha256 = sha;
        uc.reference = a.reference.empty() ? batch[input].path : a.reference;
        return uc;
      };
      for (size_t i = 0; i < batch.size(); ++i) {
        if (image_slot[i] >= 0) {
          const ImageQueryOutcome& o = outcomes[size_t(image_slot[i])];
          const UsageContext uc = context(i, usage_digest_hex(o.fingerprint->sha256));
          append_usage_events(std::span<const Candidate>(o.result.matches), uc, &events);
          append_usage_events(std::span<const VideoCandidate>(o.frames.matches), uc, &events);
        } else if (video_results[i]) {
          append_usage_events(std::span<const VideoCandidate>(video_results[i]->matches),
                              context(i, to_hex(*(*videos[i])->sha256)), &events);
        }
      }
      Status s = usage->record(events);
      if (!s.ok()) {
        std::cerr << "imprint query: cannot record usage: " << s.message() << '\n';
        ++failures;
      }
    }
    // In input order, images and videos alike.
    for (size_t i = 0; i < batch.size(); ++i) {
      const std::string& label = batch[i].path;
      if (video_results[i]) {
        const VideoQuery& q = **videos[i];
        if (a.json) {
          std::cout << video_result_to_json(label, q, *video_results[i]).dump() << '\n';
        } else {
          print_video_human(label, q, *video_results[i]);
        }
        continue;
      }
      if (image_slot[i] < 0) continue;
      const ImageQueryOutcome& o = outcomes[size_t(image_slot[i])];
      if (a.json) {
        std::cout << image_query_to_json(label, o, mo.top_k).dump() << '\n';
      } else if (o.result.matches.empty() && !o.frames.matches.empty()) {
        std::cout << label << ": " << decision_name(o.frames.decision) << '\n';
        print_frames_human(o.frames);
      } else {
        print_human(label, o.result);
        print_frames_human(o.frames);
      }
    }
    std::cout.flush();
    batch.clear();
  };
  const size_t batch_size = size_t(threads) * 64;
  expand_inputs(
      a.paths,
      [&](InputPath p) {
        batch.push_back(std::move(p));
        if (batch.size() >= batch_size) flush();
      },
      /*videos=*/true);
  flush();
  return failures > 0 ? 1 : 0;
}

}  // namespace

void add_query_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<QueryArgs>();
  CLI::App* cmd =
      app.add_subcommand("query", "Match images, videos (or 64-hex PDQ hashes) against a catalog");
  add_catalog_option(cmd, a->catalog);
  cmd->add_option("paths", a->paths,
                  "Image or video files, directories (recursed), 64-hex PDQ hashes; - reads from "
                  "stdin")
      ->required();
  cmd->add_flag("--json", a->json, "One JSON object per query");
  cmd->add_option("--top-k", a->top_k, "Matches listed per query")->capture_default_str();
  cmd->add_option("--min-score", a->min_score,
                  "Lowest score listed (default: the review band's edge; 0 lists the nearest works)");
  cmd->add_option("--purpose", a->purpose, "ai-training, commercial or any-use")->capture_default_str();
  cmd->add_option("--licensee", a->licensee, "The party asking (matters for licensed works)");
  cmd->add_option("--mode", a->mode, "Hash mode: exact, fast, reference-cli (videos: fast is approximate vPDQ, "
                  "reference-cli exact)")->capture_default_str();
  cmd->add_option("--threads", a->threads, "Hashing threads (0: one per core)");
  cmd->add_option("--match-distance", a->match_distance, "Distance at or below which a hash matches")
      ->capture_default_str();
  cmd->add_option("--review-band", a->review_band, "Distances above the match distance sent to review")
      ->capture_default_str();
  cmd->add_option("--seconds-per-hash", a->seconds_per_hash,
                  "Videos: one frame hash per this many seconds (0: every frame)")
      ->capture_default_str();
  cmd->add_flag("--video-frames", a->video_frames,
                "Also match images against the frames of video works (frame grabs, thumbnails)");
  cmd->add_flag("--record", a->record, "Store flag/allow findings as usage records (imprint usage)");
  cmd->add_option("--reference", a->reference, "Your reference for the upload, kept in usage records (default: the path)");
  cmd->callback([a, &exit_code] { exit_code = run_query(*a); });
}

}  // namespace imprint::cli
