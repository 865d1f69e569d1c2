// Video fingerprints: decoding sampled frames (VideoReader) and vPDQ, Meta's video hash, which is
// one PDQ hash per sampled frame, bit-compatible with the reference vPDQ hasher
// (facebook/ThreatExchange vpdq/cpp) when both use the same FFmpeg.
//
// How the reference samples, and so how we do: the frame rate is the stream's average frame rate
// (its r_frame_rate when that is unknown); frames are numbered 0, 1, 2... in the order the decoder
// outputs them; frame n is hashed iff n % frame_mod == 0, where frame_mod = (int)(seconds_per_hash
// * fps), at least 1. A hashed frame is converted to RGB24 with swscale's area filter at its own
// size and hashed by PDQ with no pre-resize; its timestamp is n / fps.
//
// One deliberate difference: for YUV 4:2:0 and 4:2:2 frames whose width is not a multiple of 8
// (854 x 480, say), FFmpeg 5.1's x86 SIMD converter leaves the last width % 8 pixels of every row
// unwritten, so the reference hashes whatever memory was there and is not reproducible. We fill
// them with the values the converter gives every other pixel (vpdq_rgb.cc).
//
// Inputs are untrusted. Opening refuses what is not a video we can decode (empty, not a media
// container, no video stream, unknown codec, frames over VideoOptions::max_pixels) with a Status;
// reading stops at VideoOptions' limits, and damaged streams yield what decodes, flagged partial
// with the reason. Time and memory are bounded by the input's size and those limits.
//
// FFmpeg's own log is silenced (fatal only) on first use: problems come back as Status values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fingerprint.h"  // HashMode
#include "image.h"
#include "pdq.h"
#include "status.h"

namespace imprint {

struct VideoOptions {
  // kExact (the default; kReferenceCli means the same for videos): the reference vPDQ's hashes,
  // bit for bit. kFast: approximate hashes for scans and quick queries, a few bits from the exact
  // ones, same frame numbers and timestamps (benchmarks/video_throughput prints speed and
  // distances; tests/vpdq_reference_test checks distances and match percentages on the reference
  // videos). What fast mode changes:
  //  - the decoder skips the deblocking (loop) filter, and with skip_unsampled also skips
  //    B-pictures that other pictures refer to, except those a sampled B-picture predicts from
  //    (see build_plan): reference pictures drift a little from the true ones until the next
  //    keyframe. At one hash a second, 1080p, 2 s GOPs: 54x real time on one core against 27x
  //    exact (benchmarks/results/video_throughput.md);
  //  - a sampled frame is hashed from its luma plane (8-bit YUV; other formats go through RGB as
  //    in exact mode), box-shrunk by a whole factor keeping the shorter side >= fast_min_side,
  //    instead of converted to RGB and hashed at full size.
  HashMode mode = HashMode::kExact;
  // Like HashOptions::fast_min_side, larger: PDQ's blur window is ceil(side / 128) pixels, so a
  // small picture is blurred more than the full frame would be. 360 shrinks 1080p by 3 and 720p
  // by 2 with the same windows in full-size pixels. Measured on the benchmark's 1080p with every
  // needed picture decoded, distance to exact median / max: 4 / 12 bits at 360 (no deblocking),
  // 8 / 14 at 270 and 24 / 34 at 128 (deblocked).
  int fast_min_side = 360;
  // Fast mode with skip_unsampled, off by default: a sampled frame that is a B-picture is hashed
  // from the last I- or P-picture at most min(frame_mod / 2, 0.2 s) before it, reported under the
  // sampled frame's number and time, so that neither the P-picture after it nor its B-reference
  // is decoded. It pays only on slow footage: on the benchmark's 1080p pans (2 s GOPs) 96 frames
  // decoded instead of 114 and the same distances to exact; but on the reference videos (hand-held,
  // fast) frames 1-3 apart are 14-136 bits apart, and one-a-second fast queries against exact
  // one-a-second works change 15 of 196 verdicts at 80% (none without it).
  bool fast_snap_to_anchors = false;
  // Fast mode with skip_unsampled and sparse sampling: open an MP4 or MOV holding H.264 or HEVC
  // without avformat_find_stream_info, whose probe decodes the first frames (about 17 ms for a
  // 1080p video: 4% of hashing 20 s at one a second) to learn what that header already states.
  // The reorder delay it would also give the decoder comes from the skip plan's timestamps.
  // Frames, numbers, rates and hashes are the same either way (tests/video_test).
  bool fast_skip_probe = true;

  // One hash per this many seconds of video; 0 hashes every frame. 1.0 is the default of pytx and
  // the reference's Python binding.
  double seconds_per_hash = 1.0;

  // Frames (width x height) larger than this are refused before any is decoded: an RGB copy
  // costs 3 bytes and PDQ 8 bytes a pixel. The default admits 8K (8192 x 4608).
  int64_t max_pixels = int64_t{8192} * 4608;

  // Reading stops, and the result is flagged partial, at the first frame numbered max_frames or
  // timed at max_seconds or later, so an endless or absurdly long stream costs bounded time.
  // The defaults (about 4.6 and 4 hours at 30 fps) are far above any upload we expect.
  int64_t max_frames = 500'000;
  double max_seconds = 4 * 3600.0;

  // A budget on the frames hashed, whatever the stream claims: reading ends with status()
  // kResourceExhausted when one more sampled frame than this would come out (0: no budget). The
  // limits above are timed by the stream's own frame rate, so a tiny seconds_per_hash on a stream
  // that claims thousands of frames a second samples every frame and reaches max_seconds late;
  // a server sets this from what it will pay for one call.
  int64_t max_sampled_frames = 0;

  // Asked before each packet is demuxed and each frame decoded, and by FFmpeg while it probes the
  // streams: once it returns false, opening or reading stops and the status is kCancelled. For a
  // server whose caller went away or ran past its deadline mid-video. Unset: never asked. It is
  // called on the reading thread and must be cheap (a flag, a clock).
  std::function<bool()> keep_going;

  // Decoder threads: 1 (the default) suits a server that hashes several videos at once; 0 lets
  // FFmpeg pick one per core. Results do not depend on it. hash_video_* also hashes frames on
  // this many threads.
  int threads = 1;

  // Decode-less sampling: when frames are sampled sparsely (frame_mod > 1), do not decode frames
  // that are neither sampled nor needed to decode a sampled one, and still give every sampled
  // frame the number and pixels full decoding gives it.
  //  - Numbering: a first pass demuxes every packet without decoding; a frame's number is its
  //    rank in timestamp order, which is the decoder's output order for H.264 and HEVC, so the
  //    plan is made only for those codecs and only when every packet has a distinct timestamp.
  //  - GOP tails: the decoder gets only the packets from the keyframe before each sampled frame
  //    up to that frame, as if we had seeked there. (We do not seek the demuxer: from memory,
  //    demuxing a packet costs nothing next to decoding it, and reading on keeps the plan's
  //    packet positions.)
  //  - Non-reference frames: unsampled packets that are sent are decoded with AVDISCARD_NONREF,
  //    so the decoder skips the pictures nothing refers to.
  // The reader checks the plan as it goes (every sampled frame must come out, in order, with a
  // planned timestamp) and hash_video_* decodes everything again if it did not hold. Measured
  // (benchmarks/results/video_throughput.md, libx264 defaults, 2 s GOP, one hash a second):
  // 2.7x to 2.8x less CPU than full decoding at 480p to 1080p, each half worth 1.6x to 2x and
  // the two adding up; identical hashes to full decoding there, on the reference's 14 videos, and
  // on encodings made to stress it (tests/video_test: B-pyramids, open GOPs, 29.97 fps,
  // Matroska). On a damaged stream whose decoder drops frames, full decoding renumbers every later
  // frame (so does the reference); the plan keeps numbering by timestamp.
  bool skip_unsampled = true;
  // The two halves of skip_unsampled, for measurement: each has effect only with it.
  bool skip_unsampled_gops = true;    // do not send packets outside [keyframe, sampled frame]
  bool skip_unsampled_nonref = true;  // AVDISCARD_NONREF on unsampled packets that are sent
};

// What the container and codec say about the video stream, known once opened.
struct VideoInfo {
  double fps = 0;         // avg_frame_rate, else r_frame_rate
  double duration_s = 0;  // the stream's duration, else the container's; 0 when unknown
  int width = 0;          // coded picture size from the container (frames may differ)
  int height = 0;
  int64_t frame_mod = 1;  // every frame_mod-th frame is sampled
  std::string codec;      // FFmpeg's short codec name ("h264")
  std::string container;  // FFmpeg's short demuxer name ("mov,mp4,m4a,3gp,3g2,mj2")
};

struct VideoFrame {
  int64_t frame_number = 0;  // 0-based, in decoder output order
  double timestamp_s = 0;    // frame_number / fps, as the reference computes it (float)
  // Exact mode: RGB24 at the frame's own size. Fast mode: one channel, PDQ's luma, shrunk
  // (VideoOptions::mode; RGB24 as in exact mode for the rare formats without an 8-bit luma
  // plane). pdq_hash takes either.
  Image image;
};

// Reads the sampled frames of one video, in order.
//
// The reader owns its FFmpeg state. A reader opened from memory does not copy the bytes: they
// must outlive it. One reader is not safe to use from several threads at once; separate readers
// are independent.
class VideoReader {
 public:
  static Result<std::unique_ptr<VideoReader>> open_file(const std::string& path,
                                                        const VideoOptions& options = {});
  static Result<std::unique_ptr<VideoReader>> open_bytes(std::span<const uint8_t> bytes,
                                                         const VideoOptions& options = {});
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const;

  // The next sampled frame into *frame; false when there is none (end of stream, a limit, or an
  // error: see status() and partial()).
  bool next(VideoFrame* frame);

  // Not ok when reading failed in a way that makes the frames so far untrustworthy: the
  // skip_unsampled plan did not hold (kFailedPrecondition: read again without it); or when it was
  // stopped: keep_going said so (kCancelled), more than max_sampled_frames (kResourceExhausted).
  const Status& status() const;

  // After next() returned false: true when the frames stop short of the whole stream or some of
  // it could not be decoded; partial_reason() says which limit or damage.
  bool partial() const;
  const std::string& partial_reason() const;

  // Frames the decoder output (with skip_unsampled: frames numbered, decoded or not).
  int64_t frames_seen() const;
  // Packets sent to the decoder, and frames it gave back: with skip_unsampled, what skipping
  // saved (a non-reference frame skipped by the decoder is sent but never decoded).
  int64_t packets_sent() const;
  int64_t frames_decoded() const;
  // Whether the skip_unsampled plan was used (it needs H.264/HEVC with timestamps).
  bool used_skip_plan() const;

 private:
  class Impl;
  explicit VideoReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct FrameHash {
  int64_t frame = 0;  // frame number
  double t = 0;       // timestamp in seconds
  PdqHash hash;
  int quality = 0;
};

struct VideoFingerprint {
  double fps = 0;
  double duration_s = 0;  // see VideoInfo::duration_s
  int width = 0;
  int height = 0;
  std::vector<FrameHash> frames;  // by frame number
  bool partial = false;           // stream damaged or cut at a limit: see partial_reason
  std::string partial_reason;
};

// Whether bytes begin like a video container FFmpeg reads (ISO-BMFF other than HEIF/AVIF stills,
// Matroska/WebM, AVI, FLV): a look at the first 12 bytes, for routing uploads; opening decides.
bool looks_like_video(std::span<const uint8_t> head);

// vPDQ of a video file or of an in-memory file (the bytes are not kept). Errors: kInvalidArgument
// (empty, not a media file), kUnsupported (no video stream, unknown codec, frames under PDQ's
// 5 x 5), kResourceExhausted (frames over max_pixels), kNotFound/kIOError (the file), kCorruption
// (nothing decodable), kCancelled (VideoOptions::keep_going said stop), kResourceExhausted (more
// than max_sampled_frames to hash).
Result<VideoFingerprint> hash_video_file(const std::string& path, const VideoOptions& options = {});
Result<VideoFingerprint> hash_video_bytes(std::span<const uint8_t> bytes,
                                          const VideoOptions& options = {});

// vPDQ matching, the reference brute-force matcher's rule: drop frames whose quality is under
// quality_threshold on both sides; query_match_pct is the share (0..100) of the query's remaining
// frames within `distance` of any remaining target frame, target_match_pct the reverse. 0 when
// either side has no frame left.
struct VpdqMatchOptions {
  int distance = kPdqMatchDistance;  // a frame matches at Hamming distance <= this
  int quality_threshold = kPdqMinUsefulQuality;
  // Count each distinct hash once per side (pytx's vpdq_brute_matcher). Off by default: the C++
  // matchTwoHashBrute counts every frame, and only that reproduces the reference's verdicts in
  // ../shared/vpdq-reference (deduplicating changes 44 of its 196 pairs).
  bool dedupe_hashes = false;
};

struct VpdqMatch {
  double query_match_pct = 0;
  double target_match_pct = 0;
};

VpdqMatch vpdq_match(std::span<const FrameHash> query, std::span<const FrameHash> target,
                     const VpdqMatchOptions& options = {});
VpdqMatch vpdq_match(std::span<const FrameHash> query, std::span<const FrameHash> target,
                     int distance, int quality_threshold = kPdqMinUsefulQuality);

}  // namespace imprint
