// Measurement helpers shared by the benchmark programs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace imprint::bench {

// The p-quantile (0..1) of v by nearest rank; a value-initialised T when v is empty.
template <class T>
T percentile(std::vector<T> v, double p) {
  if (v.empty()) return T{};
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

// This process's resident memory in KiB (/proc/self/statm), 0 when unreadable.
long resident_kb();

}  // namespace imprint::bench
