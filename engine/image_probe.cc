// Format sniffing and header-only size probes, so limits are enforced before any decoding.
#include <webp/decode.h>

#include <cstring>
#include <string>

#include "decode.h"
#include "decode_internal.h"

namespace imprint {
namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | p[2] << 16 | p[1] << 8 | p[0]; }
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

bool starts_with(std::span<const uint8_t> b, const char* magic, size_t n, size_t at = 0) {
  return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
}


Result<ImageInfo> probe_png(std::span<const uint8_t> b) {
  // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4).
  if (b.size() < 24 || std::memcmp(b.data() + 12, "IHDR", 4) != 0) {
    return invalid_argument("truncated PNG header");
  }
  return ImageInfo{ImageFormat::kPng, int(be32(b.data() + 16) & 0x7fffffff),
                   int(be32(b.data() + 20) & 0x7fffffff)};
}

Result<ImageInfo> probe_gif(std::span<const uint8_t> b) {
  if (b.size() < 10) return invalid_argument("truncated GIF header");
  return ImageInfo{ImageFormat::kGif, le16(b.data() + 6), le16(b.data() + 8)};
}

Result<ImageInfo> probe_bmp(std::span<const uint8_t> b) {
  if (b.size() < 26) return invalid_argument("truncated BMP header");
  const uint32_t dib = le32(b.data() + 14);
  if (dib == 12) return ImageInfo{ImageFormat::kBmp, le16(b.data() + 18), le16(b.data() + 20)};
  const int32_t w = int32_t(le32(b.data() + 18)), h = int32_t(le32(b.data() + 22));
  if (w <= 0 || h == 0 || h == INT32_MIN) return invalid_argument("BMP header declares no pixels");
  return ImageInfo{ImageFormat::kBmp, w, h < 0 ? -h : h};
}

Result<ImageInfo> probe_webp(std::span<const uint8_t> b) {
  int w = 0, h = 0;
  if (!WebPGetInfo(b.data(), b.size(), &w, &h)) return invalid_argument("unreadable WebP header");
  return ImageInfo{ImageFormat::kWebp, w, h};
}

// First IFD's ImageWidth (256) and ImageLength (257), each named once.
Result<ImageInfo> probe_tiff(std::span<const uint8_t> b) {
  const bool le = b[0] == 'I';
  auto u16 = [&](size_t at) -> uint32_t {
    return le ? (b[at] | b[at + 1] << 8) : (b[at] << 8 | b[at + 1]);
  };
  auto u32 = [&](size_t at) -> uint32_t {
    return le ? le32(b.data() + at) : be32(b.data() + at);
  };
  if (b.size() < 8) return invalid_argument("truncated TIFF header");
  const uint32_t ifd = u32(4);
  if (uint64_t(ifd) + 2 > b.size()) return invalid_argument("TIFF directory is outside the file");
  const uint32_t count = u16(ifd);
  int64_t w = -1, h = -1;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = size_t(ifd) + 2 + size_t(i) * 12;
    if (e + 12 > b.size()) return invalid_argument("truncated TIFF directory");
    const uint32_t tag = u16(e), type = u16(e + 2);
    const uint32_t value = type == 3 ? u16(e + 8) : u32(e + 8);  // SHORT or LONG
    // A size tag said twice is refused: libtiff (under OpenCV) takes the first, a reader that
    // kept the last would check the pixel limit against a size the decoder never uses.
    if ((tag == 256 && w >= 0) || (tag == 257 && h >= 0)) {
      return invalid_argument("TIFF directory names the image size twice");
    }
    if (tag == 256) w = value;
    if (tag == 257) h = value;
  }
  if (w <= 0 || h <= 0) return invalid_argument("TIFF header declares no image size");
  if (w > INT32_MAX || h > INT32_MAX) return resource_exhausted("TIFF dimensions are absurd");
  return ImageInfo{ImageFormat::kTiff, int(w), int(h)};
}

}  // namespace

const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::kJpeg: return "jpeg";
    case ImageFormat::kPng: return "png";
    case ImageFormat::kWebp: return "webp";
    case ImageFormat::kBmp: return "bmp";
    case ImageFormat::kTiff: return "tiff";
    case ImageFormat::kGif: return "gif";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

ImageFormat sniff_image_format(std::span<const uint8_t> b) {
  if (starts_with(b, "\xff\xd8\xff", 3)) return ImageFormat::kJpeg;
  if (starts_with(b, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::kPng;
  if (starts_with(b, "RIFF", 4) && starts_with(b, "WEBP", 4, 8)) return ImageFormat::kWebp;
  if (starts_with(b, "GIF87a", 6) || starts_with(b, "GIF89a", 6)) return ImageFormat::kGif;
  if (starts_with(b, "BM", 2)) return ImageFormat::kBmp;
  if (starts_with(b, "II*\0", 4) || starts_with(b, "MM\0*", 4)) return ImageFormat::kTiff;
  return ImageFormat::kUnknown;
}

Result<ImageInfo> probe_image(std::span<const uint8_t> b) {
  if (b.empty()) return invalid_argument("empty input (0 bytes)");
  Result<ImageInfo> info = [&]() -> Result<ImageInfo> {
    switch (sniff_image_format(b)) {
      case ImageFormat::kJpeg: return detail::probe_jpeg_header(b);
      case ImageFormat::kPng: return probe_png(b);
      case ImageFormat::kWebp: return probe_webp(b);
      case ImageFormat::kGif: return probe_gif(b);
      case ImageFormat::kBmp: return probe_bmp(b);
      case ImageFormat::kTiff: return probe_tiff(b);
      case ImageFormat::kUnknown: break;
    }
    return invalid_argument("not an image (unrecognised signature; supported: JPEG, PNG, WebP, "
                            "GIF, BMP, TIFF)");
  }();
  // An answer is a size to check limits against: a header that declares 0 pixels (a PNG or GIF
  // of width 0, a BMP core header of height 0) has none.
  if (info.ok() && (info->width <= 0 || info->height <= 0)) {
    return invalid_argument(std::string(image_format_name(info->format)) +
                            " header declares an empty image (" + std::to_string(info->width) +
                            "x" + std::to_string(info->height) + ")");
  }
  return info;
}

}  // namespace imprint
