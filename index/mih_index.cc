// MihIndex: multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
// Multi-Index Hashing", CVPR 2012).
//
// The 256 bits are cut into m slots. If two hashes are within distance r, at least one slot
// differs in at most floor(r / m) bits (otherwise the slots would add up to more than r). A radius
// search therefore probes, in each slot's table, every bucket within floor(r / m) bits of the
// query's slot value and verifies the candidates with the full distance: exact, and a small
// fraction of the catalog. The slot count follows from a cost model (slots_for): 16 slots of 16 bits
// for small catalogs, fewer and wider slots as the catalog grows (11 slots of 23-24 bits at ten
// million), as the paper's rule m ~ 256 / log2(n) suggests; benchmarks/index_scale measures it.
//
// Each slot's table is a bucket array in compressed form (offsets[2^w + 1] into a position list),
// built by counting sort. Growth is log-structured (see MihIndex): a main level, a level of recent
// additions, and a tail of at most a few thousand hashes scanned linearly.
#include <algorithm>
#include <cmath>

#include "index_internal.h"

namespace imprint::detail {
namespace {

struct Slot {
  int first_bit = 0;
  int width = 0;
};

inline uint32_t slot_value(const HashWords& h, const Slot& s) {
  const int w = s.first_bit >> 6, b = s.first_bit & 63;
  uint64_t v = h[w] >> b;
  if (b + s.width > 64) v |= h[w + 1] << (64 - b);
  return uint32_t(v & ((uint64_t{1} << s.width) - 1));
}

// All values within `flips` bits of v in a `width`-bit slot (flips <= 2), into out.
void neighbourhood(uint32_t v, int width, int flips, std::vector<uint32_t>* out) {
  out->clear();
  out->push_back(v);
  if (flips >= 1) {
    for (int a = 0; a < width; ++a) out->push_back(v ^ (1u << a));
  }
  if (flips >= 2) {
    for (int a = 0; a < width; ++a) {
      for (int b = a + 1; b < width; ++b) out->push_back(v ^ (1u << a) ^ (1u << b));
    }
  }
}

size_t probes_within(int width, int flips) {
  size_t p = 1;
  if (flips >= 1) p += size_t(width);
  if (flips >= 2) p += size_t(width) * (width - 1) / 2;
  return p;
}

// The slot count for n entries, designed for radius-31 searches: the expected work is
// m x (buckets probed per slot) x (1 + entries per bucket), each a random memory access. Tables
// may not have more than 4 buckets per entry, so small catalogs do not pay for huge tables.
int slots_for(size_t n) {
  int best = 16;
  double best_cost = 1e300;
  for (int m = 11; m <= 16; ++m) {
    const int width = (256 + m - 1) / m;
    if (m < 16 && std::ldexp(1.0, width) > 4.0 * double(n)) continue;
    const int flips = kPdqMatchDistance / m;
    if (flips > 2) continue;
    const double cost = double(m) * double(probes_within(width, flips)) *
                        (1.0 + double(n) / std::ldexp(1.0, 256 / m));
    if (cost < best_cost) {
      best_cost = cost;
      best = m;
    }
  }
  return best;
}

// The probe tables over one range of store positions [begin, end).
struct Tables {
  size_t begin = 0, end = 0;
  std::vector<Slot> slots;
  std::vector<size_t> table_start;  // where each slot's offsets begin
  std::vector<uint32_t> offsets;    // per slot: 2^width + 1 bucket starts
  std::vector<uint32_t> positions;  // per slot: (end - begin) store positions, bucket by bucket

  size_t memory_bytes() const { return offsets.capacity() * 4 + positions.capacity() * 4; }

  void build(const HashStore& store, size_t from, size_t to) {
    begin = from;
    end = to;
    const size_t n = to - from;
    const int m = slots_for(n);
    slots.clear();
    table_start.clear();
    size_t total = 0;
    for (int s = 0, bit = 0; s < m; ++s) {
      const int width = 256 / m + (s < 256 % m ? 1 : 0);
      slots.push_back({bit, width});
      table_start.push_back(total);
      total += (size_t{1} << width) + 1;
      bit += width;
    }
    offsets.assign(total, 0);
    offsets.shrink_to_fit();
    positions.resize(size_t(m) * n);
    positions.shrink_to_fit();
    const HashWords* h = store.hashes() + from;
    std::vector<uint32_t> fill;
    for (int s = 0; s < m; ++s) {
      const size_t buckets = size_t{1} << slots[s].width;
      uint32_t* off = &offsets[table_start[s]];
      for (size_t i = 0; i < n; ++i) ++off[slot_value(h[i], slots[s]) + 1];
      for (size_t v = 0; v < buckets; ++v) off[v + 1] += off[v];
      fill.assign(off, off + buckets);
      uint32_t* pos = &positions[size_t(s) * n];
      for (size_t i = 0; i < n; ++i) pos[fill[slot_value(h[i], slots[s])]++] = uint32_t(from + i);
    }
  }

  // Bit flips per slot needed for an exact search at this radius (> 2: scan instead).
  int flips_for(int radius) const { return slots.empty() ? 3 : radius / int(slots.size()); }

  // Appends the store positions in every bucket within `flips` of the query's slot values.
  //
  // At ten million entries every step is a cache miss (bucket offsets, position lists, hashes),
  // so the work runs in phases that first issue all of a step's independent loads as prefetches
  // and only then read them: the memory system serves many misses at once instead of one after
  // another.
  void gather(const HashStore& store, const HashWords& qw, int flips,
              std::vector<uint32_t>* candidates) const {
    thread_local std::vector<uint32_t> probes;
    thread_local std::vector<const uint32_t*> buckets;  // each probe's offsets entry
    thread_local std::vector<std::pair<const uint32_t*, const uint32_t*>> ranges;
    const int m = int(slots.size());
    const size_t n = end - begin;
    // Phase 1: the bucket of every probe value in every slot; prefetch its offsets.
    buckets.clear();
    ranges.clear();
    for (int s = 0; s < m; ++s) {
      neighbourhood(slot_value(qw, slots[s]), slots[s].width, flips, &probes);
      const uint32_t* off = &offsets[table_start[s]];
      for (uint32_t v : probes) {
        __builtin_prefetch(off + v);
        buckets.push_back(off + v);
      }
    }
    // Phase 2: read the offsets; prefetch the position lists they point into.
    size_t b = 0;
    for (int s = 0; s < m; ++s) {
      const uint32_t* pos = &positions[size_t(s) * n];
      const size_t per_slot = probes_within(slots[s].width, flips);
      for (size_t k = 0; k < per_slot; ++k, ++b) {
        const uint32_t* off = buckets[b];
        const uint32_t lo = off[0], hi = off[1];
        if (lo == hi) continue;
        __builtin_prefetch(pos + lo);
        ranges.emplace_back(pos + lo, pos + hi);
      }
    }
    // Phase 3: gather candidate positions (their hashes are prefetched while verifying).
    for (const auto& [lo, hi] : ranges) candidates->insert(candidates->end(), lo, hi);
  }
};

// Two levels of tables, log-structured: `main_` over the bulk of the entries and `recent_` over
// those added since main_ was built, plus a short unindexed tail scanned linearly. The tail is
// folded into recent_ once it passes kTailLimit entries, and recent_ into main_ once it passes an
// eighth of main_: a search never scans more than kTailLimit hashes, and rebuild work per added
// entry stays small (a catalog that grows one registration at a time rebuilds only recent_).
class MihIndex : public FingerprintIndex {
 public:
  static constexpr size_t kTailLimit = 2048;

  IndexKind kind() const override { return IndexKind::kMih; }

  void add(std::span<const PdqHash> h, std::span<const int64_t> l) override {
    store_.add(h, l);
    const size_t n = store_.slots();
    if (n - recent_.end <= kTailLimit) return;
    if (n - main_.end > std::max(kTailLimit, main_.end / 8)) {
      main_.build(store_, 0, n);
      recent_ = Tables();
      recent_.begin = recent_.end = n;
    } else {
      recent_.build(store_, main_.end, n);
    }
  }

  void remove(std::span<const int64_t> labels) override { store_.remove(labels); }

  std::vector<std::vector<Neighbor>> search_radius(std::span<const PdqHash> queries,
                                                   int radius) const override {
    return search(queries, radius, radius);
  }

  std::vector<std::vector<Neighbor>> search_near(std::span<const PdqHash> queries, int exact_radius,
                                                 int wider_radius) const override {
    return search(queries, exact_radius, std::max(exact_radius, wider_radius));
  }

  size_t size() const override { return store_.live(); }
  size_t memory_bytes() const override {
    return store_.memory_bytes() + main_.memory_bytes() + recent_.memory_bytes();
  }
  void for_each(const std::function<void(const PdqHash&, int64_t)>& fn) const override {
    store_.for_each(fn);
  }

 private:
  // Entries within exact_radius, plus those within accept_radius that the same probes reach.
  // Duplicates (an entry reached through two slots) are removed at the end rather than tracked
  // per entry, which would be one more random access per candidate.
  std::vector<std::vector<Neighbor>> search(std::span<const PdqHash> queries, int exact_radius,
                                            int accept_radius) const {
    std::vector<std::vector<Neighbor>> out(queries.size());
    thread_local std::vector<uint32_t> candidates;
    // A level whose slots would need 3+ bit neighbourhoods is cheaper to read whole.
    const Tables* levels[2] = {&main_, &recent_};
    for (const Tables* t : levels) {
      if (t->begin != t->end && t->flips_for(exact_radius) > 2) {
        store_.scan_range(t->begin, t->end, queries, accept_radius, out.data());
      }
    }
    for (size_t q = 0; q < queries.size(); ++q) {
      const HashWords& qw = queries[q].words();
      candidates.clear();
      for (const Tables* t : levels) {
        const int flips = t->flips_for(exact_radius);
        if (t->begin != t->end && flips <= 2) t->gather(store_, qw, flips, &candidates);
      }
      std::vector<Neighbor>& hits = out[q];
      // A fixed prefetch distance keeps enough misses in flight without flooding the fill
      // buffers, as prefetching thousands of candidates at once would.
      constexpr size_t kAhead = 24;
      const size_t nc = candidates.size();
      for (size_t i = 0; i < std::min(nc, kAhead); ++i) __builtin_prefetch(&store_.hash(candidates[i]));
      for (size_t i = 0; i < nc; ++i) {
        if (i + kAhead < nc) __builtin_prefetch(&store_.hash(candidates[i + kAhead]));
        const uint32_t p = candidates[i];
        const int d = hamming(store_.hash(p), qw);
        if (d <= accept_radius && !store_.dead(p)) hits.push_back({store_.label(p), d});
      }
      std::sort(hits.begin(), hits.end(),
                [](const Neighbor& a, const Neighbor& b) { return a.label < b.label; });
      hits.erase(std::unique(hits.begin(), hits.end(),
                             [](const Neighbor& a, const Neighbor& b) { return a.label == b.label; }),
                 hits.end());
    }
    // The tail added since the last build.
    store_.scan_range(recent_.end, store_.slots(), queries, accept_radius, out.data());
    return out;
  }

  HashStore store_;
  Tables main_;    // positions [0, main_.end)
  Tables recent_;  // positions [main_.end, recent_.end)
};

}  // namespace

std::unique_ptr<FingerprintIndex> make_mih_index() { return std::make_unique<MihIndex>(); }

}  // namespace imprint::detail
