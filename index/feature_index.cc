#include "feature_index.h"

#include "layout_check.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <queue>
#include <random>

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
    std::vector<uint8_t> codes;  // kCode bytes per entry
    std::vector<uint32_t> ids;   // feature ids
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

  void append(uint32_t leaf, const uint8_t* code, uint32_t id) {
    Leaf& l = leaves[leaf];
    l.codes.insert(l.codes.end(), code, code + kCode);
    l.ids.push_back(id);
  }

  // Builds the subtree of `node` over the feature ids members[0..n) (codes by feature id),
  // permuting members so that each leaf's entries are contiguous.
  void build(uint32_t node, const uint8_t* codes, uint32_t* members,
             size_t n, int level, const FeatureIndexOptions& o, std::mt19937& rng) {
    depth = std::max(depth, level);
    const size_t k = size_t(std::max(2, o.branching));
    if (n <= size_t(o.leaf_size) || level >= 12) {
      make_leaf(node, codes, members, n);
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
      make_leaf(node, codes, members, n);
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
      build(first + uint32_t(c), codes, members + start[c], counts[c], level + 1, o, rng);
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

  void make_leaf(uint32_t node, const uint8_t* codes, const uint32_t* members, size_t n) {
    nodes[node].children = 0;
    nodes[node].leaf = uint32_t(leaves.size());
    Leaf l;
    l.codes.resize(n * kCode);
    l.ids.resize(n);
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(l.codes.data() + i * kCode, codes + size_t(members[i]) * kCode, kCode);
      l.ids[i] = members[i];
    }
    leaves.push_back(std::move(l));
  }
};

FeatureIndex::FeatureIndex(FeatureIndexOptions options)
    : options_(options), tree_(std::make_unique<Tree>()) {}
FeatureIndex::~FeatureIndex() = default;

void FeatureIndex::add(int64_t work_pk, const LocalFeatures& f) {
  remove(work_pk);
  if (f.empty()) return;
  Slot s;
  s.info = {work_pk, f.width, f.height, f.thumbnail, float(self_similarity(f.thumbnail))};
  s.first = uint32_t(keypoints_.size());
  s.count = uint32_t(f.size());
  s.live = true;
  const uint32_t slot = uint32_t(slots_.size());
  slots_.push_back(s);
  slot_of_work_[work_pk] = slot;
  keypoints_.insert(keypoints_.end(), f.keypoints.begin(), f.keypoints.end());
  codes_.insert(codes_.end(), f.descriptors.begin(), f.descriptors.end());
  slot_of_.insert(slot_of_.end(), f.size(), slot);
  ++live_works_;
  live_features_ += f.size();
  if (bulk_) return;  // end_bulk() builds the tree
  insert_codes(s.first, s.count, f.descriptors.data());
  if (live_features_ >= options_.min_tree_features && live_features_ >= 2 * trained_at_) retrain();
}

void FeatureIndex::insert_codes(uint32_t first, uint32_t count, const uint8_t* codes) {
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* c = codes + size_t(i) * kCode;
    tree_->append(tree_->leaf_for(c), c, first + i);
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
  if (dead_features_ > (live_features_ + dead_features_) / 3) compact();
}

void FeatureIndex::retrain() {
  // A new tree over the live features; the tree's members are feature ids, which index codes_.
  std::vector<uint32_t> members;
  members.reserve(live_features_);
  for (const Slot& s : slots_) {
    if (!s.live) continue;
    for (uint32_t i = 0; i < s.count; ++i) members.push_back(s.first + i);
  }
  auto tree = std::make_unique<Tree>();
  tree->leaves.clear();
  std::mt19937 rng(20240611);  // fixed: the same catalog builds the same tree
  if (members.size() >= options_.min_tree_features) {
    tree->build(0, codes_.data(), members.data(), members.size(), 0, options_, rng);
  } else {
    tree->make_leaf(0, codes_.data(), members.data(), members.size());
  }
  tree_ = std::move(tree);
  trained_at_ = members.size();
}

void FeatureIndex::compact() {
  std::vector<uint32_t> new_id(keypoints_.size(), UINT32_MAX);
  std::vector<Slot> slots;
  std::vector<LocalKeypoint> keypoints;
  std::vector<uint8_t> codes;
  std::vector<uint32_t> slot_of;
  keypoints.reserve(live_features_);
  codes.reserve(live_features_ * kCode);
  slot_of.reserve(live_features_);
  slot_of_work_.clear();
  for (const Slot& s : slots_) {
    if (!s.live) continue;
    Slot t = s;
    t.first = uint32_t(keypoints.size());
    const uint32_t slot = uint32_t(slots.size());
    for (uint32_t i = 0; i < s.count; ++i) {
      new_id[s.first + i] = t.first + i;
      keypoints.push_back(keypoints_[s.first + i]);
      codes.insert(codes.end(), codes_.begin() + long(s.first + i) * kCode,
                   codes_.begin() + long(s.first + i + 1) * kCode);
      slot_of.push_back(slot);
    }
    slot_of_work_[s.info.pk] = slot;
    slots.push_back(t);
  }
  for (Tree::Leaf& l : tree_->leaves) {
    size_t out = 0;
    for (size_t i = 0; i < l.ids.size(); ++i) {
      const uint32_t id = new_id[l.ids[i]];
      if (id == UINT32_MAX) continue;
      std::memmove(l.codes.data() + out * kCode, l.codes.data() + i * kCode, kCode);
      l.ids[out++] = id;
    }
    l.ids.resize(out);
    l.codes.resize(out * kCode);
  }
  slots_ = std::move(slots);
  keypoints_ = std::move(keypoints);
  codes_ = std::move(codes);
  slot_of_ = std::move(slot_of);
  dead_features_ = 0;
  if (live_features_ < trained_at_ / 2) retrain();
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
    while (!heap.empty() && scanned < checks) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      const uint32_t node = heap.back().node;
      heap.pop_back();
      const Tree::Node& n = t.nodes[node];
      if (n.children == 0) {
        const Tree::Leaf& l = t.leaves[n.leaf];
        for (size_t i = 0; i < l.ids.size(); ++i) {
          const int d = descriptor_distance(code, l.codes.data() + i * kCode);
          if (d > radius) continue;
          if (int(best.size()) == k && d >= best.back().distance) continue;
          if (!slots_[slot_of_[l.ids[i]]].live) continue;
          DescriptorMatch m{uint32_t(q), l.ids[i], d};
          auto pos = std::upper_bound(best.begin(), best.end(), m, [](const auto& a, const auto& b) {
            return a.distance < b.distance;
          });
          best.insert(pos, m);
          if (int(best.size()) > k) best.pop_back();
        }
        scanned += int(l.ids.size());
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
std::pair<uint32_t, uint32_t> FeatureIndex::work_features(uint32_t slot) const {
  return {slots_[slot].first, slots_[slot].count};
}
uint32_t FeatureIndex::feature_work(uint32_t feature) const { return slot_of_[feature]; }
const FeatureIndex::WorkInfo& FeatureIndex::work(uint32_t slot) const { return slots_[slot].info; }

const FeatureIndex::WorkInfo* FeatureIndex::find_work(int64_t work_pk) const {
  auto it = slot_of_work_.find(work_pk);
  return it == slot_of_work_.end() ? nullptr : &slots_[it->second].info;
}

size_t FeatureIndex::memory_bytes() const {
  size_t bytes = 0;
  for (const Slot& s : slots_) bytes += s.info.thumbnail.pixels.capacity();
  bytes += slots_.capacity() * sizeof(Slot) + keypoints_.capacity() * sizeof(LocalKeypoint) +
           codes_.capacity() + slot_of_.capacity() * sizeof(uint32_t) +
           slot_of_work_.size() * (sizeof(int64_t) + sizeof(uint32_t) + 16);
  bytes += tree_->nodes.capacity() * sizeof(Tree::Node) + tree_->centres.capacity();
  for (const Tree::Leaf& l : tree_->leaves) {
    bytes += sizeof(Tree::Leaf) + l.codes.capacity() + l.ids.capacity() * sizeof(uint32_t);
  }
  return bytes;
}

void FeatureIndex::begin_bulk() { bulk_ = true; }

void FeatureIndex::end_bulk() {
  if (!bulk_) return;
  bulk_ = false;
  slots_.shrink_to_fit();
  keypoints_.shrink_to_fit();
  codes_.shrink_to_fit();
  slot_of_.shrink_to_fit();
  retrain();  // its leaves are made to size
}

int FeatureIndex::depth() const { return tree_->depth; }
size_t FeatureIndex::leaves() const { return tree_->leaves.size(); }

}  // namespace imprint
