// Catalog on PostgreSQL: opening a replica and keeping its in-memory indexes in step with the
// database (catalog_impl.h says how following works).
#include <chrono>
#include <set>

#include "catalog_impl.h"

namespace imprint {
using detail::Database;
using detail::Statement;

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Rows read per FETCH while catching up: bounds the memory a replica far behind needs.
constexpr int kFetchRows = 4096;

}  // namespace

Status Catalog::Impl::open_postgres() {
  pg = true;
  origin = "postgresql";
  video_origin = "postgresql";
  const std::string& uri = options.dir;
  if (!options.read_only) {
    Result<Database> w = Database::connect(uri);
    if (!w.ok()) return w.status();
    wdb = std::move(*w);
    IMPRINT_RETURN_IF_ERROR(create_schema(wdb));
  }
  for (Database* db : {&rdb, &fdb, &ldb}) {
    if (db == &ldb && !options.wake_on_commit) continue;
    Result<Database> c = Database::connect(uri);
    if (!c.ok()) return c.status();
    *db = std::move(*c);
  }
  Status schema = check_schema(detail::redact_uri(uri));
  if (!schema.ok()) {
    if (options.read_only && schema.code() == StatusCode::kIOError) {
      return not_found("no catalog at " + detail::redact_uri(uri) + " (" + schema.message() + ")");
    }
    return schema;
  }
  pdq = make_index(options.index == IndexKind::kAuto ? choose_index_kind(0) : options.index);
  video = std::make_unique<VideoFrameIndex>(options.index, 0);
  if (options.second_stage) {
    features = std::make_unique<FeatureIndex>(options.feature_index_options);
    crops = make_index(IndexKind::kMih);
    weak_regions = make_index(IndexKind::kMih);
  }
  if (!options.snapshot_dir.empty()) {
    IMPRINT_RETURN_IF_ERROR(load_replica_snapshot());
    next_snapshot_ms = next_snapshot_time_ms(options.snapshot_interval_s);
  }
  IMPRINT_RETURN_IF_ERROR(catch_up());
  follower = std::thread([this] {
    const int interval_ms = std::max(1, options.follow_interval_ms);
    // Woken by a writer's commit on any replica, or after the interval. While the database is
    // away it waits out the interval and tries to listen again (which reconnects).
    bool listening = options.wake_on_commit && ldb.listen(kFollowChannel).ok();
    while (true) {
      {
        std::unique_lock<std::mutex> lk(stop_mu);
        if (!listening) {
          stop_cv.wait_for(lk, std::chrono::milliseconds(interval_ms), [&] { return stopping; });
        }
        if (stopping) break;
      }
      if (listening) {
        // At most 50 ms at a time, so that closing the catalog never waits long on it.
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
        bool woken = false;
        while (listening && !woken && std::chrono::steady_clock::now() < until) {
          {
            std::lock_guard<std::mutex> lk(stop_mu);
            if (stopping) break;
          }
          const int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   until - std::chrono::steady_clock::now())
                                   .count());
          Result<bool> n = ldb.wait_notification(std::clamp(left, 0, 50));
          listening = n.ok();
          woken = n.ok() && *n;
        }
      } else if (options.wake_on_commit) {
        listening = ldb.listen(kFollowChannel).ok();
      }
      (void)catch_up();  // the failure is kept for follow_state(); the next turn tries again
      if (!options.snapshot_dir.empty() && steady_ms() >= next_snapshot_ms) {
        (void)save_replica_snapshot();  // a failure (disk full) is tried again next interval
        next_snapshot_ms = next_snapshot_time_ms(options.snapshot_interval_s);
      }
    }
  });
  return Status::Ok();
}

void Catalog::Impl::stop_follower() {
  {
    std::lock_guard<std::mutex> lk(stop_mu);
    stopping = true;
  }
  stop_cv.notify_all();
  if (follower.joinable()) follower.join();
}

Status Catalog::Impl::catch_up() {
  std::lock_guard<std::mutex> lk(follow_mu);
  Database& db = fdb;
  auto fail = [&](Status s) {
    (void)db.exec("ROLLBACK");
    std::lock_guard<std::mutex> elk(follow_error_mu);
    follow_error = s.message();
    return s;
  };
  Status st = db.begin_read();
  if (!st.ok()) return fail(st);
  Result<int64_t> generation_now = stored_generation(db);
  if (!generation_now.ok()) return fail(generation_now.status());
  const int64_t db_generation = *generation_now;
  int64_t have_generation;
  {
    std::shared_lock<std::shared_mutex> ilk(index_mu);
    have_generation = generation;
  }
  const bool initial = follow_pk == 0 && have_generation == 0;
  if (db_generation != have_generation) {
    // Removals since the generation we have. Fingerprint rows are never reused, so removing one
    // we never had does nothing.
    std::vector<int64_t> gone_pdq, gone_frames, gone_works;
    if (!initial) {
      Result<Statement> rm =
          db.prepare("SELECT pk, kind, work_pk FROM removed_fingerprints WHERE generation > ?");
      if (!rm.ok()) return fail(rm.status());
      rm->bind(1, have_generation);
      std::set<int64_t> works;
      while (rm->step(&st)) {
        const std::string kind = rm->text(1);
        if (kind == kPdqKind) gone_pdq.push_back(rm->int64(0));
        if (is_video_frame_kind(kind)) gone_frames.push_back(rm->int64(0));
        works.insert(rm->int64(2));
      }
      if (!st.ok()) return fail(st);
      gone_works.assign(works.begin(), works.end());
    }
    {
      std::unique_lock<std::shared_mutex> ilk(index_mu);
      pdq->remove(gone_pdq);
      video->remove(gone_frames);
      {
        std::lock_guard<std::mutex> clk(work_cache_mu);
        for (int64_t w : gone_works) work_cache.erase(w);
      }
      if (features) {
        for (int64_t w : gone_works) features->remove(w);
        crops->remove(gone_works);
        weak_regions->remove(gone_works);
      }
    }
    // Fingerprints past the last row we have, in row (commit) order, a batch at a time.
    st = db.exec(
        "DECLARE imprint_follow NO SCROLL CURSOR FOR SELECT pk, work_pk, kind, data, quality, t_ms "
        "FROM fingerprints WHERE pk > " +
        std::to_string(follow_pk) + " AND kind IN ('" + kPdqKind + "', '" + kCropPdqKind + "', '" +
        kLocalFeaturesKind + "', '" + kVideoFrameKind + "', '" + kVideoFrameCropKind +
        "') ORDER BY pk");
    if (!st.ok()) return fail(st);
    Result<Statement> fetch =
        db.prepare("FETCH FORWARD " + std::to_string(kFetchRows) + " FROM imprint_follow");
    if (!fetch.ok()) return fail(fetch.status());
    if (initial && features) features->begin_bulk();
    while (true) {
      std::vector<PdqHash> hashes, crop_hashes, weak_hashes;
      std::vector<int64_t> fps, works, crop_works, weak_works;
      std::vector<std::pair<int64_t, LocalFeatures>> new_features;
      FrameIndexUpdate frames;
      int64_t last_pk = follow_pk;
      int rows = 0;
      fetch->reset();
      while (fetch->step(&st)) {
        ++rows;
        WorkFingerprint f;
        const int64_t pk = fetch->int64(0), work = fetch->int64(1);
        last_pk = pk;
        f.kind = fetch->text(2);
        f.data = fetch->blob(3);
        f.quality = int(fetch->int64(4));
        f.t_ms = fetch->int64(5);
        frames.add_if_frame(f, pk, work);
        if (f.kind == kPdqKind && f.quality >= kPdqMinUsefulQuality && f.data.size() == 32) {
          hashes.push_back(PdqHash::from_bytes(f.data.data()));
          fps.push_back(pk);
          works.push_back(work);
        }
        if (!features) continue;
        if (f.kind == kLocalFeaturesKind) {
          Result<LocalFeatures> lf = decode_local_features(f.data);
          if (!lf.ok()) return fail(lf.status().with_context("work #" + std::to_string(work)));
          new_features.emplace_back(work, std::move(*lf));
          continue;
        }
        if (f.data.size() != 32) continue;
        const RegionIndex to = region_index_for(f.kind, f.quality);
        if (to == RegionIndex::kCrops) {
          crop_hashes.push_back(PdqHash::from_bytes(f.data.data()));
          crop_works.push_back(work);
        } else if (to == RegionIndex::kWeak) {
          weak_hashes.push_back(PdqHash::from_bytes(f.data.data()));
          weak_works.push_back(work);
        }
      }
      if (!st.ok()) {
        if (initial && features) features->end_bulk();
        return fail(st);
      }
      {
        std::unique_lock<std::shared_mutex> ilk(index_mu);
        (void)add_to_index(hashes, fps, works);
        video->apply(frames);
        if (features) {
          for (const auto& [w, lf] : new_features) features->add(w, lf);
          crops->add(crop_hashes, crop_works);
          weak_regions->add(weak_hashes, weak_works);
        }
      }
      follow_pk = last_pk;
      if (rows < kFetchRows) break;
    }
    if (initial && features) {
      std::unique_lock<std::shared_mutex> ilk(index_mu);
      features->end_bulk();
    }
    (void)db.exec("CLOSE imprint_follow");
    std::unique_lock<std::shared_mutex> ilk(index_mu);
    generation = db_generation;
  }
  st = db.exec("COMMIT");
  if (!st.ok()) return fail(st);
  seen_generation = db_generation;
  caught_up_ms = steady_ms();
  std::lock_guard<std::mutex> elk(follow_error_mu);
  follow_error.clear();
  return Status::Ok();
}

std::string display_location(const std::string& location) { return detail::redact_uri(location); }
bool is_postgres_location(const std::string& location) { return detail::is_postgres_uri(location); }

Status Catalog::refresh() {
  if (!impl_->pg) return Status::Ok();
  return impl_->catch_up();
}

Catalog::FollowState Catalog::follow_state() const {
  FollowState s;
  s.following = impl_->pg;
  s.generation = impl_->seen_generation;
  s.caught_up_ms = impl_->caught_up_ms;
  std::lock_guard<std::mutex> lk(impl_->follow_error_mu);
  s.error = impl_->follow_error;
  return s;
}

bool Catalog::ready(int64_t max_lag_ms) const {
  if (!impl_->pg) return true;
  const FollowState s = follow_state();
  return s.error.empty() && s.caught_up_ms > 0 && steady_ms() - s.caught_up_ms <= max_lag_ms;
}

}  // namespace imprint
