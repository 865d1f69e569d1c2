// The frame index (video_index.h), frames.index on disk, and the catalog's loading and saving of
// it. frames.index is in the derived-file form (derived_file.h), magic "IMPRFRMI", with entries
// {32-byte hash, i64 fingerprint pk, i64 work pk, i64 t_ms}, written atomically as pdq.index is.
#include "video_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "catalog_impl.h"
#include "derived_file.h"

namespace imprint {
namespace {

constexpr char kMagic[8] = {'I', 'M', 'P', 'R', 'F', 'R', 'M', 'I'};
constexpr uint32_t kEntrySize = 56;
using detail::get;
using detail::put;

std::string frame_index_path(const CatalogOptions& o) { return o.dir + "/frames.index"; }

}  // namespace

WorkFingerprint video_frame_fingerprint(const PdqHash& hash, int quality, double t_seconds,
                                        const char* kind) {
  WorkFingerprint f = WorkFingerprint::pdq(hash, quality);
  f.kind = kind;
  f.t_ms = std::llround(t_seconds * 1000.0);
  return f;
}

bool is_video_frame_kind(const std::string& kind) {
  return kind == kVideoFrameKind || kind == kVideoFrameCropKind;
}

void FrameIndexUpdate::add_if_frame(const WorkFingerprint& f, int64_t fp_pk, int64_t work_pk) {
  if (!is_video_frame_kind(f.kind) || f.data.size() != 32 || f.quality < kPdqMinUsefulQuality)
    return;
  hashes.push_back(PdqHash::from_bytes(f.data.data()));
  fp_pks.push_back(fp_pk);
  work_pks.push_back(work_pk);
  t_ms.push_back(f.t_ms);
}

void FrameIndexUpdate::append(const FrameIndexUpdate& o) {
  hashes.insert(hashes.end(), o.hashes.begin(), o.hashes.end());
  fp_pks.insert(fp_pks.end(), o.fp_pks.begin(), o.fp_pks.end());
  work_pks.insert(work_pks.end(), o.work_pks.begin(), o.work_pks.end());
  t_ms.insert(t_ms.end(), o.t_ms.begin(), o.t_ms.end());
  removed_works.insert(removed_works.end(), o.removed_works.begin(), o.removed_works.end());
}

VideoFrameIndex::VideoFrameIndex(IndexKind kind, size_t expected_entries)
    : requested_(kind),
      hashes_(make_index(kind == IndexKind::kAuto ? choose_index_kind(expected_entries) : kind)) {}

VideoFrameIndex::Slot* VideoFrameIndex::slot(int64_t fp_pk) {
  if (base_ < 0 || fp_pk < base_ || fp_pk - base_ >= int64_t(slots_.size())) return nullptr;
  return &slots_[size_t(fp_pk - base_)];
}

const VideoFrameIndex::Slot* VideoFrameIndex::slot(int64_t fp_pk) const {
  return const_cast<VideoFrameIndex*>(this)->slot(fp_pk);
}

void VideoFrameIndex::add(std::span<const PdqHash> hashes, std::span<const int64_t> fp_pks,
                          std::span<const int64_t> work_pks, std::span<const int64_t> t_ms) {
  if (hashes.empty()) return;
  for (size_t i = 0; i < fp_pks.size(); ++i) {
    const int64_t pk = fp_pks[i];
    if (base_ < 0) base_ = pk;
    if (pk < base_) {  // only if rows arrive out of order; never from the catalog
      slots_.insert(slots_.begin(), size_t(base_ - pk), Slot{});
      base_ = pk;
    }
    const size_t at = size_t(pk - base_);
    if (at >= slots_.size()) slots_.resize(std::max(at + 1, slots_.size() * 3 / 2 + 16));
    slots_[at] = {work_pks[i], t_ms[i]};
    auto [it, fresh] = work_range_.try_emplace(work_pks[i], pk, pk);
    if (!fresh) {
      it->second.first = std::min(it->second.first, pk);
      it->second.second = std::max(it->second.second, pk);
    }
    max_fp_pk_ = std::max(max_fp_pk_, pk);
  }
  hashes_->add(hashes, fp_pks);
  // With kAuto the structure follows the size, as the image index's does.
  if (requested_ == IndexKind::kAuto && choose_index_kind(hashes_->size()) != hashes_->kind()) {
    auto grown = make_index(choose_index_kind(hashes_->size()));
    std::vector<PdqHash> all_hashes;
    std::vector<int64_t> all_labels;
    hashes_->for_each([&](const PdqHash& h, int64_t label) {
      all_hashes.push_back(h);
      all_labels.push_back(label);
    });
    grown->add(all_hashes, all_labels);
    hashes_ = std::move(grown);
  }
}

void VideoFrameIndex::apply(const FrameIndexUpdate& u) {
  add(u.hashes, u.fp_pks, u.work_pks, u.t_ms);
  for (int64_t w : u.removed_works) remove_work(w);
}

void VideoFrameIndex::remove(std::span<const int64_t> fp_pks) {
  std::vector<int64_t> live;
  for (int64_t pk : fp_pks) {
    Slot* s = slot(pk);
    if (s == nullptr || s->work_pk == 0) continue;
    s->work_pk = 0;
    live.push_back(pk);
  }
  hashes_->remove(live);
}

void VideoFrameIndex::remove_work(int64_t work_pk) {
  auto it = work_range_.find(work_pk);
  if (it == work_range_.end()) return;
  std::vector<int64_t> labels;
  for (int64_t pk = it->second.first; pk <= it->second.second; ++pk) {
    const Slot* s = slot(pk);
    if (s != nullptr && s->work_pk == work_pk) labels.push_back(pk);
  }
  work_range_.erase(it);
  remove(labels);
}

std::vector<std::vector<FrameHit>> VideoFrameIndex::search(std::span<const PdqHash> queries,
                                                           int radius) const {
  const auto found = hashes_->search_radius(queries, radius);
  std::vector<std::vector<FrameHit>> out(found.size());
  for (size_t q = 0; q < found.size(); ++q) {
    out[q].reserve(found[q].size());
    for (const Neighbor& n : found[q]) {
      const Slot* s = slot(n.label);
      if (s == nullptr || s->work_pk == 0) continue;
      out[q].push_back({n.label, s->work_pk, s->t_ms, n.distance});
    }
  }
  return out;
}

size_t VideoFrameIndex::memory_bytes() const {
  return hashes_->memory_bytes() + slots_.capacity() * sizeof(Slot) + work_range_.size() * 48;
}

void VideoFrameIndex::for_each(
    const std::function<void(const PdqHash&, int64_t, int64_t, int64_t)>& fn) const {
  hashes_->for_each([&](const PdqHash& h, int64_t label) {
    const Slot* s = slot(label);
    if (s != nullptr && s->work_pk != 0) fn(h, label, s->work_pk, s->t_ms);
  });
}

Status write_frame_index_file(const std::string& path, const FrameIndexFile& c) {
  std::vector<uint8_t> b = detail::begin_derived_file(
      kMagic, kEntrySize, {c.catalog_id, c.generation, c.max_fp_pk}, c.hashes.size());
  for (size_t i = 0; i < c.hashes.size(); ++i) {
    const auto h = c.hashes[i].to_bytes();
    b.insert(b.end(), h.begin(), h.end());
    put<int64_t>(b, c.fp_pks[i]);
    put<int64_t>(b, c.work_pks[i]);
    put<int64_t>(b, c.t_ms[i]);
  }
  return detail::write_derived_file(path, b);
}

Result<FrameIndexFile> read_frame_index_file(const std::string& path) {
  Result<detail::DerivedFile> f = detail::read_derived_file(path, kMagic, kEntrySize, "frame index");
  if (!f.ok()) return f.status();
  FrameIndexFile c;
  c.catalog_id = f->header.catalog_id;
  c.generation = f->header.generation;
  c.max_fp_pk = f->header.max_fp_pk;
  const uint64_t n = f->count;
  c.hashes.reserve(n);
  c.fp_pks.reserve(n);
  c.work_pks.reserve(n);
  c.t_ms.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t* e = f->entry(i);
    c.hashes.push_back(PdqHash::from_bytes(e));
    c.fp_pks.push_back(get<int64_t>(e + 32));
    c.work_pks.push_back(get<int64_t>(e + 40));
    c.t_ms.push_back(get<int64_t>(e + 48));
  }
  return c;
}

// Loads frames.index and catches it up, or rebuilds it, from the database: the same steps as
// load_or_rebuild_index for pdq.index, on the frame kind.
Status Catalog::Impl::load_video_index() {
  std::unique_ptr<VideoFrameIndex> index;
  {
    std::lock_guard<std::mutex> lk(rdb_mu);
    detail::ReadTransaction read(rdb);
    IMPRINT_RETURN_IF_ERROR(read.status());
    Status st;
    Result<int64_t> generation_now = stored_generation(rdb);
    if (!generation_now.ok()) return generation_now.status();
    const int64_t db_generation = *generation_now;

    Result<detail::Statement> count =
        rdb.prepare("SELECT COUNT(*) FROM fingerprints WHERE kind IN (?, ?) AND quality >= ?");
    if (!count.ok()) return count.status();
    count->bind(1, std::string(kVideoFrameKind))
        .bind(2, std::string(kVideoFrameCropKind))
        .bind(3, int64_t(kPdqMinUsefulQuality));
    count->step(&st);
    IMPRINT_RETURN_IF_ERROR(st);
    index = std::make_unique<VideoFrameIndex>(options.index, size_t(count->int64(0)));

    int64_t since_generation = -1, since_pk = 0;
    Result<FrameIndexFile> file = read_frame_index_file(frame_index_path(options));
    if (file.ok() && file->catalog_id == catalog_id && file->generation <= db_generation) {
      index->add(file->hashes, file->fp_pks, file->work_pks, file->t_ms);
      since_generation = file->generation;
      since_pk = file->max_fp_pk;
      video_origin = file->generation == db_generation ? "loaded" : "caught-up";
    } else {
      video_origin = "rebuilt";
    }
    if (since_generation >= 0) {
      Result<detail::Statement> rm = rdb.prepare(
          "SELECT pk FROM removed_fingerprints WHERE kind IN (?, ?) AND generation > ?");
      if (!rm.ok()) return rm.status();
      rm->bind(1, std::string(kVideoFrameKind))
          .bind(2, std::string(kVideoFrameCropKind))
          .bind(3, since_generation);
      std::vector<int64_t> gone;
      while (rm->step(&st)) gone.push_back(rm->int64(0));
      IMPRINT_RETURN_IF_ERROR(st);
      index->remove(gone);
    }
    Result<detail::Statement> add = rdb.prepare(
        "SELECT pk, work_pk, data, t_ms FROM fingerprints WHERE kind IN (?, ?) AND quality >= ? "
        "AND pk > ? ORDER BY pk");
    if (!add.ok()) return add.status();
    add->bind(1, std::string(kVideoFrameKind))
        .bind(2, std::string(kVideoFrameCropKind))
        .bind(3, int64_t(kPdqMinUsefulQuality))
        .bind(4, since_pk);
    FrameIndexUpdate batch;
    while (add->step(&st)) {
      if (add->blob_size(2) != 32) continue;
      batch.hashes.push_back(PdqHash::from_bytes(add->blob_data(2)));
      batch.fp_pks.push_back(add->int64(0));
      batch.work_pks.push_back(add->int64(1));
      batch.t_ms.push_back(add->int64(3));
      if (batch.hashes.size() == 65536) {
        index->apply(batch);
        batch = FrameIndexUpdate();
      }
    }
    IMPRINT_RETURN_IF_ERROR(st);
    index->apply(batch);
  }
  // rdb_mu is released before index_mu is taken: the second stage takes rdb_mu while holding
  // index_mu (feature_store.cc, reading stored features), so the other order would deadlock.
  std::unique_lock<std::shared_mutex> ilk(index_mu);
  video = std::move(index);
  return Status::Ok();
}

Status Catalog::Impl::save_video_index() {
  FrameIndexFile c;
  {
    std::shared_lock<std::shared_mutex> lk(index_mu);
    if (!video) return Status::Ok();
    // A catalog without video frames gets no frames.index (an empty one would say the same).
    std::error_code ec;
    if (video->size() == 0 && !std::filesystem::exists(frame_index_path(options), ec)) {
      return Status::Ok();
    }
    c.catalog_id = catalog_id;
    c.generation = generation;
    c.max_fp_pk = video->max_fp_pk();
    video->for_each([&](const PdqHash& h, int64_t fp, int64_t work, int64_t t) {
      c.hashes.push_back(h);
      c.fp_pks.push_back(fp);
      c.work_pks.push_back(work);
      c.t_ms.push_back(t);
    });
  }
  return write_frame_index_file(frame_index_path(options), c);
}

}  // namespace imprint
