#include "synthetic_hashes.h"

#include <set>

namespace imprint::bench {

PdqHash balanced_hash(std::mt19937_64& rng) {
  std::array<uint64_t, 4> w{rng(), rng(), rng(), rng()};
  PdqHash h = PdqHash::from_words(w);
  while (h.popcount() != 128) {
    const int bit = int(rng() % 256);
    auto ww = h.words();
    const bool set = (ww[bit >> 6] >> (bit & 63)) & 1;
    if ((h.popcount() > 128) == set) ww[bit >> 6] ^= uint64_t{1} << (bit & 63);
    h = PdqHash::from_words(ww);
  }
  return h;
}

PdqHash flip_bits(const PdqHash& h, int n, std::mt19937_64& rng) {
  auto w = h.words();
  std::set<int> used;
  while (int(used.size()) < n) {
    const int bit = int(rng() % 256);
    if (used.insert(bit).second) w[bit >> 6] ^= uint64_t{1} << (bit & 63);
  }
  return PdqHash::from_words(w);
}

PdqHash perturb_balanced(const PdqHash& h, int n, std::mt19937_64& rng) {
  auto w = h.words();
  std::set<int> used;
  int ones = n / 2, zeros = n - n / 2;
  while (ones + zeros > 0) {
    const int bit = int(rng() % 256);
    if (used.count(bit)) continue;
    const bool set = (w[bit >> 6] >> (bit & 63)) & 1;
    if (set && ones > 0) {
      --ones;
    } else if (!set && zeros > 0) {
      --zeros;
    } else {
      continue;
    }
    used.insert(bit);
    w[bit >> 6] ^= uint64_t{1} << (bit & 63);
  }
  return PdqHash::from_words(w);
}

}  // namespace imprint::bench
