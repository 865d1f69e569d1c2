// JPEG through TurboJPEG: full-size RGB for exact hashing, DCT-domain scaled luma for the fast path.
#include <turbojpeg.h>

#include <cstring>
#include <memory>

#include "decode_internal.h"

namespace imprint::detail {
namespace {

// A decompressor for one call. TurboJPEG handles carry state from one image to the next: after a
// failed header or decode the next call on the same handle fails with the old error ("Bogus
// Huffman table definition" on a valid file), and libjpeg keeps Huffman and quantisation tables
// across images, so a file that omits its own would be decoded with the previous file's. A fresh
// handle makes every decode a function of its bytes alone, and costs about 0.5 us (measured
// here: 100,000 tjInitDecompress + tjDestroy pairs), against hundreds of microseconds for the
// smallest thumbnail decode.
class TjDecompressor {
 public:
  TjDecompressor() : handle_(tjInitDecompress()) {}
  ~TjDecompressor() {
    if (handle_) tjDestroy(handle_);
  }
  TjDecompressor(const TjDecompressor&) = delete;
  TjDecompressor& operator=(const TjDecompressor&) = delete;
  tjhandle get() const { return handle_; }

 private:
  tjhandle handle_;
};

// The smallest power-of-two scale (1/8 .. 1/1) whose shorter side stays >= min_side.
tjscalingfactor pick_scale(int w, int h, int min_side) {
  tjscalingfactor best{1, 1};
  if (min_side <= 0) return best;
  for (int denom : {2, 4, 8}) {
    tjscalingfactor sf{1, denom};
    if (std::min(TJSCALED(w, sf), TJSCALED(h, sf)) >= min_side) best = sf;
  }
  return best;
}

}  // namespace

Result<ImageInfo> probe_jpeg_header(std::span<const uint8_t> b) {
  const TjDecompressor decompressor;
  tjhandle tj = decompressor.get();
  if (!tj) return internal_error("cannot start the JPEG decoder");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  const int rc =
      tjDecompressHeader3(tj, b.data(), (unsigned long)b.size(), &w, &h, &subsamp, &colorspace);
  // A file that ends before its frame header is not always an error to TurboJPEG 2.1: it answers
  // 0 with "Premature end of JPEG file" and leaves the size unset (found by image_probe_fuzzer).
  if (rc != 0 || w <= 0 || h <= 0) {
    return invalid_argument(std::string("unreadable JPEG header (") + tjGetErrorStr2(tj) + ")");
  }
  return ImageInfo{ImageFormat::kJpeg, w, h};
}

Result<Image> decode_jpeg(std::span<const uint8_t> b, const DecodeOptions& o, const ImageInfo& info) {
  const TjDecompressor decompressor;
  tjhandle tj = decompressor.get();
  if (!tj) return internal_error("cannot start the JPEG decoder");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, b.data(), (unsigned long)b.size(), &w, &h, &subsamp, &colorspace) !=
      0) {
    return invalid_argument(std::string("unreadable JPEG header (") + tjGetErrorStr2(tj) + ")");
  }
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const bool grey_source = colorspace == TJCS_GRAY;
  const tjscalingfactor sf = pick_scale(w, h, o.jpeg_min_side);
  const int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);

  int pixel_format = TJPF_RGB, channels = 3;
  if (grey_source || (o.jpeg_grey && !cmyk)) {
    pixel_format = TJPF_GRAY;
    channels = 1;
  } else if (cmyk) {
    pixel_format = TJPF_CMYK;
    channels = 4;
  }
  std::vector<uint8_t> buf(size_t(sw) * sh * channels);
  // LIMITSCANS refuses progressive files with absurd scan counts (a CPU bomb).
  const int flags = TJFLAG_LIMITSCANS;
  if (tjDecompress2(tj, b.data(), (unsigned long)b.size(), buf.data(), sw, 0, sh, pixel_format,
                    flags) != 0) {
    const std::string msg = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING) {
      return invalid_argument("corrupt JPEG data (" + msg + ")");
    }
    // Warnings leave usable pixels, except a premature end: the rest of the image is grey fill.
    if (msg.find("Premature end") != std::string::npos) {
      return invalid_argument("truncated JPEG data (" + msg + ")");
    }
  }

  Image img(sw, sh, channels == 1 ? 1 : 3);
  if (!cmyk) {
    img.pixels = std::move(buf);
  } else {
    // Adobe writes CMYK inverted (as nearly every CMYK JPEG in the wild is), so the stored values
    // are already 255 - ink and R = C' * K' / 255.
    const uint8_t* s = buf.data();
    uint8_t* d = img.pixels.data();
    for (size_t i = 0, n = size_t(sw) * sh; i < n; ++i, s += 4, d += 3) {
      d[0] = uint8_t((s[0] * s[3] + 127) / 255);
      d[1] = uint8_t((s[1] * s[3] + 127) / 255);
      d[2] = uint8_t((s[2] * s[3] + 127) / 255);
    }
  }
  if (o.apply_exif_orientation) img = apply_orientation(img, exif_orientation(b));
  return img;
}

}  // namespace imprint::detail
