// Picture regions of a query against the works' PDQ hashes: the second stage's way to copies that
// show a work whole inside something larger (a screenshot, a picture pasted into another) or cut
// to a frame (a collage cell, a thumbnail), whatever the work's texture.
//
// Each region (picture_regions.h; the whole query is the last) is hashed alone. Two ways lead
// from its hash to a match:
//   - strict: a region hash of useful quality within match_distance of a work's whole hash or of
//     a centre crop's of useful quality, as the first stage would accept a whole image. The whole
//     query is not searched among whole works this way: the first stage has done that.
//   - verified: any other work hash within region_radius (whole or crop, of any quality) makes
//     the work a candidate, and the layout check decides. The work's thumbnail, framed as the
//     region's aspect says (whole, or the centre crop nearest in aspect), is compared with the
//     query's thumbnail inside the region; the match stands when the correlation of detail
//     reaches region_min_similarity and beats the work's own self-similarity by
//     region_self_margin, so repeated patterns do not align by chance. Soft photos hash weakly
//     and their hashes drift tens of bits under a re-encode, but their layout stays.
// Only matches are reported (no review band): a region is one of several guesses, and its near
// misses are chance.
#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "catalog_impl.h"
#include "layout_check.h"

namespace imprint {
namespace {

MatchRegion region_of(const RegionHash& r) {
  MatchRegion m;
  m.query_box = {r.x, r.y, r.width, r.height};
  m.work_corners = {QueryPoint{double(r.x), double(r.y)},
                    QueryPoint{double(r.x + r.width), double(r.y)},
                    QueryPoint{double(r.x + r.width), double(r.y + r.height)},
                    QueryPoint{double(r.x), double(r.y + r.height)}};
  return m;
}

// The part of a ww x wh work that a region of this aspect shows: the whole work, or the centre
// crop (aspect_crops) nearest in aspect.
struct Framing {
  PixelRect rect;
  bool cropped = false;
};

Framing framing_for(int ww, int wh, int region_w, int region_h) {
  const double want = std::log(double(region_w) / region_h);
  const auto gap = [&](const PixelRect& r) {
    return std::abs(std::log(double(r.width) / r.height) - want);
  };
  const PixelRect whole{0, 0, ww, wh};
  const PixelRect crop = nearest_aspect_crop(ww, wh, region_w, region_h);
  if (gap(whole) <= gap(crop)) return {whole, false};  // the whole work wins a tie
  return {crop, true};
}

// Work pixels to query pixels when the query turned by `d` shows the work whole (ww x wh shown as
// qw x qh). In normalised coordinates the query point (s, t) of the work point (u, v) is
// (a0 u + a1 v + a2, b0 u + b1 v + b2). The flips and the half turn are their own inverse; for
// the quarter turns both directions are returned and the layout check keeps the better.
std::vector<Projection> dihedral_projections(Dihedral d, int ww, int wh, int qw, int qh) {
  using Map = std::array<double, 6>;  // a0 a1 a2 b0 b1 b2
  std::vector<Map> maps;
  switch (d) {
    case Dihedral::kOriginal: maps = {{1, 0, 0, 0, 1, 0}}; break;
    case Dihedral::kRotate180: maps = {{-1, 0, 1, 0, -1, 1}}; break;
    case Dihedral::kFlipX: maps = {{1, 0, 0, 0, -1, 1}}; break;
    case Dihedral::kFlipY: maps = {{-1, 0, 1, 0, 1, 0}}; break;
    case Dihedral::kFlipPlus1: maps = {{0, 1, 0, 1, 0, 0}}; break;
    case Dihedral::kFlipMinus1: maps = {{0, -1, 1, -1, 0, 1}}; break;
    case Dihedral::kRotate90:
    case Dihedral::kRotate270: maps = {{0, 1, 0, -1, 0, 1}, {0, -1, 1, 1, 0, 0}}; break;
  }
  std::vector<Projection> out;
  for (const Map& m : maps) {
    out.push_back(Projection{{qw * m[0] / ww, qw * m[1] / wh, qw * m[2], qh * m[3] / ww,
                              qh * m[4] / wh, qh * m[5], 0, 0, 1}});
  }
  return out;
}

// The works a list of candidates verifies, nearest first: each work once, at most `limit`, and
// only works the feature index knows with a size.
class VerifiedWorks {
 public:
  VerifiedWorks(const FeatureIndex& index, int limit, std::vector<int64_t> seen)
      : index_(index), limit_(limit), seen_(std::move(seen)) {}
  bool full() const { return verified_ >= limit_; }
  // The work to verify next, or nullptr when it was seen or cannot be verified.
  const FeatureIndex::WorkInfo* take(int64_t work_pk) {
    if (std::find(seen_.begin(), seen_.end(), work_pk) != seen_.end()) return nullptr;
    seen_.push_back(work_pk);
    const FeatureIndex::WorkInfo* w = index_.find_work(work_pk);
    if (!w || w->width <= 0 || w->height <= 0) return nullptr;
    ++verified_;
    return w;
  }

 private:
  const FeatureIndex& index_;
  int limit_;
  int verified_ = 0;
  std::vector<int64_t> seen_;
};

}  // namespace

void Catalog::Impl::match_regions(const LocalFeatures& query, int match_distance,
                                  const std::array<PdqHash, kDihedralCount>* dihedral,
                                  std::vector<LocalMatch>* out) const {
  const SecondStageOptions& o = options.second_stage_options;
  if (query.regions.empty() || !pdq || !crops || !weak_regions) return;
  std::vector<PdqHash> hashes;
  for (const RegionHash& r : query.regions) hashes.push_back(r.hash);
  const size_t whole = hashes.size() - 1;
  const int radius = std::max(match_distance, o.region_radius);
  const auto in_works = pdq->search_radius(hashes, radius);
  const auto in_crops = crops->search_radius(hashes, radius);
  const auto in_weak = weak_regions->search_radius(hashes, radius);

  for (size_t i = 0; i < hashes.size(); ++i) {
    const RegionHash& r = query.regions[i];
    if (r.width <= 0 || r.height <= 0) continue;
    const bool useful = r.quality >= kPdqMinUsefulQuality;
    std::vector<int64_t> strict;
    std::vector<std::pair<int, int64_t>> candidates;  // distance, work pk
    auto take = [&](int64_t work_pk, int distance, bool cropped, bool may_be_strict) {
      if (!(useful && may_be_strict && distance <= match_distance)) {
        candidates.emplace_back(distance, work_pk);
        return;
      }
      LocalMatch m;
      m.work_pk = work_pk;
      m.found = cropped ? LocalMatch::Found::kCroppedPicture : LocalMatch::Found::kWholePicture;
      m.distance = distance;
      m.score = score_for_distance(distance);
      m.region = region_of(r);
      out->push_back(m);
      strict.push_back(work_pk);
    };
    for (const Neighbor& n : in_works[i])
      take(work_of[size_t(n.label)], n.distance, false, i != whole);
    for (const Neighbor& n : in_crops[i]) take(n.label, n.distance, true, true);
    for (const Neighbor& n : in_weak[i]) take(n.label, n.distance, true, false);

    // Verified: the nearest few works not already matched, each once.
    std::sort(candidates.begin(), candidates.end());
    VerifiedWorks works(*features, o.region_candidates, strict);
    for (const auto& [distance, work_pk] : candidates) {
      if (works.full()) break;
      const FeatureIndex::WorkInfo* w = works.take(work_pk);
      if (!w) continue;
      const Framing f = framing_for(w->width, w->height, r.width, r.height);
      const double sx = double(r.width) / f.rect.width, sy = double(r.height) / f.rect.height;
      const Projection p{{sx, 0, r.x - f.rect.x * sx, 0, sy, r.y - f.rect.y * sy, 0, 0, 1}};
      const PixelRect within{r.x, r.y, r.width, r.height};
      const double sim = layout_similarity(w->thumbnail, w->width, w->height, p, query,
                                           o.min_similar_cells, &within);
      if (sim < o.region_min_similarity || sim < w->self_similarity + o.region_self_margin)
        continue;
      LocalMatch m;
      m.work_pk = work_pk;
      m.found = f.cropped ? LocalMatch::Found::kCroppedPicture : LocalMatch::Found::kWholePicture;
      m.distance = distance;
      m.similarity = sim;
      m.self_similarity = w->self_similarity;
      // 0.5 (the match line) at region_min_similarity, 1 at a perfect correlation.
      m.score = std::min(1.0, 0.5 + 0.5 * (sim - o.region_min_similarity) /
                                        std::max(1e-6, 1 - o.region_min_similarity));
      m.region = region_of(r);
      out->push_back(m);
    }
  }

  // Soft works (whole-work hashes below useful quality) are not in the PDQ index, so the first
  // stage's dihedral search never sees them: a mirrored or turned copy of a soft work is looked
  // for here, by the whole query's other seven dihedral hashes among the weak hashes, and each
  // candidate is verified by the layout check with the query turned back the way its hash says.
  if (!dihedral) return;
  const RegionHash& wr = query.regions[whole];
  if (wr.width <= 0 || wr.height <= 0) return;
  const std::vector<PdqHash> turned(dihedral->begin() + 1, dihedral->end());
  const auto in_weak_turned = weak_regions->search_radius(turned, radius);
  std::vector<std::tuple<int, int64_t, Dihedral>> candidates;  // distance, work pk, transform
  for (size_t t = 0; t < turned.size(); ++t) {
    for (const Neighbor& n : in_weak_turned[t]) candidates.emplace_back(n.distance, n.label, Dihedral(t + 1));
  }
  std::sort(candidates.begin(), candidates.end());
  std::vector<int64_t> found;
  for (const LocalMatch& m : *out) found.push_back(m.work_pk);
  VerifiedWorks works(*features, o.region_candidates, std::move(found));
  for (const auto& [distance, work_pk, d] : candidates) {
    if (works.full()) break;
    const FeatureIndex::WorkInfo* w = works.take(work_pk);
    if (!w) continue;
    double sim = -2;
    for (const Projection& p : dihedral_projections(d, w->width, w->height, query.width, query.height)) {
      sim = std::max(sim, layout_similarity(w->thumbnail, w->width, w->height, p, query,
                                            o.min_similar_cells));
    }
    if (sim < o.region_min_similarity || sim < w->self_similarity + o.region_self_margin) continue;
    LocalMatch m;
    m.work_pk = work_pk;
    m.found = LocalMatch::Found::kWholePicture;
    m.distance = distance;
    m.similarity = sim;
    m.self_similarity = w->self_similarity;
    m.transform = d;
    m.score = std::min(1.0, 0.5 + 0.5 * (sim - o.region_min_similarity) /
                                      std::max(1e-6, 1 - o.region_min_similarity));
    m.region = region_of(wr);
    out->push_back(m);
  }
}

}  // namespace imprint
