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

namespace {

// Decodes with OpenCV keeping alpha, and lays transparent pixels over white.
bool load_rgb(const std::string& path, Image* out) {
  cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty()) return false;
  if (m.depth() == CV_16U) m.convertTo(m, CV_8U, 1.0 / 257);
  if (m.depth() != CV_8U) return false;
  cv::Mat rgb;
  if (m.channels() == 4) {
    rgb.create(m.rows, m.cols, CV_8UC3);
    for (int y = 0; y < m.rows; ++y) {
      const cv::Vec4b* s = m.ptr<cv::Vec4b>(y);
      cv::Vec3b* d = rgb.ptr<cv::Vec3b>(y);
      for (int x = 0; x < m.cols; ++x) {
        const int a = s[x][3];
        for (int c = 0; c < 3; ++c) d[x][2 - c] = uint8_t((s[x][c] * a + 255 * (255 - a) + 127) / 255);
      }
    }
  } else if (m.channels() == 3) {
    cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB);
  } else if (m.channels() == 1) {
    cv::cvtColor(m, rgb, cv::COLOR_GRAY2RGB);
  } else {
    return false;
  }
  *out = Image(rgb.cols, rgb.rows, 3);
  const cv::Mat dst(rgb.rows, rgb.cols, CV_8UC3, out->pixels.data());
  rgb.copyTo(dst);
  return true;
}

std::vector<std::string> image_files(const std::vector<std::string>& dirs,
                                     const std::vector<std::string>& skip = {}) {
  std::vector<std::string> paths;
  for (const std::string& dir : dirs) {
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(),
                     [](unsigned char c) { return char(std::tolower(c)); });
      if (!e.is_regular_file() || !(ext == ".jpg" || ext == ".jpeg" || ext == ".png")) continue;
      std::error_code ec;
      const std::string p = fs::canonical(e.path(), ec).string();  // links name their target
      if (ec) continue;
      if (std::any_of(skip.begin(), skip.end(),
                      [&](const std::string& s) { return p.find(s) != std::string::npos; })) {
        continue;
      }
      paths.push_back(p);
    }
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

}  // namespace

int evaluation_half(const std::string& path) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: the same on every machine
  for (const char c : design_key(path)) h = (h ^ uint8_t(c)) * 1099511628211ull;
  return int((h >> 17) & 1);
}

std::vector<SourcePhoto> load_wide_sources(size_t per_group) {
  struct Group {
    const char* name;
    std::vector<std::string> dirs;
    std::vector<std::string> skip;
    int min_side;   // smaller pictures are icons, sprites and glyphs
    int tile_side;  // at least this: cut into several works
  };
  const std::vector<Group> groups = {
      {"wallpaper",
       {"/usr/share/backgrounds/gnome", "/usr/share/backgrounds/mate", "/usr/share/backgrounds/sway",
        "/usr/share/desktop-base", "/usr/share/plymouth/themes", "/usr/share/images/desktop-base"},
       {"/debian-logos/", "logo", "password", "bullet", "progress", "throbber", "box", "lock",
        "entry", "capslock", "keyboard"},
       500, 800},
      {"painted", {"/usr/share/games/wesnoth/1.16/data/core/images"}, {"/icons/", "/misc/"}, 300, 1000},
      {"clipart", {"/usr/share/openclipart/png"}, {}, 400, 1000},
      {"stamp", {"/usr/share/tuxpaint/stamps"}, {}, 300, 1000},
  };
  std::vector<SourcePhoto> out;
  size_t found_groups = 0;
  for (const Group& g : groups) {
    const std::vector<std::string> paths = image_files(g.dirs, g.skip);
    found_groups += !paths.empty();
    // Sizes first (cheap for PNG and JPEG headers through probe_image), then an even spread.
    std::vector<std::string> usable;
    for (const std::string& p : paths) {
      std::ifstream f(p, std::ios::binary);
      std::vector<uint8_t> head(65536);
      f.read(reinterpret_cast<char*>(head.data()), std::streamsize(head.size()));
      head.resize(size_t(f.gcount()));
      Result<ImageInfo> info = probe_image(head);
      if (info.ok() && std::min(info->width, info->height) >= g.min_side) usable.push_back(p);
    }
    const size_t n = g.tile_side <= 800 ? usable.size() : std::min(per_group, usable.size());
    for (size_t k = 0; k < n; ++k) {
      const std::string& p = usable[k * usable.size() / n];
      SourcePhoto s;
      if (!load_rgb(p, &s.image)) continue;
      s.path = p;
      s.group = g.name;
      s.tiled = std::min(s.image.width, s.image.height) >= g.tile_side;
      out.push_back(std::move(s));
    }
  }
  if (found_groups < groups.size()) {
    std::fprintf(stderr,
                 "some picture packages are missing: install gnome-backgrounds mate-backgrounds "
                 "sway-backgrounds desktop-base debian-edu-artwork-{buster,emerald,homeworld,"
                 "softwaves,spacefun} wesnoth-1.16-data openclipart-png tuxpaint-stamps-default\n");
    std::exit(2);
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
