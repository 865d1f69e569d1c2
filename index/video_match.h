// Matching videos against the catalog's video works, and stills against their frames.
//
// A video query (a VideoFingerprint: one PDQ hash per sampled frame) is matched in three steps:
//  1. Candidates: every query frame of quality >= 50 is searched in the frame index
//     (video_index.h) at the match distance, with its bar-cropped hash when it has black bars
//     (registered frames are indexed both ways too, so letterboxing added or removed cancels
//     out); works are ranked by how many query frames found one of their frames.
//  2. vPDQ: for the best candidates the work's frames are read back and the reference matcher's
//     percentages computed (query_match_pct, the share of the query's frames with a match
//     anywhere in the work, and work_match_pct, the reverse) over both views of each frame
//     (vpdq_match_views: the reference hash and the bar-cropped one), so they agree with Meta's
//     vPDQ on the same hashes wherever no frame has bars, and a letterboxed copy counts the
//     frames its cropped hashes matched.
//  3. Alignment: matching frame pairs vote on the time mapping work_t = speed * query_t + offset.
//     The best mapping is the densest window of offsets (width 2 x tolerance, the tolerance being
//     0.75 sampling intervals) over distinct query frames; speeds other than 1 are tried on a
//     1% grid and win only with clearly more support (a sped-up or slowed-down copy), then are
//     refined by least squares. Its frames are cut into segments where the query has no aligned
//     frame for max_gap_s; the frames used are set aside and the next mapping is sought, so a
//     query made of several parts of a work (or of the work after an inserted intro) gets one
//     segment per part. Because voting is on the offset, trimmed starts and ends, intros and
//     frames spoiled by a logo or letterboxing (those that PDQ can no longer match) only remove
//     votes; frame-rate changes do not move timestamps, which are in seconds.
//
// A still image (a frame grab, a thumbnail) is matched against video frames as an image is
// against images (its dihedral hashes, the same distances, scores and decisions) and reports the
// best frame's timestamp, with method "video-frame".
//
// Decisions follow the image rules in spirit: a copy is flagged unless the licence permits it
// (then allowed); some matching frames short of a copy go to review unless permitted. A copy is
// an aligned segment of >= copy_min_frames frames spanning >= copy_min_seconds, or a vPDQ
// percentage >= copy_min_pct on either side (a short query wholly inside a work, or a work
// wholly inside a long upload).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "catalog.h"
#include "video.h"

namespace imprint {

struct VideoMatchOptions {
  // Aligned query frames further apart than this start a new segment (seconds). Wide enough to
  // bridge a scene a logo or caption spoils; an inserted ad break shifts the offset anyway.
  double max_gap_s = 10.0;
  // Segments with fewer aligned frames are not reported (one frame is a coincidence or a still).
  int min_segment_frames = 2;
  // What makes a copy (see the header comment). At one hash a second, 3 frames over 2 seconds.
  int copy_min_frames = 3;
  double copy_min_seconds = 2.0;
  double copy_min_pct = 50.0;
  // Try speeds other than 1 (copies played faster or slower), within [min_speed, max_speed].
  bool allow_speed_change = true;
  double min_speed = 0.5;
  double max_speed = 2.0;
  int max_segments = 16;  // per work
  // A query frame that matches more frames than this (a black card, a logo sting) keeps the
  // nearest ones: bounds the work per frame without losing the frames that align.
  int max_hits_per_frame = 256;
  // Works taken to steps 2 and 3, ranked by matching query frames (at least top_k).
  int candidate_works = 32;
};

// A video query: its frame hashes, the hashes inside black bars (video_ingest.h; `frame` indexes
// fingerprint.frames), and the file's SHA-256 when known (a work with the same bytes then matches
// as method "sha256" whatever its frames look like).
struct VideoQuery {
  VideoFingerprint fingerprint;
  std::vector<FrameHash> cropped;
  // The mirror image (left <-> right) of each sampled frame, searched when the video as it is
  // copies nothing: mirroring is the commonest edit of re-uploads. Matches found so have
  // transform kFlipY. Empty: not searched.
  std::vector<FrameHash> mirrored;
  std::optional<Sha256> sha256;
};

struct VideoSegment {
  double query_start = 0;  // seconds of the query: its first and last aligned frames
  double query_end = 0;
  double work_start = 0;  // the same instants in the work, by the fitted mapping
  double work_end = 0;
  int frames = 0;      // query frames aligned in this segment
  double speed = 1.0;  // work seconds per query second
};

struct VideoCandidate {
  Work work;
  // "vpdq" (frame matches), "sha256" (the same bytes), "video-frame" (a still in a video).
  std::string method;
  double query_match_pct = 0;  // vPDQ percentages (0..100); 0 for stills
  double work_match_pct = 0;
  std::vector<VideoSegment> segments;  // by query_start
  int matched_frames = 0;              // query frames with a match anywhere in the work
  int distance = -1;                   // the nearest frame pair's Hamming distance
  // Video queries: max(query_match_pct, work_match_pct) / 100. Stills: score_for_distance.
  double score = 0;
  Dihedral transform = Dihedral::kOriginal;  // stills: the variant that matched
  double work_time_s = -1;                   // stills: the best frame's timestamp
  double work_duration_s = 0;                // from the work's video-info, 0 if unknown
  MatchDecision decision = MatchDecision::kNone;
  // Why the decision: for "vpdq" the measure is "vpdq-percent" (the larger of the two
  // percentages, a copy at copy_min_pct; any matched frame a near miss) or, when the copy rests on
  // an aligned segment, "aligned-seconds" (the longest segment of at least copy_min_frames frames,
  // a copy at copy_min_seconds); "same-bytes" for sha256; "pdq-distance" for stills in videos.
  MatchExplanation why;
};

struct VideoQueryResult {
  std::vector<VideoCandidate> matches;            // copies first, then by aligned frames and score
  MatchDecision decision = MatchDecision::kNone;  // the most severe of the matches
  bool weak = false;  // no query frame reaches quality 50: only identical bytes can match
};

// --- The parts of matching that need no catalog (tests and benchmarks call them directly). ---

// One query frame matching one work frame.
struct FramePair {
  int query_frame = 0;  // index into the query's frames
  double t_query = 0;   // seconds
  double t_work = 0;
  int distance = 0;
};

// Step 3 for one work. query_interval and work_interval are the sampling intervals (seconds,
// sampling_interval()); they set the offset tolerance.
std::vector<VideoSegment> align_segments(std::span<const FramePair> pairs, double query_interval,
                                         double work_interval, const VideoMatchOptions& options);

// The median gap between consecutive timestamps (seconds); 1 when there are fewer than two.
double sampling_interval(std::span<const double> times);

// vPDQ's percentages over both views of a frame: its reference hash and, where it has black
// bars, the hash of the picture inside them (`cropped`, whose `frame` indexes the side's frames).
// A frame counts when either view reaches quality_threshold, and matches when either view is
// within `distance` of either view of some frame of the other side. With no cropped hash on
// either side this is vpdq_match itself, the reference's percentages; a letterboxed copy of an
// unbarred work is counted through its cropped hashes instead of coming out at 0%.
VpdqMatch vpdq_match_views(std::span<const FrameHash> query,
                           std::span<const FrameHash> query_cropped,
                           std::span<const FrameHash> work, std::span<const FrameHash> work_cropped,
                           int distance, int quality_threshold = kPdqMinUsefulQuality);

// Whether a candidate's evidence is a copy under `options` (see the header comment).
bool is_video_copy(const VideoCandidate& c, const VideoMatchOptions& options);

// A copy, in every front end's words (scan counts, report totals), as is_copy() says for images:
// a match the matcher decided is one, flagged or allowed by the licence.
inline bool is_copy(const VideoCandidate& c) {
  return c.decision == MatchDecision::kFlag || c.decision == MatchDecision::kAllow;
}

// JSON forms, extending match_json.h's contract (every image match field is there too):
//  a video query: {"path", "media": "video", "fps", "duration", "frames", "partial", "weak",
//    "decision", "matches": [{"work_id", "title", "owner", "media", "distance", "score",
//    "transform", "method", "decision", "flagged", "licence", "explanation", "query_match_pct",
//    "work_match_pct", "matched_frames", "work_duration",
//    "segments": [{"query_start", "query_end", "work_start", "work_end", "frames", "speed"}]}]}
//  a still's match in a video work: the image match fields plus "media": "video" and
//    "work_time" (seconds).
nlohmann::json video_candidate_to_json(const VideoCandidate& c);
nlohmann::json video_result_to_json(const std::string& label, const VideoQuery& query,
                                    const VideoQueryResult& r);

}  // namespace imprint
