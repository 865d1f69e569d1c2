#include "second_stage.h"

#include "layout_check.h"

#include <algorithm>
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

bool verify(const FeatureIndex& index, const LocalFeatures& q, std::vector<Correspondence> corr,
            const SecondStageOptions& o, LocalMatch* out) {
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

  std::vector<cv::Point2f> wp, qp;
  wp.reserve(agreed.size());
  qp.reserve(agreed.size());
  for (const Correspondence& c : agreed) {
    const LocalKeypoint& k = index.feature_keypoint(c.feature);
    wp.emplace_back(k.x, k.y);
    qp.emplace_back(q.keypoints[c.query].x, q.keypoints[c.query].y);
  }
  const double threshold = o.ransac_threshold * std::max(q.width, q.height);
  std::vector<uchar> mask;
  cv::Mat hm = cv::findHomography(wp, qp, cv::RANSAC, threshold, mask, 2000, 0.995);
  if (hm.empty()) return false;
  const cv::Matx33d h(hm);
  const FeatureIndex::WorkInfo& w = index.work(index.feature_work(agreed.front().feature));
  std::array<cv::Point2d, 4> corners;
  if (!plausible(h, w.width, w.height, &corners)) return false;
  out->inliers = int(std::count(mask.begin(), mask.end(), uchar(1)));
  Projection p;
  for (int i = 0; i < 9; ++i) p.m[i] = h(i / 3, i % 3);
  out->similarity = layout_similarity(w.thumbnail, w.width, w.height, p, q, o.min_similar_cells);
  out->self_similarity = w.self_similarity;
  if (getenv("LFDBG")) fprintf(stderr, "DBG work %lld votes %d agreed %zu inliers %d sim %.3f self %.3f\n", (long long)out->work_pk, out->votes, agreed.size(), out->inliers, out->similarity, out->self_similarity);
  out->region = region_of(h, corners, w.width, w.height, q.width, q.height);
  return true;
}

}  // namespace

double local_evidence(int inliers, double similarity, double min_similarity) {
  const double w = std::clamp((similarity - min_similarity) / (1 - min_similarity), 0.0, 1.0);
  return inliers * w;
}

double score_for_evidence(double evidence, int match_inliers) {
  if (evidence <= 0) return 0;
  return evidence / (evidence + std::max(1, match_inliers));
}

std::vector<LocalMatch> match_local_features(const FeatureIndex& index, const LocalFeatures& query,
                                             const SecondStageOptions& o) {
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
  std::vector<std::pair<int, uint32_t>> ranked;
  for (const auto& [slot, corr] : by_work) {
    if (int(corr.size()) >= o.min_correspondences) ranked.emplace_back(int(corr.size()), slot);
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (int(ranked.size()) > o.works_verified) ranked.resize(size_t(o.works_verified));
  for (const auto& [votes, slot] : ranked) {
    LocalMatch m;
    m.work_pk = index.work(slot).pk;
    if (!verify(index, query, by_work[slot], o, &m) || m.inliers < o.min_inliers) continue;
    m.score = score_for_evidence(local_evidence(m.inliers, m.similarity, o.min_similarity),
                                 o.match_inliers);
    out.push_back(m);
  }
  std::sort(out.begin(), out.end(), [](const LocalMatch& a, const LocalMatch& b) {
    return a.inliers != b.inliers ? a.inliers > b.inliers : a.work_pk < b.work_pk;
  });
  return out;
}

}  // namespace imprint
