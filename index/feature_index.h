// FeatureIndex: the local features of every registered work, searchable by descriptor.
//
// The second matching stage asks, for each of a query's ~1500 ORB descriptors, which registered
// features lie within a Hamming radius. A linear scan costs queries x features (10k works hold
// 4M features: 6G distance computations a query), so descriptors are kept in the leaves of a
// vocabulary tree: hierarchical k-majority clustering (binary k-means whose centres are bitwise
// majorities), branching 16, leaves of about leaf_size descriptors stored inline. A search
// descends to the leaves nearest the query (best bin first) and scans about `checks`
// descriptors, so its cost follows the leaf size, not the catalog size; what it gives up is the
// rare true neighbour quantised into a leaf it does not visit.
//
// The tree is trained on the indexed descriptors themselves (a strided sample over 256k), and
// retrained when the index has doubled since, so it follows whatever the catalog holds; below
// min_tree_features it is a single leaf, i.e. an exact scan. The index is derived data: the
// catalog saves it beside pdq.index (features.index) and rebuilds it from SQLite when that file
// is missing or stale (index/feature_store.cc).
//
// Memory: each descriptor is held once. Feature ids follow the leaves, so a leaf is a range of
// ids and its scan reads consecutive descriptors; a work's features are a list of ids. Features
// added after the tree was laid out are listed by their leaf until the next layout (when they
// reach an eighth of the index, or at a retrain or compaction), which renumbers features and
// changes no search result. Per feature: 32 bytes of descriptor, 16 of keypoint, 4 for its
// work, 4 in its work's list.
//
// With searched_per_work = n the index holds only n features a work (memory follows n); the
// second stage then verifies with the work's stored features (second_stage.h).
//
// Works are keyed by their catalog pk; removing one hides its features at once, and their
// space is reclaimed when dead features outnumber a third of the index.
//
// Thread safety: searches are const and may run concurrently; add/remove need exclusive access.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "large_array.h"
#include "local_features.h"
#include "status.h"

namespace imprint {

// Hamming distance between two descriptors of kLocalDescriptorBytes.
inline int descriptor_distance(const uint8_t* a, const uint8_t* b) {
  uint64_t x[4], y[4];
  std::memcpy(x, a, kLocalDescriptorBytes);
  std::memcpy(y, b, kLocalDescriptorBytes);
  return std::popcount(x[0] ^ y[0]) + std::popcount(x[1] ^ y[1]) + std::popcount(x[2] ^ y[2]) +
         std::popcount(x[3] ^ y[3]);
}

struct FeatureIndexOptions {
  int branching = 16;
  // Descriptors per leaf. 64 keeps a leaf in 2.3 KB (a few cache lines per scan) while the tree
  // stays shallow (4 levels for 4M features).
  int leaf_size = 64;
  // Below this many features the index is one leaf: a scan is cheaper than a tree.
  size_t min_tree_features = 4096;
  // Features held a work (0: all). With n > 0 the index holds, and a search finds, only n of
  // each work's features, spread over the work (searched_features()): memory follows n, and
  // verification reads the work's other features from where they are stored (second_stage.h,
  // WorkFeaturesReader). A saved index names its n; loading it under another n is refused.
  int searched_per_work = 0;
};

// The n features of `all` an index with searched_per_work = n holds: the first of each cell of a
// 4 x 4 grid over the image in the extraction's order (strongest first), up to n / 16 a cell,
// then the first of the rest, kept in their order. All of them when n <= 0 or there are fewer.
LocalFeatures searched_features(const LocalFeatures& all, int n);

// One descriptor of the query and a registered feature near it.
struct DescriptorMatch {
  uint32_t query = 0;    // keypoint index in the query
  uint32_t feature = 0;  // feature id in the index (feature_keypoint, feature_work)
  int distance = 0;      // Hamming, 0..256
};

class FeatureIndex {
 public:
  explicit FeatureIndex(FeatureIndexOptions options = {});
  ~FeatureIndex();
  FeatureIndex(const FeatureIndex&) = delete;
  FeatureIndex& operator=(const FeatureIndex&) = delete;

  // Indexes the features of a work (replacing any it had). Works without features are ignored.
  void add(int64_t work_pk, const LocalFeatures& features);
  void remove(int64_t work_pk);

  // For each query descriptor, up to k nearest indexed features within `radius`, after scanning
  // at least `checks` descriptors in the nearest leaves. Results grouped by query descriptor.
  std::vector<DescriptorMatch> search(const LocalFeatures& query, int radius, int k,
                                      int checks) const;

  struct WorkInfo {
    int64_t pk = 0;
    int width = 0;  // of the registered image the keypoints refer to
    int height = 0;
    Image thumbnail;  // LocalFeatures::thumbnail of the work
    float self_similarity = 0;  // of the thumbnail (layout_check.h): how repetitive the work is
  };
  const LocalKeypoint& feature_keypoint(uint32_t feature) const;
  // The feature's descriptor (kLocalDescriptorBytes), for verification near a known position.
  const uint8_t* feature_code(uint32_t feature) const;
  // The feature ids of the work in `slot`, in the order of its keypoints when it was added.
  std::span<const uint32_t> work_features(uint32_t slot) const;
  // Index into works(): stable until the next add or remove. Feature ids, too, hold only until
  // the next add or remove.
  uint32_t feature_work(uint32_t feature) const;
  const WorkInfo& work(uint32_t slot) const;
  // The work with this catalog pk, or null when it has no features indexed.
  const WorkInfo* find_work(int64_t work_pk) const;

  size_t live_works() const { return live_works_; }
  size_t live_features() const { return live_features_; }
  size_t memory_bytes() const;
  // Bulk loading (the catalog at open): works added between begin_bulk() and end_bulk() are not
  // put in the tree one by one, nor is the tree retrained each time the index doubles;
  // end_bulk() trains it once over everything and gives back the spare capacity that growing
  // arrays keep (up to twice what they hold). Searches see the bulk only after end_bulk().
  void begin_bulk();
  void end_bulk();
  // Depth of the tree (0: one leaf, an exact scan) and its leaf count, for logs and benchmarks.
  int depth() const;
  size_t leaves() const;
  // The catalog pks of the works indexed.
  std::vector<int64_t> work_pks() const;

  // The whole index (tree, descriptors, keypoints, works) as bytes, for a derived file; load()
  // gives back an index that searches exactly as this one. load() checks every count and id
  // against the bytes' size and kCorruption names what is wrong; it trusts no field.
  void save(std::vector<uint8_t>& out) const;
  static Result<std::unique_ptr<FeatureIndex>> load(std::span<const uint8_t> bytes,
                                                    FeatureIndexOptions options = {});

 private:
  struct Tree;
  struct Slot {
    WorkInfo info;
    uint32_t first = 0;  // the work's feature ids are work_ids_[first, first + count)
    uint32_t count = 0;
    bool live = false;
  };
  void retrain();
  // Renumbers the live features in leaf order (each leaf's range, then its later additions),
  // drops dead works and features, and rebuilds the works' id lists.
  void layout();

  FeatureIndexOptions options_;
  std::vector<Slot> slots_;
  std::unordered_map<int64_t, uint32_t> slot_of_work_;
  // The large arrays, in huge pages where the kernel gives them (large_array.h).
  detail::LargeArray<LocalKeypoint> keypoints_;  // by feature id
  detail::LargeArray<uint8_t> codes_;            // by feature id, kLocalDescriptorBytes each
  detail::LargeArray<uint32_t> slot_of_;         // by feature id
  detail::LargeArray<uint32_t> work_ids_;        // feature ids, grouped by slot (Slot::first)
  std::unique_ptr<Tree> tree_;
  size_t live_works_ = 0;
  size_t live_features_ = 0;
  size_t dead_features_ = 0;
  size_t added_features_ = 0;  // listed by leaf since the last layout
  size_t trained_at_ = 0;      // features indexed when the tree was last trained
  bool bulk_ = false;          // between begin_bulk() and end_bulk()
};

}  // namespace imprint
