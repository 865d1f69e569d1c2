#include "test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gif_lib.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
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

std::vector<uint8_t> encode_gif(const Image& rgb) {
  if (rgb.channels != 3) throw std::runtime_error("encode_gif takes RGB");
  std::vector<GifColorType> colours;
  for (int r = 0; r < 6; ++r)
    for (int g = 0; g < 7; ++g)
      for (int b = 0; b < 6; ++b)
        colours.push_back({GifByteType(r * 51), GifByteType(g * 255 / 6), GifByteType(b * 51)});
  while (colours.size() < 256) colours.push_back({0, 0, 0});
  std::vector<uint8_t> out;
  auto write = [](GifFileType* g, const GifByteType* data, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(g->UserData);
    v->insert(v->end(), data, data + n);
    return n;
  };
  int err = 0;
  GifFileType* g = EGifOpen(&out, write, &err);
  if (!g) throw std::runtime_error("EGifOpen failed");
  ColorMapObject* cmap = GifMakeMapObject(256, colours.data());
  EGifPutScreenDesc(g, rgb.width, rgb.height, 8, 0, cmap);
  EGifPutImageDesc(g, 0, 0, rgb.width, rgb.height, false, nullptr);
  std::vector<GifPixelType> row(size_t(rgb.width));
  for (int y = 0; y < rgb.height; ++y) {
    const uint8_t* p = rgb.pixels.data() + size_t(y) * rgb.width * 3;
    for (int x = 0; x < rgb.width; ++x, p += 3) {
      const int r = (p[0] + 25) / 51, gg = (p[1] * 6 + 127) / 255, b = (p[2] + 25) / 51;
      row[size_t(x)] = GifPixelType(r * 42 + gg * 6 + b);
    }
    EGifPutLine(g, row.data(), rgb.width);
  }
  EGifCloseFile(g, &err);
  GifFreeMapObject(cmap);
  return out;
}

namespace {

// Offset of the first JPEG marker `code` (0xFF code) after the SOI, or npos.
size_t find_jpeg_marker(const std::vector<uint8_t>& b, uint8_t code) {
  for (size_t i = 2; i + 1 < b.size(); ++i) {
    if (b[i] == 0xff && b[i + 1] == code) return i;
  }
  return std::string::npos;
}

std::vector<uint8_t> cut(const std::vector<uint8_t>& b, size_t n) {
  return std::vector<uint8_t>(b.begin(), b.begin() + std::ptrdiff_t(std::min(n, b.size())));
}

}  // namespace

std::vector<CorruptVariant> corrupt_variants(const std::vector<uint8_t>& valid, const std::string& ext) {
  std::vector<CorruptVariant> v;
  const size_t n = valid.size();
  v.push_back({"first 200 bytes", cut(valid, 200)});
  v.push_back({"first 400 bytes", cut(valid, 400)});
  v.push_back({"half", cut(valid, n / 2)});
  v.push_back({"all but 2 bytes", cut(valid, n - 2)});
  v.push_back({"header only (16 bytes)", cut(valid, 16)});
  {
    std::vector<uint8_t> flipped = valid;
    std::mt19937 rng{uint32_t(n)};
    for (int k = 0; k < 24; ++k) flipped[n / 4 + rng() % (n / 2)] ^= uint8_t(1 + rng() % 255);
    v.push_back({"24 flipped bytes", flipped});
  }
  if (ext == ".jpg") {
    const size_t dht = find_jpeg_marker(valid, 0xc4);
    const size_t sof = find_jpeg_marker(valid, 0xc0);
    const size_t sos = find_jpeg_marker(valid, 0xda);
    if (dht != std::string::npos) {
      v.push_back({"cut inside the Huffman tables", cut(valid, dht + 40)});
      std::vector<uint8_t> bogus = valid;
      bogus[dht + 4] = 0x7f;  // table class/id nibbles no decoder accepts
      v.push_back({"bogus Huffman table id", bogus});
    }
    if (sof != std::string::npos) {
      std::vector<uint8_t> tall = valid;  // height x4: the data ends long before the image
      const int h = (tall[sof + 5] << 8 | tall[sof + 6]) * 4;
      tall[sof + 5] = uint8_t(h >> 8);
      tall[sof + 6] = uint8_t(h);
      v.push_back({"declared height x4", tall});
      std::vector<uint8_t> zero = valid;
      zero[sof + 7] = zero[sof + 8] = 0;
      v.push_back({"declared width 0", zero});
      std::vector<uint8_t> comps = valid;
      comps[sof + 9] = 7;  // seven components in a three-component frame header
      v.push_back({"bogus component count", comps});
    }
    if (sos != std::string::npos) {
      v.push_back({"cut just after the scan header", cut(valid, sos + 20)});
      std::vector<uint8_t> marker = valid;  // a reserved marker in the middle of the entropy data
      const size_t at = sos + (n - sos) / 2;
      marker.insert(marker.begin() + std::ptrdiff_t(at), {0xff, 0xc8, 0x00, 0x04, 0x00, 0x00});
      v.push_back({"reserved marker in the scan", marker});
    }
  } else if (ext == ".png") {
    std::vector<uint8_t> wide = valid;  // IHDR width (bytes 16..19) doubled, CRC left stale
    wide[18] = uint8_t(wide[18] * 2 + 1);
    v.push_back({"IHDR width changed", wide});
    std::vector<uint8_t> chunk = valid;  // the first IDAT renamed to an unknown critical chunk
    for (size_t i = 8; i + 8 < n; ++i) {
      if (chunk[i] == 'I' && chunk[i + 1] == 'D' && chunk[i + 2] == 'A' && chunk[i + 3] == 'T') {
        chunk[i + 1] = 'X';
        break;
      }
    }
    v.push_back({"unknown critical chunk", chunk});
  } else if (ext == ".gif") {
    std::vector<uint8_t> wide = valid;  // image descriptor wider than the logical screen
    wide[6] = 0xff;
    wide[7] = 0x7f;
    v.push_back({"screen width 32767", wide});
  } else if (ext == ".bmp" || ext == ".tiff" || ext == ".webp") {
    std::vector<uint8_t> dims = valid;
    for (size_t i = 12; i < std::min<size_t>(n, 40); ++i) dims[i] ^= 0x5a;
    v.push_back({"header fields scrambled", dims});
  }
  return v;
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

// Runs `imprint register` on `images` and SIGKILLs it after `kill_after` acknowledgement lines.
// Returns the ids it acknowledged (complete JSON lines on its stdout).
//
// The child cannot finish first, however slow the test is: its stdout is a pipe shrunk to one
// page (4 KiB, about 9 of its ~450-byte lines), which the test stops reading at the kill point,
// so the child blocks within a batch and a pipe's worth of the chosen line.
std::set<std::string> register_and_kill(const std::string& catalog, const std::string& images,
                                        int kill_after) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const int pipe_bytes = fcntl(fds[1], F_SETPIPE_SZ, 4096);
  EXPECT_GE(pipe_bytes, 4096);
  EXPECT_LE(pipe_bytes, 8192);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    FILE* devnull = std::fopen("/dev/null", "w");
    dup2(fileno(devnull), 2);
    const std::string bin = imprint_binary();
    execl(bin.c_str(), "imprint", "register", "--catalog", catalog.c_str(), "--batch", "3",
          "--threads", "1", "--owner", "crash-test", images.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  FILE* out = fdopen(fds[0], "r");
  std::set<std::string> acked;
  char* line = nullptr;
  size_t cap = 0;
  bool killed = false;
  while (getline(&line, &cap, out) > 0) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("work_id")) continue;  // a torn last line
    acked.insert(j["work_id"].get<std::string>());
    if (!killed && int(acked.size()) >= kill_after) {
      kill(pid, SIGKILL);
      killed = true;
    }
  }
  free(line);
  fclose(out);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(killed) << "the child finished before it could be killed";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  return acked;
}

int connect_loopback(int port, const char* from) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (from) {
    sockaddr_in self{};
    self.sin_family = AF_INET;
    inet_pton(AF_INET, from, &self.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) {
      close(fd);
      return -1;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(uint16_t(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

std::string raw_http(int port, const std::string& request, const char* from) {
  const int fd = connect_loopback(port, from);
  if (fd < 0) return "";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, size_t(n));
  close(fd);
  return answer;
}

ImageFingerprint query_of(const std::vector<uint8_t>& bytes) {
  HashOptions o;
  o.dihedral = true;
  Result<ImageFingerprint> fp = fingerprint_image(bytes, o);
  EXPECT_TRUE(fp.ok()) << fp.status().to_string();
  return fp.ok() ? *fp : ImageFingerprint{};
}

}  // namespace imprint::test
