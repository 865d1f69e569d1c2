// PDQ hashing, following the reference's float arithmetic step by step (see
// ../shared/pdq-reference/ALGORITHM.md). This file must be compiled without FP contraction
// (-ffp-contract=off, set in CMakeLists.txt): a fused multiply-add changes low bits and so hashes.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "image_view.h"
#include "jarosz.h"
#include "pdq.h"

namespace imprint {
namespace {

using Block16 = std::array<float, 256>;  // B[k][l] at k * 16 + l

// D[k][n] = sqrt(2/64) * cos(pi/128 * (k+1) * (2n+1)), built with the reference's mix of float
// and double so every entry is the same float.
struct DctMatrix {
  std::array<float, 16 * 64> d;    // d[k * 64 + n]
  std::array<float, 64 * 16> d_t;  // d_t[n * 16 + k], for the second product
  DctMatrix() {
    const double pi = 3.14159265358979323846;
    const float scale = float(std::sqrt(2.0 / 64.0));
    for (int k = 0; k < 16; ++k) {
      for (int n = 0; n < 64; ++n) {
        const float v = float(scale * std::cos((pi / 2.0 / 64.0) * double(k + 1) * double(2 * n + 1)));
        d[k * 64 + n] = v;
        d_t[n * 16 + k] = v;
      }
    }
  }
};
const DctMatrix& dct_matrix() {
  static const DctMatrix m;
  return m;
}

// Rows one at a time, so views with any strides take the same arithmetic as packed images.
void fill_luma(const ImageView& image, float* luma) {
  const float cr = 0.299f, cg = 0.587f, cb = 0.114f;
  const ptrdiff_t step = image.pixel_stride;
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* p = image.pixel(0, y);
    float* out = luma + size_t(y) * image.width;
    if (image.channels == 1 && step == 1) {
      for (int x = 0; x < image.width; ++x) out[x] = float(p[x]);
    } else if (image.channels == 1) {
      for (int x = 0; x < image.width; ++x, p += step) out[x] = float(p[0]);
    } else if (step == 3) {
      for (int x = 0; x < image.width; ++x, p += 3) out[x] = cr * p[0] + cg * p[1] + cb * p[2];
    } else {
      for (int x = 0; x < image.width; ++x, p += step) out[x] = cr * p[0] + cg * p[1] + cb * p[2];
    }
  }
}

// The reference's image-domain quality: count of significant gradients in the 64x64 block.
int quality_of(const float* a) {
  int sum = 0;
  for (int i = 0; i < 63; ++i) {
    for (int j = 0; j < 64; ++j) {
      const float u = a[i * 64 + j], v = a[(i + 1) * 64 + j];
      const int d = int(((u - v) * 100) / 255);
      sum += std::abs(d);
    }
  }
  for (int i = 0; i < 64; ++i) {
    for (int j = 0; j < 63; ++j) {
      const float u = a[i * 64 + j], v = a[i * 64 + j + 1];
      const int d = int(((u - v) * 100) / 255);
      sum += std::abs(d);
    }
  }
  return std::min(100, sum / 90);
}

// B = D A D^T, keeping frequencies 1..16 in each direction. Each sum runs over n = 0..63 in
// order, as the reference does; the loops are arranged so the compiler vectorises across the
// independent outputs instead of reordering a sum.
Block16 dct_64_to_16(const float* a) {
  const DctMatrix& m = dct_matrix();
  std::array<float, 16 * 64> t{};  // T = D A
  for (int k = 0; k < 16; ++k) {
    float* tk = &t[k * 64];
    for (int n = 0; n < 64; ++n) {
      const float dkn = m.d[k * 64 + n];
      const float* an = a + n * 64;
      for (int j = 0; j < 64; ++j) tk[j] += dkn * an[j];
    }
  }
  Block16 b{};
  for (int k = 0; k < 16; ++k) {
    float* bk = &b[k * 16];
    for (int n = 0; n < 64; ++n) {
      const float tkn = t[k * 64 + n];
      const float* dn = &m.d_t[n * 16];
      for (int l = 0; l < 16; ++l) bk[l] += tkn * dn[l];
    }
  }
  return b;
}

// Bit k*16+l is B[k][l] > median, where the median is the 128th smallest of the 256 values
// (what the reference's Torben median returns).
PdqHash threshold_at_median(const Block16& b) {
  Block16 sorted = b;
  std::nth_element(sorted.begin(), sorted.begin() + 127, sorted.end());
  const float median = sorted[127];
  PdqHash h;
  for (int k = 0; k < 256; ++k) {
    if (b[k] > median) h.set_bit(k);
  }
  return h;
}

// The dihedral rules on the DCT (ALGORITHM.md step 10): a sign pattern and optional transpose.
// Sign flips are exact in float, so these hashes equal re-deriving from a transformed B.
Block16 dihedral_block(const Block16& b, Dihedral d) {
  Block16 out;
  for (int k = 0; k < 16; ++k) {
    for (int l = 0; l < 16; ++l) {
      const float v = b[k * 16 + l];
      const bool k_odd = k & 1, l_odd = l & 1, sum_odd = (k + l) & 1;
      switch (d) {
        case Dihedral::kOriginal: out[k * 16 + l] = v; break;
        case Dihedral::kRotate90: out[l * 16 + k] = l_odd ? v : -v; break;
        case Dihedral::kRotate180: out[k * 16 + l] = sum_odd ? -v : v; break;
        case Dihedral::kRotate270: out[l * 16 + k] = k_odd ? v : -v; break;
        case Dihedral::kFlipX: out[k * 16 + l] = k_odd ? v : -v; break;
        case Dihedral::kFlipY: out[k * 16 + l] = l_odd ? v : -v; break;
        case Dihedral::kFlipPlus1: out[l * 16 + k] = v; break;
        case Dihedral::kFlipMinus1: out[l * 16 + k] = sum_odd ? -v : v; break;
      }
    }
  }
  return out;
}

// Luma plane -> 64x64 block. The single-hash reference path skips the filter for an input that is
// already 64x64; its dihedral path does not (a running sum with window 1 is not exactly the
// identity in float), and we follow each.
void downscale(float* luma, int rows, int cols, bool skip_at_64, float* a64) {
  if (skip_at_64 && rows == 64 && cols == 64) {
    std::copy(luma, luma + 64 * 64, a64);
  } else {
    detail::jarosz_downscale_64(luma, rows, cols, a64);
  }
}

}  // namespace

PdqResult pdq_hash_luma(float* luma, int rows, int cols) {
  PdqResult r;
  if (rows < kPdqMinDimension || cols < kPdqMinDimension) return r;
  std::array<float, 64 * 64> a;
  downscale(luma, rows, cols, /*skip_at_64=*/true, a.data());
  r.quality = quality_of(a.data());
  r.hash = threshold_at_median(dct_64_to_16(a.data()));
  return r;
}

PdqDihedral pdq_dihedral_luma(float* luma, int rows, int cols) {
  PdqDihedral r;
  if (rows < kPdqMinDimension || cols < kPdqMinDimension) return r;
  std::array<float, 64 * 64> a;
  downscale(luma, rows, cols, /*skip_at_64=*/false, a.data());
  r.quality = quality_of(a.data());
  const Block16 b = dct_64_to_16(a.data());
  for (int i = 0; i < kDihedralCount; ++i) {
    r.hashes[i] = threshold_at_median(dihedral_block(b, Dihedral(i)));
  }
  return r;
}

// A per-thread luma plane: hashing many images reuses it instead of faulting in fresh pages.
static float* luma_of(const ImageView& image) {
  thread_local std::vector<float> luma;
  luma.resize(size_t(image.width) * image.height);
  fill_luma(image, luma.data());
  return luma.data();
}

PdqResult pdq_hash(const ImageView& image) {
  if (image.height < kPdqMinDimension || image.width < kPdqMinDimension) return {};
  return pdq_hash_luma(luma_of(image), image.height, image.width);
}

PdqDihedral pdq_dihedral(const ImageView& image) {
  if (image.height < kPdqMinDimension || image.width < kPdqMinDimension) return {};
  return pdq_dihedral_luma(luma_of(image), image.height, image.width);
}

PdqResult pdq_hash(const Image& image) { return pdq_hash(ImageView::of(image)); }
PdqDihedral pdq_dihedral(const Image& image) { return pdq_dihedral(ImageView::of(image)); }

}  // namespace imprint
