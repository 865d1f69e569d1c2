#include "scan_thumbs.h"

#include <algorithm>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "engine.h"
#include "input_paths.h"
#include "scan_journal.h"
#include "video.h"

namespace imprint::cli {

namespace {

Result<std::vector<uint8_t>> thumbnail_of(const Image& img) {
  const double scale = std::min(1.0, double(kThumbSide) / std::max(img.width, img.height));
  const int w = std::max(1, int(img.width * scale + 0.5)),
            h = std::max(1, int(img.height * scale + 0.5));
  const cv::Mat src(img.height, img.width, img.channels == 1 ? CV_8UC1 : CV_8UC3,
                    const_cast<uint8_t*>(img.pixels.data()));
  cv::Mat small, bgr;
  cv::resize(src, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  if (small.channels() == 3) {
    cv::cvtColor(small, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = small;
  }
  std::vector<uint8_t> out;
  if (!cv::imencode(".jpg", bgr, out, {cv::IMWRITE_JPEG_QUALITY, 80})) {
    return internal_error("cannot encode a thumbnail");
  }
  return out;
}

// The first sampled frame at or after t_seconds (the last one before, if the video is shorter).
Result<std::vector<uint8_t>> video_thumbnail(Result<std::unique_ptr<VideoReader>> reader,
                                             double t_seconds) {
  if (!reader.ok()) return reader.status();
  VideoFrame frame, last;
  bool any = false;
  while ((*reader)->next(&frame)) {
    any = true;
    last = std::move(frame);
    if (last.timestamp_s >= t_seconds) break;
  }
  if (!any) return corruption("no decodable video frame for a thumbnail");
  return thumbnail_of(last.image);
}

VideoOptions thumbnail_video_options(double t_seconds) {
  VideoOptions o;
  o.seconds_per_hash = 0.5;
  o.max_seconds = std::max(0.0, t_seconds) + 1.0;  // read no further than needed
  return o;
}

}  // namespace

Result<std::vector<uint8_t>> make_thumbnail(std::span<const uint8_t> bytes) {
  DecodeOptions d;
  d.jpeg_min_side = kThumbSide;  // a large JPEG is decoded at 1/2..1/8 scale, in colour
  Result<Image> img = decode_image(bytes, d);
  if (!img.ok()) return img.status();
  return thumbnail_of(*img);
}

Result<std::vector<uint8_t>> make_video_thumbnail(std::span<const uint8_t> bytes, double t_seconds) {
  return video_thumbnail(VideoReader::open_bytes(bytes, thumbnail_video_options(t_seconds)),
                         t_seconds);
}

Result<std::vector<uint8_t>> make_thumbnail_of_file(const std::string& path) {
  if (has_video_extension(path)) {
    constexpr double kWorkThumbSecond = 1.0;  // past a fade-in from black
    return video_thumbnail(VideoReader::open_file(path, thumbnail_video_options(kWorkThumbSecond)),
                           kWorkThumbSecond);
  }
  Result<std::vector<uint8_t>> bytes = read_file(path, DecodeOptions{}.max_bytes);
  if (!bytes.ok()) return bytes.status().with_context(path);
  return make_thumbnail(*bytes);
}

std::string item_thumb_name(size_t unit, size_t index) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "thumbs/u%06zu-%06zu.jpg", unit, index);
  return buf;
}

std::string work_thumb_name(const std::string& work_id) {
  const std::string id_hex =
      to_hex(sha256_of({reinterpret_cast<const uint8_t*>(work_id.data()), work_id.size()}));
  return "thumbs/work-" + id_hex.substr(0, 24) + ".jpg";
}

Status write_thumb(const std::string& path, const std::vector<uint8_t>& jpeg) {
  // The directory entry is synced once per unit, before the findings that name it.
  return write_file_atomic(
      path, std::string_view(reinterpret_cast<const char*>(jpeg.data()), jpeg.size()),
      /*sync_dir=*/false);
}

}  // namespace imprint::cli
