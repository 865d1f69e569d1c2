// Synthetic PDQ hashes for index and matching benchmarks: balanced like real PDQ hashes (128 of
// 256 bits set), and near-duplicates at chosen distances.
#pragma once

#include <random>

#include "pdq.h"

namespace imprint::bench {

// A random hash with exactly 128 bits set.
PdqHash balanced_hash(std::mt19937_64& rng);

// `h` with `n` distinct random bits flipped (distance exactly n).
PdqHash flip_bits(const PdqHash& h, int n, std::mt19937_64& rng);

// `h` with n/2 set and n - n/2 clear bits flipped: distance n, and a balanced hash stays balanced
// when n is even.
PdqHash perturb_balanced(const PdqHash& h, int n, std::mt19937_64& rng);

}  // namespace imprint::bench
