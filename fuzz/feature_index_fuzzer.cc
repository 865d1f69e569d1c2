// libFuzzer target: features.index payloads (FeatureIndex::load). A catalog directory is
// writable by whoever can replace its files, so the loader trusts no count or id: what it
// accepts must search, verify and take works without reading outside its arrays, whether it
// holds every feature of its works or a searched share (FeatureIndexOptions::searched_per_work).
#include <cstddef>
#include <cstdint>
#include <span>

#include "feature_index.h"

namespace {

// A query of 16 descriptors spread over byte patterns, keypoints on a small grid.
imprint::LocalFeatures make_query() {
  imprint::LocalFeatures q;
  q.width = 320;
  q.height = 240;
  for (int i = 0; i < 16; ++i) {
    q.keypoints.push_back({float(20 * i), float(15 * i), 12.0f, float(22 * i)});
    for (int b = 0; b < imprint::kLocalDescriptorBytes; ++b) {
      q.descriptors.push_back(uint8_t(i * 37 + b * 11));
    }
  }
  return q;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imprint::FeatureIndexOptions o;
  o.leaf_size = 4;
  o.min_tree_features = 16;
  // A file of version 2 names how many features a work it holds, and loads only under that
  // count: take it from the file (1..64), so that form is fuzzed too.
  if (size >= 8 && data[0] == 2 && data[1] == 0 && data[2] == 0 && data[3] == 0 && data[5] == 0 &&
      data[6] == 0 && data[7] == 0 && data[4] >= 1 && data[4] <= 64) {
    o.searched_per_work = data[4];
  }
  auto loaded = imprint::FeatureIndex::load(std::span(data, size), o);
  if (!loaded.ok()) return 0;
  imprint::FeatureIndex& index = **loaded;
  static const imprint::LocalFeatures query = make_query();
  // Everything a search and the verification read of what it found.
  for (const imprint::DescriptorMatch& m : index.search(query, 256, 3, 64)) {
    const uint32_t slot = index.feature_work(m.feature);
    const imprint::FeatureIndex::WorkInfo& w = index.work(slot);
    if (w.thumbnail.pixels.size() !=
        size_t(w.thumbnail.width) * size_t(w.thumbnail.height) * size_t(w.thumbnail.channels)) {
      __builtin_trap();
    }
    for (uint32_t f : index.work_features(slot)) {
      (void)index.feature_keypoint(f);
      (void)index.feature_code(f)[imprint::kLocalDescriptorBytes - 1];
    }
  }
  // And it goes on taking works and removals (which lay features out again).
  for (int64_t pk : index.work_pks()) index.remove(pk);
  index.add(1, query);
  (void)index.search(query, 64, 3, 64);
  return 0;
}
