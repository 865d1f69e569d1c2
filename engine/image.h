// imprint::Image: decoded pixels, the input of every fingerprint.
//
// 8-bit samples, row-major, no row padding. `channels` is 1 (grey) or 3 (R, G, B in that order).
// Decoders produce exactly these two layouts: PDQ treats grey as luma directly (as Meta's
// reference does), so grey sources stay one channel instead of being expanded to RGB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace imprint {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 or 3
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}

  bool empty() const { return width <= 0 || height <= 0; }
  size_t stride() const { return size_t(width) * channels; }
  uint8_t* row(int y) { return pixels.data() + size_t(y) * stride(); }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * stride(); }
};

// Nearest-neighbour resize to exactly w x h, sampling source (floor(x*W/w), floor(y*H/h)), the
// rule of the reference PDQ command-line tool's 512x512 pre-resize.
Image resize_nearest(const Image& in, int w, int h);

}  // namespace imprint
