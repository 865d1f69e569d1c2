// PDQ: Meta's 256-bit perceptual image hash, bit-compatible with the reference implementation
// (facebook/ThreatExchange pdq/cpp) so hashes interoperate with ThreatExchange, HMA and StopNCII.
//
// A PdqHash is 256 bits. Bit k is DCT coefficient (row k / 16, column k % 16) being above the
// median of the 16x16 block. Its interchange form is 64 hex digits: the 256-bit number
// sum(bit_k * 2^k) written big-endian, i.e. the reference's 16-bit words w[15]..w[0], each four
// digits. We write lowercase and read either case.
//
// Distance is the Hamming distance (0..256). The reference recommends: match iff distance <= 31,
// and do not act on hashes whose quality is below 50. All functions here are thread-safe.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

#include "image.h"
#include "status.h"

namespace imprint {

// The value of one hexadecimal digit (either case), or -1 for any other character.
constexpr int hex_digit_value(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

inline constexpr int kPdqMatchDistance = 31;    // pdq/README: "confident match"
inline constexpr int kPdqMinUsefulQuality = 50;  // pdq/README: below this, too weak to act on
inline constexpr int kPdqMinDimension = 5;       // smaller images hash to zero with quality 0

class PdqHash {
 public:
  PdqHash() = default;

  bool bit(int k) const { return (words_[k >> 6] >> (k & 63)) & 1u; }
  void set_bit(int k) { words_[k >> 6] |= uint64_t{1} << (k & 63); }
  int popcount() const;
  int distance(const PdqHash& other) const {
    return std::popcount(words_[0] ^ other.words_[0]) + std::popcount(words_[1] ^ other.words_[1]) +
           std::popcount(words_[2] ^ other.words_[2]) + std::popcount(words_[3] ^ other.words_[3]);
  }

  // 64 lowercase hex digits.
  std::string to_hex() const;
  // Exactly 64 hex digits, either case; anything else is kInvalidArgument.
  static Result<PdqHash> from_hex(std::string_view hex);

  // The 32 bytes in the order of the hex form (most significant first), for FAISS binary indexes
  // and storage. from_bytes is its inverse.
  std::array<uint8_t, 32> to_bytes() const;
  static PdqHash from_bytes(const uint8_t* bytes32);

  // Little-endian 64-bit words: bit k is bit (k & 63) of words()[k >> 6].
  const std::array<uint64_t, 4>& words() const { return words_; }
  static PdqHash from_words(const std::array<uint64_t, 4>& w) {
    PdqHash h;
    h.words_ = w;
    return h;
  }

  bool operator==(const PdqHash&) const = default;
  auto operator<=>(const PdqHash&) const = default;

 private:
  std::array<uint64_t, 4> words_{};
};

struct PdqResult {
  PdqHash hash;
  int quality = 0;  // 0..100
};

// The eight symmetries of the square, in the reference's order. Each names the edit applied to
// the original image: the kRotate90 hash of an image is (nearly) the hash of that image rotated
// by 90 degrees.
enum class Dihedral : uint8_t {
  kOriginal = 0,
  kRotate90,
  kRotate180,
  kRotate270,
  kFlipX,       // top <-> bottom
  kFlipY,       // left <-> right (mirror)
  kFlipPlus1,   // transpose
  kFlipMinus1,  // anti-transpose
};
inline constexpr int kDihedralCount = 8;
const char* dihedral_name(Dihedral d);  // "original", "rot90", ..., "flip-minus1"

struct PdqDihedral {
  std::array<PdqHash, kDihedralCount> hashes;  // indexed by Dihedral
  int quality = 0;
};

// Hash an image at its own resolution (the reference library's pdqHash256FromFloatLuma path:
// no pre-resize). Grey images use their values as luma; RGB uses 0.299R + 0.587G + 0.114B.
PdqResult pdq_hash(const Image& image);

// All eight dihedral hashes from one DCT (pdqDihedralHash256esFromFloatLuma).
PdqDihedral pdq_dihedral(const Image& image);

// Hashes from a float luma plane, row-major, rows x cols. The plane is used as scratch.
PdqResult pdq_hash_luma(float* luma, int rows, int cols);
PdqDihedral pdq_dihedral_luma(float* luma, int rows, int cols);

}  // namespace imprint
