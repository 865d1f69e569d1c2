// vPDQ matching: the share of each video's frames that have a near frame in the other.
#include <algorithm>

#include "video.h"

namespace imprint {
namespace {

std::vector<PdqHash> usable_hashes(std::span<const FrameHash> frames,
                                   const VpdqMatchOptions& options) {
  std::vector<PdqHash> out;
  out.reserve(frames.size());
  for (const FrameHash& f : frames) {
    if (f.quality >= options.quality_threshold) out.push_back(f.hash);
  }
  if (options.dedupe_hashes) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  return out;
}

// Percentage of `from` within `distance` of some hash in `to`; the caller ensures from is not
// empty.
double covered_pct(const std::vector<PdqHash>& from, const std::vector<PdqHash>& to, int distance) {
  size_t hits = 0;
  for (const PdqHash& a : from) {
    hits += std::any_of(to.begin(), to.end(),
                        [&](const PdqHash& b) { return a.distance(b) <= distance; });
  }
  return double(hits) * 100.0 / double(from.size());
}

}  // namespace

VpdqMatch vpdq_match(std::span<const FrameHash> query, std::span<const FrameHash> target,
                     const VpdqMatchOptions& options) {
  const std::vector<PdqHash> q = usable_hashes(query, options);
  const std::vector<PdqHash> t = usable_hashes(target, options);
  if (q.empty() || t.empty()) return {};
  return {covered_pct(q, t, options.distance), covered_pct(t, q, options.distance)};
}

VpdqMatch vpdq_match(std::span<const FrameHash> query, std::span<const FrameHash> target,
                     int distance, int quality_threshold) {
  VpdqMatchOptions options;
  options.distance = distance;
  options.quality_threshold = quality_threshold;
  return vpdq_match(query, target, options);
}

}  // namespace imprint
