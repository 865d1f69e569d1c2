#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <stdexcept>

namespace imprint::test {
namespace fs = std::filesystem;

std::string shared_dir() {
  if (const char* env = std::getenv("IMPRINT_SHARED_DIR")) return env;
  for (const fs::path& p : {fs::path(IMPRINT_SOURCE_DIR) / ".." / "shared", fs::path("/work/shared")}) {
    if (fs::exists(p / "pdq-reference")) return fs::canonical(p).string();
  }
  throw std::runtime_error("reference folder ../shared not found (set IMPRINT_SHARED_DIR)");
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "imprint-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Image synthetic_photo(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  cv::Mat m(height, width, CV_8UC3);
  // Background: a gradient with a random direction and colours.
  const float a = u(rng) * 6.28f, r0 = u(rng) * 255, g0 = u(rng) * 255, b0 = u(rng) * 255;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const float t = (std::cos(a) * x / width + std::sin(a) * y / height) * 0.5f + 0.5f;
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uint8_t>(b0 * t + 40),
                                        cv::saturate_cast<uint8_t>(g0 * (1 - t) + 20),
                                        cv::saturate_cast<uint8_t>(r0 * t));
    }
  }
  // Shapes at random places and sizes.
  const int scale = std::min(width, height);
  for (int i = 0; i < 24; ++i) {
    const cv::Point c(int(u(rng) * width), int(u(rng) * height));
    const cv::Scalar col(u(rng) * 255, u(rng) * 255, u(rng) * 255);
    const int s = std::max(2, int(u(rng) * scale / 4));
    if (i % 3 == 0) {
      cv::circle(m, c, s, col, cv::FILLED, cv::LINE_AA);
    } else if (i % 3 == 1) {
      cv::rectangle(m, c, c + cv::Point(s, s / 2 + 1), col, cv::FILLED);
    } else {
      cv::line(m, c, c + cv::Point(s, -s), col, std::max(1, s / 10), cv::LINE_AA);
    }
  }
  // Mild texture so JPEG and PDQ see something like a photo.
  // Its own generator: cv::randn would draw from the thread's cv::theRNG(), whose state depends on
  // what ran before, and the same seed must give the same picture in any test order.
  cv::Mat noise(height, width, CV_8UC3);
  cv::RNG noise_rng(uint64_t(seed) * 0x9E3779B97F4A7C15ULL + 1);
  noise_rng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(6));
  cv::GaussianBlur(m, m, cv::Size(3, 3), 0);
  m += noise;
  Image img(width, height, 3);
  cv::Mat rgb(height, width, CV_8UC3, img.pixels.data());
  cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB);
  return img;
}

cv::Mat mat_of(const Image& rgb) {
  return cv::Mat(rgb.height, rgb.width, CV_8UC3, const_cast<uint8_t*>(rgb.pixels.data())).clone();
}

Image image_of(const cv::Mat& rgb) {
  Image out(rgb.cols, rgb.rows, 3);
  rgb.copyTo(cv::Mat(rgb.rows, rgb.cols, CV_8UC3, out.pixels.data()));
  return out;
}

std::vector<uint8_t> encode(const Image& image, const std::string& ext, int quality) {
  cv::Mat m(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
            const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat bgr;
  if (image.channels == 3) {
    cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = m;
  }
  std::vector<int> params;
  if (ext == ".jpg") params = {cv::IMWRITE_JPEG_QUALITY, quality};
  if (ext == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, quality};
  std::vector<uint8_t> out;
  if (!cv::imencode(ext, bgr, out, params)) throw std::runtime_error("imencode failed for " + ext);
  return out;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

int run_command(const std::string& command, std::string* out) {
  FILE* p = popen(command.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    if (out) out->append(buf, n);
  }
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string imprint_binary() { return IMPRINT_BINARY; }

}  // namespace imprint::test
