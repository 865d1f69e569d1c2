// imprint compare A B: Hamming distance between two hashes or images.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "engine.h"

namespace imprint::cli {
namespace {

// A 64-hex-digit argument is a hash; anything else is an image file.
Result<PdqResult> hash_of(const std::string& arg) {
  if (arg.size() == 64) {
    Result<PdqHash> h = PdqHash::from_hex(arg);
    if (h.ok()) return PdqResult{*h, 100};
  }
  Result<ImageFingerprint> fp = fingerprint_file(arg, HashOptions{});
  if (!fp.ok()) return fp.status();
  return fp->pdq;
}

}  // namespace

void add_compare_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<std::string>();
  auto b = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "compare", "Distance between two images or 64-hex PDQ hashes, and whether it is a match");
  cmd->add_option("a", *a, "Image file or PDQ hash")->required();
  cmd->add_option("b", *b, "Image file or PDQ hash")->required();
  cmd->add_flag("--json", *json, "Print a JSON object");
  cmd->callback([a, b, json, &exit_code] {
    Result<PdqResult> ha = hash_of(*a), hb = hash_of(*b);
    for (const auto* r : {&ha, &hb}) {
      if (!r->ok()) {
        std::cerr << "imprint compare: error: " << r->status().message() << '\n';
        exit_code = 1;
        return;
      }
    }
    const int d = ha->hash.distance(hb->hash);
    const bool match = d <= kPdqMatchDistance;
    const bool weak = ha->quality < kPdqMinUsefulQuality || hb->quality < kPdqMinUsefulQuality;
    if (*json) {
      std::cout << nlohmann::json{{"a", ha->hash.to_hex()}, {"b", hb->hash.to_hex()},
                                  {"distance", d}, {"threshold", kPdqMatchDistance},
                                  {"match", match}, {"weak", weak}}
                       .dump()
                << '\n';
    } else {
      std::cout << "distance " << d << ": " << (match ? "match" : "no match") << " (threshold "
                << kPdqMatchDistance << ")";
      if (weak) std::cout << "; warning: a quality below " << kPdqMinUsefulQuality << " makes this unreliable";
      std::cout << '\n';
    }
  });
}

}  // namespace imprint::cli
