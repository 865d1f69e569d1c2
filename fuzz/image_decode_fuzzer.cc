// libFuzzer target: the whole image decode (every format, the full and the fast JPEG paths) on
// hostile bytes. Each input must give a Result, never a crash, a hang or an allocation by what a
// header claims; a decoded image must be as large as it says; and, the property the corrupt-JPEG
// bug broke, a valid JPEG decoded right after the hostile input, on the same thread, must come out
// exactly as it did before any hostile input was seen. Built by -DIMPRINT_FUZZ=ON with clang
// (scripts/fuzz.sh); replayed on its seeds by every test build.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "decode.h"

namespace {

// The two decoders' settings the pipelines use: full decoding with the EXIF orientation (query,
// register) and the fast scaled luma JPEG path (scan). Small pixel limits keep a run's memory
// bounded; the limit is what is being tested, not the size.
imprint::DecodeOptions options_for(int mode) {
  imprint::DecodeOptions o;
  o.max_pixels = 4'000'000;
  o.max_bytes = 1 << 20;
  if (mode == 0) {
    o.apply_exif_orientation = true;
  } else {
    o.jpeg_min_side = 16;
    o.jpeg_grey = true;
  }
  return o;
}

// A valid 64 x 48 colour JPEG (a gradient, so every DCT block differs) and its decodes in both
// modes before any hostile input.
struct Reference {
  std::vector<uint8_t> jpeg;
  imprint::Image decoded[2];
};

const Reference& reference() {
  static const Reference ref = [] {
    Reference r;
    cv::Mat bgr(48, 64, CV_8UC3);
    for (int y = 0; y < bgr.rows; ++y) {
      for (int x = 0; x < bgr.cols; ++x) {
        bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(x * 4), uint8_t(y * 5), uint8_t((x + y) * 2));
      }
    }
    cv::imencode(".jpg", bgr, r.jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
    for (int mode = 0; mode < 2; ++mode) {
      imprint::Result<imprint::Image> d = imprint::decode_image(r.jpeg, options_for(mode));
      if (!d.ok()) __builtin_trap();
      r.decoded[mode] = std::move(*d);
    }
    return r;
  }();
  return ref;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Reference& ref = reference();
  const std::span<const uint8_t> bytes(data, size);
  for (int mode = 0; mode < 2; ++mode) {
    imprint::Result<imprint::Image> img = imprint::decode_image(bytes, options_for(mode));
    if (img.ok()) {
      const imprint::Image& i = *img;
      if (i.width <= 0 || i.height <= 0 || (i.channels != 1 && i.channels != 3)) __builtin_trap();
      if (i.pixels.size() != size_t(i.width) * size_t(i.height) * size_t(i.channels)) {
        __builtin_trap();
      }
      if (int64_t(i.width) * i.height > 4'000'000) __builtin_trap();  // past the pixel limit
    }
    // The decoder this thread keeps is as good as new.
    imprint::Result<imprint::Image> again = imprint::decode_image(ref.jpeg, options_for(mode));
    if (!again.ok() || again->width != ref.decoded[mode].width ||
        again->height != ref.decoded[mode].height ||
        again->pixels != ref.decoded[mode].pixels) {
      __builtin_trap();
    }
  }
  return 0;
}
