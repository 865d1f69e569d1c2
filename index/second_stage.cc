#include "second_stage.h"

#include "layout_check.h"

#include <algorithm>
#include <limits>
#include <cmath>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>
#include <unordered_map>
#include <unordered_set>

namespace imprint {
namespace {

struct Correspondence {
  uint32_t query = 0;
  uint32_t feature = 0;
  int distance = 0;
};

// Keeps the votes whose orientation change agrees with the most common one. A picture turned by
// theta turns every ORB patch by theta; 10-degree bins summed over a 50-degree window absorb
// ORB's orientation noise and the small local rotations of a mild perspective.
std::vector<Correspondence> agree_on_rotation(const std::vector<Correspondence>& in,
                                              const FeatureIndex& index, const LocalFeatures& q) {
  constexpr int kBins = 36;
  std::array<int, kBins> hist{};
  std::vector<int> bin_of(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    float d = q.keypoints[in[i].query].angle - index.feature_keypoint(in[i].feature).angle;
    d = std::fmod(d + 720.f, 360.f);
    bin_of[i] = std::min(kBins - 1, int(d / (360.f / kBins)));
    ++hist[size_t(bin_of[i])];
  }
  int best = 0, best_sum = -1;
  for (int b = 0; b < kBins; ++b) {
    int s = 0;
    for (int w = -2; w <= 2; ++w) s += hist[size_t((b + w + kBins) % kBins)];
    if (s > best_sum) {
      best_sum = s;
      best = b;
    }
  }
  std::vector<Correspondence> out;
  for (size_t i = 0; i < in.size(); ++i) {
    const int off = std::abs(bin_of[i] - best);
    if (std::min(off, kBins - off) <= 3) out.push_back(in[i]);
  }
  return out;
}

// The most votes of `in` (closest first) that agree with the placement one vote predicts
// (SecondStageOptions::min_consistent): ORB's keypoint orientation and size give a vote's turn
// and scale, its positions the shift. Tolerances absorb ORB's quantised sizes (pyramid steps of
// 1.2) and the drift of a mild perspective away from the predicting vote.
int consistent_support(const std::vector<Correspondence>& in, const FeatureIndex& index,
                       const LocalFeatures& q, const SecondStageOptions& o) {
  const double tol = o.consistency_tolerance * std::max(q.width, q.height);
  const double tol2 = tol * tol;
  const size_t hypotheses = std::min(in.size(), size_t(std::max(1, o.consistency_hypotheses)));
  int best = 0;
  for (size_t i = 0; i < hypotheses; ++i) {
    const LocalKeypoint& wi = index.feature_keypoint(in[i].feature);
    const LocalKeypoint& qi = q.keypoints[in[i].query];
    if (wi.size <= 0 || qi.size <= 0) continue;
    const double scale = qi.size / wi.size;
    const double turn = qi.angle - wi.angle;
    const double c = scale * std::cos(turn * CV_PI / 180), s = scale * std::sin(turn * CV_PI / 180);
    int support = 0;
    for (const Correspondence& j : in) {
      const LocalKeypoint& wj = index.feature_keypoint(j.feature);
      const LocalKeypoint& qj = q.keypoints[j.query];
      double dturn = std::fmod(std::abs(qj.angle - wj.angle - turn), 360.0);
      if (std::min(dturn, 360 - dturn) > 30) continue;
      const double r = wj.size > 0 ? qj.size / wj.size / scale : 0;
      if (r < 0.5 || r > 2) continue;
      const double dx = wj.x - wi.x, dy = wj.y - wi.y;
      const double ex = qi.x + c * dx - s * dy - qj.x, ey = qi.y + s * dx + c * dy - qj.y;
      if (ex * ex + ey * ey <= tol2) ++support;
    }
    best = std::max(best, support);
  }
  return best;
}

cv::Point2d project(const cv::Matx33d& h, double x, double y, bool* ok) {
  const double w = h(2, 0) * x + h(2, 1) * y + h(2, 2);
  if (w <= 1e-9) {
    *ok = false;
    return {0, 0};
  }
  return {(h(0, 0) * x + h(0, 1) * y + h(0, 2)) / w, (h(1, 0) * x + h(1, 1) * y + h(1, 2)) / w};
}

double cross(const cv::Point2d& a, const cv::Point2d& b, const cv::Point2d& c) {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

// Is h a plausible view of a flat picture: the work's corners land as a convex quadrilateral
// with the same orientation (no mirror, no fold), scaled between 1/16 and 16, with sides whose
// lengths do not differ by more than 4:1 beyond what the work's own aspect gives.
bool plausible(const cv::Matx33d& h, int ww, int wh, std::array<cv::Point2d, 4>* corners) {
  bool ok = true;
  const double xs[4] = {0, double(ww), double(ww), 0};
  const double ys[4] = {0, 0, double(wh), double(wh)};
  for (int i = 0; i < 4; ++i) (*corners)[size_t(i)] = project(h, xs[i], ys[i], &ok);
  if (!ok) return false;
  const auto& c = *corners;
  for (int i = 0; i < 4; ++i) {
    if (cross(c[size_t(i)], c[size_t((i + 1) % 4)], c[size_t((i + 2) % 4)]) <= 0) return false;
  }
  double area = 0;
  for (int i = 0; i < 4; ++i) {
    const cv::Point2d& a = c[size_t(i)];
    const cv::Point2d& b = c[size_t((i + 1) % 4)];
    area += a.x * b.y - b.x * a.y;
  }
  const double scale = std::sqrt(std::abs(area) / 2 / (double(ww) * wh));
  if (!(scale > 1.0 / 16 && scale < 16)) return false;
  // Side lengths relative to the work's: top/bottom against width, left/right against height.
  const double rel[4] = {cv::norm(c[1] - c[0]) / ww, cv::norm(c[2] - c[1]) / wh,
                         cv::norm(c[3] - c[2]) / ww, cv::norm(c[0] - c[3]) / wh};
  const double lo = *std::min_element(rel, rel + 4), hi = *std::max_element(rel, rel + 4);
  return hi < 4 * lo;
}

PixelBox clip_box(double x0, double y0, double x1, double y1, int w, int h) {
  x0 = std::clamp(x0, 0.0, double(w));
  x1 = std::clamp(x1, 0.0, double(w));
  y0 = std::clamp(y0, 0.0, double(h));
  y1 = std::clamp(y1, 0.0, double(h));
  PixelBox b;
  b.x = int(std::floor(x0));
  b.y = int(std::floor(y0));
  b.width = std::max(0, int(std::ceil(x1)) - b.x);
  b.height = std::max(0, int(std::ceil(y1)) - b.y);
  return b;
}

MatchRegion region_of(const cv::Matx33d& h, const std::array<cv::Point2d, 4>& corners, int ww,
                      int wh, int qw, int qh) {
  MatchRegion r;
  double x0 = 1e18, y0 = 1e18, x1 = -1e18, y1 = -1e18;
  for (size_t i = 0; i < 4; ++i) {
    r.work_corners[i] = {corners[i].x, corners[i].y};
    x0 = std::min(x0, corners[i].x);
    y0 = std::min(y0, corners[i].y);
    x1 = std::max(x1, corners[i].x);
    y1 = std::max(y1, corners[i].y);
  }
  r.query_box = clip_box(x0, y0, x1, y1, qw, qh);
  // The query's corners taken back into the work; a corner beyond the horizon means the query
  // reaches past where the work's plane is visible, so the whole work is in view on that side.
  const cv::Matx33d inv = h.inv();
  bool ok = true;
  double a0 = 1e18, b0 = 1e18, a1 = -1e18, b1 = -1e18;
  for (const auto& [x, y] : {std::pair{0.0, 0.0}, std::pair{double(qw), 0.0},
                             std::pair{double(qw), double(qh)}, std::pair{0.0, double(qh)}}) {
    const cv::Point2d p = project(inv, x, y, &ok);
    a0 = std::min(a0, p.x);
    b0 = std::min(b0, p.y);
    a1 = std::max(a1, p.x);
    b1 = std::max(b1, p.y);
  }
  r.work_box = ok ? clip_box(a0, b0, a1, b1, ww, wh) : PixelBox{0, 0, ww, wh};
  return r;
}

// Query keypoints bucketed on a square grid, to find those near a point.
class KeypointGrid {
 public:
  KeypointGrid(const LocalFeatures& q, double cell) : cell_(std::max(1.0, cell)) {
    cols_ = std::max(1, int(std::ceil(q.width / cell_)));
    rows_ = std::max(1, int(std::ceil(q.height / cell_)));
    start_.assign(size_t(cols_) * rows_ + 1, 0);
    std::vector<uint32_t> cell_of(q.size());
    for (size_t i = 0; i < q.size(); ++i) {
      cell_of[i] = cell_index(q.keypoints[i].x, q.keypoints[i].y);
      ++start_[cell_of[i] + 1];
    }
    for (size_t c = 1; c < start_.size(); ++c) start_[c] += start_[c - 1];
    std::vector<uint32_t> fill(start_.begin(), start_.end() - 1);
    members_.resize(q.size());
    for (size_t i = 0; i < q.size(); ++i) members_[fill[cell_of[i]]++] = uint32_t(i);
  }

  // Calls f(i) for every keypoint i in the cells that a disc of `radius` around (x, y) touches.
  template <typename F>
  void near(double x, double y, double radius, F&& f) const {
    const int x0 = std::max(0, int(std::floor((x - radius) / cell_)));
    const int x1 = std::min(cols_ - 1, int(std::floor((x + radius) / cell_)));
    const int y0 = std::max(0, int(std::floor((y - radius) / cell_)));
    const int y1 = std::min(rows_ - 1, int(std::floor((y + radius) / cell_)));
    for (int cy = y0; cy <= y1; ++cy) {
      for (int cx = x0; cx <= x1; ++cx) {
        const size_t c = size_t(cy) * cols_ + cx;
        for (uint32_t k = start_[c]; k < start_[c + 1]; ++k) f(members_[k]);
      }
    }
  }

 private:
  uint32_t cell_index(double x, double y) const {
    const int cx = std::clamp(int(x / cell_), 0, cols_ - 1);
    const int cy = std::clamp(int(y / cell_), 0, rows_ - 1);
    return uint32_t(cy * cols_ + cx);
  }
  double cell_;
  int cols_ = 1, rows_ = 1;
  std::vector<uint32_t> start_, members_;
};

// Guided matching. The nearest-neighbour votes that found the projection are a small part of
// what a true copy shares with the work: the search visits a few leaves per descriptor and keeps
// three neighbours, so most true pairs are never proposed. With the projection known, each of
// the work's features is looked for where it must appear in the query: among the query
// keypoints within `radius` of its projection whose orientation agrees with the projection's
// local rotation, the one with the nearest descriptor, if within `max_distance`. For an
// unrelated image the projection puts features on arbitrary content, where a descriptor within
// the radius is a 4-sigma event, so the count separates copies from chance far better than the
// votes alone.
// `work` holds every feature of the work; a correspondence's `feature` is its position there.
std::vector<Correspondence> guided_matches(const LocalFeatures& work, const LocalFeatures& q,
                                           const KeypointGrid& grid, const cv::Matx33d& h,
                                           double radius, int max_distance) {
  std::vector<Correspondence> found;
  const double r2 = radius * radius;
  for (uint32_t f = 0; f < uint32_t(work.size()); ++f) {
    const LocalKeypoint& k = work.keypoints[f];
    bool ok = true;
    const cv::Point2d p = project(h, k.x, k.y, &ok);
    if (!ok || p.x < -radius || p.y < -radius || p.x > q.width + radius ||
        p.y > q.height + radius) {
      continue;
    }
    // The projection's rotation at this point: where a step along the keypoint's orientation
    // goes. ORB orientations of the same patch agree within ~15 degrees after resampling.
    const double a = k.angle * CV_PI / 180;
    const double step = std::max(1.0f, k.size * 0.5f);
    const cv::Point2d t = project(h, k.x + step * std::cos(a), k.y + step * std::sin(a), &ok);
    if (!ok) continue;
    const double expected = std::atan2(t.y - p.y, t.x - p.x) * 180 / CV_PI;
    const uint8_t* code = work.descriptor(f);
    int best = max_distance + 1;
    uint32_t best_q = 0;
    grid.near(p.x, p.y, radius, [&](uint32_t j) {
      const LocalKeypoint& qk = q.keypoints[j];
      const double dx = qk.x - p.x, dy = qk.y - p.y;
      if (dx * dx + dy * dy > r2) return;
      double da = std::fmod(std::abs(qk.angle - expected), 360.0);
      if (std::min(da, 360 - da) > 30) return;
      const int d = descriptor_distance(code, q.descriptor(j));
      if (d < best) {
        best = d;
        best_q = j;
      }
    });
    if (best <= max_distance) found.push_back({best_q, f, best});
  }
  // One work feature per query keypoint: the nearest descriptor keeps it.
  std::sort(found.begin(), found.end(),
            [](const Correspondence& a, const Correspondence& b) { return a.distance < b.distance; });
  std::vector<char> taken(q.size(), 0);
  std::vector<Correspondence> unique;
  for (const Correspondence& c : found) {
    if (taken[c.query]) continue;
    taken[c.query] = 1;
    unique.push_back(c);
  }
  return unique;
}

// Homography from work to query points of `corr` (RANSAC), or empty.
// `work_keypoint` gives a correspondence's work keypoint by its `feature`.
template <typename WorkKeypoint>
cv::Mat fit_projection(WorkKeypoint&& work_keypoint, const LocalFeatures& q,
                       const std::vector<Correspondence>& corr, double threshold,
                       const SecondStageOptions& o, std::vector<uchar>* mask) {
  std::vector<cv::Point2f> wp, qp;
  wp.reserve(corr.size());
  qp.reserve(corr.size());
  for (const Correspondence& c : corr) {
    const LocalKeypoint& k = work_keypoint(c.feature);
    wp.emplace_back(k.x, k.y);
    qp.emplace_back(q.keypoints[c.query].x, q.keypoints[c.query].y);
  }
  if (corr.size() < 4) return {};
  // RANSAC draws from the thread's cv::theRNG(): seeded the same for every fit (and given back as
  // it was), so a query matches the same way whatever the thread matched before it.
  cv::RNG& rng = cv::theRNG();
  const uint64 saved = rng.state;
  rng.state = 0x696d7072696e74ULL;
  cv::Mat h = cv::findHomography(wp, qp, o.usac ? cv::USAC_FAST : cv::RANSAC, threshold, *mask,
                                 o.ransac_iterations, 0.995);
  rng.state = saved;
  return h;
}

bool verify(const FeatureIndex& index, const LocalFeatures& q, std::vector<Correspondence> corr,
            const SecondStageOptions& o, const WorkFeaturesReader& reader, LocalMatch* out) {
  // One registered feature per query keypoint and one query keypoint per feature, best first.
  std::sort(corr.begin(), corr.end(),
            [](const Correspondence& a, const Correspondence& b) { return a.distance < b.distance; });
  std::unordered_set<uint32_t> used_q, used_f;
  std::vector<Correspondence> unique;
  for (const Correspondence& c : corr) {
    if (used_q.count(c.query) || used_f.count(c.feature)) continue;
    used_q.insert(c.query);
    used_f.insert(c.feature);
    unique.push_back(c);
  }
  out->votes = int(unique.size());
  if (int(unique.size()) < o.min_correspondences) return false;
  std::vector<Correspondence> agreed = agree_on_rotation(unique, index, q);
  if (int(agreed.size()) < std::max(o.min_correspondences, 4)) return false;
  if (o.min_consistent > 0 && consistent_support(agreed, index, q, o) < o.min_consistent) {
    return false;
  }

  const double threshold = o.ransac_threshold * std::max(q.width, q.height);
  std::vector<uchar> mask;
  const auto indexed = [&index](uint32_t f) -> const LocalKeypoint& {
    return index.feature_keypoint(f);
  };
  cv::Mat hm = fit_projection(indexed, q, agreed, threshold, o, &mask);
  if (hm.empty()) return false;
  cv::Matx33d h(hm);
  const uint32_t slot = index.feature_work(agreed.front().feature);
  const FeatureIndex::WorkInfo& w = index.work(slot);
  std::array<cv::Point2d, 4> corners;
  if (!plausible(h, w.width, w.height, &corners)) return false;
  out->ransac_inliers = int(std::count(mask.begin(), mask.end(), uchar(1)));
  out->inliers = out->ransac_inliers;
  if (o.guided_rounds > 0 && out->ransac_inliers >= o.min_inliers) {
    // Every feature of the work: as stored, when the index holds only those it searches (the
    // reader's must be this work's: same size), else the index's own.
    LocalFeatures all;
    if (!reader || !reader(w.pk, &all) || all.width != w.width || all.height != w.height) {
      all = LocalFeatures();
      all.width = w.width;
      all.height = w.height;
      const std::span<const uint32_t> ids = index.work_features(slot);
      all.keypoints.reserve(ids.size());
      all.descriptors.reserve(ids.size() * kLocalDescriptorBytes);
      for (const uint32_t f : ids) {
        all.keypoints.push_back(index.feature_keypoint(f));
        const uint8_t* code = index.feature_code(f);
        all.descriptors.insert(all.descriptors.end(), code, code + kLocalDescriptorBytes);
      }
    }
    const auto stored = [&all](uint32_t f) -> const LocalKeypoint& { return all.keypoints[f]; };
    // The first projection comes from a few votes and may be off by more than the tolerance far
    // from them: the first round looks twice as far, refits, and the last counts at the tolerance.
    const KeypointGrid grid(q, 2 * threshold);
    cv::Matx33d current = h;
    for (int round = 0; round < o.guided_rounds; ++round) {
      const double radius = round + 1 < o.guided_rounds ? 2 * threshold : threshold;
      std::vector<Correspondence> g =
          guided_matches(all, q, grid, current, radius, o.guided_distance);
      if (g.size() < 4) break;
      std::vector<uchar> gm;
      cv::Mat refit = fit_projection(stored, q, g, threshold, o, &gm);
      std::array<cv::Point2d, 4> c2;
      if (refit.empty() || !plausible(cv::Matx33d(refit), w.width, w.height, &c2)) break;
      // The refit projection guides the next round even when it counts no more at the tolerance
      // yet (the wider first round's pairs refine it); the best count and its projection stay.
      current = cv::Matx33d(refit);
      const int n = int(std::count(gm.begin(), gm.end(), uchar(1)));
      if (n > out->inliers) {
        h = current;
        corners = c2;
        out->inliers = n;
      }
    }
    // Chance: the same count with the work moved by a quarter of its size under the projection.
    // Where the work is a texture that repeats (cloud, foliage, grain), shifted copies of it also
    // find features where they expect them, and a projection onto a neighbouring part of the
    // same photo counts as many; only what the true alignment adds over that is evidence.
    if (o.chance_shifts) {
      const double dx = 0.25 * w.width, dy = 0.25 * w.height;
      for (const auto& [tx, ty] : {std::pair{dx, 0.0}, {-dx, 0.0}, {0.0, dy}, {0.0, -dy}}) {
        const cv::Matx33d shifted = h * cv::Matx33d(1, 0, tx, 0, 1, ty, 0, 0, 1);
        const int n =
            int(guided_matches(all, q, grid, shifted, threshold, o.guided_distance).size());
        out->chance_inliers = std::max(out->chance_inliers, n);
      }
    }
  }
  Projection p;
  for (int i = 0; i < 9; ++i) p.m[i] = h(i / 3, i % 3);
  out->similarity = layout_similarity(w.thumbnail, w.width, w.height, p, q, o.min_similar_cells,
                                      nullptr, o.occluded_cells);
  out->self_similarity = w.self_similarity;
  out->region = region_of(h, corners, w.width, w.height, q.width, q.height);
  return true;
}

thread_local std::vector<LocalMatch>* verified_sink = nullptr;

}  // namespace

void record_verified_matches(std::vector<LocalMatch>* sink) { verified_sink = sink; }

double local_evidence(int inliers, double similarity, double min_similarity) {
  const double w = std::clamp((similarity - min_similarity) / (1 - min_similarity), 0.0, 1.0);
  return inliers * w;
}

double side_ratio(const std::array<QueryPoint, 4>& c) {
  std::array<double, 4> side{};
  for (int i = 0; i < 4; ++i) {
    side[i] = std::hypot(c[(i + 1) % 4].x - c[i].x, c[(i + 1) % 4].y - c[i].y);
  }
  double r = 1;
  for (int i = 0; i < 2; ++i) {
    const double lo = std::min(side[i], side[i + 2]), hi = std::max(side[i], side[i + 2]);
    r = std::max(r, lo > 0 ? hi / lo : std::numeric_limits<double>::infinity());
  }
  return r;
}

double shape_weight(double ratio, const SecondStageOptions& o) {
  if (ratio <= o.free_side_ratio) return 1;
  if (ratio >= o.max_side_ratio || o.max_side_ratio <= o.free_side_ratio) return 0;
  return (o.max_side_ratio - ratio) / (o.max_side_ratio - o.free_side_ratio);
}

double score_for_evidence(double evidence, int match_inliers) {
  if (evidence <= 0) return 0;
  return evidence / (evidence + std::max(1, match_inliers));
}

std::vector<LocalMatch> match_local_features(const FeatureIndex& index, const LocalFeatures& query,
                                             const SecondStageOptions& o,
                                             const WorkFeaturesReader& reader) {
  std::vector<LocalMatch> out;
  if (query.empty() || index.live_features() == 0) return out;
  const std::vector<DescriptorMatch> found =
      index.search(query, o.descriptor_radius, o.neighbours, o.checks);
  // Votes per work: the best feature of that work for each query descriptor.
  std::unordered_map<uint32_t, std::vector<Correspondence>> by_work;
  for (size_t i = 0; i < found.size();) {
    size_t j = i;
    while (j < found.size() && found[j].query == found[i].query) ++j;
    for (size_t a = i; a < j; ++a) {  // sorted by distance within one query descriptor
      const uint32_t slot = index.feature_work(found[a].feature);
      bool seen = false;
      for (size_t b = i; b < a; ++b) seen |= index.feature_work(found[b].feature) == slot;
      if (!seen) by_work[slot].push_back({found[a].query, found[a].feature, found[a].distance});
    }
    i = j;
  }
  // Works are ranked by their votes weighted by closeness (radius + 1 - distance), not counted:
  // works of grass, foliage or cloud gather many chance votes near the radius from any textured
  // query and would otherwise push the copied work out of the few verified, while a copy's true
  // pairs lie 10-50 bits apart. On the robustness benchmark's 52-work set this raised the crop
  // families by 2-8 points (50% centred 85% -> 92%) at no cost.
  std::vector<std::pair<int, uint32_t>> ranked;
  for (const auto& [slot, corr] : by_work) {
    if (int(corr.size()) < o.min_correspondences) continue;
    int weight = 0;
    for (const Correspondence& c : corr) weight += std::max(0, o.descriptor_radius + 1 - c.distance);
    ranked.emplace_back(weight, slot);
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (int(ranked.size()) > o.works_verified) ranked.resize(size_t(o.works_verified));
  for (const auto& [votes, slot] : ranked) {
    LocalMatch m;
    m.work_pk = index.work(slot).pk;
    if (!verify(index, query, by_work[slot], o, reader, &m) || m.inliers < o.min_inliers) continue;
    m.score = score_for_evidence(
        local_evidence(std::max(0, m.inliers - m.chance_inliers), m.similarity, o.min_similarity) *
            shape_weight(side_ratio(m.region.work_corners), o),
        o.match_inliers);
    if (verified_sink != nullptr) verified_sink->push_back(m);
    out.push_back(m);
  }
  std::sort(out.begin(), out.end(), [](const LocalMatch& a, const LocalMatch& b) {
    return a.inliers != b.inliers ? a.inliers > b.inliers : a.work_pk < b.work_pk;
  });
  return out;
}

}  // namespace imprint
