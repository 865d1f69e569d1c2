// MihIndex: multi-index hashing over 16 slots of 16 bits (Norouzi et al., "Fast Search in Hamming
// Space with Multi-Index Hashing", CVPR 2012; the layout of Meta's pdq/cpp/index/mih.h).
//
// If two hashes are within distance d, then in at least one of the 16 slots they differ in at
// most floor(d / 16) bits (otherwise the slots alone would add up to more than d). So a radius
// search probes, in every slot's table, the buckets of all values within floor(d / 16) bits of the
// query's slot value, and verifies the candidates with a full distance. For d <= 31 that is 17
// buckets per slot: exact, and a small fraction of the catalog.
//
// Each table is a bucket array in compressed (CSR) form: offsets[65537] into a position list,
// built by counting sort. Hashes added after the last build sit in a tail that is scanned
// linearly; the tables are rebuilt when the tail outgrows an eighth of the indexed part, so adds
// cost amortised O(1) table work.
#include <algorithm>

#include "index_internal.h"

namespace imprint::detail {
namespace {

constexpr int kSlots = 16;
constexpr int kBuckets = 1 << 16;

inline uint32_t slot_value(const HashWords& h, int slot) {
  return uint32_t(h[slot >> 2] >> ((slot & 3) * 16)) & 0xffff;
}

// All 16-bit values within `flips` bits of v (flips <= 2), into out.
void neighbourhood(uint32_t v, int flips, std::vector<uint32_t>* out) {
  out->clear();
  out->push_back(v);
  if (flips >= 1) {
    for (int a = 0; a < 16; ++a) out->push_back(v ^ (1u << a));
  }
  if (flips >= 2) {
    for (int a = 0; a < 16; ++a) {
      for (int b = a + 1; b < 16; ++b) out->push_back(v ^ (1u << a) ^ (1u << b));
    }
  }
}

class MihIndex : public FingerprintIndex {
 public:
  IndexKind kind() const override { return IndexKind::kMih; }

  void add(std::span<const PdqHash> h, std::span<const int64_t> l) override {
    store_.add(h, l);
    if (store_.slots() - indexed_ > std::max<size_t>(4096, indexed_ / 8)) rebuild();
  }

  void remove(std::span<const int64_t> labels) override { store_.remove(labels); }

  std::vector<std::vector<Neighbor>> search_radius(std::span<const PdqHash> queries,
                                                   int radius) const override {
    std::vector<std::vector<Neighbor>> out(queries.size());
    const int flips = radius / kSlots;
    if (flips > 2 || indexed_ == 0) {
      // Probing 3+ bit neighbourhoods costs more than reading everything.
      store_.scan_range(0, store_.slots(), queries, radius, out.data());
      return out;
    }
    thread_local std::vector<uint32_t> seen;  // per-position stamp of the last query that saw it
    thread_local uint32_t stamp = 0;
    thread_local std::vector<uint32_t> probes;
    if (seen.size() < indexed_) seen.assign(indexed_, 0);
    for (size_t q = 0; q < queries.size(); ++q) {
      if (++stamp == 0) {  // wrapped: forget every old stamp
        std::fill(seen.begin(), seen.end(), 0);
        stamp = 1;
      }
      const HashWords& qw = queries[q].words();
      for (int s = 0; s < kSlots; ++s) {
        neighbourhood(slot_value(qw, s), flips, &probes);
        const uint32_t* off = &offsets_[size_t(s) * (kBuckets + 1)];
        const uint32_t* pos = &positions_[size_t(s) * indexed_];
        for (uint32_t v : probes) {
          for (uint32_t k = off[v]; k < off[v + 1]; ++k) {
            const uint32_t p = pos[k];
            if (seen[p] == stamp) continue;
            seen[p] = stamp;
            const int d = hamming(store_.hash(p), qw);
            if (d <= radius && !store_.dead(p)) out[q].push_back({store_.label(p), d});
          }
        }
      }
    }
    // The tail added since the last build.
    store_.scan_range(indexed_, store_.slots(), queries, radius, out.data());
    return out;
  }

  size_t size() const override { return store_.live(); }
  size_t memory_bytes() const override {
    return store_.memory_bytes() + offsets_.capacity() * 4 + positions_.capacity() * 4;
  }
  void for_each(const std::function<void(const PdqHash&, int64_t)>& fn) const override {
    store_.for_each(fn);
  }

 private:
  // Counting sort of every position by each slot's value.
  void rebuild() {
    const size_t n = store_.slots();
    offsets_.assign(size_t(kSlots) * (kBuckets + 1), 0);
    positions_.resize(size_t(kSlots) * n);
    const HashWords* h = store_.hashes();
    for (int s = 0; s < kSlots; ++s) {
      uint32_t* off = &offsets_[size_t(s) * (kBuckets + 1)];
      for (size_t i = 0; i < n; ++i) ++off[slot_value(h[i], s) + 1];
      for (int v = 0; v < kBuckets; ++v) off[v + 1] += off[v];
      std::vector<uint32_t> fill(off, off + kBuckets);
      uint32_t* pos = &positions_[size_t(s) * n];
      for (size_t i = 0; i < n; ++i) pos[fill[slot_value(h[i], s)]++] = uint32_t(i);
    }
    indexed_ = n;
  }

  HashStore store_;
  size_t indexed_ = 0;               // positions [0, indexed_) are in the tables
  std::vector<uint32_t> offsets_;    // kSlots x (kBuckets + 1)
  std::vector<uint32_t> positions_;  // kSlots x indexed_
};

}  // namespace

std::unique_ptr<FingerprintIndex> make_mih_index() { return std::make_unique<MihIndex>(); }

}  // namespace imprint::detail
