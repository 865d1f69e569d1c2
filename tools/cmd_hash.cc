// imprint hash: PDQ hashes of images, in the reference tool's "hash,quality,path" form or JSON.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "engine.h"
#include "input_paths.h"

namespace imprint::cli {
namespace {

struct HashArgs {
  std::vector<std::string> paths;
  bool json = false;
  bool dihedral = false;
  std::string mode = "exact";
  int threads = 0;
  int64_t max_pixels = DecodeOptions{}.max_pixels;
  bool exif = false;
};

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

  int failures = 0;
  std::vector<InputPath> batch;
  auto flush = [&] {
    std::vector<Result<ImageFingerprint>> results(batch.size(), internal_error("not processed"));
    parallel_for(batch.size(), threads, [&](size_t i) {
      if (batch[i].error.ok()) results[i] = fingerprint_file(batch[i].path, o);
    });
    for (size_t i = 0; i < batch.size(); ++i) {
      const Status& err = batch[i].error.ok() ? results[i].status() : batch[i].error;
      if (!err.ok()) {
        ++failures;
        std::cerr << "imprint hash: error: " << err.message() << '\n';
      } else {
        print_result(batch[i].path, *results[i], a);
      }
    }
    std::cout.flush();
    batch.clear();
  };
  expand_inputs(a.paths, [&](InputPath p) {
    batch.push_back(std::move(p));
    if (batch.size() >= batch_size) flush();
  });
  flush();
  if (failures > 0) std::cerr << "imprint hash: " << failures << " input(s) failed\n";
  return failures > 0 ? 1 : 0;
}

}  // namespace

void add_hash_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<HashArgs>();
  CLI::App* cmd = app.add_subcommand("hash", "Print PDQ hashes of images (hash,quality,path lines)");
  cmd->add_option("paths", args->paths, "Image files or directories (recursed); - reads paths from stdin")
      ->required();
  cmd->add_flag("--json", args->json, "One JSON object per line");
  cmd->add_flag("--dihedral", args->dihedral,
                "Also print the 7 rotated/flipped hashes (reference order: rot90,rot180,rot270,"
                "flipx,flipy,flip_plus1,flip_minus1)");
  cmd->add_option("--mode", args->mode,
                  "exact (full resolution), fast (JPEG DCT-scaled decode), reference-cli "
                  "(pdq-photo-hasher's 512x512 pre-resize)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0: one per core)")->capture_default_str();
  cmd->add_option("--max-pixels", args->max_pixels, "Refuse images declaring more pixels")
      ->capture_default_str();
  cmd->add_flag("--exif-orientation", args->exif,
                "Apply EXIF orientation before hashing (off by default, like the reference)");
  cmd->callback([args, &exit_code] { exit_code = run_hash(*args); });
}

}  // namespace imprint::cli
