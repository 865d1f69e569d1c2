// Files and text an attacker controls: a FIFO where an image should be, TIFF headers that say two
// things, captions cut in the middle of a character (issue 21 items 9 and 13).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <utility>
#include <vector>

#include "decode.h"
#include "test_support.h"
#include "text.h"

namespace imprint {
namespace {

TEST(ReadFile, RefusesAFifoWithoutBlocking) {
  test::TempDir dir;
  const std::string fifo = dir.file("pipe.jpg");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto read = std::async(std::launch::async, [&] { return read_file(fifo, 1 << 20); });
  if (read.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // Unblock the reader so the test can end, then fail.
    const int w = ::open(fifo.c_str(), O_WRONLY);
    if (w >= 0) ::close(w);
    read.wait();
    FAIL() << "read_file blocked on a FIFO";
  }
  Result<std::vector<uint8_t>> r = read.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a regular file"), std::string::npos) << r.status().message();
}

// A little-endian TIFF whose first directory names ImageWidth and ImageLength twice: libtiff takes
// the first of each, so a probe that kept the last would wave a 40000 x 40000 image through.
std::vector<uint8_t> tiff_with_duplicate_size_tags(uint32_t first, uint32_t second) {
  std::vector<uint8_t> b = {'I', 'I', 42, 0, 8, 0, 0, 0};
  auto u16 = [&](uint32_t v) {
    b.push_back(uint8_t(v));
    b.push_back(uint8_t(v >> 8));
  };
  auto u32 = [&](uint32_t v) {
    u16(v & 0xffff);
    u16(v >> 16);
  };
  const std::pair<uint32_t, uint32_t> tags[] = {{256, first}, {256, second}, {257, first}, {257, second}};
  u16(4);
  for (const auto& [tag, value] : tags) {
    u16(tag);
    u16(4);  // LONG
    u32(1);
    u32(value);
  }
  u32(0);  // no next directory
  return b;
}

TEST(ImageProbe, DuplicatedTiffSizeTagsDoNotPassThePixelLimit) {
  const std::vector<uint8_t> tiff = tiff_with_duplicate_size_tags(40000, 10);
  Result<ImageInfo> info = probe_image(tiff);
  if (info.ok()) {
    // If the probe answers at all, it answers what the decoder will use.
    EXPECT_EQ(info->width, 40000);
    EXPECT_EQ(info->height, 40000);
  }
  DecodeOptions d;
  d.max_pixels = 1'000'000;
  Result<Image> img = decode_image(tiff, d);
  ASSERT_FALSE(img.ok());
  EXPECT_TRUE(img.status().code() == StatusCode::kResourceExhausted ||
              img.status().code() == StatusCode::kInvalidArgument)
      << img.status().to_string();
  EXPECT_TRUE(img.status().message().find("TIFF") != std::string::npos ||
              img.status().message().find("pixels") != std::string::npos)
      << img.status().message();
}

// Found by fuzz/image_probe_fuzzer: TurboJPEG answers "success" for a JPEG that ends before its
// frame header ("Premature end of JPEG file") and leaves the size unset, so the probe answered a
// 0x0 image instead of an error.
TEST(ImageProbe, AJpegThatEndsBeforeItsFrameHeaderHasNoSize) {
  const std::vector<uint8_t> jpeg = {0xff, 0xd8, 0xff, 0x00, 0x00, 0x00};
  Result<ImageInfo> info = probe_image(jpeg);
  ASSERT_FALSE(info.ok()) << info->width << "x" << info->height;
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("JPEG"), std::string::npos) << info.status().message();
  EXPECT_FALSE(decode_image(jpeg).ok());
}

// Whatever the format, an answer from the probe is a size of at least 1x1.
TEST(ImageProbe, HeadersThatDeclareNoPixelsAreRefused) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                              'I',  'H', 'D', 'R', 0,     0,     0,    0,    0, 0, 0, 7};
  std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 5, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> bmp_core(26, 0);  // BITMAPCOREHEADER (12 bytes) of width 3, height 0
  bmp_core[0] = 'B';
  bmp_core[1] = 'M';
  bmp_core[14] = 12;
  bmp_core[18] = 3;
  for (const auto& [name, bytes] : {std::pair<const char*, const std::vector<uint8_t>&>{"png", png},
                                    {"gif", gif},
                                    {"bmp", bmp_core}}) {
    Result<ImageInfo> info = probe_image(bytes);
    ASSERT_FALSE(info.ok()) << name << ": " << info->width << "x" << info->height;
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(info.status().message().find("empty image"), std::string::npos)
        << name << ": " << info.status().message();
  }
}

TEST(Utf8, PrefixCutsOnACharacterBoundaryAndReplacesBadBytes) {
  EXPECT_TRUE(is_valid_utf8("Ünïcödé ✓ 🎨"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("a\xc3"));                  // truncated sequence
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));               // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));           // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));       // past U+10FFFF
  // "é" is two bytes: a 4-byte cut of "abcé" keeps "abc", not half of é.
  EXPECT_EQ(utf8_prefix("abc\xc3\xa9", 4), "abc");
  EXPECT_EQ(utf8_prefix("abc\xc3\xa9", 5), "abc\xc3\xa9");
  EXPECT_EQ(utf8_prefix("\xf0\x9f\x8e\xa8\xf0\x9f\x8e\xa8", 7), "\xf0\x9f\x8e\xa8");
  // Bytes that are not UTF-8 become U+FFFD, and the result still fits.
  const std::string cleaned = utf8_prefix("a\xff" "b", 100);
  EXPECT_EQ(cleaned, "a\xef\xbf\xbd" "b");
  const std::string cut = utf8_prefix(std::string(999, 'x') + "\xff\xff", 1000);
  EXPECT_TRUE(is_valid_utf8(cut));
  EXPECT_LE(cut.size(), 1000u);
}

}  // namespace
}  // namespace imprint
