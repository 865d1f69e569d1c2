// FingerprintIndex: one interface over the structures that find PDQ hashes near a query.
//
// Entries are (hash, label) pairs; a label is the catalog's fingerprint row id. Every
// implementation returns exactly the entries within the radius (the tests hold them to the same
// answers for radius <= 31), so callers pick a structure for speed and memory alone:
//   flat        our linear scan: 8 query hashes per pass over the hashes, popcount
//   mih         our multi-index hashing: 11-16 tables over slots of the hash; by pigeonhole a
//               hash within distance d agrees with the query to within d/m bits in some slot,
//               so probing those neighbourhoods is exact
//   faiss-flat  FAISS IndexBinaryFlat (peer baseline)
//   faiss-mih   FAISS IndexBinaryMultiHash with 16 x 16-bit tables (peer baseline)
// Thread safety: concurrent searches are safe; add/remove need exclusive access.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pdq.h"
#include "status.h"

namespace imprint {

struct Neighbor {
  int64_t label = 0;
  int distance = 0;
};

enum class IndexKind { kAuto, kFlat, kMih, kFaissFlat, kFaissMih };
const char* index_kind_name(IndexKind k);
Result<IndexKind> parse_index_kind(std::string_view name);

class FingerprintIndex {
 public:
  virtual ~FingerprintIndex() = default;
  virtual IndexKind kind() const = 0;

  virtual void add(std::span<const PdqHash> hashes, std::span<const int64_t> labels) = 0;
  // Removes every entry with one of these labels; unknown labels are ignored.
  virtual void remove(std::span<const int64_t> labels) = 0;

  // For each query, every live entry within `radius` (0..256), in no particular order.
  virtual std::vector<std::vector<Neighbor>> search_radius(std::span<const PdqHash> queries,
                                                           int radius) const = 0;
  // Every live entry within exact_radius, plus entries up to wider_radius that the structure
  // reaches at no extra cost (a sub-linear index does not promise all of them). Used for the
  // review band above the match threshold. The default searches wider_radius exactly.
  virtual std::vector<std::vector<Neighbor>> search_near(std::span<const PdqHash> queries,
                                                         int exact_radius, int wider_radius) const {
    return search_radius(queries, std::max(exact_radius, wider_radius));
  }

  // For each query, the k nearest live entries, nearest first.
  virtual std::vector<std::vector<Neighbor>> search_knn(std::span<const PdqHash> queries,
                                                        int k) const;

  virtual size_t size() const = 0;  // live entries
  virtual size_t memory_bytes() const = 0;

  // Every live entry (for saving, rebuilding into another kind, or exporting).
  virtual void for_each(const std::function<void(const PdqHash&, int64_t)>& fn) const = 0;
};

std::unique_ptr<FingerprintIndex> make_index(IndexKind kind);

// The structure chosen for kAuto at a given size: flat while a scan is cheap, mih beyond.
IndexKind choose_index_kind(size_t entries);

}  // namespace imprint
