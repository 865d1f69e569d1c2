// A PostgreSQL replica's snapshot (CatalogOptions::snapshot_dir): the PDQ, frame and feature
// indexes as they stood after one catch-up, so that a replica that starts (or restarts far
// behind) loads them and catches up from the database instead of reading every row.
//
// The directory holds pdq.index, frames.index and features.index in the directory form's
// formats (derived_file.h), each stamped with the catalog's id, the generation and the follow
// cursor (the highest fingerprint row of any kind applied: catalog_follow.cc), and last
// replica.snapshot, a header-only file with the same stamp. A load takes them only when all
// agree, belong to this catalog and are not ahead of the database; a crash between the writes
// leaves stamps that disagree, which is a full catch-up, never a mixed index. The crop and weak
// region indexes are small (32-byte hashes) and are read from the database's rows up to the
// cursor: rows of works removed since are gone from it already.
#include <filesystem>
#include <random>

#include "catalog_impl.h"
#include "derived_file.h"
#include "video_index.h"

namespace imprint {
namespace {

namespace fs = std::filesystem;
constexpr char kSnapshotMagic[8] = {'I', 'M', 'P', 'S', 'N', 'A', 'P', '1'};

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status Catalog::Impl::load_replica_snapshot() {
  const std::string& dir = options.snapshot_dir;
  snapshot_origin = "none";
  std::error_code ec;
  if (!fs::exists(dir + "/replica.snapshot", ec)) return Status::Ok();
  Result<detail::DerivedFile> manifest =
      detail::read_derived_file(dir + "/replica.snapshot", kSnapshotMagic, 1, "replica snapshot");
  if (!manifest.ok()) {
    snapshot_origin = "damaged: " + manifest.status().message();
    return Status::Ok();
  }
  const detail::DerivedFileHeader stamp = manifest->header;
  if (stamp.catalog_id != catalog_id) {
    snapshot_origin = "another catalog";
    return Status::Ok();
  }
  Result<int64_t> db_generation = stored_generation(fdb);
  if (!db_generation.ok()) return db_generation.status();
  if (stamp.generation > *db_generation) {
    snapshot_origin = "ahead of the database";
    return Status::Ok();
  }
  auto agrees = [&](const std::string& id, int64_t generation, int64_t cursor) {
    return id == stamp.catalog_id && generation == stamp.generation && cursor == stamp.max_fp_pk;
  };
  Result<IndexFileContents> pdq_file = read_index_file(dir + "/pdq.index");
  Result<FrameIndexFile> frame_file = read_frame_index_file(dir + "/frames.index");
  if (!pdq_file.ok() || !frame_file.ok()) {
    snapshot_origin =
        "damaged: " + (pdq_file.ok() ? frame_file.status().message() : pdq_file.status().message());
    return Status::Ok();
  }
  if (!agrees(pdq_file->catalog_id, pdq_file->generation, pdq_file->max_fp_pk) ||
      !agrees(frame_file->catalog_id, frame_file->generation, frame_file->max_fp_pk)) {
    snapshot_origin = "damaged: its files are of different moments";
    return Status::Ok();
  }
  std::unique_ptr<FeatureIndex> loaded_features;
  if (options.second_stage) {
    Result<detail::DerivedFile> f =
        detail::read_derived_file(dir + "/features.index", kFeatureIndexMagic, 1, "feature index");
    if (!f.ok()) {
      snapshot_origin = "damaged: " + f.status().message();
      return Status::Ok();
    }
    if (!agrees(f->header.catalog_id, f->header.generation, f->header.max_fp_pk)) {
      snapshot_origin = "damaged: its files are of different moments";
      return Status::Ok();
    }
    // A snapshot saved under another searched_per_work is refused by load (the file names it).
    Result<std::unique_ptr<FeatureIndex>> index = FeatureIndex::load(
        std::span<const uint8_t>(f->entry(0), size_t(f->count)), options.feature_index_options);
    if (!index.ok()) {
      snapshot_origin = "damaged: " + index.status().message();
      return Status::Ok();
    }
    loaded_features = std::move(*index);
  }

  // The region indexes from the rows the snapshot covers.
  std::vector<PdqHash> crop_hashes, weak_hashes;
  std::vector<int64_t> crop_works, weak_works;
  if (options.second_stage) {
    IMPRINT_RETURN_IF_ERROR(fdb.begin_read());
    Result<detail::Statement> s = fdb.prepare(
        "SELECT work_pk, kind, data, quality FROM fingerprints WHERE pk <= ? AND kind IN (?, ?)");
    if (!s.ok()) {
      (void)fdb.exec("ROLLBACK");
      return s.status();
    }
    s->bind(1, stamp.max_fp_pk).bind(2, std::string(kPdqKind)).bind(3, std::string(kCropPdqKind));
    Status st;
    while (s->step(&st)) {
      if (s->blob_size(2) != 32) continue;
      const RegionIndex to = region_index_for(s->text(1), int(s->int64(3)));
      if (to == RegionIndex::kCrops) {
        crop_hashes.push_back(PdqHash::from_bytes(s->blob_data(2)));
        crop_works.push_back(s->int64(0));
      } else if (to == RegionIndex::kWeak) {
        weak_hashes.push_back(PdqHash::from_bytes(s->blob_data(2)));
        weak_works.push_back(s->int64(0));
      }
    }
    (void)fdb.exec("COMMIT");
    IMPRINT_RETURN_IF_ERROR(st);
  }

  std::unique_lock<std::shared_mutex> ilk(index_mu);
  pdq = make_index(options.index == IndexKind::kAuto ? choose_index_kind(pdq_file->hashes.size())
                                                     : options.index);
  work_of.clear();
  max_fp_pk = 0;
  IMPRINT_RETURN_IF_ERROR(add_to_index(pdq_file->hashes, pdq_file->fp_pks, pdq_file->work_pks));
  video = std::make_unique<VideoFrameIndex>(options.index, frame_file->hashes.size());
  video->add(frame_file->hashes, frame_file->fp_pks, frame_file->work_pks, frame_file->t_ms);
  if (options.second_stage) {
    features = std::move(loaded_features);
    crops = make_index(IndexKind::kMih);
    weak_regions = make_index(IndexKind::kMih);
    crops->add(crop_hashes, crop_works);
    weak_regions->add(weak_hashes, weak_works);
  }
  generation = stamp.generation;
  {
    std::lock_guard<std::mutex> flk(follow_mu);
    follow_pk = stamp.max_fp_pk;
  }
  {
    std::lock_guard<std::mutex> slk(snapshot_mu);
    snapshot_generation = stamp.generation;
  }
  snapshot_origin = "loaded generation " + std::to_string(stamp.generation);
  return Status::Ok();
}

Status Catalog::Impl::save_replica_snapshot() {
  const std::string& dir = options.snapshot_dir;
  std::lock_guard<std::mutex> slk(snapshot_mu);
  detail::DerivedFileHeader stamp;
  IndexFileContents pdq_file;
  FrameIndexFile frame_file;
  std::vector<uint8_t> feature_file;
  {
    // follow_mu first, as catch_up takes them: the cursor, the generation and every index
    // agree while both are held.
    std::lock_guard<std::mutex> flk(follow_mu);
    std::shared_lock<std::shared_mutex> ilk(index_mu);
    stamp = {catalog_id, generation, follow_pk};
    if (stamp.generation == snapshot_generation) return Status::Ok();  // nothing new
    pdq_file.catalog_id = catalog_id;
    pdq_file.generation = generation;
    pdq_file.max_fp_pk = follow_pk;
    pdq->for_each([&](const PdqHash& h, int64_t label) {
      pdq_file.hashes.push_back(h);
      pdq_file.fp_pks.push_back(label);
      pdq_file.work_pks.push_back(work_of[size_t(label)]);
    });
    frame_file.catalog_id = catalog_id;
    frame_file.generation = generation;
    frame_file.max_fp_pk = follow_pk;
    video->for_each([&](const PdqHash& h, int64_t fp, int64_t work, int64_t t) {
      frame_file.hashes.push_back(h);
      frame_file.fp_pks.push_back(fp);
      frame_file.work_pks.push_back(work);
      frame_file.t_ms.push_back(t);
    });
    if (features) {
      feature_file = detail::begin_derived_file(kFeatureIndexMagic, 1, stamp, 0);
      feature_file.reserve(features->memory_bytes() + feature_file.size() + 64);
      features->save(feature_file);
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error("cannot create snapshot directory " + dir + ": " + ec.message());
  // The manifest goes first and last: removed before the files change, written after they all
  // have, so a crash in between leaves no manifest (a full catch-up), never a mixed snapshot.
  fs::remove(dir + "/replica.snapshot", ec);
  IMPRINT_RETURN_IF_ERROR(write_index_file(dir + "/pdq.index", pdq_file));
  IMPRINT_RETURN_IF_ERROR(write_frame_index_file(dir + "/frames.index", frame_file));
  if (!feature_file.empty()) {
    detail::set_derived_byte_count(feature_file);
    IMPRINT_RETURN_IF_ERROR(detail::write_derived_file(dir + "/features.index", feature_file));
  }
  std::vector<uint8_t> manifest = detail::begin_derived_file(kSnapshotMagic, 1, stamp, 0);
  IMPRINT_RETURN_IF_ERROR(detail::write_derived_file(dir + "/replica.snapshot", manifest));
  snapshot_generation = stamp.generation;
  return Status::Ok();
}

// The follower's next save: snapshot_interval_s from now, give or take a quarter.
int64_t next_snapshot_time_ms(int interval_s) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const double jitter = std::uniform_real_distribution<double>(0.75, 1.25)(rng);
  return steady_now_ms() + int64_t(double(std::max(1, interval_s)) * 1000.0 * jitter);
}

}  // namespace imprint
