// The frame index: the PDQ hashes of registered videos' sampled frames, searchable by hash, each
// with its work and timestamp.
//
// Video frames are stored as fingerprints of kind "pdq-frame" (32-byte PDQ hash, its quality,
// t_ms = the frame's timestamp) and indexed here, apart from the image PDQ index (`pdq.index`).
// Keeping them apart is deliberate: an image query searches image works only unless the caller
// asks for video frames too (Catalog::match_stills_in_videos), so registering films does not
// change what image queries answer, how fast, or which structure kAuto picks for them; and a
// video query searches only the frames of video works.
//
// Like the image index it is derived data: `frames.index` in the catalog directory holds every
// live frame with its fingerprint id, work and timestamp, stamped with the database generation
// and a checksum. Opening loads it, catches it up from the database (frames added and removed
// since its generation) or rebuilds it when it is missing, foreign or corrupt; writers save it
// with pdq.index. Only frames of quality >= kPdqMinUsefulQuality are indexed (weaker ones stay in
// the database for the vPDQ percentages, which drop them anyway).
//
// Thread safety: as FingerprintIndex: concurrent searches are safe; add/remove need exclusive
// access (the catalog holds its index lock).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "catalog.h"
#include "fingerprint_index.h"

namespace imprint {

// Fingerprint kinds of video works: one per sampled frame (the reference vPDQ hash); for frames
// with black bars, the hash of the picture inside them (video_ingest.h: letterboxing and
// pillarboxing added or removed by a copy then cancel out); and one with the stream's
// description (JSON: fps, duration, frame count, sampling, partial reason) for reports. Both
// frame kinds are in the frame index and count in the vPDQ percentages (vpdq_match_views).
inline constexpr const char* kVideoFrameKind = "pdq-frame";
inline constexpr const char* kVideoFrameCropKind = "pdq-frame-crop";
inline constexpr const char* kVideoInfoKind = "video-info";

WorkFingerprint video_frame_fingerprint(const PdqHash& hash, int quality, double t_seconds,
                                        const char* kind = kVideoFrameKind);
bool is_video_frame_kind(const std::string& kind);

// One indexed frame near a query hash.
struct FrameHit {
  int64_t fp_pk = 0;
  int64_t work_pk = 0;
  int64_t t_ms = 0;
  int distance = 0;
};

// What one registration batch changes in the frame index, collected while its transaction runs
// and applied once it has committed.
struct FrameIndexUpdate {
  std::vector<PdqHash> hashes;
  std::vector<int64_t> fp_pks, work_pks, t_ms;
  std::vector<int64_t> removed_works;  // replaced works whose frames go

  // Adds f if it is an indexable frame (kind, size, quality), stored as row fp_pk of work_pk.
  void add_if_frame(const WorkFingerprint& f, int64_t fp_pk, int64_t work_pk);
  void append(const FrameIndexUpdate& other);
};

class VideoFrameIndex {
 public:
  // kAuto follows the size as the image index does: flat while a scan is cheap, mih beyond.
  explicit VideoFrameIndex(IndexKind kind = IndexKind::kAuto, size_t expected_entries = 0);

  // Labels (fingerprint row ids) should arrive in increasing order, as the catalog assigns them.
  void add(std::span<const PdqHash> hashes, std::span<const int64_t> fp_pks,
           std::span<const int64_t> work_pks, std::span<const int64_t> t_ms);
  // Adds first, then removes the replaced works (their row ids never reappear).
  void apply(const FrameIndexUpdate& update);
  // Unknown ids are ignored.
  void remove(std::span<const int64_t> fp_pks);
  void remove_work(int64_t work_pk);

  // For each query, every live frame within `radius`, in no particular order.
  std::vector<std::vector<FrameHit>> search(std::span<const PdqHash> queries, int radius) const;

  size_t size() const { return hashes_->size(); }
  size_t memory_bytes() const;
  IndexKind kind() const { return hashes_->kind(); }
  int64_t max_fp_pk() const { return max_fp_pk_; }
  void for_each(const std::function<void(const PdqHash&, int64_t fp_pk, int64_t work_pk,
                                         int64_t t_ms)>& fn) const;

 private:
  struct Slot {
    int64_t work_pk = 0;  // 0: no live frame with this row id
    int64_t t_ms = 0;
  };
  Slot* slot(int64_t fp_pk);
  const Slot* slot(int64_t fp_pk) const;

  IndexKind requested_;
  std::unique_ptr<FingerprintIndex> hashes_;
  // Frame row ids are dense within a catalog's video registrations, so a vector from the first
  // one seen is smaller and faster than a hash map (16 bytes a row id).
  int64_t base_ = -1;
  std::vector<Slot> slots_;
  // A work's frames are inserted one after another in one transaction, so their row ids form a
  // narrow range: removing a work scans it instead of keeping a list per work.
  std::unordered_map<int64_t, std::pair<int64_t, int64_t>> work_range_;
  int64_t max_fp_pk_ = 0;
};

// frames.index on disk (video_index.cc has the layout).
struct FrameIndexFile {
  std::string catalog_id;
  int64_t generation = 0;
  int64_t max_fp_pk = 0;
  std::vector<PdqHash> hashes;
  std::vector<int64_t> fp_pks, work_pks, t_ms;
};
Status write_frame_index_file(const std::string& path, const FrameIndexFile& f);
Result<FrameIndexFile> read_frame_index_file(const std::string& path);

}  // namespace imprint
