// Internal: storage for the catalog's large in-memory arrays (the feature index's descriptors,
// keypoints and ids, derived files being read), backed by transparent huge pages where the
// kernel offers them.
//
// A 100,000-work feature index holds 2.5 GB in a few arrays. In 4 KB pages, filling one costs a
// page fault per 4 KB; on the virtual machines this project runs on a fault costs ~15 us, so
// reading a 71 MB file into a fresh vector took 0.30 s against 0.008 s into 2 MB pages, and every
// random descriptor read of a search misses the TLB in 4 KB pages far more often. Allocations
// of at least kLargeArrayBytes are mapped 2 MB-aligned and marked MADV_HUGEPAGE (which takes
// effect with transparent_hugepage set to "madvise" or "always", the Debian default being
// "madvise"; with "never" they are plain pages); smaller ones come from operator new.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace imprint::detail {

inline constexpr size_t kHugePageBytes = size_t(2) << 20;
inline constexpr size_t kLargeArrayBytes = size_t(4) << 20;

template <typename T>
struct LargeArrayAllocator {
  using value_type = T;
  LargeArrayAllocator() = default;
  template <typename U>
  LargeArrayAllocator(const LargeArrayAllocator<U>&) {}

  static size_t mapped_bytes(size_t n) {
    return (n * sizeof(T) + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  }

  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T) - kHugePageBytes) throw std::bad_alloc();
    if (n * sizeof(T) < kLargeArrayBytes) return static_cast<T*>(::operator new(n * sizeof(T)));
    // Map a huge page more than needed, then keep the 2 MB-aligned part.
    const size_t len = mapped_bytes(n);
    void* p = ::mmap(nullptr, len + kHugePageBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t start = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (start + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    if (aligned > start) ::munmap(p, aligned - start);
    const uintptr_t end = start + len + kHugePageBytes;
    if (end > aligned + len) ::munmap(reinterpret_cast<void*>(aligned + len), end - aligned - len);
    ::madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);
    return reinterpret_cast<T*>(aligned);
  }

  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kLargeArrayBytes) {
      ::operator delete(p);
      return;
    }
    ::munmap(p, mapped_bytes(n));
  }

  template <typename U>
  bool operator==(const LargeArrayAllocator<U>&) const {
    return true;
  }
};

template <typename T>
using LargeArray = std::vector<T, LargeArrayAllocator<T>>;

}  // namespace imprint::detail
