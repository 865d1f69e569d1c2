#include "feature_index.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <queue>
#include <random>
#include <string>

#include "derived_file.h"
#include "layout_check.h"

namespace imprint {
namespace {

constexpr int kCode = kLocalDescriptorBytes;

// Bitwise majority of the codes at `members` (ties go to 0).
void majority(const uint8_t* codes, const uint32_t* members, size_t n, uint8_t* out) {
  uint32_t ones[kCode * 8] = {};
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* c = codes + size_t(members[i]) * kCode;
    for (int b = 0; b < kCode; ++b) {
      const uint8_t v = c[b];
      if (!v) continue;
      for (int j = 0; j < 8; ++j) ones[b * 8 + j] += (v >> j) & 1u;
    }
  }
  for (int b = 0; b < kCode; ++b) {
    uint8_t v = 0;
    for (int j = 0; j < 8; ++j) v |= uint8_t(2 * ones[b * 8 + j] > n) << j;
    out[b] = v;
  }
}

}  // namespace

struct FeatureIndex::Tree {
  struct Node {
    uint32_t first_child = 0;  // children are contiguous in `nodes`
    uint32_t children = 0;     // 0: a leaf
    uint32_t leaf = 0;
  };
  struct Leaf {
    uint32_t begin = 0;  // feature ids [begin, end): the leaf as laid out
    uint32_t end = 0;
    std::vector<uint32_t> added;  // feature ids added since, in order
  };
  std::vector<Node> nodes;
  std::vector<uint8_t> centres;  // kCode bytes per node (the root's is unused)
  std::vector<Leaf> leaves;
  int depth = 0;

  Tree() {
    nodes.push_back({0, 0, 0});
    centres.resize(kCode);
    leaves.emplace_back();
  }

  const uint8_t* centre(uint32_t node) const { return centres.data() + size_t(node) * kCode; }

  uint32_t leaf_for(const uint8_t* code) const {
    uint32_t n = 0;
    while (nodes[n].children) {
      uint32_t best = nodes[n].first_child;
      int best_d = 1 << 30;
      for (uint32_t c = nodes[n].first_child; c < nodes[n].first_child + nodes[n].children; ++c) {
        const int d = descriptor_distance(code, centre(c));
        if (d < best_d) {
          best_d = d;
          best = c;
        }
      }
      n = best;
    }
    return nodes[n].leaf;
  }

  // Builds the subtree of `node` over the feature ids members[0..n) (codes by feature id),
  // permuting members so that each leaf's entries are contiguous: the leaves, in order, cover
  // the final members array, and each leaf's range is its offset there (from `base`).
  void build(uint32_t node, const uint8_t* codes, const uint32_t* base, uint32_t* members, size_t n,
             int level, const FeatureIndexOptions& o, std::mt19937& rng) {
    depth = std::max(depth, level);
    const size_t k = size_t(std::max(2, o.branching));
    if (n <= size_t(o.leaf_size) || level >= 12) {
      make_leaf(node, uint32_t(members - base), n);
      return;
    }
    // Train centres on at most 1024 members: enough for 16 clusters, and the cost of a level
    // stays one assignment pass over its members.
    const size_t train_n = std::min<size_t>(n, 1024);
    const size_t stride = n / train_n;
    std::vector<uint32_t> train(train_n);
    for (size_t i = 0; i < train_n; ++i) train[i] = members[i * stride];
    std::vector<uint8_t> cent(k * kCode);
    // k-means++ seeding in Hamming space: spread-out centres converge in a few rounds.
    std::vector<int> nearest(train_n, 1 << 30);
    std::memcpy(cent.data(), codes + size_t(train[rng() % train_n]) * kCode, kCode);
    for (size_t c = 1; c < k; ++c) {
      uint64_t total = 0;
      for (size_t i = 0; i < train_n; ++i) {
        nearest[i] = std::min(nearest[i], descriptor_distance(codes + size_t(train[i]) * kCode,
                                                  cent.data() + (c - 1) * kCode));
        total += uint64_t(nearest[i]) * nearest[i];
      }
      size_t pick = rng() % train_n;
      if (total > 0) {
        uint64_t r = std::uniform_int_distribution<uint64_t>(0, total - 1)(rng);
        for (size_t i = 0; i < train_n; ++i) {
          const uint64_t w = uint64_t(nearest[i]) * nearest[i];
          if (r < w) {
            pick = i;
            break;
          }
          r -= w;
        }
      }
      std::memcpy(cent.data() + c * kCode, codes + size_t(train[pick]) * kCode, kCode);
    }
    std::vector<uint32_t> assign(train_n);
    for (int iter = 0; iter < 5; ++iter) {
      for (size_t i = 0; i < train_n; ++i) assign[i] = nearest_centre(codes + size_t(train[i]) * kCode, cent, k);
      std::vector<std::vector<uint32_t>> groups(k);
      for (size_t i = 0; i < train_n; ++i) groups[assign[i]].push_back(train[i]);
      for (size_t c = 0; c < k; ++c) {
        if (!groups[c].empty()) majority(codes, groups[c].data(), groups[c].size(), cent.data() + c * kCode);
      }
    }
    // Assign every member and partition them by cluster.
    std::vector<uint32_t> cluster(n);
    std::vector<size_t> counts(k, 0);
    for (size_t i = 0; i < n; ++i) {
      cluster[i] = nearest_centre(codes + size_t(members[i]) * kCode, cent, k);
      ++counts[cluster[i]];
    }
    if (*std::max_element(counts.begin(), counts.end()) == n) {  // identical codes: cannot split
      make_leaf(node, uint32_t(members - base), n);
      return;
    }
    std::vector<size_t> start(k + 1, 0);
    for (size_t c = 0; c < k; ++c) start[c + 1] = start[c] + counts[c];
    std::vector<uint32_t> sorted(n);
    std::vector<size_t> fill(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) sorted[fill[cluster[i]]++] = members[i];
    std::memcpy(members, sorted.data(), n * sizeof(uint32_t));
    const uint32_t first = uint32_t(nodes.size());
    nodes[node].first_child = first;
    nodes[node].children = uint32_t(k);
    nodes.resize(nodes.size() + k);
    centres.resize(nodes.size() * kCode);
    std::memcpy(centres.data() + size_t(first) * kCode, cent.data(), k * kCode);
    for (size_t c = 0; c < k; ++c) {
      build(first + uint32_t(c), codes, base, members + start[c], counts[c], level + 1, o, rng);
    }
  }

  static uint32_t nearest_centre(const uint8_t* code, const std::vector<uint8_t>& cent, size_t k) {
    uint32_t best = 0;
    int best_d = 1 << 30;
    for (size_t c = 0; c < k; ++c) {
      const int d = descriptor_distance(code, cent.data() + c * kCode);
      if (d < best_d) {
        best_d = d;
        best = uint32_t(c);
      }
    }
    return best;
  }

  // A leaf over positions [at, at + n) of the members array its build was given.
  void make_leaf(uint32_t node, uint32_t at, size_t n) {
    nodes[node].children = 0;
    nodes[node].leaf = uint32_t(leaves.size());
    Leaf l;
    l.begin = at;
    l.end = at + uint32_t(n);
    leaves.push_back(std::move(l));
  }
};

FeatureIndex::FeatureIndex(FeatureIndexOptions options)
    : options_(options), tree_(std::make_unique<Tree>()) {}
FeatureIndex::~FeatureIndex() = default;

LocalFeatures searched_features(const LocalFeatures& all, int n) {
  if (n <= 0 || all.size() <= size_t(n)) return all;
  // The first of each cell of a 4 x 4 grid over the work, in the extraction's order (strongest
  // first), up to n / 16 a cell, then the first of the rest: a crop of any part keeps its share.
  std::vector<char> keep(all.size(), 0);
  std::array<int, 16> per_cell{};
  const int quota = std::max(1, n / 16);
  int taken = 0;
  for (size_t i = 0; i < all.size() && taken < n; ++i) {
    const LocalKeypoint& k = all.keypoints[i];
    const int cx = std::clamp(int(k.x * 4 / std::max(1, all.width)), 0, 3);
    const int cy = std::clamp(int(k.y * 4 / std::max(1, all.height)), 0, 3);
    if (per_cell[size_t(cy * 4 + cx)] < quota) {
      ++per_cell[size_t(cy * 4 + cx)];
      keep[i] = 1;
      ++taken;
    }
  }
  for (size_t i = 0; i < all.size() && taken < n; ++i) {
    if (!keep[i]) {
      keep[i] = 1;
      ++taken;
    }
  }
  LocalFeatures out;
  out.width = all.width;
  out.height = all.height;
  out.thumbnail = all.thumbnail;
  out.keypoints.reserve(size_t(n));
  out.descriptors.reserve(size_t(n) * kCode);
  for (size_t i = 0; i < all.size(); ++i) {
    if (!keep[i]) continue;
    out.keypoints.push_back(all.keypoints[i]);
    out.descriptors.insert(out.descriptors.end(), all.descriptor(i), all.descriptor(i) + kCode);
  }
  return out;
}

void FeatureIndex::add(int64_t work_pk, const LocalFeatures& all) {
  remove(work_pk);
  if (all.empty()) return;
  LocalFeatures subset;
  if (options_.searched_per_work > 0 && all.size() > size_t(options_.searched_per_work)) {
    subset = searched_features(all, options_.searched_per_work);
  }
  const LocalFeatures& f = subset.empty() ? all : subset;
  Slot s;
  s.info = {work_pk, f.width, f.height, f.thumbnail, float(self_similarity(f.thumbnail))};
  s.first = uint32_t(work_ids_.size());
  s.count = uint32_t(f.size());
  s.live = true;
  const uint32_t slot = uint32_t(slots_.size());
  const uint32_t first_id = uint32_t(keypoints_.size());
  slots_.push_back(s);
  slot_of_work_[work_pk] = slot;
  keypoints_.insert(keypoints_.end(), f.keypoints.begin(), f.keypoints.end());
  codes_.insert(codes_.end(), f.descriptors.begin(), f.descriptors.end());
  slot_of_.insert(slot_of_.end(), f.size(), slot);
  for (uint32_t i = 0; i < s.count; ++i) work_ids_.push_back(first_id + i);
  ++live_works_;
  live_features_ += f.size();
  if (bulk_) return;  // end_bulk() builds the tree
  for (uint32_t i = 0; i < s.count; ++i) {
    tree_->leaves[tree_->leaf_for(f.descriptor(i))].added.push_back(first_id + i);
  }
  added_features_ += s.count;
  if (live_features_ >= options_.min_tree_features && live_features_ >= 2 * trained_at_) {
    retrain();
  } else if (added_features_ > (live_features_ + dead_features_) / 8) {
    layout();  // keep leaf scans on consecutive descriptors
  }
}

void FeatureIndex::remove(int64_t work_pk) {
  auto it = slot_of_work_.find(work_pk);
  if (it == slot_of_work_.end()) return;
  Slot& s = slots_[it->second];
  s.live = false;
  --live_works_;
  live_features_ -= s.count;
  dead_features_ += s.count;
  slot_of_work_.erase(it);
  if (dead_features_ > (live_features_ + dead_features_) / 3) {
    layout();
    if (live_features_ < trained_at_ / 2) retrain();
  }
}

void FeatureIndex::retrain() {
  // A new tree over the live features; the tree's members are feature ids, which index codes_.
  detail::LargeArray<uint32_t> members;
  members.reserve(live_features_);
  for (const Slot& s : slots_) {
    if (!s.live) continue;
    for (uint32_t i = 0; i < s.count; ++i) members.push_back(work_ids_[s.first + i]);
  }
  auto tree = std::make_unique<Tree>();
  tree->leaves.clear();
  std::mt19937 rng(20240611);  // fixed: the same catalog builds the same tree
  if (members.size() >= options_.min_tree_features) {
    tree->build(0, codes_.data(), members.data(), members.data(), members.size(), 0, options_, rng);
  } else {
    tree->make_leaf(0, 0, members.size());
  }
  // The leaves cover `members` in order: give their features the ids of their positions.
  for (Tree::Leaf& l : tree->leaves) {
    l.added.assign(members.begin() + l.begin, members.begin() + l.end);
    l.begin = l.end = 0;
  }
  tree_ = std::move(tree);
  trained_at_ = members.size();
  layout();
}

void FeatureIndex::layout() {
  detail::LargeArray<uint32_t> new_id(keypoints_.size(), UINT32_MAX);
  detail::LargeArray<LocalKeypoint> keypoints;
  detail::LargeArray<uint8_t> codes;
  detail::LargeArray<uint32_t> old_slot_of;
  keypoints.reserve(live_features_);
  codes.reserve(live_features_ * kCode);
  old_slot_of.reserve(live_features_);
  for (Tree::Leaf& l : tree_->leaves) {
    const uint32_t begin = uint32_t(keypoints.size());
    auto take = [&](uint32_t id) {
      if (!slots_[slot_of_[id]].live || new_id[id] != UINT32_MAX) return;
      new_id[id] = uint32_t(keypoints.size());
      keypoints.push_back(keypoints_[id]);
      codes.insert(codes.end(), codes_.begin() + long(id) * kCode,
                   codes_.begin() + long(id + 1) * kCode);
      old_slot_of.push_back(slot_of_[id]);
    };
    for (uint32_t id = l.begin; id < l.end; ++id) take(id);
    for (uint32_t id : l.added) take(id);
    l.begin = begin;
    l.end = uint32_t(keypoints.size());
    l.added.clear();
    l.added.shrink_to_fit();
  }
  std::vector<uint32_t> new_slot(slots_.size(), UINT32_MAX);
  std::vector<Slot> slots;
  detail::LargeArray<uint32_t> work_ids;
  work_ids.reserve(live_features_);
  slot_of_work_.clear();
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (!s.live) continue;
    Slot t = s;
    t.first = uint32_t(work_ids.size());
    for (uint32_t k = 0; k < s.count; ++k) work_ids.push_back(new_id[work_ids_[s.first + k]]);
    new_slot[i] = uint32_t(slots.size());
    slot_of_work_[s.info.pk] = uint32_t(slots.size());
    slots.push_back(std::move(t));
  }
  detail::LargeArray<uint32_t> slot_of(old_slot_of.size());
  for (size_t i = 0; i < old_slot_of.size(); ++i) slot_of[i] = new_slot[old_slot_of[i]];
  slots_ = std::move(slots);
  keypoints_ = std::move(keypoints);
  codes_ = std::move(codes);
  slot_of_ = std::move(slot_of);
  work_ids_ = std::move(work_ids);
  dead_features_ = 0;
  added_features_ = 0;
}

std::vector<DescriptorMatch> FeatureIndex::search(const LocalFeatures& query, int radius, int k,
                                                  int checks) const {
  std::vector<DescriptorMatch> out;
  if (live_features_ == 0 || k <= 0) return out;
  const Tree& t = *tree_;
  struct Entry {
    int d;
    uint32_t node;
    bool operator>(const Entry& o) const { return d > o.d; }
  };
  std::vector<Entry> heap;
  std::vector<DescriptorMatch> best;
  for (size_t q = 0; q < query.size(); ++q) {
    const uint8_t* code = query.descriptor(q);
    best.clear();
    heap.clear();
    heap.push_back({0, 0});
    int scanned = 0;
    auto consider = [&](uint32_t id) {
      const int d = descriptor_distance(code, codes_.data() + size_t(id) * kCode);
      if (d > radius) return;
      if (int(best.size()) == k && d >= best.back().distance) return;
      if (!slots_[slot_of_[id]].live) return;
      DescriptorMatch m{uint32_t(q), id, d};
      auto pos = std::upper_bound(best.begin(), best.end(), m, [](const auto& a, const auto& b) {
        return a.distance < b.distance;
      });
      best.insert(pos, m);
      if (int(best.size()) > k) best.pop_back();
    };
    while (!heap.empty() && scanned < checks) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      const uint32_t node = heap.back().node;
      heap.pop_back();
      const Tree::Node& n = t.nodes[node];
      if (n.children == 0) {
        const Tree::Leaf& l = t.leaves[n.leaf];
        for (uint32_t id = l.begin; id < l.end; ++id) consider(id);
        for (uint32_t id : l.added) consider(id);
        scanned += int(l.end - l.begin + l.added.size());
        continue;
      }
      for (uint32_t c = n.first_child; c < n.first_child + n.children; ++c) {
        heap.push_back({descriptor_distance(code, t.centre(c)), c});
        std::push_heap(heap.begin(), heap.end(), std::greater<>());
      }
    }
    out.insert(out.end(), best.begin(), best.end());
  }
  return out;
}

const LocalKeypoint& FeatureIndex::feature_keypoint(uint32_t feature) const {
  return keypoints_[feature];
}
const uint8_t* FeatureIndex::feature_code(uint32_t feature) const {
  return codes_.data() + size_t(feature) * kCode;
}
std::span<const uint32_t> FeatureIndex::work_features(uint32_t slot) const {
  return {work_ids_.data() + slots_[slot].first, slots_[slot].count};
}
uint32_t FeatureIndex::feature_work(uint32_t feature) const { return slot_of_[feature]; }
const FeatureIndex::WorkInfo& FeatureIndex::work(uint32_t slot) const { return slots_[slot].info; }

const FeatureIndex::WorkInfo* FeatureIndex::find_work(int64_t work_pk) const {
  auto it = slot_of_work_.find(work_pk);
  return it == slot_of_work_.end() ? nullptr : &slots_[it->second].info;
}

std::vector<int64_t> FeatureIndex::work_pks() const {
  std::vector<int64_t> out;
  out.reserve(live_works_);
  for (const Slot& s : slots_) {
    if (s.live) out.push_back(s.info.pk);
  }
  return out;
}

size_t FeatureIndex::memory_bytes() const {
  size_t bytes = 0;
  for (const Slot& s : slots_) bytes += s.info.thumbnail.pixels.capacity();
  bytes += slots_.capacity() * sizeof(Slot) + keypoints_.capacity() * sizeof(LocalKeypoint) +
           codes_.capacity() + slot_of_.capacity() * sizeof(uint32_t) +
           work_ids_.capacity() * sizeof(uint32_t) +
           slot_of_work_.size() * (sizeof(int64_t) + sizeof(uint32_t) + 16);
  bytes += tree_->nodes.capacity() * sizeof(Tree::Node) + tree_->centres.capacity();
  for (const Tree::Leaf& l : tree_->leaves) {
    bytes += sizeof(Tree::Leaf) + l.added.capacity() * sizeof(uint32_t);
  }
  return bytes;
}

void FeatureIndex::begin_bulk() { bulk_ = true; }

void FeatureIndex::end_bulk() {
  if (!bulk_) return;
  bulk_ = false;
  retrain();  // lays the features out in the new tree's leaves, arrays made to size
}

namespace {

template <typename T, typename A>
void put_array(std::vector<uint8_t>& b, const std::vector<T, A>& v) {
  detail::put<uint64_t>(b, v.size());
  const size_t at = b.size();
  b.resize(at + v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data() + at, v.data(), v.size() * sizeof(T));
}

// Reads what save() wrote, refusing to read past the end.
struct Reader {
  std::span<const uint8_t> b;
  size_t at = 0;
  bool ok = true;

  template <typename T>
  T value() {
    T v{};
    if (!ok || b.size() - at < sizeof(T)) {
      ok = false;
      return v;
    }
    std::memcpy(&v, b.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  template <typename T, typename A>
  bool array(std::vector<T, A>& v, uint64_t expected = UINT64_MAX) {
    const uint64_t n = value<uint64_t>();
    if (!ok || (expected != UINT64_MAX && n != expected) || n > (b.size() - at) / sizeof(T)) {
      return ok = false;
    }
    v.resize(size_t(n));
    if (n) std::memcpy(v.data(), b.data() + at, size_t(n) * sizeof(T));
    at += size_t(n) * sizeof(T);
    return true;
  }
};

constexpr uint32_t kSaveVersion = 1;

}  // namespace

void FeatureIndex::save(std::vector<uint8_t>& b) const {
  static_assert(sizeof(LocalKeypoint) == 16 && sizeof(Tree::Node) == 12);
  // Version 1 holds every feature of its works; version 2 names how many it holds of each.
  if (options_.searched_per_work > 0) {
    detail::put<uint32_t>(b, kSaveVersion + 1);
    detail::put<int32_t>(b, options_.searched_per_work);
  } else {
    detail::put<uint32_t>(b, kSaveVersion);
  }
  detail::put<uint64_t>(b, trained_at_);
  detail::put<int32_t>(b, tree_->depth);
  detail::put<uint64_t>(b, slots_.size());
  for (const Slot& s : slots_) {
    detail::put<int64_t>(b, s.info.pk);
    detail::put<int32_t>(b, s.info.width);
    detail::put<int32_t>(b, s.info.height);
    detail::put<float>(b, s.info.self_similarity);
    detail::put<uint32_t>(b, s.first);
    detail::put<uint32_t>(b, s.count);
    detail::put<uint8_t>(b, s.live);
    detail::put<int32_t>(b, s.info.thumbnail.width);
    detail::put<int32_t>(b, s.info.thumbnail.height);
    detail::put<int32_t>(b, s.info.thumbnail.channels);
    put_array(b, s.info.thumbnail.pixels);
  }
  put_array(b, work_ids_);
  put_array(b, keypoints_);
  put_array(b, codes_);
  put_array(b, slot_of_);
  put_array(b, tree_->nodes);
  put_array(b, tree_->centres);
  detail::put<uint64_t>(b, tree_->leaves.size());
  for (const Tree::Leaf& l : tree_->leaves) {
    detail::put<uint32_t>(b, l.begin);
    detail::put<uint32_t>(b, l.end);
    put_array(b, l.added);
  }
  detail::put<uint64_t>(b, added_features_);
}

Result<std::unique_ptr<FeatureIndex>> FeatureIndex::load(std::span<const uint8_t> bytes,
                                                         FeatureIndexOptions options) {
  auto index = std::make_unique<FeatureIndex>(options);
  FeatureIndex& x = *index;
  Reader r{bytes};
  auto bad = [](const std::string& what) { return corruption("feature index: " + what); };
  const uint32_t version = r.value<uint32_t>();
  if (version != kSaveVersion && version != kSaveVersion + 1) return bad("unknown version");
  const int32_t searched = version == kSaveVersion ? 0 : r.value<int32_t>();
  if (searched != std::max(0, options.searched_per_work)) {
    return bad("holds " + (searched ? std::to_string(searched) : std::string("all")) +
               " features a work, not " +
               (options.searched_per_work > 0 ? std::to_string(options.searched_per_work)
                                              : std::string("all")));
  }
  x.trained_at_ = size_t(r.value<uint64_t>());
  const int32_t depth = r.value<int32_t>();
  const uint64_t n_slots = r.value<uint64_t>();
  // A slot takes at least 53 bytes of the file: a count beyond that is a lie.
  if (!r.ok || depth < 0 || depth > 64 || n_slots > bytes.size() / 53) return bad("bad header");
  x.slots_.resize(size_t(n_slots));
  for (Slot& s : x.slots_) {
    s.info.pk = r.value<int64_t>();
    s.info.width = r.value<int32_t>();
    s.info.height = r.value<int32_t>();
    s.info.self_similarity = r.value<float>();
    s.first = r.value<uint32_t>();
    s.count = r.value<uint32_t>();
    s.live = r.value<uint8_t>() != 0;
    Image& t = s.info.thumbnail;
    t.width = r.value<int32_t>();
    t.height = r.value<int32_t>();
    t.channels = r.value<int32_t>();
    if (!r.ok || t.width < 0 || t.height < 0 || t.width > 4096 || t.height > 4096 ||
        (t.channels != 1 && t.channels != 3 && !(t.channels == 0 && t.empty())) ||
        !r.array(t.pixels, uint64_t(t.width) * uint64_t(t.height) * uint64_t(t.channels)) ||
        s.info.width <= 0 || s.info.height <= 0 || !std::isfinite(s.info.self_similarity)) {
      return bad("work record " + std::to_string(&s - x.slots_.data()) + " is malformed");
    }
  }
  if (!r.array(x.work_ids_) || !r.array(x.keypoints_)) return bad("truncated feature lists");
  const size_t n = x.keypoints_.size();
  if (!r.array(x.codes_, uint64_t(n) * kCode) || !r.array(x.slot_of_, n)) {
    return bad("descriptor or work arrays do not match the keypoints");
  }
  Tree& t = *x.tree_;
  if (!r.array(t.nodes) || t.nodes.empty() || !r.array(t.centres, t.nodes.size() * kCode)) {
    return bad("truncated tree");
  }
  const uint64_t n_leaves = r.value<uint64_t>();
  if (!r.ok || n_leaves == 0 || n_leaves > bytes.size() / 16) return bad("bad leaf count");
  t.leaves.resize(size_t(n_leaves));
  for (Tree::Leaf& l : t.leaves) {
    l.begin = r.value<uint32_t>();
    l.end = r.value<uint32_t>();
    if (!r.array(l.added) || l.begin > l.end || l.end > n) return bad("bad leaf");
    for (uint32_t id : l.added) {
      if (id >= n) return bad("leaf lists an unknown feature");
    }
  }
  x.added_features_ = size_t(r.value<uint64_t>());
  if (!r.ok || r.at != bytes.size()) return bad("size mismatch");
  t.depth = depth;
  // Every reference points inside its array, children follow their parent and every node but
  // the root has exactly one: a tree, so a search visits each node at most once.
  std::vector<uint8_t> parents(t.nodes.size(), 0);
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    const Tree::Node& nd = t.nodes[i];
    if (nd.children == 0 ? nd.leaf >= n_leaves
                         : (nd.first_child <= i || nd.children > 1024 ||
                            uint64_t(nd.first_child) + nd.children > t.nodes.size())) {
      return bad("tree node " + std::to_string(i) + " is malformed");
    }
    for (uint32_t c = nd.first_child; c < nd.first_child + nd.children; ++c) {
      if (parents[c]++) return bad("tree node " + std::to_string(c) + " has two parents");
    }
  }
  for (size_t i = 1; i < t.nodes.size(); ++i) {
    if (!parents[i]) return bad("tree node " + std::to_string(i) + " is unreachable");
  }
  for (uint32_t id : x.work_ids_) {
    if (id >= n) return bad("a work lists an unknown feature");
  }
  for (uint32_t s : x.slot_of_) {
    if (s >= x.slots_.size()) return bad("a feature names an unknown work");
  }
  for (const LocalKeypoint& k : x.keypoints_) {
    if (!std::isfinite(k.x) || !std::isfinite(k.y) || !std::isfinite(k.size) ||
        !std::isfinite(k.angle)) {
      return bad("a keypoint is not finite");
    }
  }
  // Every feature of a live work is in a leaf: searches can find it, and a layout keeps it.
  detail::LargeArray<uint8_t> in_leaf(n, 0);
  for (const Tree::Leaf& l : t.leaves) {
    std::fill(in_leaf.begin() + l.begin, in_leaf.begin() + l.end, 1);
    for (uint32_t id : l.added) in_leaf[id] = 1;
  }
  for (size_t i = 0; i < x.slots_.size(); ++i) {
    const Slot& s = x.slots_[i];
    if (uint64_t(s.first) + s.count > x.work_ids_.size()) return bad("a work's features overrun");
    for (uint32_t k = 0; s.live && k < s.count; ++k) {
      if (!in_leaf[x.work_ids_[s.first + k]]) return bad("a work's feature is in no leaf");
    }
    for (uint32_t k = 0; k < s.count; ++k) {
      if (x.slot_of_[x.work_ids_[s.first + k]] != i) return bad("a work lists another's feature");
    }
    if (!s.live) {
      x.dead_features_ += s.count;
      continue;
    }
    if (!x.slot_of_work_.emplace(s.info.pk, uint32_t(i)).second) return bad("a work twice");
    ++x.live_works_;
    x.live_features_ += s.count;
  }
  return index;
}

int FeatureIndex::depth() const { return tree_->depth; }
size_t FeatureIndex::leaves() const { return tree_->leaves.size(); }

}  // namespace imprint
