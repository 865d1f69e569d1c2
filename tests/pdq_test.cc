// PDQ behaviour beyond the reference vectors: hex, distance, weak hashes, dihedral derivation.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "engine.h"
#include "image_view.h"
#include "test_support.h"

namespace imprint {
namespace {

TEST(PdqHash, HexReadsEitherCaseAndWritesLowercase) {
  const std::string lower = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
  std::string upper = lower;
  for (char& c : upper) c = char(std::toupper(c));
  Result<PdqHash> a = PdqHash::from_hex(lower), b = PdqHash::from_hex(upper);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(b->to_hex(), lower);
}

TEST(PdqHash, HexRejectsWrongLengthAndNonHex) {
  EXPECT_EQ(PdqHash::from_hex("abc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PdqHash::from_hex(std::string(65, 'a')).status().code(), StatusCode::kInvalidArgument);
  std::string bad(64, '0');
  bad[10] = 'g';
  Result<PdqHash> r = PdqHash::from_hex(bad);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("position 11"), std::string::npos);
}

TEST(Sha256Hex, RoundTripsAndRejectsWhatStrtoulWouldTake) {
  const std::string text = "imprint";
  const Sha256 d = sha256_of(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  std::string hex = to_hex(d);
  Result<Sha256> back = sha256_from_hex(hex);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, d);
  for (char& c : hex) c = char(std::toupper(c));
  ASSERT_TRUE(sha256_from_hex(hex).ok());
  EXPECT_EQ(*sha256_from_hex(hex), d);
  EXPECT_EQ(sha256_from_hex(hex.substr(1)).status().code(), StatusCode::kInvalidArgument);
  // A sign or a space reads as a number to strtoul ("-1" is 255 in a byte, " f" is 15): here
  // they are what they are, characters that are not hex digits.
  for (const char* bad : {"-1", " f", "+f", "x0"}) {
    std::string h = to_hex(d);
    h.replace(6, 2, bad);
    Result<Sha256> r = sha256_from_hex(h);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("position 7"), std::string::npos) << r.status().message();
  }
}

TEST(PdqHash, BitOrderFollowsTheReferenceWords) {
  // Bit 0 is the lowest bit of word w[0], printed last; bit 255 is printed first.
  PdqHash h;
  h.set_bit(0);
  EXPECT_EQ(h.to_hex(), std::string(63, '0') + "1");
  PdqHash top;
  top.set_bit(255);
  EXPECT_EQ(top.to_hex(), "8" + std::string(63, '0'));
  PdqHash w1;
  w1.set_bit(16);  // w[1] bit 0: the last digit of the second-to-last group of four
  EXPECT_EQ(w1.to_hex(), std::string(59, '0') + "10000");
}

TEST(PdqHash, DistanceIsHammingAndBytesRoundTrip) {
  PdqHash a, b;
  for (int k : {0, 5, 64, 100, 200, 255}) a.set_bit(k);
  for (int k : {0, 6, 64, 255}) b.set_bit(k);
  EXPECT_EQ(a.distance(b), 4);  // 5, 100, 200 only in a; 6 only in b
  EXPECT_EQ(a.distance(a), 0);
  EXPECT_EQ(PdqHash::from_bytes(a.to_bytes().data()), a);
  EXPECT_EQ(a.to_bytes()[31] & 1, 1);  // bytes follow the hex order: bit 0 is in the last byte
}

TEST(Pdq, ImagesUnderFivePixelsAreWeakWithZeroHash) {
  for (auto [w, h] : {std::pair{4, 100}, std::pair{100, 4}, std::pair{1, 1}}) {
    const Image img = test::synthetic_photo(std::max(w, 8), std::max(h, 8), 3);
    const Image small = resize_nearest(img, w, h);
    const PdqResult r = pdq_hash(small);
    EXPECT_EQ(r.quality, 0);
    EXPECT_EQ(r.hash, PdqHash());
    const PdqDihedral d = pdq_dihedral(small);
    EXPECT_EQ(d.quality, 0);
  }
  const PdqResult five = pdq_hash(resize_nearest(test::synthetic_photo(64, 64, 1), 5, 5));
  EXPECT_NE(five.hash, PdqHash());
}

TEST(Pdq, FlatImageHasQualityZeroAndPhotoHasHighQuality) {
  Image flat(300, 200, 3);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 128);
  EXPECT_EQ(pdq_hash(flat).quality, 0);
  EXPECT_LT(pdq_hash(flat).quality, kPdqMinUsefulQuality);
  EXPECT_GE(pdq_hash(test::synthetic_photo(640, 480, 7)).quality, kPdqMinUsefulQuality);
}

TEST(Pdq, HashesHaveHalfTheirBitsSet) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    const PdqResult r = pdq_hash(test::synthetic_photo(320 + seed * 17, 240, seed));
    EXPECT_EQ(r.hash.popcount(), 128);
  }
}

Image rotate90_cw(const Image& in) {
  Image out(in.height, in.width, in.channels);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      std::memcpy(out.row(y) + x * in.channels, in.row(in.height - 1 - x) + y * in.channels,
                  in.channels);
    }
  }
  return out;
}

Image mirror(const Image& in) {
  Image out(in.width, in.height, in.channels);
  for (int y = 0; y < in.height; ++y) {
    for (int x = 0; x < in.width; ++x) {
      std::memcpy(out.row(y) + x * in.channels, in.row(y) + (in.width - 1 - x) * in.channels,
                  in.channels);
    }
  }
  return out;
}

// The dihedral hashes derived from one DCT match the hash of the actually transformed image
// (not bit for bit: the reference measures 0-18 bits, as the filter is not symmetric).
TEST(Pdq, DihedralVariantsMatchTransformedImages) {
  const Image img = test::synthetic_photo(512, 384, 11);
  const PdqDihedral d = pdq_dihedral(img);
  EXPECT_EQ(d.hashes[0], pdq_hash(img).hash);
  const Image r90 = rotate90_cw(img);
  const Image r180 = rotate90_cw(r90);
  const Image r270 = rotate90_cw(r180);
  const Image fy = mirror(img);
  struct Case {
    Dihedral d;
    const Image* img;
  };
  // Rotation direction: the reference's rot90 corresponds to a 90-degree turn; whichever way it
  // turns, its hash is the nearest of the rotated images and within a few bits.
  for (const Case& c : {Case{Dihedral::kRotate180, &r180}, Case{Dihedral::kFlipY, &fy}}) {
    EXPECT_LE(d.hashes[int(c.d)].distance(pdq_hash(*c.img).hash), kPdqMatchDistance)
        << dihedral_name(c.d);
  }
  const int to90 = std::min(d.hashes[int(Dihedral::kRotate90)].distance(pdq_hash(r90).hash),
                            d.hashes[int(Dihedral::kRotate90)].distance(pdq_hash(r270).hash));
  EXPECT_LE(to90, kPdqMatchDistance);
  // And every variant is far from the original (they are different images).
  for (int i = 1; i < kDihedralCount; ++i) EXPECT_GT(d.hashes[i].distance(d.hashes[0]), 64);
}


// Pixels hashed in place (a numpy array from Python, a crop of a bigger buffer, a bottom-up
// frame) hash exactly as the same pixels packed into an Image, in every mode.
TEST(Pdq, ImageViewsWithAnyStridesHashAsThePackedImage) {
  for (int channels : {1, 3}) {
    const Image img = test::synthetic_photo(700, 530, 21);
    Image packed = img;
    if (channels == 1) {
      packed = Image(img.width, img.height, 1);
      for (size_t i = 0; i < packed.pixels.size(); ++i) packed.pixels[i] = img.pixels[i * 3 + 1];
    }
    // The same pixels inside a wider buffer: 4 bytes a pixel, rows padded, stored bottom-up.
    const int pad = 37;
    const ptrdiff_t pixel_stride = 4, row_stride = ptrdiff_t(packed.width) * 4 + pad;
    std::vector<uint8_t> buffer(size_t(row_stride) * packed.height, 0xab);
    for (int y = 0; y < packed.height; ++y) {
      uint8_t* row = buffer.data() + size_t(packed.height - 1 - y) * row_stride;
      for (int x = 0; x < packed.width; ++x) {
        std::memcpy(row + x * pixel_stride, packed.row(y) + x * channels, channels);
      }
    }
    ImageView view;
    view.data = buffer.data() + size_t(packed.height - 1) * row_stride;
    view.width = packed.width;
    view.height = packed.height;
    view.channels = channels;
    view.pixel_stride = pixel_stride;
    view.row_stride = -row_stride;
    for (HashMode mode : {HashMode::kExact, HashMode::kFast, HashMode::kReferenceCli}) {
      HashOptions o;
      o.mode = mode;
      o.dihedral = true;
      const Result<ImageFingerprint> from_view = fingerprint_pixels(view, o);
      ASSERT_TRUE(from_view.ok()) << from_view.status().message();
      const ImageFingerprint from_image = fingerprint_decoded(packed, o);
      EXPECT_EQ(from_view->pdq.hash, from_image.pdq.hash) << hash_mode_name(mode) << channels;
      EXPECT_EQ(from_view->pdq.quality, from_image.pdq.quality);
      EXPECT_EQ(from_view->dihedral, from_image.dihedral);
      EXPECT_GE(from_view->pdq.quality, kPdqMinUsefulQuality);
    }
    EXPECT_EQ(to_image(view).pixels, packed.pixels);
  }
  ImageView bad;
  bad.channels = 4;
  EXPECT_EQ(fingerprint_pixels(bad, {}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace imprint
