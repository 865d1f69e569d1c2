// Image decoding from files and memory buffers, with hostile input in mind.
//
// One entry point for bytes (the server receives bytes; files are read and passed through it).
// Every failure is a Status whose message says what is wrong in words a user can act on: "empty
// input", "not an image (unrecognised signature)", "truncated JPEG data", "image is 30000x30000
// = 900 MP, over the 100 MP limit". The format is recognised from the bytes, never the file name.
// The header's declared size is checked against DecodeOptions::max_pixels before any pixel is
// decoded, so decompression bombs cost a header read.
//
// Formats: JPEG (libjpeg-turbo, with DCT-domain downscaling on request), PNG (8/16-bit, palette,
// grey, alpha), WebP, BMP, TIFF (through OpenCV), GIF (first frame, through giflib).
//
// Orientation: EXIF orientation is ignored by default, as Meta's reference PDQ does, so our hashes
// equal everyone else's for the same file. DecodeOptions::apply_exif_orientation turns it on.
// Alpha: composited over opaque white by default (what a viewer shows on a page); AlphaMode::
// kIgnore keeps the colour channels as stored, as the reference command-line tool does.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "image.h"
#include "status.h"

namespace imprint {

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kBmp, kTiff, kGif };
const char* image_format_name(ImageFormat f);

// The format the leading bytes announce, or kUnknown.
ImageFormat sniff_image_format(std::span<const uint8_t> bytes);

enum class AlphaMode {
  kCompositeWhite,  // default: blend over white, as shown on a page
  kIgnore,          // drop alpha, keep stored colours (the reference CLI's behaviour)
};

struct DecodeOptions {
  // Refuse images whose header declares more pixels than this (checked before decoding).
  // 100 MP covers every camera and scan we expect while keeping one decode under ~400 MB.
  int64_t max_pixels = 100'000'000;
  // Refuse inputs larger than this many bytes (files are checked before they are read).
  int64_t max_bytes = 256LL << 20;
  bool apply_exif_orientation = false;
  AlphaMode alpha = AlphaMode::kCompositeWhite;
  // Fast path: when > 0, JPEGs are decoded at the smallest libjpeg-turbo DCT scale (1/2, 1/4, 1/8)
  // whose shorter side stays >= this many pixels. 0 decodes at full size.
  int jpeg_min_side = 0;
  // Decode JPEGs straight to one luma channel (skips chroma work; fast path only: the JPEG's Y
  // channel differs from 0.299R+0.587G+0.114B of the decoded RGB by rounding).
  bool jpeg_grey = false;
};

struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
};

// Reads only the header: format and declared size.
Result<ImageInfo> probe_image(std::span<const uint8_t> bytes);

// Decodes to 1-channel grey or 3-channel RGB (see image.h). `info`, when given, receives the
// header's format and declared size (the fast path decodes fewer pixels than declared).
Result<Image> decode_image(std::span<const uint8_t> bytes, const DecodeOptions& options = {},
                           ImageInfo* info = nullptr);

// Reads a whole regular file, refusing directories, devices and files over max_bytes.
Result<std::vector<uint8_t>> read_file(const std::string& path, int64_t max_bytes);

// read_file + decode_image; error messages start with the path.
Result<Image> decode_file(const std::string& path, const DecodeOptions& options = {});

// EXIF orientation (1..8) of a JPEG, or 1 when absent or unreadable.
int exif_orientation(std::span<const uint8_t> jpeg_bytes);

// Applies an EXIF orientation value so the image appears upright.
Image apply_orientation(const Image& image, int orientation);

}  // namespace imprint
