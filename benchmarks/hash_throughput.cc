// Hashing throughput per core, per image size class, for imprint's exact and fast modes and
// OpenCV img_hash's PHash as the baseline, all on the same JPEGs in the same run; then how far
// fast-mode hashes land from exact ones.
//
//   build/benchmarks/hash_throughput [--seconds S] [--per-class N]
#include <opencv2/img_hash.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine.h"
#include "measure.h"
#include "photo_corpus.h"

namespace imprint::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct SizeClass {
  std::string name;
  double megapixels;  // 0: keep the source size (capped at 8 MP)
  std::vector<std::vector<uint8_t>> jpegs;
  double mean_mp = 0;
};

// Images per second of `fn` over the set, repeated until `seconds` have passed.
double images_per_second(const std::vector<std::vector<uint8_t>>& set, double seconds,
                         const std::function<void(const std::vector<uint8_t>&)>& fn) {
  size_t done = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    for (const auto& b : set) fn(b);
    done += set.size();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  return double(done) / elapsed;
}

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  using namespace imprint;
  using namespace imprint::bench;
  double seconds = 2.0;
  int per_class = 24;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--per-class")) per_class = std::atoi(argv[i + 1]);
  }
  cv::setNumThreads(1);

  const std::vector<SourcePhoto> photos = load_source_photos();
  std::printf("# Hashing throughput, one core\n\n");
  std::printf("Machine: %s\n", machine_description().c_str());
  std::printf("Inputs: %zu wallpapers from gnome/mate/sway-backgrounds; per size class %d JPEG "
              "works (quality 90) cut at random places, decoded from memory; %.1f s per cell.\n\n",
              photos.size(), per_class, seconds);

  std::vector<SizeClass> classes = {{"0.25 MP", 0.25, {}}, {"1 MP", 1.0, {}}, {"4-8 MP", 0, {}}};
  std::mt19937 rng(1234);
  for (SizeClass& c : classes) {
    double mp = 0;
    for (int i = 0; i < per_class; ++i) {
      const SourcePhoto& src = photos[i % photos.size()];
      const Image& s = src.image;
      Image work;
      if (c.megapixels > 0) {
        // A 3:2 region covering 50-90% of the source's width, resized to the class's area.
        const int w = int(s.width * std::uniform_real_distribution<double>(0.5, 0.9)(rng));
        const int h = std::min(s.height, w * 2 / 3);
        const int x = std::uniform_int_distribution<int>(0, s.width - w)(rng);
        const int y = std::uniform_int_distribution<int>(0, s.height - h)(rng);
        const double scale = std::sqrt(c.megapixels * 1e6 / (double(w) * h));
        work = cut(s, x, y, w, h, int(w * scale), int(h * scale));
      } else {
        // The original photo, scaled down only when over 8 MP.
        const double area = double(s.width) * s.height / 1e6;
        work = area > 8 ? resize_to_area(s, 8.0) : s;
        if (area < 3.9) work = resize_to_area(s, 4.0);
      }
      mp += double(work.width) * work.height / 1e6;
      c.jpegs.push_back(encode_jpeg(work, 90));
    }
    c.mean_mp = mp / per_class;
  }

  HashOptions exact;
  exact.sha256 = false;
  HashOptions fast = exact;
  fast.mode = HashMode::kFast;
  HashOptions cli = exact;
  cli.mode = HashMode::kReferenceCli;
  auto phash = cv::img_hash::PHash::create();

  std::printf("| size class (mean MP) | decode only | exact | fast | reference-cli | OpenCV PHash (baseline) | fast / exact | fast / PHash |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (SizeClass& c : classes) {
    const double decode = images_per_second(c.jpegs, seconds, [](const auto& b) {
      Result<Image> img = decode_image(b);
      if (!img.ok()) std::abort();
    });
    const double e = images_per_second(c.jpegs, seconds, [&](const auto& b) {
      if (!fingerprint_image(b, exact).ok()) std::abort();
    });
    const double f = images_per_second(c.jpegs, seconds, [&](const auto& b) {
      if (!fingerprint_image(b, fast).ok()) std::abort();
    });
    const double r = images_per_second(c.jpegs, seconds, [&](const auto& b) {
      if (!fingerprint_image(b, cli).ok()) std::abort();
    });
    const double p = images_per_second(c.jpegs, seconds, [&](const auto& b) {
      cv::Mat m = cv::imdecode(b, cv::IMREAD_COLOR);
      cv::Mat h;
      phash->compute(m, h);
    });
    std::printf("| %s (%.2f) | %.1f | %.1f | %.1f | %.1f | %.1f | %.2fx | %.2fx |\n", c.name.c_str(),
                c.mean_mp, decode, e, f, r, p, f / e, f / p);
    std::fflush(stdout);
  }
  std::printf("\nCells are images per second on one core (decode + hash from memory).\n");

  std::printf("\n# Fast mode versus exact hashes\n\n");
  std::printf("Bits that differ between the fast-mode hash and the exact hash of the same JPEG, "
              "over all %d works, by the shorter side fast mode keeps; 1 MP throughput beside it.\n\n",
              per_class * 3);
  std::printf("| fast_min_side | median bits | p99 bits | max bits | 1 MP images/s |\n|---|---|---|---|---|\n");
  for (int side : {64, 96, 128, 192, 256}) {
    HashOptions o = fast;
    o.fast_min_side = side;
    std::vector<int> d;
    for (const SizeClass& c : classes) {
      for (const auto& b : c.jpegs) {
        d.push_back(fingerprint_image(b, o)->pdq.hash.distance(fingerprint_image(b, exact)->pdq.hash));
      }
    }
    const double speed = images_per_second(classes[1].jpegs, seconds / 2, [&](const auto& b) {
      if (!fingerprint_image(b, o).ok()) std::abort();
    });
    std::printf("| %d%s | %d | %d | %d | %.1f |\n", side, side == HashOptions{}.fast_min_side ? " (default)" : "",
                percentile(d, 0.5), percentile(d, 0.99), percentile(d, 1.0), speed);
  }
  return 0;
}
