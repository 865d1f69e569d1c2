// Image fingerprints: bytes in, PDQ (and its dihedral variants) plus the content digest out.
//
// Three modes, because interoperability and throughput pull in different directions:
//  - kExact: decode at full resolution and hash, exactly as Meta's reference library does on a
//    decoded image (HMA, the Python bindings). The default for registration and single queries.
//  - kFast: JPEGs are decoded at reduced scale in the DCT domain, straight to luma (libjpeg-turbo
//    1/2..1/8), keeping the shorter side >= fast_min_side. Several times faster on photos; hashes
//    land a few bits from exact ones (benchmarks/hash_throughput prints the distribution). The
//    default for corpus scans, where decoding is the whole cost.
//  - kReferenceCli: behave like the reference's pdq-photo-hasher: alpha dropped, and images over
//    512 px on either side first resized to exactly 512x512 by nearest neighbour.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "decode.h"
#include "pdq.h"

namespace imprint {

enum class HashMode { kExact, kFast, kReferenceCli };
const char* hash_mode_name(HashMode m);  // "exact", "fast", "reference-cli"
Result<HashMode> parse_hash_mode(std::string_view name);

struct HashOptions {
  HashMode mode = HashMode::kExact;
  // Also compute the 8 dihedral hashes (from the same DCT; costs ~nothing extra).
  bool dihedral = false;
  // Fast mode keeps the decoded shorter side at least this long. 128 px keeps two full pixels per
  // PDQ cell in each direction; the measured median distance to exact hashes is in the README.
  int fast_min_side = 128;
  // Also compute the SHA-256 of the input bytes (exact-copy detection).
  bool sha256 = true;
  DecodeOptions decode;  // limits, EXIF orientation, alpha
};

using Sha256 = std::array<uint8_t, 32>;
Sha256 sha256_of(std::span<const uint8_t> bytes);
std::string to_hex(std::span<const uint8_t> bytes);
// A SHA-256 digest from its 64 hex digits (either case); anything else is an InvalidArgument
// naming what is wrong.
Result<Sha256> sha256_from_hex(std::string_view hex);

struct ImageFingerprint {
  PdqResult pdq;
  std::array<PdqHash, kDihedralCount> dihedral{};  // filled when HashOptions::dihedral
  bool has_dihedral = false;
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;   // as declared by the file
  int height = 0;
  Sha256 sha256{};  // zero unless HashOptions::sha256
};

Result<ImageFingerprint> fingerprint_image(std::span<const uint8_t> bytes, const HashOptions& o);
// The same, and in exact mode the decoded image into *pixels (what decode_image(bytes,
// o.decode) gives); in the other modes, which decode smaller or differently, *pixels is left
// empty.
Result<ImageFingerprint> fingerprint_image(std::span<const uint8_t> bytes, const HashOptions& o,
                                           Image* pixels);
// Errors start with the path.
Result<ImageFingerprint> fingerprint_file(const std::string& path, const HashOptions& o);
Result<ImageFingerprint> fingerprint_file(const std::string& path, const HashOptions& o,
                                          Image* pixels);
// Fingerprints hashed on `threads` threads (0: one per core); results in input order.
std::vector<Result<ImageFingerprint>> fingerprint_files(std::span<const std::string> paths,
                                                        const HashOptions& o, int threads);
// PDQ (and dihedral, if asked) of an already decoded image, with the mode's resizing rules.
ImageFingerprint fingerprint_decoded(const Image& image, const HashOptions& o);

}  // namespace imprint
