// A decode's result depends on its bytes alone: never on what the same thread decoded before.
// Every suite used to feed its hostile input last, so a decoder left broken by a corrupt file
// (TurboJPEG kept its error state per thread) went unnoticed while scans reported every later
// valid file as corrupt.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "engine.h"
#include "test_support.h"

namespace imprint {
namespace {

const std::vector<std::string> kFormats = {".jpg", ".png", ".webp", ".gif", ".bmp", ".tiff"};

std::vector<uint8_t> encode_as(const Image& img, const std::string& ext) {
  return ext == ".gif" ? test::encode_gif(img) : test::encode(img, ext, 88);
}

// What one fingerprinting of `bytes` gives, as text: the hash and quality, or the error.
std::string outcome(const std::vector<uint8_t>& bytes, HashMode mode) {
  HashOptions o;
  o.mode = mode;
  o.dihedral = true;
  Result<ImageFingerprint> fp = fingerprint_image(bytes, o);
  if (!fp.ok()) return "error: " + fp.status().to_string();
  std::string s = "ok " + fp->pdq.hash.to_hex() + " q" + std::to_string(fp->pdq.quality);
  for (const PdqHash& h : fp->dihedral) s += " " + h.to_hex().substr(0, 8);
  return s;
}

// The same on a thread that has decoded nothing before: what a fresh process gives.
std::string fresh_outcome(const std::vector<uint8_t>& bytes, HashMode mode) {
  std::string out;
  std::thread t([&] { out = outcome(bytes, mode); });
  t.join();
  return out;
}

struct Sample {
  std::string name;
  std::vector<uint8_t> bytes;
};

// Three different pictures in every format, sized so that JPEG's scaled decode path is taken in
// fast mode (short side >= 256).
std::vector<Sample> valid_samples() {
  std::vector<Sample> out;
  const int sizes[3][2] = {{320, 256}, {400, 300}, {288, 352}};
  for (const std::string& ext : kFormats) {
    for (int i = 0; i < 3; ++i) {
      const Image img = test::synthetic_photo(sizes[i][0], sizes[i][1], uint32_t(100 + i));
      out.push_back({ext + " #" + std::to_string(i), encode_as(img, ext)});
    }
  }
  return out;
}

TEST(DecodeState, ValidFilesAfterCorruptOnesHashAsInAFreshProcess) {
  const std::vector<Sample> valid = valid_samples();
  for (HashMode mode : {HashMode::kExact, HashMode::kFast}) {
    std::map<std::string, std::string> expected;
    for (const Sample& s : valid) {
      expected[s.name] = fresh_outcome(s.bytes, mode);
      ASSERT_EQ(expected[s.name].rfind("ok ", 0), 0u) << s.name << ": " << expected[s.name];
    }
    // One thread: each corrupt variant of each format, then every valid file of every format.
    std::thread worker([&] {
      for (const std::string& ext : kFormats) {
        const Image src = test::synthetic_photo(360, 270, 7);
        for (const test::CorruptVariant& bad : test::corrupt_variants(encode_as(src, ext), ext)) {
          SCOPED_TRACE(std::string(hash_mode_name(mode)) + " " + ext + " " + bad.name);
          const std::string got = outcome(bad.bytes, mode);
          EXPECT_EQ(got, fresh_outcome(bad.bytes, mode));
          for (const Sample& s : valid) ASSERT_EQ(outcome(s.bytes, mode), expected[s.name]) << s.name;
        }
      }
    });
    worker.join();
  }
}

TEST(DecodeState, TheTruncatedJpegFromTheBugReportNoLongerPoisonsItsThread) {
  // The report's case: a JPEG's first 400 bytes end inside its Huffman tables.
  const std::vector<uint8_t> good = test::encode(test::synthetic_photo(640, 480, 3), ".jpg", 90);
  const std::vector<uint8_t> trunc(good.begin(), good.begin() + 400);
  const std::vector<uint8_t> tiny(good.begin(), good.begin() + 200);
  const std::string want = fresh_outcome(good, HashMode::kExact);
  std::thread t([&] {
    for (const auto* bad : {&trunc, &tiny, &trunc}) {
      const std::string b = outcome(*bad, HashMode::kExact);
      EXPECT_EQ(b.rfind("error: ", 0), 0u) << b;
      for (int i = 0; i < 5; ++i) EXPECT_EQ(outcome(good, HashMode::kExact), want);
    }
  });
  t.join();
}

// Removes every segment with the given marker (0xFF code) from a baseline JPEG's header.
std::vector<uint8_t> without_segments(const std::vector<uint8_t>& jpg, uint8_t code) {
  std::vector<uint8_t> out(jpg.begin(), jpg.begin() + 2);
  size_t i = 2;
  while (i + 4 <= jpg.size() && jpg[i] == 0xff && jpg[i + 1] != 0xda) {
    const size_t len = size_t(jpg[i + 2]) << 8 | jpg[i + 3];
    if (jpg[i + 1] != code) out.insert(out.end(), jpg.begin() + std::ptrdiff_t(i), jpg.begin() + std::ptrdiff_t(i + 2 + len));
    i += 2 + len;
  }
  out.insert(out.end(), jpg.begin() + std::ptrdiff_t(i), jpg.end());
  return out;
}

TEST(DecodeState, AJpegWithoutTablesNeverBorrowsThePreviousFiles) {
  // libjpeg keeps quantisation and Huffman tables from one image to the next on a reused
  // decompressor; a file that omits them must decode (or fail) as it does on its own.
  const std::vector<uint8_t> q95 = test::encode(test::synthetic_photo(320, 256, 11), ".jpg", 95);
  const std::vector<uint8_t> q30 = test::encode(test::synthetic_photo(320, 256, 12), ".jpg", 30);
  const std::vector<uint8_t> no_dqt = without_segments(q30, 0xdb);
  const std::vector<uint8_t> no_dht = without_segments(q30, 0xc4);
  ASSERT_LT(no_dqt.size(), q30.size());
  ASSERT_LT(no_dht.size(), q30.size());
  for (HashMode mode : {HashMode::kExact, HashMode::kFast}) {
    const std::string dqt_alone = fresh_outcome(no_dqt, mode);
    const std::string dht_alone = fresh_outcome(no_dht, mode);
    EXPECT_EQ(dqt_alone.rfind("error: ", 0), 0u) << dqt_alone;  // no quantisation table at all
    std::thread t([&] {
      for (int round = 0; round < 2; ++round) {
        ASSERT_EQ(outcome(q95, mode).rfind("ok ", 0), 0u);
        EXPECT_EQ(outcome(no_dqt, mode), dqt_alone);
        EXPECT_EQ(outcome(no_dht, mode), dht_alone);
      }
    });
    t.join();
  }
}

// Random mutations of a valid file: truncation, flipped bytes, inserted and deleted runs.
std::vector<uint8_t> mutate(const std::vector<uint8_t>& b, std::mt19937& rng) {
  std::vector<uint8_t> m = b;
  switch (rng() % 4) {
    case 0: m.resize(1 + rng() % (m.size() - 1)); break;
    case 1:
      for (int k = 1 + int(rng() % 16); k > 0; --k) m[rng() % m.size()] ^= uint8_t(1 + rng() % 255);
      break;
    case 2: {
      const size_t at = rng() % m.size();
      std::vector<uint8_t> junk(1 + rng() % 64);
      for (uint8_t& j : junk) j = uint8_t(rng());
      if (rng() % 2) junk[0] = 0xff;  // often a marker-like byte
      m.insert(m.begin() + std::ptrdiff_t(at), junk.begin(), junk.end());
      break;
    }
    default: {
      const size_t at = rng() % m.size();
      const size_t len = std::min(m.size() - at, size_t(1 + rng() % 256));
      m.erase(m.begin() + std::ptrdiff_t(at), m.begin() + std::ptrdiff_t(at + len));
      if (m.empty()) m.push_back(0);
    }
  }
  return m;
}

TEST(DecodeState, ThousandsOfValidAndMutatedBuffersInRandomOrderOnAThreadPool) {
  // Small pictures (so the run is quick) in every format; one in three buffers is valid.
  std::mt19937 rng(2026);
  std::vector<std::vector<uint8_t>> originals;
  for (const std::string& ext : kFormats) {
    for (uint32_t seed = 0; seed < 4; ++seed) {
      const int w = 96 + int(rng() % 96), h = 80 + int(rng() % 96);
      originals.push_back(encode_as(test::synthetic_photo(w, h, 500 + seed), ext));
    }
  }
  struct Item {
    std::vector<uint8_t> bytes;
    int original = -1;  // index into originals when the buffer is valid
  };
  std::vector<Item> items;
  for (int i = 0; i < 2400; ++i) {
    const int o = int(rng() % originals.size());
    if (i % 3 == 0) {
      items.push_back({originals[size_t(o)], o});
    } else {
      items.push_back({mutate(originals[size_t(o)], rng), -1});
    }
  }
  std::vector<std::string> fresh_valid;
  for (const auto& b : originals) fresh_valid.push_back(fresh_outcome(b, HashMode::kFast));

  // Each buffer's outcome on a pool of 4 threads, twice, in two different random orders.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<std::string> got(items.size());
    parallel_for(order.size(), 4, [&](size_t k) {
      got[order[k]] = outcome(items[order[k]].bytes, HashMode::kFast);
    });
    int valid_checked = 0, mutated_failed = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].original >= 0) {
        ASSERT_EQ(got[i], fresh_valid[size_t(items[i].original)]) << "buffer " << i << " pass " << pass;
        ++valid_checked;
      } else if (got[i].rfind("error: ", 0) == 0) {
        ++mutated_failed;
      }
    }
    EXPECT_EQ(valid_checked, 800);
    EXPECT_GT(mutated_failed, 400);  // the mutations do break most files
  }
  // A sample of the mutated buffers gives, in the pool, exactly what a fresh thread gives.
  std::vector<std::string> pooled(items.size());
  parallel_for(items.size(), 4, [&](size_t i) { pooled[i] = outcome(items[i].bytes, HashMode::kFast); });
  for (size_t i = 1; i < items.size(); i += 7) {
    EXPECT_EQ(pooled[i], fresh_outcome(items[i].bytes, HashMode::kFast)) << "buffer " << i;
  }
}

}  // namespace
}  // namespace imprint
