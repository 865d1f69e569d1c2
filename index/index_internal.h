// Internal to index/: the hash storage shared by our index structures, and their factories.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <vector>

#include "fingerprint_index.h"

namespace imprint::detail {

using HashWords = std::array<uint64_t, 4>;

// Allocates on `Align`-byte boundaries. Hash arrays use 64: large blocks from malloc start 16 bytes
// into a page, which would leave every other 32-byte hash straddling two cache lines, and a
// random candidate check would then cost two misses instead of one.
template <class T, size_t Align>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) {}
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Align)));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(Align)); }
  bool operator==(const AlignedAllocator&) const { return true; }
  bool operator!=(const AlignedAllocator&) const { return false; }
};

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
  std::vector<HashWords, AlignedAllocator<HashWords, 64>> hashes_;
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
