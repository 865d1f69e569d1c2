// Helpers shared by the test suites: where ../shared is, temporary directories, synthetic images.
#pragma once

#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <set>
#include <string>
#include <vector>

#include "fingerprint.h"
#include "image.h"

namespace imprint::test {

// The reference material folder (../shared next to the repository), found from the source tree
// or $IMPRINT_SHARED_DIR. Tests that need it fail loudly when it is missing.
std::string shared_dir();

// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A deterministic photo-like RGB image (smooth shapes, gradients and texture) from a seed.
Image synthetic_photo(int width, int height, uint32_t seed);

// An RGB image as a cv::Mat (a copy, CV_8UC3) and back.
cv::Mat mat_of(const Image& rgb);
Image image_of(const cv::Mat& rgb);

// Encodes with OpenCV (".png", ".jpg", ".webp", ".bmp", ".tiff"); RGB or grey input.
std::vector<uint8_t> encode(const Image& image, const std::string& ext, int quality = 90);

// Image bytes as a catalog query: exact PDQ with the eight dihedral hashes (a failure to hash
// fails the test).
ImageFingerprint query_of(const std::vector<uint8_t>& bytes);

// A GIF of an RGB image on a fixed 6x7x6 colour cube (nearest colour, no dithering).
std::vector<uint8_t> encode_gif(const Image& rgb);

// Hostile variants of a valid encoded image, each with a short name saying what was done to it:
// truncations (inside the headers, inside the entropy or compressed data, just before the end),
// bogus markers or chunk types, wrong declared dimensions and flipped bytes. `ext` is the
// encoding (".jpg", ".png", ".webp", ".gif", ".bmp", ".tiff").
struct CorruptVariant {
  std::string name;
  std::vector<uint8_t> bytes;
};
std::vector<CorruptVariant> corrupt_variants(const std::vector<uint8_t>& valid, const std::string& ext);

void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_all(const std::string& path);

// Runs a shell command, returns its exit status; stdout goes to *out when given.
int run_command(const std::string& command, std::string* out = nullptr);

// Path to the built imprint binary.
std::string imprint_binary();

// Runs `imprint register --batch 3` of `images` into `catalog` (a directory or a PostgreSQL URI)
// and SIGKILLs it after `kill_after` acknowledgement lines; returns the ids it acknowledged.
std::set<std::string> register_and_kill(const std::string& catalog, const std::string& images,
                                        int kill_after);

// A TCP connection to 127.0.0.1:port whose sends and receives give up after 10 s, so a server
// that stops reading or answering without closing fails the test instead of hanging it; -1 when
// it cannot connect.
// `from` (a loopback address such as "127.0.0.2") is the client's own address, for tests of what
// the server does per client address.
int connect_loopback(int port, const char* from = nullptr);

// Sends `request` as it is on a new connection and returns all the server answers until it closes
// (one request per connection): for requests httplib's client will not send.
std::string raw_http(int port, const std::string& request, const char* from = nullptr);

}  // namespace imprint::test
