// Synthetic works with the second stage's fingerprints, for benchmarks at catalog scale: the
// local features of real photos' cuts, perturbed, so a feature index holds what real works give it.
#pragma once

#include <random>
#include <vector>

#include "catalog.h"
#include "local_features.h"

namespace imprint::bench {

// Local features of `n` random cuts of the wallpapers (load_source_photos), as registered works
// have them.
std::vector<LocalFeatures> feature_sources(size_t n);
// The same, of cuts of `from` only (a benchmark whose unrelated queries must not be in the
// catalog in any form keeps their photos out).
std::vector<LocalFeatures> feature_sources(size_t n, const std::vector<const Image*>& from);

// Work "w<i>": a random balanced PDQ hash, 4 crop hashes and local features copied from one of
// `sources` with 40 of 256 bits of every descriptor flipped (as benchmarks/robustness's fillers).
WorkInput feature_work(size_t i, const std::vector<LocalFeatures>& sources, std::mt19937_64& rng);

}  // namespace imprint::bench
