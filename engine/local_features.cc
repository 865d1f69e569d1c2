#include "local_features.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

namespace imprint {
namespace {

constexpr uint8_t kBlobVersion = 2;
constexpr size_t kHeaderBytes = 16;
constexpr size_t kFeatureBytes = 12 + kLocalDescriptorBytes;
constexpr int kMinSide = 32;  // below this ORB's 31-pixel patches do not fit

// Stretches luma so its 1st and 99th percentiles span 0..255. rBRIEF descriptors compare
// intensities, so a monotonic stretch leaves them as they were; what it changes is FAST, whose
// threshold is absolute: soft, low-contrast photos (bokeh, mist, motion blur) gave a handful of
// corners at threshold 10 and give hundreds once stretched.
void stretch_contrast(cv::Mat& grey) {
  int hist[256] = {};
  for (int y = 0; y < grey.rows; ++y) {
    const uint8_t* p = grey.ptr<uint8_t>(y);
    for (int x = 0; x < grey.cols; ++x) ++hist[p[x]];
  }
  const int64_t total = int64_t(grey.rows) * grey.cols;
  int lo = 0, hi = 255;
  for (int64_t acc = 0; lo < 255 && (acc += hist[lo]) < total / 100;) ++lo;
  for (int64_t acc = 0; hi > 0 && (acc += hist[hi]) < total / 100;) --hi;
  // A nearly flat image is not stretched beyond 8x: that would only amplify noise and JPEG blocks.
  const int span = std::max(hi - lo, 32);
  grey.convertTo(grey, CV_8U, 255.0 / span, -255.0 * lo / span);
}

cv::Mat luma_of(const Image& image) {
  const cv::Mat in(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
                   const_cast<uint8_t*>(image.pixels.data()));
  // A copy: the luma is stretched in place before detection, and these are the caller's pixels.
  if (image.channels == 1) return in.clone();
  cv::Mat grey;
  cv::cvtColor(in, grey, cv::COLOR_RGB2GRAY);
  return grey;
}

// The strongest keypoints of each grid cell first, then the strongest of the rest.
std::vector<cv::KeyPoint> spread_over_grid(std::vector<cv::KeyPoint> kps, int width, int height,
                                           int grid, int keep) {
  if (int(kps.size()) <= keep) return kps;
  std::stable_sort(kps.begin(), kps.end(), [](const cv::KeyPoint& a, const cv::KeyPoint& b) {
    return a.response > b.response;
  });
  grid = std::max(1, grid);
  const int quota = std::max(1, keep / (grid * grid));
  std::vector<int> taken(size_t(grid) * grid, 0);
  std::vector<cv::KeyPoint> out;
  std::vector<char> used(kps.size(), 0);
  out.reserve(size_t(keep));
  for (size_t i = 0; i < kps.size() && int(out.size()) < keep; ++i) {
    const int cx = std::clamp(int(kps[i].pt.x * grid / float(width)), 0, grid - 1);
    const int cy = std::clamp(int(kps[i].pt.y * grid / float(height)), 0, grid - 1);
    int& n = taken[size_t(cy) * grid + cx];
    if (n < quota) {
      ++n;
      used[i] = 1;
      out.push_back(kps[i]);
    }
  }
  for (size_t i = 0; i < kps.size() && int(out.size()) < keep; ++i) {
    if (!used[i]) out.push_back(kps[i]);
  }
  return out;
}

void put_u16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(uint8_t(v));
  b.push_back(uint8_t(v >> 8));
}
void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put_f32(std::vector<uint8_t>& b, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  put_u32(b, v);
}
uint32_t get_u16(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8; }
uint32_t get_u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
float get_f32(const uint8_t* p) {
  const uint32_t v = get_u32(p);
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}

}  // namespace

LocalFeatureOptions work_feature_options() { return LocalFeatureOptions{}; }

LocalFeatureOptions query_feature_options() {
  LocalFeatureOptions o;
  o.max_side = 1024;
  o.min_side = 512;
  o.max_features = 1500;
  o.grid = 6;
  o.thumbnail_side = 384;
  o.thumbnail_square = false;
  o.region_hashes = 24;
  return o;
}

LocalFeatures extract_local_features(const Image& image, const LocalFeatureOptions& o) {
  LocalFeatures out;
  out.width = image.width;
  out.height = image.height;
  if (image.empty() || std::min(image.width, image.height) < kMinSide) return out;
  if (o.region_hashes > 0) {
    PictureRegionOptions ro;
    ro.max_regions = o.region_hashes;
    std::vector<PixelRect> rects = find_picture_regions(image, ro);
    rects.push_back({0, 0, image.width, image.height});
    out.regions = hash_regions(image, rects);
  }
  cv::Mat grey = luma_of(image);
  if (o.thumbnail_side > 0) {
    const double ts =
        std::min(1.0, double(o.thumbnail_side) / std::max(image.width, image.height));
    const int tw = o.thumbnail_square ? o.thumbnail_side : std::max(1, int(std::lround(image.width * ts)));
    const int th = o.thumbnail_square ? o.thumbnail_side : std::max(1, int(std::lround(image.height * ts)));
    out.thumbnail = Image(tw, th, 1);
    cv::Mat dst(th, tw, CV_8UC1, out.thumbnail.pixels.data());
    cv::resize(grey, dst, dst.size(), 0, 0, cv::INTER_AREA);
  }
  if (o.max_features <= 0) return out;
  const int longer = std::max(image.width, image.height);
  double scale = std::min(1.0, double(std::max(1, o.max_side)) / longer);
  if (o.min_side > longer) scale = double(std::min(o.min_side, std::max(1, o.max_side))) / longer;
  if (scale != 1.0) {
    cv::Mat scaled;
    cv::resize(grey, scaled,
               cv::Size(std::max(1, int(std::lround(image.width * scale))),
                        std::max(1, int(std::lround(image.height * scale)))),
               0, 0, scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
    grey = scaled;
  }
  if (std::min(grey.cols, grey.rows) < kMinSide) return out;
  stretch_contrast(grey);
  // Detect several times more than we keep so that the grid has candidates in every cell.
  cv::Ptr<cv::ORB> orb = cv::ORB::create(o.max_features * 4, o.scale_factor, o.pyramid_levels, 31,
                                         0, 2, cv::ORB::HARRIS_SCORE, 31, o.fast_threshold);
  std::vector<cv::KeyPoint> kps;
  orb->detect(grey, kps);
  kps = spread_over_grid(std::move(kps), grey.cols, grey.rows, o.grid, o.max_features);
  cv::Mat desc;
  orb->compute(grey, kps, desc);
  if (kps.empty() || desc.rows != int(kps.size()) || desc.cols != kLocalDescriptorBytes) return out;
  const float inv = float(1.0 / scale);
  out.keypoints.reserve(kps.size());
  out.descriptors.resize(kps.size() * kLocalDescriptorBytes);
  for (size_t i = 0; i < kps.size(); ++i) {
    LocalKeypoint k;
    // OpenCV's keypoint centres are at pixel centres of the scaled image.
    k.x = (kps[i].pt.x + 0.5f) * inv - 0.5f;
    k.y = (kps[i].pt.y + 0.5f) * inv - 0.5f;
    k.size = kps[i].size * inv;
    k.angle = kps[i].angle < 0 ? 0.f : std::fmod(kps[i].angle, 360.f);
    out.keypoints.push_back(k);
    std::memcpy(out.descriptors.data() + i * kLocalDescriptorBytes, desc.ptr(int(i)),
                kLocalDescriptorBytes);
  }
  return out;
}

std::vector<uint8_t> encode_local_features(const LocalFeatures& f) {
  std::vector<uint8_t> b;
  b.reserve(kHeaderBytes + f.size() * kFeatureBytes);
  b.push_back(kBlobVersion);
  b.push_back(uint8_t(kLocalDescriptorBytes));
  put_u16(b, 0);
  put_u32(b, uint32_t(f.width));
  put_u32(b, uint32_t(f.height));
  put_u32(b, uint32_t(f.size()));
  put_u16(b, uint32_t(f.thumbnail.width));
  put_u16(b, uint32_t(f.thumbnail.height));
  b.insert(b.end(), f.thumbnail.pixels.begin(), f.thumbnail.pixels.end());
  for (size_t i = 0; i < f.size(); ++i) {
    const LocalKeypoint& k = f.keypoints[i];
    put_f32(b, k.x);
    put_f32(b, k.y);
    put_u16(b, uint32_t(std::clamp(k.size * 8.f, 0.f, 65535.f)));
    put_u16(b, uint32_t(std::clamp(k.angle * 100.f, 0.f, 35999.f)));
    b.insert(b.end(), f.descriptor(i), f.descriptor(i) + kLocalDescriptorBytes);
  }
  return b;
}

Result<LocalFeatures> decode_local_features(std::span<const uint8_t> b) {
  if (b.size() < kHeaderBytes || b[0] != kBlobVersion || b[1] != kLocalDescriptorBytes) {
    return corruption("local features: unknown blob version or descriptor size");
  }
  LocalFeatures f;
  f.width = int(get_u32(b.data() + 4));
  f.height = int(get_u32(b.data() + 8));
  const size_t n = get_u32(b.data() + 12);
  if (b.size() < kHeaderBytes + 4) return corruption("local features: truncated blob");
  const int tw = int(get_u16(b.data() + kHeaderBytes)), th = int(get_u16(b.data() + kHeaderBytes + 2));
  const size_t thumb = size_t(tw) * size_t(th);
  if (b.size() != kHeaderBytes + 4 + thumb + n * kFeatureBytes || f.width < 0 || f.height < 0) {
    return corruption("local features: blob size does not match its feature count");
  }
  if (thumb > 0) {
    f.thumbnail = Image(tw, th, 1);
    std::memcpy(f.thumbnail.pixels.data(), b.data() + kHeaderBytes + 4, thumb);
  }
  f.keypoints.resize(n);
  f.descriptors.resize(n * kLocalDescriptorBytes);
  const uint8_t* p = b.data() + kHeaderBytes + 4 + thumb;
  for (size_t i = 0; i < n; ++i, p += kFeatureBytes) {
    LocalKeypoint& k = f.keypoints[i];
    k.x = get_f32(p);
    k.y = get_f32(p + 4);
    k.size = float(get_u16(p + 8)) / 8.f;
    k.angle = float(get_u16(p + 10)) / 100.f;
    if (!std::isfinite(k.x) || !std::isfinite(k.y)) {
      return corruption("local features: non-finite keypoint coordinate");
    }
    std::memcpy(f.descriptors.data() + i * kLocalDescriptorBytes, p + 12, kLocalDescriptorBytes);
  }
  return f;
}

}  // namespace imprint
