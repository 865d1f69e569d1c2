// parallel_for: runs fn(i) for i in [0, n) on up to `threads` threads (0: one per core).
// Items are handed out one at a time from a shared counter, so uneven items balance themselves.
#pragma once

#include <cstddef>
#include <functional>

namespace imprint {

int default_thread_count();
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn);

}  // namespace imprint
