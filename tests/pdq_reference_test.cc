// Our PDQ against Meta's reference outputs in ../shared/pdq-reference, line for line.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine.h"
#include "test_support.h"

namespace imprint {
namespace {

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

std::string reference_dir() { return test::shared_dir() + "/pdq-reference"; }

// expected/full.csv: the reference library on the full-resolution image, with all 8 dihedral
// hashes from one DCT: hash,quality,rot90,rot180,rot270,flipx,flipy,flip_plus1,flip_minus1,path.
TEST(PdqReference, FullResolutionHashesQualityAndDihedralsMatchEveryLine) {
  const auto rows = read_csv(reference_dir() + "/expected/full.csv");
  ASSERT_GE(rows.size(), 40u);
  HashOptions o;
  o.mode = HashMode::kExact;
  o.dihedral = true;
  int checked = 0;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 10u);
    SCOPED_TRACE(row[9]);
    Result<ImageFingerprint> fp = fingerprint_file(reference_dir() + "/images/" + row[9], o);
    ASSERT_TRUE(fp.ok()) << fp.status().to_string();
    EXPECT_EQ(fp->pdq.hash.to_hex(), row[0]);
    EXPECT_EQ(fp->pdq.quality, std::stoi(row[1]));
    // Reference column order: rot90, rot180, rot270, flipx, flipy, flip_plus1, flip_minus1.
    for (int d = 1; d < kDihedralCount; ++d) {
      EXPECT_EQ(fp->dihedral[d].to_hex(), row[1 + d]) << dihedral_name(Dihedral(d));
    }
    // The single-hash path agrees with the dihedral path's original.
    HashOptions single = o;
    single.dihedral = false;
    Result<ImageFingerprint> fp1 = fingerprint_file(reference_dir() + "/images/" + row[9], single);
    ASSERT_TRUE(fp1.ok());
    EXPECT_EQ(fp1->pdq.hash, fp->pdq.hash);
    ++checked;
  }
  EXPECT_EQ(checked, int(rows.size()));
}

// expected/cli.csv: pdq-photo-hasher, which resizes images over 512 px to 512x512 (nearest
// neighbour) and drops alpha. Every listed file decodes the same way for us (CMYK JPEG, grey+alpha
// and RGBA PNGs included), so every line must agree.
TEST(PdqReference, ReferenceCliModeMatchesEveryLine) {
  const auto rows = read_csv(reference_dir() + "/expected/cli.csv");
  ASSERT_GE(rows.size(), 45u);
  HashOptions o;
  o.mode = HashMode::kReferenceCli;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 3u);
    SCOPED_TRACE(row[2]);
    Result<ImageFingerprint> fp = fingerprint_file(reference_dir() + "/images/" + row[2], o);
    ASSERT_TRUE(fp.ok()) << fp.status().to_string();
    EXPECT_EQ(fp->pdq.hash.to_hex(), row[0]);
    EXPECT_EQ(fp->pdq.quality, std::stoi(row[1]));
  }
}

// The haystack/needles lists: every needle has a haystack hash within the match distance, and
// hex round-trips for all of them.
TEST(PdqReference, NeedlesFindHaystackMatchesAndHexRoundTrips) {
  std::vector<PdqHash> haystack, needles;
  for (auto [file, out] : {std::pair{"/haystack.txt", &haystack}, std::pair{"/needles.txt", &needles}}) {
    std::ifstream f(reference_dir() + file);
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty()) continue;
      Result<PdqHash> h = PdqHash::from_hex(line);
      ASSERT_TRUE(h.ok()) << line;
      EXPECT_EQ(h->to_hex(), line);
      out->push_back(*h);
    }
  }
  ASSERT_EQ(haystack.size(), 1350u);
  ASSERT_EQ(needles.size(), 100u);
  int found = 0;
  for (const PdqHash& n : needles) {
    for (const PdqHash& h : haystack) {
      if (n.distance(h) <= kPdqMatchDistance) {
        ++found;
        break;
      }
    }
  }
  EXPECT_EQ(found, 100);
}

}  // namespace
}  // namespace imprint
