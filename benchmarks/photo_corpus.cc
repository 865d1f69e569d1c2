#include "photo_corpus.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "engine.h"

namespace imprint::bench {
namespace fs = std::filesystem;

bool is_photograph(const std::string& path) {
  return (path.find("/nature/") != std::string::npos && path.find("Wood") == std::string::npos &&
          path.find("Blinds") == std::string::npos) ||
         path.find("Elephants") != std::string::npos;
}

std::string design_key(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  std::transform(stem.begin(), stem.end(), stem.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  for (const char* suffix : {"_portrait", "-l", "-d"}) {
    const std::string s = suffix;
    if (stem.size() > s.size() && stem.compare(stem.size() - s.size(), s.size(), s) == 0) {
      stem.resize(stem.size() - s.size());
    }
  }
  // A trailing size ("_1920x1080") names a rendering of the same design.
  const size_t us = stem.rfind('_');
  if (us != std::string::npos && stem.find('x', us) != std::string::npos &&
      std::all_of(stem.begin() + long(us) + 1, stem.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == 'x'; })) {
    stem.resize(us);
  }
  return stem;
}

std::vector<SourcePhoto> load_source_photos() {
  std::vector<std::string> paths;
  for (const char* dir : {"/usr/share/backgrounds/gnome", "/usr/share/backgrounds/mate",
                          "/usr/share/backgrounds/sway"}) {
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".jpg" || ext == ".png" || ext == ".webp")) {
        paths.push_back(e.path().string());
      }
    }
  }
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) {
    std::fprintf(stderr,
                 "no wallpapers found: install gnome-backgrounds mate-backgrounds sway-backgrounds "
                 "(scripts/install-deps.sh)\n");
    std::exit(2);
  }
  std::vector<SourcePhoto> out;
  for (const std::string& p : paths) {
    Result<Image> img = decode_file(p);
    if (!img.ok() || std::min(img->width, img->height) < 600) continue;
    if (img->channels == 1) continue;
    if (pdq_hash(*img).quality < kPdqMinUsefulQuality) continue;
    out.push_back({p, std::move(*img)});
  }
  return out;
}

static cv::Mat as_mat(const Image& img) {
  return cv::Mat(img.height, img.width, img.channels == 1 ? CV_8UC1 : CV_8UC3,
                 const_cast<uint8_t*>(img.pixels.data()));
}

static Image from_mat(const cv::Mat& m) {
  Image out(m.cols, m.rows, m.channels());
  const cv::Mat dst(m.rows, m.cols, m.type(), out.pixels.data());
  m.copyTo(dst);
  return out;
}

Image cut(const Image& src, int x, int y, int w, int h, int out_w, int out_h) {
  cv::Mat roi = as_mat(src)(cv::Rect(x, y, w, h));
  cv::Mat resized;
  cv::resize(roi, resized, cv::Size(out_w, out_h), 0, 0, cv::INTER_AREA);
  return from_mat(resized);
}

Image resize_to_area(const Image& src, double megapixels) {
  const double scale = std::sqrt(megapixels * 1e6 / (double(src.width) * src.height));
  const int w = std::max(8, int(src.width * scale)), h = std::max(8, int(src.height * scale));
  cv::Mat resized;
  cv::resize(as_mat(src), resized, cv::Size(w, h), 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
  return from_mat(resized);
}

std::vector<uint8_t> encode_as(const Image& image, const std::string& ext, int quality) {
  cv::Mat bgr;
  if (image.channels == 3) {
    cv::cvtColor(as_mat(image), bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = as_mat(image);
  }
  std::vector<int> params;
  if (ext == ".jpg") params = {cv::IMWRITE_JPEG_QUALITY, quality};
  if (ext == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, quality};
  std::vector<uint8_t> out;
  cv::imencode(ext, bgr, out, params);
  return out;
}

std::vector<uint8_t> encode_jpeg(const Image& image, int quality) {
  return encode_as(image, ".jpg", quality);
}

std::string machine_description() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, " + date;
}

}  // namespace imprint::bench
