// Picture-region search cost: find_picture_regions() as it runs (the best 64 rectangles ranked,
// the rest searched only for near-duplicates of the kept ones) against ranking every supported
// rectangle (PictureRegionOptions::ranked unbounded), in the same run on the same pictures. Both
// must give the same regions; the program exits 1 when any picture's differ.
//
//   build/benchmarks/picture_regions [--repeat 3] [--collages 40]
//
// Pictures: grids of flat blocks (the worst case: every pair of grid lines bounds a supported
// rectangle), collages of 1-5 x 1-4 wallpaper cuts with gutters and a picture-in-picture, and the
// wallpapers themselves (gnome/mate/sway-backgrounds, benchmarks/photo_corpus.h). The baseline
// shares the support tables of the current code, so it measures the ranking alone; the function
// before 2026-12-07 also scanned every line for each rectangle's crossing test.
#include "picture_regions.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <vector>

#include "measure.h"
#include "photo_corpus.h"

namespace imprint::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Picture {
  std::string kind;
  Image image;
};

Image image_of(const cv::Mat& m) {
  Image out(m.cols, m.rows, 3);
  m.copyTo(cv::Mat(m.rows, m.cols, CV_8UC3, out.pixels.data()));
  return out;
}

cv::Mat mat_of(const Image& i) {
  return cv::Mat(i.height, i.width, CV_8UC3, const_cast<uint8_t*>(i.pixels.data()));
}

bool same(const std::vector<PixelRect>& a, const std::vector<PixelRect>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].x != b[i].x || a[i].y != b[i].y || a[i].width != b[i].width ||
        a[i].height != b[i].height) {
      return false;
    }
  }
  return true;
}

// Milliseconds of the fastest of `repeat` calls, and the regions found.
double time_ms(const Image& image, const PictureRegionOptions& o, int repeat,
               std::vector<PixelRect>* found) {
  double best = 1e18;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = Clock::now();
    *found = find_picture_regions(image, o);
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

int run(int argc, char** argv) {
  int repeat = 3, collages = 40;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--repeat")) repeat = std::max(1, std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--collages")) collages = std::max(0, std::atoi(argv[i + 1]));
  }
  std::vector<Picture> pictures;
  std::mt19937 rng(7);
  for (int cells = 16; cells <= 52; cells += 4) {
    constexpr int kSide = 1200;
    cv::Mat grid(kSide, kSide, CV_8UC3);
    for (int i = 0; i < cells; ++i) {
      for (int j = 0; j < cells; ++j) {
        cv::rectangle(
            grid,
            cv::Rect(i * kSide / cells, j * kSide / cells, kSide / cells + 1, kSide / cells + 1),
            cv::Scalar(rng() % 256, rng() % 256, rng() % 256), cv::FILLED);
      }
    }
    pictures.push_back({"block grid", image_of(grid)});
  }
  const std::vector<SourcePhoto> photos = load_source_photos();
  for (int k = 0; k < collages && !photos.empty(); ++k) {
    const int gx = 1 + int(rng() % 5), gy = 1 + int(rng() % 4), gut = int(rng() % 12);
    const int w = 600 + int(rng() % 800), h = 400 + int(rng() % 700);
    cv::Mat c(h, w, CV_8UC3, cv::Scalar(rng() % 256, rng() % 256, rng() % 256));
    const int cw = (w - gut * (gx + 1)) / gx, ch = (h - gut * (gy + 1)) / gy;
    for (int i = 0; i < gx; ++i) {
      for (int j = 0; j < gy; ++j) {
        cv::Mat cell;
        cv::resize(mat_of(photos[rng() % photos.size()].image), cell, cv::Size(cw, ch), 0, 0,
                   cv::INTER_AREA);
        cell.copyTo(c(cv::Rect(gut + i * (cw + gut), gut + j * (ch + gut), cw, ch)));
      }
    }
    cv::Mat pip;
    cv::resize(mat_of(photos[rng() % photos.size()].image), pip, cv::Size(w / 3, h / 3), 0, 0,
               cv::INTER_AREA);
    pip.copyTo(c(cv::Rect(w / 2, h / 2, w / 3, h / 3)));
    pictures.push_back({"collage", image_of(c)});
  }
  for (const SourcePhoto& p : photos) pictures.push_back({"wallpaper", p.image});

  struct Row {
    int n = 0;
    std::vector<double> ranked, all;
  };
  std::vector<std::pair<std::string, Row>> rows;
  int differ = 0;
  for (const Picture& p : pictures) {
    PictureRegionOptions bounded, every;
    every.ranked = 1 << 30;
    std::vector<PixelRect> a, b;
    const double ta = time_ms(p.image, bounded, repeat, &a);
    const double tb = time_ms(p.image, every, repeat, &b);
    differ += !same(a, b);
    auto it =
        std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.first == p.kind; });
    if (it == rows.end()) it = rows.insert(rows.end(), {p.kind, Row{}});
    it->second.n += 1;
    it->second.ranked.push_back(ta);
    it->second.all.push_back(tb);
  }
  std::printf("# find_picture_regions: the best 64 ranked vs every rectangle ranked\n\n");
  std::printf("Machine: %s. Fastest of %d calls per picture, one thread.\n\n",
              machine_description().c_str(), repeat);
  std::printf(
      "| pictures | n | ranked 64: mean ms | p95 | max | every rectangle ranked: mean ms | p95 | "
      "max | mean ratio |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& [kind, r] : rows) {
    double sa = 0, sb = 0;
    for (double v : r.ranked) sa += v;
    for (double v : r.all) sb += v;
    std::printf("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n", kind.c_str(), r.n,
                sa / r.n, percentile(r.ranked, 0.95), percentile(r.ranked, 1.0), sb / r.n,
                percentile(r.all, 0.95), percentile(r.all, 1.0), sb / std::max(sa, 1e-9));
  }
  std::printf("\nPictures whose regions differ between the two: %d of %zu\n", differ,
              pictures.size());
  return differ == 0 ? 0 : 1;
}

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) { return imprint::bench::run(argc, argv); }
