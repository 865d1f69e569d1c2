// Video files into catalog inputs (video_ingest.h).
#include "video_ingest.h"

#include <openssl/evp.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "video_index.h"

namespace imprint {
namespace {

bool is_bar_pixel(const uint8_t* p, int channels) {
  // Luma (BT.601 weights, as PDQ's) <= 32; a one-channel picture (fast mode's) is luma.
  if (channels == 1) return p[0] <= 32;
  return 299 * p[0] + 587 * p[1] + 114 * p[2] <= 32 * 1000;
}

// Whether at least 97% of the `n` pixels from `p` at `step` bytes apart are bar pixels.
bool is_bar_line(const uint8_t* p, int n, size_t step, int channels) {
  int dark = 0;
  for (int i = 0; i < n; ++i) dark += is_bar_pixel(p + size_t(i) * step, channels);
  return dark * 100 >= n * 97;
}

Image crop(const Image& in, const BarCrop& c) {
  Image out(c.width, c.height, in.channels);
  for (int y = 0; y < c.height; ++y) {
    std::memcpy(out.row(y), in.row(c.top + y) + size_t(c.left) * in.channels, out.stride());
  }
  return out;
}

// hash_video's per-frame loop (engine/vpdq.cc) on one thread, with the callback and, when
// `cropped` is given, the bar-cropped hashes. pdq_hash on the frame's RGB is the same computation
// as the engine's vectorised luma path (engine/vpdq.cc says so and the test compares the two).
Result<VideoFingerprint> hash_frames(VideoReader& reader, const VideoProgress& progress,
                                     std::vector<FrameHash>* cropped,
                                     std::vector<FrameHash>* mirrored) {
  const VideoInfo& info = reader.info();
  if (info.width < kPdqMinDimension || info.height < kPdqMinDimension) {
    return unsupported("video frames are " + std::to_string(info.width) + "x" +
                       std::to_string(info.height) + ", under PDQ's 5x5 minimum");
  }
  VideoFingerprint fp;
  fp.fps = info.fps;
  fp.duration_s = info.duration_s;
  fp.width = info.width;
  fp.height = info.height;
  VideoFrame frame;
  while (reader.next(&frame)) {
    // With the mirror image wanted, all eight variants come from one DCT; the original among them
    // is pdq_hash's (tests/video_catalog_test compares with hash_video_file).
    PdqResult r;
    if (mirrored) {
      const PdqDihedral d = pdq_dihedral(frame.image);
      r = {d.hashes[size_t(Dihedral::kOriginal)], d.quality};
      mirrored->push_back({frame.frame_number, frame.timestamp_s,
                           d.hashes[size_t(Dihedral::kFlipY)], d.quality});
    } else {
      r = pdq_hash(frame.image);
    }
    if (cropped) {
      const BarCrop bars = find_black_bars(frame.image);
      if (!bars.empty()) {
        const PdqResult c = pdq_hash(crop(frame.image, bars));
        cropped->push_back({int64_t(fp.frames.size()), frame.timestamp_s, c.hash, c.quality});
      }
    }
    fp.frames.push_back({frame.frame_number, frame.timestamp_s, r.hash, r.quality});
    if (progress) progress(frame.timestamp_s, info.duration_s);
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

using Opener = std::function<Result<std::unique_ptr<VideoReader>>(const VideoOptions&)>;

// Hashes what `open` opens; `name` prefixes errors (a path, or a member of a shard).
Result<VideoFingerprint> hash_opened(const Opener& open, const std::string& name,
                                     const VideoOptions& options, const VideoProgress& progress,
                                     std::vector<FrameHash>* cropped,
                                     std::vector<FrameHash>* mirrored = nullptr) {
  auto attempt = [&](const VideoOptions& o, bool* used_plan) -> Result<VideoFingerprint> {
    Result<std::unique_ptr<VideoReader>> reader = open(o);
    if (!reader.ok()) return reader.status();
    if (cropped) cropped->clear();
    if (mirrored) mirrored->clear();
    Result<VideoFingerprint> fp = hash_frames(**reader, progress, cropped, mirrored);
    *used_plan = (*reader)->used_skip_plan();
    return fp;
  };
  bool used_plan = false;
  Result<VideoFingerprint> fp = attempt(options, &used_plan);
  // The skip plan did not hold for this stream: decode everything, as hash_video_file does.
  if (!fp.ok() && fp.status().code() == StatusCode::kFailedPrecondition && used_plan) {
    VideoOptions full = options;
    full.skip_unsampled = false;
    fp = attempt(full, &used_plan);
  }
  if (!fp.ok() && !name.empty() && fp.status().message().rfind(name, 0) != 0) {
    return fp.status().with_context(name);
  }
  return fp;
}

Result<VideoFingerprint> hash_file(const std::string& path, const VideoOptions& options,
                                   const VideoProgress& progress, std::vector<FrameHash>* cropped,
                                   std::vector<FrameHash>* mirrored = nullptr) {
  return hash_opened([&](const VideoOptions& o) { return VideoReader::open_file(path, o); }, path,
                     options, progress, cropped, mirrored);
}

}  // namespace

BarCrop find_black_bars(const Image& rgb) {
  const int c = rgb.channels;
  if ((c != 3 && c != 1) || rgb.empty()) return {};
  const int w = rgb.width, h = rgb.height;
  int top = 0, bottom = h, left = 0, right = w;
  // No side may lose more than 3/8: what is left is at least a quarter of the side.
  const int max_rows = h * 3 / 8, max_cols = w * 3 / 8;
  while (top < max_rows && is_bar_line(rgb.row(top), w, c, c)) ++top;
  while (h - bottom < max_rows && is_bar_line(rgb.row(bottom - 1), w, c, c)) --bottom;
  const int rows = bottom - top;
  while (left < max_cols && is_bar_line(rgb.row(top) + c * left, rows, rgb.stride(), c)) ++left;
  while (w - right < max_cols &&
         is_bar_line(rgb.row(top) + c * (right - 1), rows, rgb.stride(), c)) {
    --right;
  }
  if (top == max_rows || h - bottom == max_rows || left == max_cols || w - right == max_cols) {
    return {};  // dark through to the limit: a dark picture, not bars
  }
  const bool rows_cut = (h - rows) * 50 >= h, cols_cut = (w - (right - left)) * 50 >= w;
  if (!rows_cut && !cols_cut) return {};
  if (rows < kPdqMinDimension || right - left < kPdqMinDimension) return {};
  return {left, top, right - left, rows};
}

Result<VideoFingerprint> hash_video_file_with_progress(const std::string& path,
                                                       const VideoOptions& options,
                                                       const VideoProgress& progress) {
  return hash_file(path, options, progress, nullptr);
}

Result<HashedVideo> hash_video_for_catalog(const std::string& path, const VideoOptions& options,
                                           const VideoProgress& progress) {
  HashedVideo v;
  Result<VideoFingerprint> fp = hash_file(path, options, progress, &v.cropped, &v.mirrored);
  if (!fp.ok()) return fp.status();
  v.fingerprint = std::move(*fp);
  return v;
}

Result<HashedVideo> hash_video_bytes_for_catalog(std::span<const uint8_t> bytes,
                                                 const std::string& name,
                                                 const VideoOptions& options,
                                                 const VideoProgress& progress) {
  HashedVideo v;
  Result<VideoFingerprint> fp = hash_opened(
      [&](const VideoOptions& o) { return VideoReader::open_bytes(bytes, o); }, name, options,
      progress, &v.cropped, &v.mirrored);
  if (!fp.ok()) return fp.status();
  v.fingerprint = std::move(*fp);
  return v;
}

Result<Sha256> sha256_of_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return io_error("cannot open " + path);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return internal_error("cannot start SHA-256");
  }
  std::vector<uint8_t> buf(size_t(1) << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  }
  if (std::ferror(f.get())) return io_error("cannot read " + path);
  Sha256 out{};
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), out.data(), &len);
  return out;
}

std::string video_info_json(const VideoFingerprint& fp, double seconds_per_hash) {
  nlohmann::json j = {
      {"fps", fp.fps},        {"duration", fp.duration_s},  {"width", fp.width},
      {"height", fp.height},  {"frames", fp.frames.size()}, {"seconds_per_hash", seconds_per_hash},
      {"partial", fp.partial}};
  if (fp.partial) j["partial_reason"] = fp.partial_reason;
  // Frame numbers, so the frames can be written out as vPDQ lists: sampling every n-th frame
  // from the first gives a step (two numbers); anything else is listed.
  if (!fp.frames.empty()) {
    const int64_t first = fp.frames[0].frame;
    const int64_t step = fp.frames.size() > 1 ? fp.frames[1].frame - first : 1;
    bool regular = step > 0;
    for (size_t i = 0; regular && i < fp.frames.size(); ++i) {
      regular = fp.frames[i].frame == first + int64_t(i) * step;
    }
    if (regular) {
      j["first_frame"] = first;
      j["frame_step"] = step;
    } else {
      nlohmann::json numbers = nlohmann::json::array();
      for (const FrameHash& f : fp.frames) numbers.push_back(f.frame);
      j["frame_numbers"] = std::move(numbers);
    }
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<int64_t> video_info_frame_numbers(const WorkFingerprint& info,
                                              std::span<const int64_t> t_ms) {
  const nlohmann::json j = nlohmann::json::parse(info.data.begin(), info.data.end(), nullptr, false);
  std::vector<int64_t> out;
  if (!j.is_object()) return out;
  if (j.contains("frame_numbers") && j["frame_numbers"].is_array() &&
      j["frame_numbers"].size() == t_ms.size()) {
    for (const auto& n : j["frame_numbers"]) out.push_back(n.is_number_integer() ? n.get<int64_t>() : 0);
    return out;
  }
  if (j.contains("first_frame") && j.contains("frame_step") && j["first_frame"].is_number_integer() &&
      j["frame_step"].is_number_integer()) {
    const int64_t first = j["first_frame"].get<int64_t>(), step = j["frame_step"].get<int64_t>();
    for (size_t i = 0; i < t_ms.size(); ++i) out.push_back(first + int64_t(i) * step);
    return out;
  }
  // Registered before frame numbers were kept: the frame at each timestamp, at the stream's rate.
  const double fps = j.contains("fps") && j["fps"].is_number() ? j["fps"].get<double>() : 0.0;
  if (fps <= 0) return out;
  for (int64_t t : t_ms) out.push_back(std::llround(double(t) / 1000.0 * fps));
  return out;
}

WorkInput work_input_from_frame_hashes(const VideoFingerprint& fp) {
  double seconds_per_hash = 0;
  if (fp.frames.size() > 1 && fp.fps > 0) {
    const int64_t step = fp.frames[1].frame - fp.frames[0].frame;
    if (step > 1) seconds_per_hash = double(step) / fp.fps;
  }
  HashedVideo hashed;
  hashed.fingerprint = fp;
  return work_input_from_video(hashed, seconds_per_hash);
}

WorkInput work_input_from_video(const HashedVideo& video, double seconds_per_hash) {
  const VideoFingerprint& fp = video.fingerprint;
  WorkInput in;
  in.work.media = "video";
  in.work.width = fp.width;
  in.work.height = fp.height;
  in.fingerprints.reserve(fp.frames.size() + video.cropped.size() + 1);
  for (const FrameHash& f : fp.frames) {
    in.fingerprints.push_back(video_frame_fingerprint(f.hash, f.quality, f.t));
  }
  for (const FrameHash& f : video.cropped) {
    in.fingerprints.push_back(video_frame_fingerprint(f.hash, f.quality, f.t, kVideoFrameCropKind));
  }
  WorkFingerprint info;
  info.kind = kVideoInfoKind;
  const std::string json = video_info_json(fp, seconds_per_hash);
  info.data.assign(json.begin(), json.end());
  info.quality = 100;
  in.fingerprints.push_back(std::move(info));
  return in;
}

VideoQuery video_query_of(HashedVideo&& video, const Sha256& sha256) {
  VideoQuery q;
  q.fingerprint = std::move(video.fingerprint);
  q.cropped = std::move(video.cropped);
  q.mirrored = std::move(video.mirrored);
  q.sha256 = sha256;
  return q;
}

}  // namespace imprint
