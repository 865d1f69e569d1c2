#include "process_memory.h"

#include <algorithm>
#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace imprint {

void retain_freed_memory(std::size_t retained_bytes) {
#if defined(__GLIBC__)
  // Fixing either threshold also stops glibc from moving them as it sees large frees.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's own ceiling for its moving threshold
  mallopt(M_TRIM_THRESHOLD, int(std::min<std::size_t>(retained_bytes, INT_MAX)));
#else
  (void)retained_bytes;
#endif
}

}  // namespace imprint
