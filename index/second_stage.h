// The second matching stage: local features, voting and geometric verification.
//
// PDQ settles a query when the query is the work, re-encoded, resized, recoloured or turned by a
// multiple of 90 degrees. When it does not, this stage looks for the work inside the query:
//   1. every query descriptor looks up its nearest registered features (FeatureIndex);
//   2. each work collects the query descriptors that found one of its features (votes), one
//      feature per query descriptor and one query descriptor per feature;
//   3. the works with the most votes (weighted by descriptor closeness) are verified: the votes
//      must agree on one rotation (ORB gives each keypoint an orientation) and then on one plane
//      projection (RANSAC homography from the work's keypoints to the query's), sane enough to
//      be a picture of a picture: not mirrored, not folded, scaled between 1/16 and 16, not
//      sheared past 4:1;
//   4. the work's 32x32 thumbnail is compared with the query warped back by that projection
//      (zero-mean normalised correlation): repeated structures (tiles, stripes, lettering) give
//      consistent geometry between unrelated images, but not the same picture;
//   5. evidence = inliers x how far the correlation rises above min_similarity (1 at perfect
//      correlation) x how near the projected work is to a parallelogram (opposite sides within
//      free_side_ratio of each other count fully, at max_side_ratio not at all); score =
//      evidence / (evidence + match_inliers), so match_inliers inliers of a perfectly correlated,
//      undistorted copy score 0.5, the catalog's match line.
// A verified match knows where the work sits in the query (the projected corners) and which part
// of the work the query shows, which is what a partial copy needs to report.
//
// Unrelated images rarely give more than a handful of consistent inliers (random votes do not
// agree on one projection), which is why the inlier count is a usable score; the robustness
// benchmark measures where it lies for unrelated photos and for other regions of the same
// photos, and the default match_inliers carries that measurement.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "feature_index.h"
#include "local_features.h"

namespace imprint {

struct QueryPoint {
  double x = 0;
  double y = 0;
};

struct PixelBox {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// Where a work appears in a query, for matches found by the second stage.
struct MatchRegion {
  // The work's corners (top-left, top-right, bottom-right, bottom-left) projected into the
  // query, in query pixels. They lie outside the query where the copy crops the work.
  std::array<QueryPoint, 4> work_corners{};
  PixelBox query_box;  // the part of the query showing the work: the projected work, clipped
  PixelBox work_box;   // the part of the work the query shows, in the work's registered pixels
};

struct SecondStageOptions {
  // Hamming radius for a descriptor to count as a vote. ORB descriptors of the same point after
  // JPEG, scaling and a few degrees of rotation differ in 10-50 of 256 bits; unrelated ones in
  // ~128 +- 15, so 64 keeps nearly every true pair while chance pairs stay 4 sigma away.
  int descriptor_radius = 64;
  int neighbours = 3;  // nearest registered features kept per query descriptor
  int checks = 512;    // descriptors scanned per query descriptor in the index
  int works_verified = 8;       // works with the most (weighted) votes that get verified
  int min_correspondences = 8;  // fewer votes: not verified
  // Inliers at which the score reaches 0.5, the match threshold. Chosen on the tuning half of
  // `robustness --corpus wide` as the lowest that, with the side-ratio weight below, lets no
  // negative of that half reach 0.5 (16 let 7 unrelated pictures and 2 wrong works through:
  // other crops of the same soft wallpaper, a road sign sharing another's frame). In the corpus
  // of 2026-12-06 one road sign in another's red triangle reaches 0.69 at 28 too (README).
  int match_inliers = 28;
  // A copy is shown flat or in mild perspective: the projected work's opposite sides differ by
  // at most free_side_ratio (the benchmark's perspective edit reaches ~1.3). Projections that
  // stretch one side against the other past that are how repeated texture and shared frames fit
  // a wrong work; their evidence fades linearly to nothing at max_side_ratio.
  double free_side_ratio = 1.3;
  double max_side_ratio = 1.7;
  // Matches with fewer inliers are not reported at all.
  int min_inliers = 6;
  // RANSAC reprojection tolerance, as a fraction of the query's longer side.
  double ransac_threshold = 0.01;
  // RANSAC's iteration cap, and OpenCV's USAC_FAST (SPRT model rejection, a cheaper minimal
  // solver) rather than classic RANSAC, which runs to the cap over the chance correspondences of
  // a query that copies nothing. USAC_FAST is the default since the tuning halves of two corpus
  // sizes showed the same recall and the same one false-flag pair (its count 20 -> 18 and
  // 14 -> 18 edits) at 35-60% less search and verification time, and the held-out halves no false
  // flag either way (benchmarks/results/second_stage_usac.md). Its sampling is its own, seeded
  // the same on every call. `robustness --classic-ransac` measures the other.
  int ransac_iterations = 2000;
  bool usac = true;
  // The cheap test before RANSAC: each of the closest `consistency_hypotheses` votes, by its two
  // keypoints' positions, sizes and orientations, predicts where the work sits in the query (a
  // turn, a scale and a shift); the votes that agree with one prediction (orientation within
  // 30 degrees, size within a factor of 2, position within consistency_tolerance of the query's
  // longer side) count as its support. A work whose best prediction gathers fewer than
  // min_consistent votes is not fitted: chance votes of an unrelated picture scatter, a copy's
  // pile up. 0: off (every work with enough votes is fitted). 10 left every decision and
  // recall of both halves of `robustness --corpus wide --works 100 --distractors 100` as they
  // were and cut search and verification from 49.5 to 21.3 ms median a query.
  int min_consistent = 10;  // see benchmarks/results/second_stage_consistency.md
  int consistency_hypotheses = 64;
  double consistency_tolerance = 0.15;
  // The photometric check: the work's thumbnail against the query warped by the verified
  // projection, over at least min_similar_cells of its cells. At or below min_similarity the
  // match is dropped; above it the inliers count in proportion.
  double min_similarity = 0.4;
  int min_similar_cells = 128;
  // The fraction of those cells the check may set aside as hidden by an overlay (a caption, a
  // logo): of the cells the correlation's fit leaves furthest off, those in solid patches, which
  // then count as disagreeing (layout_check.h). 0: every cell counts. Chosen on the tuning half of
  // `robustness --corpus wide --works 400 --distractors 400` (2026-12-07): copies flagged right
  // 3,200 of 3,630 with 0, 3,236 with 0.25, 3,237 with 0.35 (logo 69% -> 84%, collage 82% ->
  // 85%, rotate-5 87% -> 92%), no wrong flag in any, and the one false-flag pair of that half
  // (a road sign in another's frame) on 18, 21 and 19 of its edits. Without the patch rule (any
  // cell set aside, not counted) 0.25 gave 3,257 right but 30 false flags and 3 wrong works.
  double occluded_cells = 0.35;
  // Guided matching after the first projection (second_stage.cc): rounds of looking for every
  // work feature where the projection puts it, refitting on what was found. 0: off.
  int guided_rounds = 2;
  // Descriptor distance for a guided pair: looser than descriptor_radius, since the position
  // and orientation already have to agree.
  int guided_distance = 80;
  // After guided matching, the count is repeated with the work shifted by a quarter of its size
  // four ways, and the best of those (what a repeating texture gives any alignment) is taken off
  // the inliers before scoring (second_stage.cc). Needs guided_rounds.
  bool chance_shifts = true;
  // What the second stage looks at: the query's local features and its picture regions. Off
  // only to measure one without the other (benchmarks/robustness --no-region-hashes, tests).
  bool use_local_features = true;
  bool use_picture_regions = true;
  // Verified picture regions (index/region_match.cc). A picture region of the query (or the
  // whole query) whose PDQ hash lies within region_radius of one of a work's hashes, whole or
  // centre crop, of any quality, is a candidate: soft photos (mist, bokeh, grain) hash weakly and
  // drift 30-60 bits under a re-encode, yet keep their layout. The candidate matches when the
  // layout check of the work, framed as the region's aspect says (whole or centre crop), against
  // the region reaches region_min_similarity and beats the work's self-similarity by
  // region_self_margin. 47 keeps the search sub-linear (MIH probes 2-bit neighbourhoods of its
  // 16-bit slots). On the robustness benchmark true regions correlate at 0.9-0.99 and the best
  // unrelated region (another cut of the same photo) at 0.6.
  int region_radius = 47;
  int region_candidates = 8;  // nearest works verified per region
  double region_min_similarity = 0.75;
  double region_self_margin = 0.1;
};

struct LocalMatch {
  int64_t work_pk = 0;
  int votes = 0;    // correspondences that went into verification
  int ransac_inliers = 0;  // of the votes, consistent with the first projection
  int inliers = 0;  // work features found where the final projection puts them
  int chance_inliers = 0;  // the most found with the work shifted (chance_shifts)
  double similarity = 0;  // the photometric check's correlation, -2 when it could not be made
  double self_similarity = 0;  // the work's (layout_check.h)
  double score = 0;
  MatchRegion region;
  // What found it: the local features, or a picture region's PDQ hash (region_match.cc) that
  // holds the whole work or one of its centre crops, at `distance` (verified by the layout check
  // when `similarity` is set).
  enum class Found { kLocalFeatures, kWholePicture, kCroppedPicture };
  Found found = Found::kLocalFeatures;
  int distance = -1;
  // For a whole picture found through a dihedral hash of the query: the query turned or mirrored
  // this way shows the work.
  Dihedral transform = Dihedral::kOriginal;
};

// Evidence of a verified match: inliers weighted by the photometric check.
double local_evidence(int inliers, double similarity, double min_similarity);
// The larger ratio of opposite sides of the quadrilateral (1 for any parallelogram).
double side_ratio(const std::array<QueryPoint, 4>& corners);
// The weight side_ratio() gives evidence under `o` (1 up to free_side_ratio, 0 from max).
double shape_weight(double side_ratio, const SecondStageOptions& o);
double score_for_evidence(double evidence, int match_inliers);

// For calibration (benchmarks/robustness --dump): while a sink is set on a thread, every match
// verified there is appended to it before the score threshold is applied. nullptr stops it.
void record_verified_matches(std::vector<LocalMatch>* sink);

// Every stored feature of a registered work (what it was registered with) into *out; false when
// they cannot be read. An index that holds only some of each work's features
// (FeatureIndexOptions::searched_per_work) searches with those and verifies with these.
using WorkFeaturesReader = std::function<bool(int64_t work_pk, LocalFeatures* out)>;

// Verified matches of the query against the index, best first. Guided matching (step 3) looks
// for every feature of a verified work: those `reader` gives, else those the index holds.
std::vector<LocalMatch> match_local_features(const FeatureIndex& index, const LocalFeatures& query,
                                             const SecondStageOptions& options,
                                             const WorkFeaturesReader& reader = {});

}  // namespace imprint
