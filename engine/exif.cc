// EXIF orientation: a bounded reader of the JPEG APP1 TIFF header, and the eight orientations.
#include <cstring>

#include "decode.h"

namespace imprint {

int exif_orientation(std::span<const uint8_t> b) {
  // Walk the JPEG markers up to the first scan, looking for APP1 "Exif\0\0".
  size_t at = 2;
  while (at + 4 <= b.size() && b[at] == 0xff) {
    const uint8_t marker = b[at + 1];
    if (marker == 0xda || marker == 0xd9) break;  // start of scan, end of image
    const size_t len = size_t(b[at + 2]) << 8 | b[at + 3];
    if (len < 2 || at + 2 + len > b.size()) break;
    const uint8_t* seg = b.data() + at + 4;
    const size_t seg_len = len - 2;
    if (marker == 0xe1 && seg_len >= 14 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      const uint8_t* t = seg + 6;
      const size_t n = seg_len - 6;
      const bool le = t[0] == 'I';
      auto u16 = [&](size_t p) -> uint32_t { return le ? t[p] | t[p + 1] << 8 : t[p] << 8 | t[p + 1]; };
      auto u32 = [&](size_t p) -> uint32_t {
        return le ? uint32_t(t[p]) | t[p + 1] << 8 | t[p + 2] << 16 | uint32_t(t[p + 3]) << 24
                  : uint32_t(t[p]) << 24 | t[p + 1] << 16 | t[p + 2] << 8 | t[p + 3];
      };
      const uint32_t ifd = u32(4);
      if (uint64_t(ifd) + 2 > n) return 1;
      const uint32_t count = u16(ifd);
      for (uint32_t i = 0; i < count; ++i) {
        const size_t e = size_t(ifd) + 2 + size_t(i) * 12;
        if (e + 12 > n) return 1;
        if (u16(e) == 0x0112) {
          const uint32_t v = u16(e + 8);
          return v >= 1 && v <= 8 ? int(v) : 1;
        }
      }
      return 1;
    }
    at += 2 + len;
  }
  return 1;
}

Image apply_orientation(const Image& in, int orientation) {
  if (orientation <= 1 || orientation > 8) return in;
  const bool swap = orientation >= 5;  // 5..8 transpose the axes
  Image out(swap ? in.height : in.width, swap ? in.width : in.height, in.channels);
  const int c = in.channels;
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = 0, sy = 0;
      switch (orientation) {
        case 2: sx = in.width - 1 - x; sy = y; break;                   // mirror
        case 3: sx = in.width - 1 - x; sy = in.height - 1 - y; break;   // rotate 180
        case 4: sx = x; sy = in.height - 1 - y; break;                  // flip vertical
        case 5: sx = y; sy = x; break;                                  // transpose
        case 6: sx = y; sy = in.height - 1 - x; break;                  // rotate 90 CW
        case 7: sx = in.width - 1 - y; sy = in.height - 1 - x; break;   // transverse
        case 8: sx = in.width - 1 - y; sy = x; break;                   // rotate 270 CW
      }
      std::memcpy(out.row(y) + size_t(x) * c, in.row(sy) + size_t(sx) * c, c);
    }
  }
  return out;
}

}  // namespace imprint
