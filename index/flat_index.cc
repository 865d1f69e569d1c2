// FlatIndex: every query compared with every hash. The reference point for correctness, and the
// fastest structure for small catalogs.
#include <algorithm>

#include "index_internal.h"

// target_clones makes an ifunc resolver, which ThreadSanitizer instruments and the dynamic loader
// runs before the sanitizer's runtime is up: a TSan build crashed at load (scripts/sanitize.sh).
// Such builds take the default clone.
#if defined(__SANITIZE_THREAD__)
#define IMPRINT_TARGET_CLONES(...)
#else
#define IMPRINT_TARGET_CLONES(...) __attribute__((target_clones(__VA_ARGS__)))
#endif

namespace imprint::detail {

namespace {

// Distances from up to 8 queries to hashes[begin, end); live hits within radius go to out[q].
IMPRINT_TARGET_CLONES("popcnt", "default") void scan(
    const HashWords* hashes, const int64_t* labels, const uint8_t* dead, size_t begin, size_t end,
    const HashWords* queries, size_t nq, int radius, std::vector<Neighbor>* out) {
  for (size_t i = begin; i < end; ++i) {
    const HashWords& h = hashes[i];
    for (size_t q = 0; q < nq; ++q) {
      const int d = std::popcount(h[0] ^ queries[q][0]) + std::popcount(h[1] ^ queries[q][1]) +
                    std::popcount(h[2] ^ queries[q][2]) + std::popcount(h[3] ^ queries[q][3]);
      if (d <= radius && !dead[i]) out[q].push_back({labels[i], d});
    }
  }
}

}  // namespace

void HashStore::add(std::span<const PdqHash> hashes, std::span<const int64_t> labels) {
  hashes_.reserve(hashes_.size() + hashes.size());
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (!labels_.empty() && labels[i] <= labels_.back()) sorted_ = false;
    hashes_.push_back(hashes[i].words());
    labels_.push_back(labels[i]);
    dead_.push_back(0);
  }
  live_ += hashes.size();
}

std::vector<size_t> HashStore::remove(std::span<const int64_t> labels) {
  std::vector<size_t> removed;
  for (int64_t label : labels) {
    auto it = sorted_ ? std::lower_bound(labels_.begin(), labels_.end(), label)
                      : std::find(labels_.begin(), labels_.end(), label);
    if (it == labels_.end() || *it != label) continue;
    const size_t pos = size_t(it - labels_.begin());
    if (dead_[pos]) continue;
    dead_[pos] = 1;
    --live_;
    removed.push_back(pos);
  }
  return removed;
}

void HashStore::for_each(const std::function<void(const PdqHash&, int64_t)>& fn) const {
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (!dead_[i]) fn(PdqHash::from_words(hashes_[i]), labels_[i]);
  }
}

void HashStore::scan_range(size_t begin, size_t end, std::span<const PdqHash> queries, int radius,
                           std::vector<Neighbor>* out) const {
  // Queries go 8 at a time: the 8 dihedral hashes of one image share one pass over memory.
  for (size_t q0 = 0; q0 < queries.size(); q0 += 8) {
    HashWords qs[8];
    const size_t nq = std::min<size_t>(8, queries.size() - q0);
    for (size_t q = 0; q < nq; ++q) qs[q] = queries[q0 + q].words();
    scan(hashes_.data(), labels_.data(), dead_.data(), begin, end, qs, nq, radius, out + q0);
  }
}

class FlatIndex : public FingerprintIndex {
 public:
  IndexKind kind() const override { return IndexKind::kFlat; }
  void add(std::span<const PdqHash> h, std::span<const int64_t> l) override { store_.add(h, l); }
  void remove(std::span<const int64_t> labels) override { store_.remove(labels); }
  std::vector<std::vector<Neighbor>> search_radius(std::span<const PdqHash> queries,
                                                   int radius) const override {
    std::vector<std::vector<Neighbor>> out(queries.size());
    store_.scan_range(0, store_.slots(), queries, radius, out.data());
    return out;
  }
  size_t size() const override { return store_.live(); }
  size_t memory_bytes() const override { return store_.memory_bytes(); }
  void for_each(const std::function<void(const PdqHash&, int64_t)>& fn) const override {
    store_.for_each(fn);
  }

 private:
  HashStore store_;
};

std::unique_ptr<FingerprintIndex> make_flat_index() { return std::make_unique<FlatIndex>(); }

}  // namespace imprint::detail
