// imprint hash: PDQ hashes of images, in the reference tool's "hash,quality,path" form or JSON,
// and of videos' sampled frames (vPDQ), one "hash,quality,path@seconds" line per frame, or with
// --format vpdq in Meta's vPDQ layout (frame,quality,hash,seconds: the vpdq tools' output, which
// import-hashes reads back as a video work).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <variant>

#include "commands.h"
#include "engine.h"
#include "hash_list.h"
#include "input_paths.h"
#include "video_ingest.h"

namespace imprint::cli {
namespace {

struct HashArgs {
  std::vector<std::string> paths;
  bool json = false;
  std::string format = "lines";
  bool dihedral = false;
  std::string mode = "exact";
  int threads = 0;
  int64_t max_pixels = DecodeOptions{}.max_pixels;
  bool exif = false;
  double seconds_per_hash = VideoOptions{}.seconds_per_hash;
};

void print_video(const std::string& path, const VideoFingerprint& fp, const HashArgs& a) {
  if (a.format == "vpdq") {
    for (const FrameHash& f : fp.frames) std::cout << format_vpdq_line(f.frame, f.quality, f.hash, f.t);
    return;
  }
  if (a.json) {
    nlohmann::json frames = nlohmann::json::array();
    for (const FrameHash& f : fp.frames) {
      frames.push_back({{"frame", f.frame},
                        {"t", std::round(f.t * 1000) / 1000},
                        {"pdq", f.hash.to_hex()},
                        {"quality", f.quality}});
    }
    nlohmann::json j = {{"path", path},
                        {"media", "video"},
                        {"fps", fp.fps},
                        {"duration", fp.duration_s},
                        {"width", fp.width},
                        {"height", fp.height},
                        {"seconds_per_hash", a.seconds_per_hash},
                        {"partial", fp.partial},
                        {"frames", frames}};
    if (fp.partial) j["partial_reason"] = fp.partial_reason;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    return;
  }
  char t[32];
  for (const FrameHash& f : fp.frames) {
    std::snprintf(t, sizeof t, "%.3f", f.t);
    std::cout << f.hash.to_hex() << ',' << f.quality << ',' << path << '@' << t << '\n';
  }
}

void print_result(const std::string& path, const ImageFingerprint& fp, const HashArgs& a) {
  if (a.json) {
    nlohmann::json j = {{"path", path},
                        {"pdq", fp.pdq.hash.to_hex()},
                        {"quality", fp.pdq.quality},
                        {"format", image_format_name(fp.format)},
                        {"width", fp.width},
                        {"height", fp.height},
                        {"sha256", to_hex(fp.sha256)}};
    if (fp.has_dihedral) {
      nlohmann::json d = nlohmann::json::object();
      for (int i = 0; i < kDihedralCount; ++i) d[dihedral_name(Dihedral(i))] = fp.dihedral[i].to_hex();
      j["dihedral"] = d;
    }
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    return;
  }
  std::cout << fp.pdq.hash.to_hex() << ',' << fp.pdq.quality;
  if (fp.has_dihedral) {
    for (int i = 1; i < kDihedralCount; ++i) std::cout << ',' << fp.dihedral[i].to_hex();
  }
  std::cout << ',' << path << '\n';
}

int run_hash(const HashArgs& a) {
  Result<HashMode> mode = parse_hash_mode(a.mode);
  if (!mode.ok()) {
    std::cerr << "imprint hash: " << mode.status().message() << '\n';
    return 2;
  }
  HashOptions o;
  o.mode = *mode;
  o.dihedral = a.dihedral;
  o.decode.max_pixels = a.max_pixels;
  o.decode.apply_exif_orientation = a.exif;
  const int threads = a.threads > 0 ? a.threads : default_thread_count();
  const size_t batch_size = size_t(threads) * 32;

  VideoOptions vo;
  vo.seconds_per_hash = a.seconds_per_hash;
  vo.max_pixels = a.max_pixels;
  vo.mode = *mode;  // reference-cli is exact for videos
  int failures = 0;
  std::vector<InputPath> batch;
  auto flush = [&] {
    // Images and videos side by side, one thread each; output keeps input order.
    std::vector<Result<ImageFingerprint>> results(batch.size(), internal_error("not processed"));
    std::vector<std::optional<Result<VideoFingerprint>>> videos(batch.size());
    // A lone video may use every thread for decoding; several share them one each.
    VideoOptions one = vo;
    one.threads = batch.size() == 1 ? threads : 1;
    parallel_for(batch.size(), threads, [&](size_t i) {
      if (!batch[i].error.ok()) return;
      if (is_video_file(batch[i].path)) {
        videos[i] = hash_video_file_with_progress(batch[i].path, one,
                                                  VideoProgressLine("hash", batch[i].path));
      } else {
        results[i] = fingerprint_file(batch[i].path, o);
      }
    });
    for (size_t i = 0; i < batch.size(); ++i) {
      const Status& err = !batch[i].error.ok() ? batch[i].error
                          : videos[i]          ? videos[i]->status()
                                               : results[i].status();
      if (!err.ok()) {
        ++failures;
        std::cerr << "imprint hash: error: " << err.message() << '\n';
      } else if (!videos[i] && a.format == "vpdq") {
        ++failures;
        std::cerr << "imprint hash: error: " << batch[i].path
                  << ": --format vpdq writes the frames of videos, and this is an image\n";
      } else if (videos[i]) {
        if ((*videos[i])->partial) {
          std::cerr << "imprint hash: " << batch[i].path
                    << ": partial: " << (*videos[i])->partial_reason << '\n';
        }
        print_video(batch[i].path, **videos[i], a);
      } else {
        print_result(batch[i].path, *results[i], a);
      }
    }
    std::cout.flush();
    batch.clear();
  };
  expand_inputs(
      a.paths,
      [&](InputPath p) {
        batch.push_back(std::move(p));
        if (batch.size() >= batch_size) flush();
      },
      /*videos=*/true);
  flush();
  if (failures > 0) std::cerr << "imprint hash: " << failures << " input(s) failed\n";
  return failures > 0 ? 1 : 0;
}

}  // namespace

void add_hash_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<HashArgs>();
  CLI::App* cmd =
      app.add_subcommand("hash",
                         "Print PDQ hashes of images (hash,quality,path lines) and of video frames "
                         "(hash,quality,path@seconds lines)");
  cmd->add_option("paths", args->paths,
                  "Image or video files, or directories (recursed); - reads paths from stdin")
      ->required();
  cmd->add_flag("--json", args->json, "One JSON object per line");
  cmd->add_option("--format", args->format,
                  "lines (hash,quality,path), or vpdq: videos' frames in Meta's vPDQ layout "
                  "(frame,quality,hash,seconds), as import-hashes reads them")
      ->capture_default_str()
      ->check(CLI::IsMember({"lines", "vpdq"}));
  cmd->add_flag("--dihedral", args->dihedral,
                "Also print the 7 rotated/flipped hashes (reference order: rot90,rot180,rot270,"
                "flipx,flipy,flip_plus1,flip_minus1)");
  cmd->add_option("--mode", args->mode,
                  "exact (full resolution; videos: the reference vPDQ's hashes), fast (JPEG "
                  "DCT-scaled decode; videos: less decoding and shrunk luma, a few bits off), "
                  "reference-cli (pdq-photo-hasher's 512x512 pre-resize; videos: exact)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0: one per core)")->capture_default_str();
  cmd->add_option("--max-pixels", args->max_pixels, "Refuse images declaring more pixels")
      ->capture_default_str();
  cmd->add_option("--seconds-per-hash", args->seconds_per_hash,
                  "Videos: one frame hash per this many seconds (0: every frame)")
      ->capture_default_str();
  cmd->add_flag("--exif-orientation", args->exif,
                "Apply EXIF orientation before hashing (off by default, like the reference)");
  cmd->callback([args, &exit_code] { exit_code = run_hash(*args); });
}

}  // namespace imprint::cli
