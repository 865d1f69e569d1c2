// make_samples DIR: sample works and uploads for the demo, cut from the wallpaper packages.
//   DIR/works/    8 registered works (JPEG, ~1 MP), regions of different wallpapers
//   DIR/uploads/  edited copies of some works (recompressed, resized, mirrored, rotated,
//                 brightened, shrunk) and unrelated images (works never registered)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "engine.h"
#include "photo_corpus.h"

namespace fs = std::filesystem;
using namespace imprint;
using namespace imprint::bench;

namespace {

cv::Mat to_mat(const Image& img) {
  return cv::Mat(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.pixels.data())).clone();
}

Image from_mat(const cv::Mat& m) {
  Image out(m.cols, m.rows, 3);
  m.copyTo(cv::Mat(m.rows, m.cols, CV_8UC3, out.pixels.data()));
  return out;
}

void save(const fs::path& p, const Image& img, int quality) {
  const std::vector<uint8_t> b = encode_jpeg(img, quality);
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_samples DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir / "works");
  fs::create_directories(dir / "uploads");
  const std::vector<SourcePhoto> photos = load_source_photos();
  // Works: the centre 70% of photographs (is_photograph), at about 1 MP, one per design. Unrelated
  // uploads come from wallpapers of other designs: a light and a dark variant of one pattern are
  // the same artwork, and the second stage rightly finds one in the other.
  std::vector<Image> works, strangers;
  std::set<std::string> work_designs;
  for (const SourcePhoto& p : photos) {
    if (works.size() >= 8) break;
    if (!is_photograph(p.path) || work_designs.count(design_key(p.path))) continue;
    const Image& s = p.image;
    const int w = s.width * 7 / 10, h = s.height * 7 / 10;
    const double scale = std::sqrt(1e6 / (double(w) * h));
    Image work = cut(s, (s.width - w) / 2, (s.height - h) / 2, w, h, int(w * scale), int(h * scale));
    // Flat regions make weak hashes (quality < 50) that PDQ cannot act on; demo works are
    // textured.
    if (pdq_hash(work).quality < 70) continue;
    works.push_back(std::move(work));
    work_designs.insert(design_key(p.path));
    const fs::path stem = fs::path(p.path).stem();
    save(dir / "works" / (stem.string() + ".jpg"), works.back(), 92);
  }
  // Two unregistered photographs and one pattern, each of its own design.
  std::set<std::string> stranger_designs;
  for (const bool photograph : {true, false}) {
    for (const SourcePhoto& p : photos) {
      if (strangers.size() >= (photograph ? 2u : 3u)) break;
      const std::string design = design_key(p.path);
      if (is_photograph(p.path) != photograph || work_designs.count(design) ||
          stranger_designs.count(design)) {
        continue;
      }
      strangers.push_back(resize_to_area(p.image, 0.5));
      stranger_designs.insert(design);
    }
  }
  if (works.size() < 6 || strangers.size() < 3) {
    std::fprintf(stderr, "make_samples: the wallpaper packages gave %zu works and %zu strangers\n",
                 works.size(), strangers.size());
    return 1;
  }
  // Uploads: edits of the first six works.
  int n = 0;
  auto upload = [&](const std::string& what, const Image& img) {
    char name[64];
    std::snprintf(name, sizeof name, "upload-%02d-%s.jpg", ++n, what.c_str());
    save(dir / "uploads" / name, img, 80);
  };
  upload("recompressed", works[0]);
  upload("half-size", resize_to_area(works[1], 0.25));
  cv::Mat m = to_mat(works[2]);
  cv::flip(m, m, 1);
  upload("mirrored", from_mat(m));
  m = to_mat(works[3]);
  cv::rotate(m, m, cv::ROTATE_90_CLOCKWISE);
  upload("rotated", from_mat(m));
  m = to_mat(works[4]);
  m.convertTo(m, -1, 1.05, 12);
  upload("brighter", from_mat(m));
  upload("small-low-quality", resize_to_area(works[5], 0.1));
  for (const Image& s : strangers) upload("unrelated", s);
  std::printf("%zu works in %s, %d uploads in %s\n", works.size(), (dir / "works").c_str(), n,
              (dir / "uploads").c_str());
  return 0;
}
