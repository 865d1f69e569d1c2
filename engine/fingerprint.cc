#include "fingerprint.h"

#include <openssl/evp.h>

#include "image_view.h"
#include "parallel.h"

namespace imprint {

const char* hash_mode_name(HashMode m) {
  switch (m) {
    case HashMode::kExact: return "exact";
    case HashMode::kFast: return "fast";
    case HashMode::kReferenceCli: return "reference-cli";
  }
  return "unknown";
}

Result<HashMode> parse_hash_mode(std::string_view name) {
  if (name == "exact") return HashMode::kExact;
  if (name == "fast") return HashMode::kFast;
  if (name == "reference-cli") return HashMode::kReferenceCli;
  return invalid_argument("unknown hash mode '" + std::string(name) +
                          "' (expected exact, fast or reference-cli)");
}

Sha256 sha256_of(std::span<const uint8_t> bytes) {
  Sha256 out{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = kDigits[bytes[i] >> 4];
    s[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return s;
}

Result<Sha256> sha256_from_hex(std::string_view hex) {
  if (hex.size() != 64) {
    return invalid_argument("sha256 must be 64 hex digits, got " + std::to_string(hex.size()) +
                            " characters");
  }
  Sha256 d{};
  for (size_t i = 0; i < hex.size(); ++i) {
    const int digit = hex_digit_value(hex[i]);
    if (digit < 0) {
      return invalid_argument("sha256 has a non-hex character at position " +
                              std::to_string(i + 1));
    }
    d[i / 2] = uint8_t(d[i / 2] << 4 | digit);
  }
  return d;
}

namespace {

ImageFingerprint fingerprint_view(const ImageView& pixels, const HashOptions& o) {
  constexpr int kCliSide = 512;  // pdq-photo-hasher's DOWNSAMPLE_DIMS
  ImageView img = pixels;
  Image resized;
  if (o.mode == HashMode::kReferenceCli && (pixels.width > kCliSide || pixels.height > kCliSide)) {
    resized = resize_nearest(pixels, kCliSide, kCliSide);
    img = ImageView::of(resized);
  }
  ImageFingerprint fp;
  fp.width = pixels.width;
  fp.height = pixels.height;
  if (o.dihedral) {
    const PdqDihedral d = pdq_dihedral(img);
    fp.pdq = {d.hashes[0], d.quality};
    fp.dihedral = d.hashes;
    fp.has_dihedral = true;
  } else {
    fp.pdq = pdq_hash(img);
  }
  return fp;
}

}  // namespace

ImageFingerprint fingerprint_decoded(const Image& decoded, const HashOptions& o) {
  return fingerprint_view(ImageView::of(decoded), o);
}

Result<ImageFingerprint> fingerprint_pixels(const ImageView& view, const HashOptions& o) {
  if (view.channels != 1 && view.channels != 3) {
    return invalid_argument("pixels have " + std::to_string(view.channels) +
                            " channels (expected 1, grey, or 3, RGB)");
  }
  if (view.width <= 0 || view.height <= 0 || view.data == nullptr) {
    return invalid_argument("pixels are " + std::to_string(view.width) + "x" +
                            std::to_string(view.height) + " (expected at least 1x1)");
  }
  const int64_t pixels = int64_t(view.width) * view.height;
  if (pixels > o.decode.max_pixels) {
    return resource_exhausted("pixels are " + std::to_string(view.width) + "x" +
                              std::to_string(view.height) + ", over the " +
                              std::to_string(o.decode.max_pixels) + " pixel limit");
  }
  return fingerprint_view(view, o);
}

Result<ImageFingerprint> fingerprint_image(std::span<const uint8_t> bytes, const HashOptions& o) {
  return fingerprint_image(bytes, o, nullptr);
}

Result<ImageFingerprint> fingerprint_image(std::span<const uint8_t> bytes, const HashOptions& o,
                                           Image* pixels) {
  DecodeOptions d = o.decode;
  if (o.mode == HashMode::kFast) {
    d.jpeg_min_side = o.fast_min_side;
    d.jpeg_grey = true;
  } else if (o.mode == HashMode::kReferenceCli) {
    d.alpha = AlphaMode::kIgnore;
  }
  ImageInfo info;
  Result<Image> img = decode_image(bytes, d, &info);
  if (!img.ok()) return img.status();
  ImageFingerprint fp = fingerprint_decoded(*img, o);
  fp.format = info.format;
  fp.width = info.width;
  fp.height = info.height;
  if (o.sha256) fp.sha256 = sha256_of(bytes);
  if (pixels != nullptr) *pixels = o.mode == HashMode::kExact ? std::move(*img) : Image();
  return fp;
}

Result<ImageFingerprint> fingerprint_file(const std::string& path, const HashOptions& o) {
  return fingerprint_file(path, o, nullptr);
}

Result<ImageFingerprint> fingerprint_file(const std::string& path, const HashOptions& o,
                                          Image* pixels) {
  Result<std::vector<uint8_t>> bytes = read_file(path, o.decode.max_bytes);
  if (!bytes.ok()) return bytes.status().with_context(path);
  Result<ImageFingerprint> fp = fingerprint_image(*bytes, o, pixels);
  if (!fp.ok()) return fp.status().with_context(path);
  return fp;
}

std::vector<Result<ImageFingerprint>> fingerprint_files(std::span<const std::string> paths,
                                                        const HashOptions& o, int threads) {
  std::vector<Result<ImageFingerprint>> out(paths.size(), Result<ImageFingerprint>(
                                                              internal_error("not processed")));
  parallel_for(paths.size(), threads, [&](size_t i) { out[i] = fingerprint_file(paths[i], o); });
  return out;
}

}  // namespace imprint
