// Decoding from memory buffers: every supported format, and hostile inputs that must fail cleanly.
#include <gif_lib.h>
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "engine.h"
#include "test_support.h"

namespace imprint {
namespace {

std::vector<uint8_t> cv_encode(const cv::Mat& m, const std::string& ext, std::vector<int> params = {}) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(cv::imencode(ext, m, out, params));
  return out;
}

TEST(Decode, JpegFromBufferEqualsOpenCvDecode) {
  const Image src = test::synthetic_photo(333, 250, 1);
  const std::vector<uint8_t> jpg = test::encode(src, ".jpg", 85);
  Result<Image> img = decode_image(jpg);
  ASSERT_TRUE(img.ok()) << img.status().to_string();
  EXPECT_EQ(img->width, 333);
  EXPECT_EQ(img->height, 250);
  ASSERT_EQ(img->channels, 3);
  cv::Mat ref = cv::imdecode(jpg, cv::IMREAD_COLOR);
  cv::cvtColor(ref, ref, cv::COLOR_BGR2RGB);
  EXPECT_EQ(0, std::memcmp(ref.data, img->pixels.data(), img->pixels.size()));
}

TEST(Decode, LosslessFormatsRoundTripExactly) {
  const Image src = test::synthetic_photo(160, 120, 2);
  for (const std::string ext : {".png", ".bmp", ".tiff"}) {
    SCOPED_TRACE(ext);
    Result<Image> img = decode_image(test::encode(src, ext));
    ASSERT_TRUE(img.ok()) << img.status().to_string();
    EXPECT_EQ(img->channels, 3);
    EXPECT_EQ(img->pixels, src.pixels);
  }
  const cv::Mat rgb(src.height, src.width, CV_8UC3, const_cast<uint8_t*>(src.pixels.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  Result<Image> webp = decode_image(cv_encode(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101}));
  ASSERT_TRUE(webp.ok()) << webp.status().to_string();
  EXPECT_EQ(webp->pixels, src.pixels);  // quality > 100 is lossless WebP
}

TEST(Decode, GreyStaysOneChannel) {
  cv::Mat grey(50, 70, CV_8UC1);
  cv::randu(grey, 0, 255);
  for (const std::string ext : {".png", ".jpg"}) {
    Result<Image> img = decode_image(cv_encode(grey, ext));
    ASSERT_TRUE(img.ok());
    EXPECT_EQ(img->channels, 1) << ext;
  }
}

TEST(Decode, SixteenBitPngScalesToEightBits) {
  cv::Mat m(10, 10, CV_16UC3, cv::Scalar(65535, 257 * 100, 0));
  Result<Image> img = decode_image(cv_encode(m, ".png"));
  ASSERT_TRUE(img.ok()) << img.status().to_string();
  EXPECT_EQ(img->pixels[0], 0);    // R (OpenCV stores BGR)
  EXPECT_EQ(img->pixels[1], 100);  // G
  EXPECT_EQ(img->pixels[2], 255);  // B
}

TEST(Decode, AlphaIsCompositedOnWhiteOrIgnoredOnRequest) {
  cv::Mat m(4, 4, CV_8UC4, cv::Scalar(0, 0, 200, 0));  // red-ish, fully transparent
  m.at<cv::Vec4b>(0, 0) = cv::Vec4b(0, 0, 200, 255);     // one opaque pixel
  m.at<cv::Vec4b>(0, 1) = cv::Vec4b(0, 0, 200, 128);     // one half-transparent pixel
  const auto png = cv_encode(m, ".png");
  Result<Image> white = decode_image(png);
  ASSERT_TRUE(white.ok());
  ASSERT_EQ(white->channels, 3);
  EXPECT_EQ(white->pixels[0], 200);  // opaque: as stored
  EXPECT_EQ(white->pixels[1], 0);
  EXPECT_EQ(white->pixels[3], (200 * 128 + 255 * 127 + 127) / 255);  // half: blended
  EXPECT_EQ(white->pixels[4], (255 * 127 + 127) / 255);
  EXPECT_EQ(white->pixels[6], 255);  // transparent: white
  DecodeOptions ignore;
  ignore.alpha = AlphaMode::kIgnore;
  Result<Image> raw = decode_image(png, ignore);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->pixels[6], 200);  // stored colour under the transparency
}

TEST(Decode, PaletteAndOneBitPngsFromTheReferenceSet) {
  const std::string dir = test::shared_dir() + "/pdq-reference/images/misc-images/modes/";
  Result<Image> p = decode_file(dir + "P.png");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->channels, 3);
  Result<Image> one = decode_file(dir + "1.png");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->channels, 1);
  for (uint8_t v : one->pixels) ASSERT_TRUE(v == 0 || v == 255);
}

// A 3x2 GIF with a 4-colour map; colour 3 is transparent.
std::vector<uint8_t> make_gif(bool interlace) {
  std::vector<uint8_t> out;
  auto write = [](GifFileType* g, const GifByteType* data, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(g->UserData);
    v->insert(v->end(), data, data + n);
    return n;
  };
  int err = 0;
  GifFileType* g = EGifOpen(&out, write, &err);
  GifColorType colours[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 9, 9}};
  ColorMapObject* cmap = GifMakeMapObject(4, colours);
  EGifSetGifVersion(g, true);
  EGifPutScreenDesc(g, 3, 2, 2, 0, cmap);
  GraphicsControlBlock gcb{};
  gcb.TransparentColor = 3;
  GifByteType ext[4];
  const size_t n = EGifGCBToExtension(&gcb, ext);
  EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, int(n), ext);
  EGifPutImageDesc(g, 0, 0, 3, 2, interlace, nullptr);
  GifPixelType row0[3] = {0, 1, 2}, row1[3] = {3, 0, 1};
  EGifPutLine(g, row0, 3);
  EGifPutLine(g, row1, 3);
  EGifCloseFile(g, &err);
  GifFreeMapObject(cmap);
  return out;
}

TEST(Decode, GifFirstFrameWithTransparencyOverWhite) {
  Result<Image> img = decode_image(make_gif(false));
  ASSERT_TRUE(img.ok()) << img.status().to_string();
  ASSERT_EQ(img->width, 3);
  ASSERT_EQ(img->height, 2);
  const std::vector<uint8_t> expect = {255, 0, 0, 0, 255, 0, 0, 0, 255,
                                       255, 255, 255, 255, 0, 0, 0, 255, 0};
  EXPECT_EQ(img->pixels, expect);
}

TEST(DecodeHostile, EmptyInput) {
  Result<Image> r = decode_image({});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("empty"), std::string::npos);
}

TEST(DecodeHostile, TextFileIsNotAnImage) {
  const std::string text = "this is not a picture\n";
  Result<Image> r = decode_image(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not an image"), std::string::npos);
}

TEST(DecodeHostile, TruncatedJpegPngWebpGifAreErrors) {
  const Image src = test::synthetic_photo(400, 300, 4);
  for (const std::string ext : {".jpg", ".png", ".webp"}) {
    SCOPED_TRACE(ext);
    std::vector<uint8_t> b = test::encode(src, ext);
    b.resize(b.size() / 2);
    Result<Image> r = decode_image(b);
    ASSERT_FALSE(r.ok());
    if (ext == ".jpg") {
      EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
    }
  }
  std::vector<uint8_t> gif = make_gif(false);
  gif.resize(gif.size() - 6);
  EXPECT_FALSE(decode_image(gif).ok());
  // Header only: a JPEG cut right after its start marker.
  std::vector<uint8_t> jpg = test::encode(src, ".jpg");
  jpg.resize(4);
  EXPECT_FALSE(decode_image(jpg).ok());
}

TEST(DecodeHostile, OnePixelImageDecodesAndHashesAsWeak) {
  cv::Mat one(1, 1, CV_8UC3, cv::Scalar(10, 20, 30));
  Result<ImageFingerprint> fp = fingerprint_image(cv_encode(one, ".png"), HashOptions{});
  ASSERT_TRUE(fp.ok()) << fp.status().to_string();
  EXPECT_EQ(fp->pdq.quality, 0);
  EXPECT_EQ(fp->width, 1);
}

TEST(DecodeHostile, DecompressionBombRefusedFromHeader) {
  // A PNG header declaring 100000 x 100000 pixels and nothing behind it: refused before decoding.
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                              'I', 'H', 'D', 'R', 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0};
  Result<Image> r = decode_image(png);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("100000x100000"), std::string::npos);
  EXPECT_NE(r.status().message().find("decompression bomb"), std::string::npos);

  // A real JPEG over a configured limit.
  DecodeOptions small;
  small.max_pixels = 100'000;
  const auto jpg = test::encode(test::synthetic_photo(400, 300, 5), ".jpg");
  Result<Image> j = decode_image(jpg, small);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kResourceExhausted);
  // A GIF whose screen is huge.
  std::vector<uint8_t> gif = make_gif(false);
  gif[6] = gif[7] = gif[8] = gif[9] = 0xff;  // 65535 x 65535 logical screen
  EXPECT_EQ(decode_image(gif).status().code(), StatusCode::kResourceExhausted);
}

// Garbage behind a valid signature either fails or decodes to a well-formed image: one or three
// channels, exactly width x height x channels samples, within the pixel limit, the size its
// header declares, and the same pixels on a second decode (no uninitialised memory, no state
// kept between calls). A valid file decoded after each one is unchanged.
TEST(DecodeHostile, RandomGarbageAfterValidSignaturesFailsOrDecodesWellFormed) {
  std::mt19937 rng(42);
  const std::vector<std::vector<uint8_t>> heads = {
      {0xff, 0xd8, 0xff}, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, {'G', 'I', 'F', '8', '9', 'a'},
      {'B', 'M'}, {'I', 'I', '*', 0}, {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'}};
  const std::vector<uint8_t> valid = test::encode(test::synthetic_photo(96, 72, 6), ".jpg", 80);
  const Result<Image> reference = decode_image(valid);
  ASSERT_TRUE(reference.ok());
  DecodeOptions o;
  o.max_pixels = 1'000'000;
  // Pure garbage never decodes; valid files with bytes flipped past their headers often do, so
  // half the inputs are those and the checks on a decoded image run.
  const Image photo = test::synthetic_photo(64, 48, 7);
  std::vector<std::vector<uint8_t>> files;
  for (const char* ext : {".jpg", ".png", ".webp", ".bmp", ".tiff"})
    files.push_back(test::encode(photo, ext));
  files.push_back(test::encode_gif(photo));
  int decoded = 0;
  for (int i = 0; i < 600; ++i) {
    std::vector<uint8_t> b;
    if (i < 300) {
      b = heads[i % heads.size()];
      const size_t extra = rng() % 400;
      for (size_t k = 0; k < extra; ++k) b.push_back(uint8_t(rng()));
    } else {
      b = files[i % files.size()];
      const size_t flips = 1 + rng() % 4;
      for (size_t k = 0; k < flips; ++k)
        b[b.size() / 4 + rng() % (b.size() - b.size() / 4)] ^= uint8_t(1 + rng() % 255);
    }
    SCOPED_TRACE("input " + std::to_string(i) + ", " + std::to_string(b.size()) + " bytes");
    ImageInfo info;
    Result<Image> r = decode_image(b, o, &info);
    Result<Image> again = decode_image(b, o);
    ASSERT_EQ(r.ok(), again.ok());
    if (r.ok()) {
      ++decoded;
      EXPECT_FALSE(r->empty());
      EXPECT_TRUE(r->channels == 1 || r->channels == 3) << r->channels;
      EXPECT_EQ(r->pixels.size(), size_t(r->width) * size_t(r->height) * size_t(r->channels));
      EXPECT_LE(int64_t(r->width) * r->height, o.max_pixels);
      EXPECT_EQ(r->width, info.width);
      EXPECT_EQ(r->height, info.height);
      EXPECT_EQ(again->width, r->width);
      EXPECT_EQ(again->height, r->height);
      EXPECT_TRUE(again->pixels == r->pixels) << "two decodes of the same bytes differ";
    } else {
      EXPECT_EQ(r.status().code(), again.status().code());
      EXPECT_FALSE(r.status().message().empty());
    }
    Result<Image> after = decode_image(valid);
    ASSERT_TRUE(after.ok()) << after.status().to_string();
    EXPECT_TRUE(after->pixels == reference->pixels)
        << "a valid JPEG decodes differently after garbage";
  }
  std::printf("%d of 600 hostile inputs decoded\n", decoded);
  EXPECT_GT(decoded, 30);  // the checks above ran
}

// Inserts an APP1 Exif segment holding only an orientation tag right after the JPEG's SOI.
std::vector<uint8_t> with_orientation(const std::vector<uint8_t>& jpg, int orientation) {
  const std::vector<uint8_t> tiff = {'I', 'I', 42, 0, 8, 0, 0, 0,  // little-endian, IFD at 8
                                     1, 0,                          // one entry
                                     0x12, 0x01, 3, 0, 1, 0, 0, 0,  // 0x0112 SHORT x1
                                     uint8_t(orientation), 0, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> seg = {'E', 'x', 'i', 'f', 0, 0};
  seg.insert(seg.end(), tiff.begin(), tiff.end());
  const size_t len = seg.size() + 2;
  std::vector<uint8_t> out(jpg.begin(), jpg.begin() + 2);
  out.insert(out.end(), {0xff, 0xe1, uint8_t(len >> 8), uint8_t(len & 0xff)});
  out.insert(out.end(), seg.begin(), seg.end());
  out.insert(out.end(), jpg.begin() + 2, jpg.end());
  return out;
}

TEST(Decode, ExifOrientationIgnoredByDefaultAppliedOnRequest) {
  // Orientation 6 means "rotate 90 degrees clockwise to view": store the upright picture turned
  // counter-clockwise, as a phone held sideways does.
  const Image upright = test::synthetic_photo(320, 200, 21);
  Image stored(upright.height, upright.width, 3);
  for (int y = 0; y < stored.height; ++y) {
    for (int x = 0; x < stored.width; ++x) {
      std::memcpy(stored.row(y) + x * 3, upright.row(x) + (upright.width - 1 - y) * 3, 3);
    }
  }
  const std::vector<uint8_t> jpg = with_orientation(test::encode(stored, ".jpg", 95), 6);
  EXPECT_EQ(exif_orientation(jpg), 6);
  HashOptions plain, apply;
  apply.decode.apply_exif_orientation = true;
  Result<ImageFingerprint> raw = fingerprint_image(jpg, plain);
  Result<ImageFingerprint> fixed = fingerprint_image(jpg, apply);
  ASSERT_TRUE(raw.ok() && fixed.ok());
  const PdqHash want = pdq_hash(upright).hash;
  EXPECT_LE(fixed->pdq.hash.distance(want), 16);
  EXPECT_GT(raw->pdq.hash.distance(want), 64);
  Result<Image> img = decode_image(jpg, apply.decode);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->width, 320);
  EXPECT_EQ(img->height, 200);

  // The reference photos carry orientations 1, 3, 6 and 8 in their EXIF.
  const std::string dir = test::shared_dir() + "/pdq-reference/images/reg-test-input/exif-rotn/";
  for (int n : {1, 3, 6, 8}) {
    EXPECT_EQ(exif_orientation(test::read_all(dir + "exif-rotn-" + std::to_string(n) + ".jpg")), n);
  }
}

}  // namespace
}  // namespace imprint
