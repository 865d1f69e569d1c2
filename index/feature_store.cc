// The catalog's side of the second stage: local features as stored fingerprints, the feature
// index built from them at open, and second-stage matches as catalog candidates.
//
// The feature index is derived data, like pdq.index, but it is rebuilt from SQLite at every open
// instead of being saved beside it: its rows are already in feature order, decoding them is a
// copy, and the rebuild is measured in benchmarks/robustness (open time per 10k works).
#include <algorithm>

#include "catalog_impl.h"

namespace imprint {

WorkFingerprint local_features_fingerprint(const LocalFeatures& features) {
  WorkFingerprint f;
  f.kind = kLocalFeaturesKind;
  f.data = encode_local_features(features);
  f.quality = 100;  // no quality notion: the second stage's own evidence decides
  return f;
}

RegionIndex region_index_for(std::string_view kind, int quality) {
  const bool useful = quality >= kPdqMinUsefulQuality;
  if (kind == kCropPdqKind) return useful ? RegionIndex::kCrops : RegionIndex::kWeak;
  if (kind == kPdqKind && !useful) return RegionIndex::kWeak;
  return RegionIndex::kNone;
}

Status Catalog::Impl::load_feature_index() {
  auto index = std::make_unique<FeatureIndex>();
  std::unique_ptr<FingerprintIndex> crop_index = make_index(IndexKind::kMih);
  std::unique_ptr<FingerprintIndex> weak_index = make_index(IndexKind::kMih);
  {
    std::lock_guard<std::mutex> lk(rdb_mu);
    Result<detail::Statement> s = rdb.prepare(
        "SELECT work_pk, data, quality FROM fingerprints WHERE kind = ? ORDER BY pk");
    if (!s.ok()) return s.status();
    s->bind(1, std::string(kLocalFeaturesKind));
    Status st;
    index->begin_bulk();
    while (s->step(&st)) {
      Result<LocalFeatures> f = decode_local_features(
          std::span<const uint8_t>(s->blob_data(1), size_t(s->blob_size(1))));
      if (!f.ok()) return f.status().with_context("work #" + std::to_string(s->int64(0)));
      index->add(s->int64(0), *f);
    }
    IMPRINT_RETURN_IF_ERROR(st);
    index->end_bulk();
    std::vector<PdqHash> crop_hashes, weak_hashes;
    std::vector<int64_t> crop_works, weak_works;
    for (const char* kind : {kCropPdqKind, kPdqKind}) {
      s->reset();
      s->bind(1, std::string(kind));
      while (s->step(&st)) {
        if (s->blob_size(1) != 32) {
          return corruption("work #" + std::to_string(s->int64(0)) + ": " + kind +
                            " hash is not 32 bytes");
        }
        const RegionIndex to = region_index_for(kind, int(s->int64(2)));
        if (to == RegionIndex::kNone) continue;  // in the PDQ index
        const bool crop = to == RegionIndex::kCrops;
        (crop ? crop_hashes : weak_hashes).push_back(PdqHash::from_bytes(s->blob_data(1)));
        (crop ? crop_works : weak_works).push_back(s->int64(0));
      }
      IMPRINT_RETURN_IF_ERROR(st);
    }
    crop_index->add(crop_hashes, crop_works);
    weak_index->add(weak_hashes, weak_works);
  }
  std::unique_lock<std::shared_mutex> ilk(index_mu);
  features = std::move(index);
  crops = std::move(crop_index);
  weak_regions = std::move(weak_index);
  return Status::Ok();
}

std::vector<LocalMatch> Catalog::Impl::second_stage(
    const LocalFeatures& query, int match_distance,
    const std::array<PdqHash, kDihedralCount>* dihedral) const {
  std::shared_lock<std::shared_mutex> lk(index_mu);
  if (!features) return {};
  std::vector<LocalMatch> out = match_local_features(*features, query, options.second_stage_options);
  match_regions(query, match_distance, dihedral, &out);
  return out;
}

namespace {

// The work's centre crop nearest in aspect to the query region that matched one of them: the
// part of the work the region shows.
PixelBox centre_crop_like(const Work& w, const PixelBox& shown) {
  const PixelRect r = nearest_aspect_crop(w.width, w.height, shown.width, shown.height);
  return {r.x, r.y, r.width, r.height};
}

}  // namespace

void merge_local_matches(const Catalog& catalog, const std::vector<LocalMatch>& found,
                         const MatchOptions& o, double min_score, QueryResult* r) {
  bool changed = false;
  // Second-stage matches are listed from the review line up, whatever min_score asks: below it a
  // local match is a few chance inliers and a region a near miss of one guess among several, and
  // listing them would only push aside the PDQ candidates that nearest-work listings are for.
  const double floor = std::max(min_score, review_line(o));
  for (const LocalMatch& lm : found) {
    if (lm.score < floor) continue;
    auto same = std::find_if(r->matches.begin(), r->matches.end(),
                             [&](const Candidate& c) { return c.work.pk == lm.work_pk; });
    if (same != r->matches.end() && same->score >= lm.score) continue;
    Result<Work> w = same != r->matches.end() ? Result<Work>(same->work)
                                               : catalog.get_work_by_pk(lm.work_pk);
    if (!w.ok()) continue;  // removed between the search and now
    Candidate c;
    c.work = std::move(*w);
    c.distance = lm.distance;
    c.score = lm.score;
    c.method = lm.found == LocalMatch::Found::kLocalFeatures ? kLocalFeaturesMethod
                                                             : kPictureRegionMethod;
    c.region = lm.region;
    c.transform = lm.transform;
    if (lm.found == LocalMatch::Found::kWholePicture) {
      c.region->work_box = {0, 0, c.work.width, c.work.height};
    } else if (lm.found == LocalMatch::Found::kCroppedPicture) {
      c.region->work_box = centre_crop_like(c.work, lm.region.query_box);
    }
    decide(c, /*weak=*/false, o);
    if (same != r->matches.end()) {
      *same = std::move(c);
    } else {
      r->matches.push_back(std::move(c));
    }
    changed = true;
  }
  if (!changed) return;
  std::stable_sort(r->matches.begin(), r->matches.end(), [](const Candidate& a, const Candidate& b) {
    const bool ea = a.method == "sha256", eb = b.method == "sha256";
    if (ea != eb) return ea;
    return a.score > b.score;
  });
  if (int(r->matches.size()) > std::max(0, o.top_k)) r->matches.resize(size_t(std::max(0, o.top_k)));
  r->decision = MatchDecision::kNone;
  for (const Candidate& c : r->matches) {
    if (decision_severity(c.decision) > decision_severity(r->decision)) r->decision = c.decision;
  }
}

}  // namespace imprint
