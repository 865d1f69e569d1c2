// The catalog's side of the second stage: local features as stored fingerprints, the feature
// index built from them at open, and second-stage matches as catalog candidates.
//
// The feature index is derived data, like pdq.index: saved beside it as features.index with the
// generation it reflects, loaded at open and caught up from SQLite (works whose features are gone
// are dropped, rows past the highest fingerprint pk the file had are added), or rebuilt from
// SQLite when the file is missing, damaged or another catalog's. Training the tree is what makes
// a rebuild slow (benchmarks/robustness: build s per 10k works); a load copies arrays.
#include <algorithm>
#include <unordered_set>

#include "catalog_impl.h"
#include "derived_file.h"

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

namespace {

std::string feature_index_path(const CatalogOptions& o) { return o.dir + "/features.index"; }

}  // namespace

Status Catalog::Impl::load_feature_index() {
  std::unique_ptr<FeatureIndex> index;
  std::unique_ptr<FingerprintIndex> crop_index = make_index(IndexKind::kMih);
  std::unique_ptr<FingerprintIndex> weak_index = make_index(IndexKind::kMih);
  {
    std::lock_guard<std::mutex> lk(rdb_mu);
    // The generation and every row read below in one read transaction, so they agree.
    detail::ReadTransaction read(rdb);
    IMPRINT_RETURN_IF_ERROR(read.status());
    Status st;
    Result<int64_t> generation_now = stored_generation(rdb);
    if (!generation_now.ok()) return generation_now.status();
    const int64_t db_generation = *generation_now;
    int64_t since_pk = -1;
    {
      Result<detail::DerivedFile> file = detail::read_derived_file(
          feature_index_path(options), kFeatureIndexMagic, 1, "feature index");
      if (file.ok() && file->header.catalog_id == catalog_id &&
          file->header.generation <= db_generation) {
        Result<std::unique_ptr<FeatureIndex>> loaded =
            FeatureIndex::load(std::span<const uint8_t>(file->entry(0), size_t(file->count)),
                               options.feature_index_options);
        if (loaded.ok()) {
          index = std::move(*loaded);
          since_pk = file->header.max_fp_pk;
          feature_origin = file->header.generation == db_generation ? "loaded" : "caught-up";
        }
      }
    }
    if (!index) {
      index = std::make_unique<FeatureIndex>(options.feature_index_options);
      since_pk = 0;
      feature_origin = "rebuilt";
    }
    Result<detail::Statement> s = rdb.prepare(
        "SELECT work_pk, data, quality, pk FROM fingerprints WHERE kind = ? AND pk > ? ORDER BY "
        "pk");
    if (!s.ok()) return s.status();
    if (feature_origin == "caught-up") {
      // Works whose features are gone since the file was written (removed, or replaced: a
      // replacement's new row comes back below). A current file needs no such pass: nothing
      // has been committed since it was written.
      Result<detail::Statement> now =
          rdb.prepare("SELECT work_pk FROM fingerprints WHERE kind = ? AND pk <= ?");
      if (!now.ok()) return now.status();
      now->bind(1, std::string(kLocalFeaturesKind)).bind(2, since_pk);
      std::unordered_set<int64_t> kept;
      while (now->step(&st)) kept.insert(now->int64(0));
      IMPRINT_RETURN_IF_ERROR(st);
      for (int64_t pk : index->work_pks()) {
        if (!kept.count(pk)) index->remove(pk);
      }
    }
    s->bind(1, std::string(kLocalFeaturesKind)).bind(2, since_pk);
    // A rebuild adds everything, then trains the tree once; a catch-up adds to the loaded tree.
    const bool bulk = feature_origin == "rebuilt";
    int64_t total = 0, done = 0;
    const auto& progress = options.open_progress;
    if (bulk && progress) {
      Result<detail::Statement> count =
          rdb.prepare("SELECT COUNT(*) FROM fingerprints WHERE kind = ?");
      if (!count.ok()) return count.status();
      count->bind(1, std::string(kLocalFeaturesKind));
      count->step(&st);
      IMPRINT_RETURN_IF_ERROR(st);
      total = count->int64(0);
    }
    if (bulk) index->begin_bulk();
    while (s->step(&st)) {
      Result<LocalFeatures> f = decode_local_features(
          std::span<const uint8_t>(s->blob_data(1), size_t(s->blob_size(1))));
      if (!f.ok()) return f.status().with_context("work #" + std::to_string(s->int64(0)));
      index->add(s->int64(0), *f);
      since_pk = std::max(since_pk, s->int64(3));
      ++done;
      if (bulk && progress && done % 10000 == 0) progress("reading", done, total);
    }
    IMPRINT_RETURN_IF_ERROR(st);
    max_feature_fp_pk = since_pk;
    if (!bulk && done > 0 && progress) progress("catching up", done, done);
    if (bulk) {
      if (progress) {
        progress("reading", done, done);
        progress("training", done, done);
      }
      index->end_bulk();
    }
    s = rdb.prepare("SELECT work_pk, data, quality FROM fingerprints WHERE kind = ? ORDER BY pk");
    if (!s.ok()) return s.status();
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
  if (feature_origin != "loaded") index_dirty = true;
  return Status::Ok();
}

Status Catalog::Impl::save_feature_index() {
  std::vector<uint8_t> b;
  {
    std::shared_lock<std::shared_mutex> lk(index_mu);
    if (!features) return Status::Ok();
    // The header's pk is the highest local-features row the index holds: the next open adds
    // only rows past it.
    b = detail::begin_derived_file(kFeatureIndexMagic, 1,
                                   {catalog_id, generation, max_feature_fp_pk}, 0);
    b.reserve(features->memory_bytes() + b.size() + 64);
    features->save(b);
  }
  detail::set_derived_byte_count(b);
  return detail::write_derived_file(feature_index_path(options), b);
}

std::vector<LocalMatch> Catalog::Impl::second_stage(
    const Image& pixels, int match_distance,
    const std::array<PdqHash, kDihedralCount>* dihedral) const {
  const SecondStageOptions& so = options.second_stage_options;
  LocalFeatureOptions query_options = query_feature_options();
  if (!so.use_local_features) query_options.max_features = 0;  // the thumbnail and regions only
  if (!so.use_picture_regions) query_options.region_hashes = 0;
  const LocalFeatures query = extract_local_features(pixels, query_options);

  std::shared_lock<std::shared_mutex> lk(index_mu);
  if (!features) return {};
  // An index holding only the searched features verifies with the work's stored ones: one row
  // of the read connection per verified work (at most works_verified a query). Lock order:
  // index_mu, then rdb_mu; nothing takes index_mu while holding rdb_mu.
  WorkFeaturesReader reader;
  if (options.feature_index_options.searched_per_work > 0) {
    reader = [this](int64_t work_pk, LocalFeatures* out) {
      std::lock_guard<std::mutex> rlk(rdb_mu);
      Result<detail::Statement*> cached = cached_read(
          "SELECT data FROM fingerprints WHERE work_pk = ? AND kind = ? ORDER BY pk DESC LIMIT 1");
      if (!cached.ok()) return false;
      CachedRead s(*cached);
      s->bind(1, work_pk).bind(2, std::string(kLocalFeaturesKind));
      Status st;
      if (!s->step(&st)) return false;
      Result<LocalFeatures> f =
          decode_local_features(std::span<const uint8_t>(s->blob_data(0), size_t(s->blob_size(0))));
      if (!f.ok()) return false;
      *out = std::move(*f);
      return true;
    };
  }
  std::vector<LocalMatch> out =
      match_local_features(*features, query, options.second_stage_options, reader);
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
