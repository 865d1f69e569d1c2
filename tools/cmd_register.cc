// imprint register: fingerprint image and video files and register them as works with their
// licence.
#include <filesystem>
#include <iostream>
#include <map>

#include "catalog_args.h"
#include "commands.h"
#include "input_paths.h"
#include "registration.h"
#include "video_ingest.h"

namespace imprint::cli {
namespace {
namespace fs = std::filesystem;

struct RegisterArgs {
  CatalogArgs catalog;
  LicenceArgs licence;
  std::vector<std::string> paths;
  std::string id, title, owner;
  std::vector<std::string> meta;  // KEY=VALUE
  bool replace = false;
  int threads = 0;
  int batch = 0;
  double seconds_per_hash = VideoOptions{}.seconds_per_hash;
  std::string video_mode = "exact";
};

// A video file as a work: its frames, the hashes inside black bars, its digest.
Result<WorkInput> video_work_input(const std::string& path, const VideoOptions& o) {
  Result<HashedVideo> v = hash_video_for_catalog(path, o, VideoProgressLine("register", path));
  if (!v.ok()) return v.status();
  if (v->fingerprint.partial) {
    std::cerr << "imprint register: " << path << ": registering the part that decodes ("
              << v->fingerprint.partial_reason << ")\n";
  }
  Result<Sha256> digest = sha256_of_file(path);
  if (!digest.ok()) return digest.status();
  WorkInput in = work_input_from_video(*v, o.seconds_per_hash);
  in.work.sha256 = *digest;
  name_work_after_file(path, &in.work);
  return in;
}

int run_register(const RegisterArgs& a) {
  Result<LicencePolicy> policy = licence_from_args(a.licence);
  if (!policy.ok()) {
    std::cerr << "imprint register: " << policy.status().message() << '\n';
    return 2;
  }
  if (!a.id.empty() && (a.paths.size() != 1 || a.paths[0] == "-" || fs::is_directory(a.paths[0]))) {
    std::cerr << "imprint register: --id names one work, so give exactly one image or video file\n";
    return 2;
  }
  std::map<std::string, std::string> metadata;
  for (const std::string& kv : a.meta) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "imprint register: --meta takes KEY=VALUE, not '" << kv << "'\n";
      return 2;
    }
    metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::unique_ptr<Catalog> catalog = open_catalog(a.catalog, false, "register");
  if (!catalog) return 2;

  const int threads = a.threads > 0 ? a.threads : default_thread_count();
  int failures = 0, registered = 0;
  VideoOptions vo;
  vo.seconds_per_hash = a.seconds_per_hash;
  Result<HashMode> video_mode = parse_hash_mode(a.video_mode);
  if (!video_mode.ok()) {
    std::cerr << "imprint register: --video-mode: " << video_mode.status().message() << '\n';
    return 2;
  }
  vo.mode = *video_mode;
  std::vector<InputPath> batch;
  auto flush = [&] {
    std::vector<Result<WorkInput>> prepared(batch.size(), internal_error("not processed"));
    VideoOptions one = vo;  // a lone video may decode on every thread
    one.threads = batch.size() == 1 ? threads : 1;
    parallel_for(batch.size(), threads, [&](size_t i) {
      if (!batch[i].error.ok()) {
        prepared[i] = batch[i].error;
        return;
      }
      if (is_video_file(batch[i].path)) {
        prepared[i] = video_work_input(batch[i].path, one);
        return;
      }
      prepared[i] = image_work_input_from_file(batch[i].path);
    });
    std::vector<WorkInput> inputs;
    std::vector<size_t> origin;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!prepared[i].ok()) {
        ++failures;
        std::cerr << "imprint register: error: " << prepared[i].status().message() << '\n';
        continue;
      }
      WorkInput in = std::move(*prepared[i]);
      if (!a.id.empty()) in.work.id = a.id;
      if (!a.title.empty()) in.work.title = a.title;
      in.work.owner = a.owner;
      in.work.licence = *policy;
      in.work.metadata = metadata;
      inputs.push_back(std::move(in));
      origin.push_back(i);
    }
    // Acknowledged only after the batch's transaction has committed.
    std::vector<Result<Work>> done = catalog->register_works(inputs, a.replace);
    for (size_t k = 0; k < done.size(); ++k) {
      if (!done[k].ok()) {
        ++failures;
        std::cerr << "imprint register: error: " << batch[origin[k]].path << ": "
                  << done[k].status().message()
                  << (done[k].status().code() == StatusCode::kAlreadyExists ? " (use --replace)" : "")
                  << '\n';
        continue;
      }
      nlohmann::json j = registration_to_json(*done[k], inputs[k]);
      j["path"] = batch[origin[k]].path;
      std::cout << j.dump() << '\n';
      ++registered;
    }
    std::cout.flush();
    batch.clear();
  };
  const size_t batch_size = a.batch > 0 ? size_t(a.batch) : size_t(threads) * 64;
  expand_inputs(
      a.paths,
      [&](InputPath p) {
        batch.push_back(std::move(p));
        if (batch.size() >= batch_size) flush();
      },
      /*videos=*/true);
  flush();
  std::cerr << "imprint register: " << registered << " registered, " << failures << " failed\n";
  return failures > 0 ? 1 : 0;
}

}  // namespace

void add_register_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<RegisterArgs>();
  CLI::App* cmd =
      app.add_subcommand("register", "Register image and video files as works, with their licence");
  add_catalog_option(cmd, a->catalog);
  add_licence_options(cmd, a->licence);
  cmd->add_option("paths", a->paths,
                  "Image or video files, or directories (recursed); - reads paths from stdin")
      ->required();
  cmd->add_option("--id", a->id, "Work id (one file only; default: the file name without extension)");
  cmd->add_option("--title", a->title, "Title (default: the file name without extension)");
  cmd->add_option("--owner", a->owner, "Rights holder");
  cmd->add_option("--meta", a->meta,
                  "KEY=VALUE kept with each work and returned with it (repeat for more)");
  cmd->add_flag("--replace", a->replace, "Replace works whose id is already registered");
  cmd->add_option("--threads", a->threads, "Hashing threads (0: one per core)");
  cmd->add_option("--seconds-per-hash", a->seconds_per_hash,
                  "Videos: one frame hash per this many seconds (0: every frame; denser works "
                  "align copies of fast footage at any phase, at that much more storage)")
      ->capture_default_str();
  cmd->add_option("--video-mode", a->video_mode, "Videos: exact (the reference vPDQ's frame hashes, bit for bit) or fast (approximate: a few bits off, about twice as fast at 1080p)")
      ->capture_default_str();
  cmd->add_option("--batch", a->batch,
                  "Works per transaction (default 64 per thread); each batch is acknowledged on commit");
  cmd->callback([a, &exit_code] { exit_code = run_register(*a); });
}

}  // namespace imprint::cli
