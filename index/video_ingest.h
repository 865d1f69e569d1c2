// Video files into catalog inputs and queries: hashing with progress, the hashes of the picture
// inside black bars, the file's digest, and the WorkInput that registers a video work (its frames
// as "pdq-frame" and "pdq-frame-crop" fingerprints, its description as "video-info";
// video_index.h).
//
// Why the bar-cropped hashes: a copy letterboxed into another aspect ratio (or with the bars of a
// pillarboxed original cut off) shows the same picture at another scale and offset, which PDQ,
// a hash of the whole frame, does not survive (tests/video_catalog_test: no frame of a 3/4-scale
// letterboxed copy matches). Cutting uniform black borders from both the registered frames and
// the query's brings both back to the picture itself. The reference hash of every frame is kept
// as it is, so vPDQ percentages and hash exports stay the reference's.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "catalog.h"
#include "video.h"
#include "video_match.h"

namespace imprint {

// Called after each sampled frame: the seconds of video hashed so far and the duration the
// container declares (0 when unknown).
using VideoProgress = std::function<void(double t_seconds, double duration_s)>;

// hash_video_file with a progress callback, for command lines that hash long files; the same
// frames, hashes and fallback to full decoding (tests/video_catalog_test checks it against
// hash_video_file on the reference videos). Frames are hashed on the calling thread;
// options.threads sets the decoder's threads.
Result<VideoFingerprint> hash_video_file_with_progress(const std::string& path,
                                                       const VideoOptions& options,
                                                       const VideoProgress& progress);

// The part of a frame inside uniform black borders: each edge loses the lines where at least 97%
// of pixels have luma <= 32 (compression leaves the odd brighter pixel in a bar). Empty when no
// border is at least 2% of its side, or when cutting would leave under 25% of a side (a dark
// scene, not bars). Takes RGB24 or, as fast mode's frames, one channel of luma.
struct BarCrop {
  int left = 0, top = 0, width = 0, height = 0;
  bool empty() const { return width <= 0 || height <= 0; }
};
BarCrop find_black_bars(const Image& rgb);

struct HashedVideo {
  VideoFingerprint fingerprint;  // the reference vPDQ hashes
  // For sampled frames with black bars: the hash of the picture inside them; `frame` is the index
  // into fingerprint.frames (not the frame number).
  std::vector<FrameHash> cropped;
  // The mirror image's hash of every sampled frame (VideoQuery::mirrored), from the same DCT.
  std::vector<FrameHash> mirrored;
};

// The fingerprint (as hash_video_file_with_progress) and the bar-cropped hashes in one decode.
Result<HashedVideo> hash_video_for_catalog(const std::string& path, const VideoOptions& options,
                                           const VideoProgress& progress = nullptr);

// The same for a video held in memory (a member of a tar shard); `name` prefixes errors.
Result<HashedVideo> hash_video_bytes_for_catalog(std::span<const uint8_t> bytes,
                                                 const std::string& name,
                                                 const VideoOptions& options,
                                                 const VideoProgress& progress = nullptr);

// A hashed video as a query (every front end's): its frames, the hashes inside its bars and of
// its mirror image, and the digest of the file's bytes (identical bytes match at once).
VideoQuery video_query_of(HashedVideo&& video, const Sha256& sha256);

// SHA-256 of a file, read in chunks (videos can be larger than memory allows to hold at once).
Result<Sha256> sha256_of_file(const std::string& path);

// The WorkInput of a hashed video: media "video", width and height, one fingerprint per sampled
// frame and per cropped hash, and one video-info. The caller fills id, title, owner, source,
// licence and sha256.
WorkInput work_input_from_video(const HashedVideo& video, double seconds_per_hash);

// The "video-info" JSON of a fingerprint: fps, duration, width, height, frames, seconds_per_hash,
// partial and partial_reason, and the frame numbers (first_frame and frame_step when the frames
// are evenly spaced, frame_numbers otherwise).
std::string video_info_json(const VideoFingerprint& fp, double seconds_per_hash);

// The frame numbers of a video work's frames (their timestamps in `t_ms`, in stored order), from
// its video-info; for works registered before frame numbers were kept, each timestamp times the
// frame rate. Empty when neither is known.
std::vector<int64_t> video_info_frame_numbers(const WorkFingerprint& info,
                                              std::span<const int64_t> t_ms);

// A video work from frame hashes alone (a vPDQ list: hash_list.h video_fingerprint_from_vpdq):
// its frames as "pdq-frame" fingerprints and a video-info, as work_input_from_video gives for the
// file, less the bar-cropped hashes (there are no pixels to crop) and the picture's size.
WorkInput work_input_from_frame_hashes(const VideoFingerprint& fp);

}  // namespace imprint
