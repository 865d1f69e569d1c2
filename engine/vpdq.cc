// vPDQ: PDQ on the frames a VideoReader samples.
#include <algorithm>

#include "parallel.h"
#include "video.h"
#include "vpdq_rgb.h"

namespace imprint {
namespace {

// PDQ of an RGB frame through the library entry point on float luma (the reference's path for
// video), with our vectorised luma; the same bits as pdq_hash(frame).
PdqResult hash_frame(const Image& rgb) {
  if (rgb.channels != 3) return pdq_hash(rgb);  // fast mode's shrunk luma
  thread_local std::vector<float> luma;
  luma.resize(size_t(rgb.width) * rgb.height);
  rgb24_to_luma(rgb.pixels.data(), luma.data(), luma.size());
  return pdq_hash_luma(luma.data(), rgb.height, rgb.width);
}

Result<VideoFingerprint> hash_frames(VideoReader& reader, const VideoOptions& options) {
  const VideoInfo& info = reader.info();
  if (info.width < kPdqMinDimension || info.height < kPdqMinDimension) {
    // The reference refuses to hash such frames rather than emit all-zero hashes.
    return unsupported("video frames are " + std::to_string(info.width) + "x" +
                       std::to_string(info.height) + ", under PDQ's 5x5 minimum");
  }
  VideoFingerprint fp;
  fp.fps = info.fps;
  fp.duration_s = info.duration_s;
  fp.width = info.width;
  fp.height = info.height;

  // One thread hashes each frame as it comes, in the reader's buffer, which the reader then
  // reuses. More threads hash batches of a few frames per thread, which bounds memory to the
  // batch while keeping every thread busy.
  const int threads = options.threads <= 0 ? default_thread_count() : options.threads;
  if (threads == 1) {
    VideoFrame frame;
    while (reader.next(&frame)) {
      const PdqResult r = hash_frame(frame.image);
      fp.frames.push_back({frame.frame_number, frame.timestamp_s, r.hash, r.quality});
    }
  } else {
    std::vector<VideoFrame> batch;
    auto hash_batch = [&] {
      const size_t first = fp.frames.size();
      fp.frames.resize(first + batch.size());
      parallel_for(batch.size(), threads, [&](size_t i) {
        const PdqResult r = hash_frame(batch[i].image);
        fp.frames[first + i] = {batch[i].frame_number, batch[i].timestamp_s, r.hash, r.quality};
      });
      batch.clear();
    };
    VideoFrame frame;
    while (reader.next(&frame)) {
      batch.push_back(std::move(frame));
      frame = VideoFrame();
      if (batch.size() >= size_t(threads) * 2) hash_batch();
    }
    hash_batch();
  }
  IMPRINT_RETURN_IF_ERROR(reader.status());
  fp.partial = reader.partial();
  fp.partial_reason = reader.partial_reason();
  if (fp.frames.empty()) {
    return corruption(fp.partial ? "no decodable video frame: " + fp.partial_reason
                                 : std::string("the video stream has no frames"));
  }
  return fp;
}

// Opens with `open`, hashes, and decodes everything again if the skip_unsampled plan did not
// hold for this stream.
template <typename Open>
Result<VideoFingerprint> hash_video(const Open& open, const VideoOptions& options) {
  auto reader = open(options);
  if (!reader.ok()) return reader.status();
  Result<VideoFingerprint> fp = hash_frames(**reader, options);
  if (fp.ok() || fp.status().code() != StatusCode::kFailedPrecondition ||
      !(*reader)->used_skip_plan()) {
    return fp;
  }
  VideoOptions full = options;
  full.skip_unsampled = false;
  auto again = open(full);
  if (!again.ok()) return again.status();
  return hash_frames(**again, full);
}

}  // namespace

Result<VideoFingerprint> hash_video_file(const std::string& path, const VideoOptions& options) {
  auto fp =
      hash_video([&](const VideoOptions& o) { return VideoReader::open_file(path, o); }, options);
  if (!fp.ok() && fp.status().message().rfind(path, 0) != 0) return fp.status().with_context(path);
  return fp;
}

Result<VideoFingerprint> hash_video_bytes(std::span<const uint8_t> bytes,
                                          const VideoOptions& options) {
  return hash_video([&](const VideoOptions& o) { return VideoReader::open_bytes(bytes, o); },
                    options);
}

}  // namespace imprint
