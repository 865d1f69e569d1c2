// PdqHash: bit storage, hex and byte forms.
#include "pdq.h"

namespace imprint {

int PdqHash::popcount() const {
  return std::popcount(words_[0]) + std::popcount(words_[1]) + std::popcount(words_[2]) +
         std::popcount(words_[3]);
}

std::string PdqHash::to_hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (int i = 0; i < 64; ++i) {
    // Digit i (from the left) holds bits 255-4i .. 252-4i.
    int low_bit = 252 - 4 * i;
    out[i] = kDigits[(words_[low_bit >> 6] >> (low_bit & 63)) & 0xf];
  }
  return out;
}

Result<PdqHash> PdqHash::from_hex(std::string_view hex) {
  if (hex.size() != 64) {
    return invalid_argument("PDQ hash must be 64 hex digits, got " + std::to_string(hex.size()) +
                            " characters");
  }
  PdqHash h;
  for (int i = 0; i < 64; ++i) {
    const int digit = hex_digit_value(hex[i]);
    if (digit < 0) {
      return invalid_argument("PDQ hash has a non-hex character at position " +
                              std::to_string(i + 1));
    }
    const uint64_t v = uint64_t(digit);
    int low_bit = 252 - 4 * i;
    h.words_[low_bit >> 6] |= v << (low_bit & 63);
  }
  return h;
}

std::array<uint8_t, 32> PdqHash::to_bytes() const {
  std::array<uint8_t, 32> out;
  for (int i = 0; i < 32; ++i) out[i] = uint8_t(words_[3 - i / 8] >> (8 * (7 - i % 8)));
  return out;
}

PdqHash PdqHash::from_bytes(const uint8_t* bytes32) {
  PdqHash h;
  for (int i = 0; i < 32; ++i) h.words_[3 - i / 8] |= uint64_t(bytes32[i]) << (8 * (7 - i % 8));
  return h;
}

const char* dihedral_name(Dihedral d) {
  switch (d) {
    case Dihedral::kOriginal: return "original";
    case Dihedral::kRotate90: return "rot90";
    case Dihedral::kRotate180: return "rot180";
    case Dihedral::kRotate270: return "rot270";
    case Dihedral::kFlipX: return "flip-x";
    case Dihedral::kFlipY: return "flip-y";
    case Dihedral::kFlipPlus1: return "flip-plus1";
    case Dihedral::kFlipMinus1: return "flip-minus1";
  }
  return "unknown";
}

}  // namespace imprint
