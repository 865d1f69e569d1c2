// Internal: per-format decoders behind decode_image(). Each receives bytes whose header has
// already been probed and checked against the limits.
#pragma once

#include <span>

#include "decode.h"

namespace imprint::detail {

Result<Image> decode_jpeg(std::span<const uint8_t> bytes, const DecodeOptions& o,
                          const ImageInfo& info);
// The JPEG header's size and whether it is readable, on this thread's decompressor (creating a
// TurboJPEG handle costs more than reading a header).
Result<ImageInfo> probe_jpeg_header(std::span<const uint8_t> bytes);
Result<Image> decode_gif(std::span<const uint8_t> bytes, const DecodeOptions& o,
                         const ImageInfo& info);
// PNG, WebP, BMP, TIFF through OpenCV.
Result<Image> decode_with_opencv(std::span<const uint8_t> bytes, const DecodeOptions& o,
                                 const ImageInfo& info);

// Blends (or drops) an alpha channel: `src` has `channels` interleaved samples per pixel with alpha
// last (2: grey+alpha, 4: RGBA); the result is grey or RGB.
Image flatten_alpha(const uint8_t* src, int width, int height, int channels, AlphaMode mode);

}  // namespace imprint::detail
