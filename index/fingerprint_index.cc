#include "fingerprint_index.h"

#include <algorithm>

#include "index_internal.h"

namespace imprint {

const char* index_kind_name(IndexKind k) {
  switch (k) {
    case IndexKind::kAuto: return "auto";
    case IndexKind::kFlat: return "flat";
    case IndexKind::kMih: return "mih";
    case IndexKind::kFaissFlat: return "faiss-flat";
    case IndexKind::kFaissMih: return "faiss-mih";
  }
  return "unknown";
}

Result<IndexKind> parse_index_kind(std::string_view name) {
  for (IndexKind k : {IndexKind::kAuto, IndexKind::kFlat, IndexKind::kMih, IndexKind::kFaissFlat,
                      IndexKind::kFaissMih}) {
    if (name == index_kind_name(k)) return k;
  }
  return invalid_argument("unknown index kind '" + std::string(name) +
                          "' (expected auto, flat, mih, faiss-flat or faiss-mih)");
}

// Below this many hashes a flat scan of 8 dihedral queries takes well under a millisecond and
// needs no tables (benchmarks/index_scale prints the crossover).
IndexKind choose_index_kind(size_t entries) {
  return entries < 50'000 ? IndexKind::kFlat : IndexKind::kMih;
}

std::unique_ptr<FingerprintIndex> make_index(IndexKind kind) {
  switch (kind) {
    case IndexKind::kFlat: return detail::make_flat_index();
    case IndexKind::kAuto:
    case IndexKind::kMih: return detail::make_mih_index();
    case IndexKind::kFaissFlat: return detail::make_faiss_flat_index();
    case IndexKind::kFaissMih: return detail::make_faiss_mih_index();
  }
  return detail::make_flat_index();
}

std::vector<std::vector<Neighbor>> FingerprintIndex::search_knn(std::span<const PdqHash> queries,
                                                                int k) const {
  std::vector<std::vector<Neighbor>> out(queries.size());
  auto by_distance = [](const Neighbor& a, const Neighbor& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.label < b.label;
  };
  for (size_t q = 0; q < queries.size(); ++q) {
    // Widening radius searches are exact: once k entries lie within r, the k nearest are among
    // them. Past 63 a full pass is cheaper than any probing.
    std::vector<Neighbor> found;
    for (int r : {31, 47, 63}) {
      found = std::move(search_radius(queries.subspan(q, 1), r)[0]);
      if (int(found.size()) >= k) break;
    }
    if (int(found.size()) < k) {
      found.clear();
      const auto& qw = queries[q];
      for_each([&](const PdqHash& h, int64_t label) { found.push_back({label, h.distance(qw)}); });
    }
    const size_t keep = std::min<size_t>(size_t(std::max(k, 0)), found.size());
    std::partial_sort(found.begin(), found.begin() + keep, found.end(), by_distance);
    found.resize(keep);
    out[q] = std::move(found);
  }
  return out;
}

}  // namespace imprint
