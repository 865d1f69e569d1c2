// imprint::ImageView: 8-bit pixels that live in someone else's buffer (a numpy array, a frame a
// caller decoded), hashed where they are instead of being copied into an Image first.
//
// `channels` is 1 (grey) or 3 (R, G, B in that order), as in Image. The samples of one pixel are
// adjacent; pixels are `pixel_stride` bytes apart and rows `row_stride` bytes apart, either of
// which may be negative (a flipped view) or larger than the packed size (a crop of a bigger
// buffer). The view owns nothing: the buffer must outlive every call that is given it.
//
// Hashing a view gives exactly the hash of an Image holding the same pixels (pdq_test).
#pragma once

#include <cstddef>
#include <cstdint>

#include "fingerprint.h"
#include "image.h"
#include "pdq.h"
#include "status.h"

namespace imprint {

struct ImageView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 or 3
  ptrdiff_t pixel_stride = 0;
  ptrdiff_t row_stride = 0;

  // A view of all of `image` (which must outlive it).
  static ImageView of(const Image& image);
  const uint8_t* pixel(int x, int y) const { return data + y * row_stride + x * pixel_stride; }
};

PdqResult pdq_hash(const ImageView& view);
PdqDihedral pdq_dihedral(const ImageView& view);

// The pixels copied into a packed Image.
Image to_image(const ImageView& view);
// Nearest-neighbour resize to exactly w x h (the rule of resize_nearest in image.h).
Image resize_nearest(const ImageView& in, int w, int h);

// fingerprint_decoded for pixels in place: kInvalidArgument unless channels is 1 or 3 and the
// sizes are positive, kResourceExhausted past HashOptions::decode.max_pixels. The pixels are not
// bytes of a file, so `sha256` and `format` stay empty; fast mode, which only changes how a JPEG
// is decoded, hashes them as exact mode does.
Result<ImageFingerprint> fingerprint_pixels(const ImageView& view, const HashOptions& o);

}  // namespace imprint
