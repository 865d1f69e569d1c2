// Internal to index/: the hash storage shared by our index structures, and their factories.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "fingerprint_index.h"

namespace imprint::detail {

using HashWords = std::array<uint64_t, 4>;

// Hashes and labels in insertion order, with removals marked dead in place so positions stay
// stable for the structures built over them. Labels arrive in increasing order from the catalog
// (fingerprint row ids), which keeps removal a binary search; out-of-order adds still work, with
// a linear search.
class HashStore {
 public:
  void add(std::span<const PdqHash> hashes, std::span<const int64_t> labels);
  // Marks entries dead; returns their positions.
  std::vector<size_t> remove(std::span<const int64_t> labels);

  // Appends live entries of [begin, end) within `radius` of each query to out[query].
  void scan_range(size_t begin, size_t end, std::span<const PdqHash> queries, int radius,
                  std::vector<Neighbor>* out) const;
  void for_each(const std::function<void(const PdqHash&, int64_t)>& fn) const;

  size_t slots() const { return labels_.size(); }  // live and dead
  size_t live() const { return live_; }
  bool dead(size_t pos) const { return dead_[pos] != 0; }
  const HashWords& hash(size_t pos) const { return hashes_[pos]; }
  int64_t label(size_t pos) const { return labels_[pos]; }
  const HashWords* hashes() const { return hashes_.data(); }
  size_t memory_bytes() const {
    return hashes_.capacity() * sizeof(HashWords) + labels_.capacity() * sizeof(int64_t) +
           dead_.capacity();
  }

 private:
  std::vector<HashWords> hashes_;
  std::vector<int64_t> labels_;
  std::vector<uint8_t> dead_;
  size_t live_ = 0;
  bool sorted_ = true;
};

inline int hamming(const HashWords& a, const HashWords& b) {
  return std::popcount(a[0] ^ b[0]) + std::popcount(a[1] ^ b[1]) + std::popcount(a[2] ^ b[2]) +
         std::popcount(a[3] ^ b[3]);
}

std::unique_ptr<FingerprintIndex> make_flat_index();
std::unique_ptr<FingerprintIndex> make_mih_index();
std::unique_ptr<FingerprintIndex> make_faiss_flat_index();
std::unique_ptr<FingerprintIndex> make_faiss_mih_index();

}  // namespace imprint::detail
