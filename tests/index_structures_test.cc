// Every FingerprintIndex structure returns the same entries for the same radius search.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "fingerprint_index.h"
#include "test_support.h"

namespace imprint {
namespace {

PdqHash random_balanced(std::mt19937_64& rng) {
  // 128 of 256 bits set, like a real PDQ hash.
  std::vector<int> bits(256);
  for (int i = 0; i < 256; ++i) bits[i] = i;
  std::shuffle(bits.begin(), bits.end(), rng);
  PdqHash h;
  for (int i = 0; i < 128; ++i) h.set_bit(bits[i]);
  return h;
}

PdqHash flip(PdqHash h, int n, std::mt19937_64& rng) {
  std::vector<int> bits(256);
  for (int i = 0; i < 256; ++i) bits[i] = i;
  std::shuffle(bits.begin(), bits.end(), rng);
  auto w = h.words();
  for (int i = 0; i < n; ++i) w[bits[i] >> 6] ^= uint64_t{1} << (bits[i] & 63);
  return PdqHash::from_words(w);
}

// Clustered hashes (centres with members a few to tens of bits away), the reference haystack,
// and queries planted at every distance 0..40 from stored hashes.
struct Data {
  std::vector<PdqHash> hashes;
  std::vector<int64_t> labels;
  std::vector<PdqHash> queries;
};

Data make_data() {
  std::mt19937_64 rng(7);
  Data d;
  std::ifstream hay(test::shared_dir() + "/pdq-reference/haystack.txt");
  std::string line;
  while (std::getline(hay, line)) {
    if (!line.empty()) d.hashes.push_back(*PdqHash::from_hex(line));
  }
  for (int c = 0; c < 300; ++c) {
    const PdqHash centre = random_balanced(rng);
    for (int m = 0; m < 20; ++m) d.hashes.push_back(flip(centre, int(rng() % 48), rng));
  }
  for (size_t i = 0; i < d.hashes.size(); ++i) d.labels.push_back(int64_t(i) * 3 + 1);
  std::ifstream needles(test::shared_dir() + "/pdq-reference/needles.txt");
  while (std::getline(needles, line)) {
    if (!line.empty()) d.queries.push_back(*PdqHash::from_hex(line));
  }
  for (int dist = 0; dist <= 40; ++dist) {
    d.queries.push_back(flip(d.hashes[rng() % d.hashes.size()], dist, rng));
  }
  for (int i = 0; i < 50; ++i) d.queries.push_back(random_balanced(rng));
  return d;
}

using Answer = std::vector<std::pair<int64_t, int>>;

std::vector<Answer> normalise(const std::vector<std::vector<Neighbor>>& r) {
  std::vector<Answer> out;
  for (const auto& v : r) {
    Answer a;
    for (const Neighbor& n : v) a.emplace_back(n.label, n.distance);
    std::sort(a.begin(), a.end());
    out.push_back(a);
  }
  return out;
}

// Ground truth by brute force, independent of every index.
std::vector<Answer> brute(const Data& d, int radius, const std::vector<bool>& removed) {
  std::vector<Answer> out;
  for (const PdqHash& q : d.queries) {
    Answer a;
    for (size_t i = 0; i < d.hashes.size(); ++i) {
      const int dist = q.distance(d.hashes[i]);
      if (dist <= radius && !removed[i]) a.emplace_back(d.labels[i], dist);
    }
    std::sort(a.begin(), a.end());
    out.push_back(a);
  }
  return out;
}

TEST(IndexStructures, AllKindsReturnTheSameMatchesForRadiusUpTo31) {
  const Data d = make_data();
  std::vector<bool> removed(d.hashes.size(), false);
  for (IndexKind kind : {IndexKind::kFlat, IndexKind::kMih, IndexKind::kFaissFlat, IndexKind::kFaissMih}) {
    SCOPED_TRACE(index_kind_name(kind));
    auto index = make_index(kind);
    EXPECT_EQ(index->kind(), kind);
    // Added in two parts, so MIH has both indexed and tail entries.
    const size_t half = d.hashes.size() * 2 / 3;
    index->add(std::span(d.hashes).first(half), std::span(d.labels).first(half));
    index->add(std::span(d.hashes).subspan(half), std::span(d.labels).subspan(half));
    EXPECT_EQ(index->size(), d.hashes.size());
    int total = 0;
    for (int radius : {0, 8, 16, 24, 31}) {
      const auto want = brute(d, radius, removed);
      const auto got = normalise(index->search_radius(d.queries, radius));
      ASSERT_EQ(got.size(), want.size());
      for (size_t q = 0; q < want.size(); ++q) {
        EXPECT_EQ(got[q], want[q]) << "radius " << radius << " query " << q;
        total += int(want[q].size());
      }
    }
    EXPECT_GT(total, 100);  // the data really has matches at these radii
  }
}

TEST(IndexStructures, RemovalsDisappearFromEveryKind) {
  const Data d = make_data();
  std::vector<bool> removed(d.hashes.size(), false);
  std::vector<int64_t> gone;
  for (size_t i = 0; i < d.hashes.size(); i += 3) {
    removed[i] = true;
    gone.push_back(d.labels[i]);
  }
  const auto want = brute(d, 31, removed);
  for (IndexKind kind : {IndexKind::kFlat, IndexKind::kMih, IndexKind::kFaissFlat, IndexKind::kFaissMih}) {
    SCOPED_TRACE(index_kind_name(kind));
    auto index = make_index(kind);
    index->add(d.hashes, d.labels);
    index->remove(gone);
    index->remove(gone);  // twice is harmless
    EXPECT_EQ(index->size(), d.hashes.size() - gone.size());
    EXPECT_EQ(normalise(index->search_radius(d.queries, 31)), want);
    size_t seen = 0;
    index->for_each([&](const PdqHash&, int64_t label) {
      EXPECT_EQ(std::count(gone.begin(), gone.end(), label), 0);
      ++seen;
    });
    EXPECT_EQ(seen, index->size());
  }
}

// A catalog grows a registration or a batch at a time: MIH keeps a main level, a level of recent
// additions and a short unindexed tail, and must stay exact through every fold between them.
TEST(IndexStructures, MihStaysExactWhileGrowingInSmallBatchesWithRemovals) {
  Data d = make_data();
  std::mt19937_64 rng(11);
  while (d.hashes.size() < 40'000) {  // enough for the recent level to exist beside main
    d.hashes.push_back(PdqHash::from_words({rng(), rng(), rng(), rng()}));
    d.labels.push_back(d.labels.back() + 2);
  }
  for (size_t i = 5; i < d.hashes.size(); i += 37) d.queries.push_back(flip(d.hashes[i], int(i % 32), rng));
  std::vector<bool> removed(d.hashes.size(), false);
  auto index = make_index(IndexKind::kMih);
  size_t added = 0, checks = 0;
  const size_t batches[] = {1, 2500, 1, 300, 700, 1, 1200, 333, 1, 999, 4000, 3};
  for (size_t b = 0; added < d.hashes.size(); ++b) {
    const size_t n = std::min(batches[b % std::size(batches)], d.hashes.size() - added);
    index->add(std::span(d.hashes).subspan(added, n), std::span(d.labels).subspan(added, n));
    added += n;
    if (added > 10) {  // remove an early entry now and then, wherever it lives
      const size_t victim = (b * 7919) % added;
      removed[victim] = true;
      index->remove(std::span(&d.labels[victim], 1));
    }
    Data part = d;
    part.hashes.resize(added);
    part.labels.resize(added);
    std::vector<bool> part_removed(removed.begin(), removed.begin() + added);
    EXPECT_EQ(normalise(index->search_radius(d.queries, 31)), brute(part, 31, part_removed))
        << "after " << added << " entries";
    ++checks;
  }
  EXPECT_GT(checks, 10u);
}

TEST(IndexStructures, NearestNeighboursAgreeAcrossKinds) {
  const Data d = make_data();
  std::vector<std::vector<int>> reference;
  for (IndexKind kind : {IndexKind::kFlat, IndexKind::kMih, IndexKind::kFaissFlat, IndexKind::kFaissMih}) {
    SCOPED_TRACE(index_kind_name(kind));
    auto index = make_index(kind);
    index->add(d.hashes, d.labels);
    const auto got = index->search_knn(d.queries, 5);
    std::vector<std::vector<int>> distances;
    for (const auto& v : got) {
      ASSERT_EQ(v.size(), 5u);
      std::vector<int> ds;
      for (const Neighbor& n : v) ds.push_back(n.distance);
      EXPECT_TRUE(std::is_sorted(ds.begin(), ds.end()));
      distances.push_back(ds);
    }
    // Labels may differ on ties; the distances of the 5 nearest may not.
    if (reference.empty()) {
      reference = distances;
    } else {
      EXPECT_EQ(distances, reference);
    }
  }
}

TEST(IndexStructures, SearchNearIsExactToTheInnerRadiusAndBoundedByTheOuter) {
  const Data d = make_data();
  std::vector<bool> none(d.hashes.size(), false);
  const auto inner = brute(d, 31, none);
  for (IndexKind kind : {IndexKind::kFlat, IndexKind::kMih, IndexKind::kFaissFlat, IndexKind::kFaissMih}) {
    SCOPED_TRACE(index_kind_name(kind));
    auto index = make_index(kind);
    index->add(d.hashes, d.labels);
    const auto got = normalise(index->search_near(d.queries, 31, 39));
    for (size_t q = 0; q < got.size(); ++q) {
      for (const auto& hit : inner[q]) EXPECT_TRUE(std::binary_search(got[q].begin(), got[q].end(), hit));
      for (const auto& [label, dist] : got[q]) EXPECT_LE(dist, 39);
    }
  }
}

TEST(IndexStructures, AutoChoosesFlatWhenSmallAndMihWhenLarge) {
  EXPECT_EQ(choose_index_kind(1000), IndexKind::kFlat);
  EXPECT_EQ(choose_index_kind(5'000'000), IndexKind::kMih);
  EXPECT_EQ(*parse_index_kind("faiss-mih"), IndexKind::kFaissMih);
  EXPECT_FALSE(parse_index_kind("hnsw").ok());
}

}  // namespace
}  // namespace imprint
