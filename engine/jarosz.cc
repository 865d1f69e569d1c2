#include "jarosz.h"

#include <algorithm>
#include <cstddef>
#include <vector>

// target_clones makes an ifunc resolver, which ThreadSanitizer instruments and the dynamic loader
// runs before the sanitizer's runtime is up: a TSan build crashed at load (scripts/sanitize.sh).
// Such builds take the default clone.
#if defined(__SANITIZE_THREAD__)
#define IMPRINT_TARGET_CLONES(...)
#else
#define IMPRINT_TARGET_CLONES(...) __attribute__((target_clones(__VA_ARGS__)))
#endif

namespace imprint::detail {
namespace {

// Window of the box filter along a dimension of `n` samples when the target is 64: the reference's
// computeJaroszFilterWindowSize(n, 64) = ceil(n / 128).
int window_size(int n) { return (n + 127) / 128; }

// Runs the reference's box1D down every column of `in` (rows x cols) at once: one running sum per
// column, updated in the reference's order (phase 1: add; 2: add, write; 3: add, subtract, write;
// 4: subtract, write). `wanted` lists the output rows to produce, non-decreasing, possibly
// repeated (n_wanted entries); output k goes to out[k * cols]. Rows not wanted skip the division.
IMPRINT_TARGET_CLONES("avx2", "default") void box_columns(
    const float* in, float* out, int rows, int cols, int window, const int* wanted,
    int n_wanted, float* sum) {
  const int half = (window + 2) / 2;
  const int phase1 = half - 1;
  const int phase2 = window - half + 1;
  const int phase3 = rows - window;
  const int phase4 = half - 1;

  std::fill(sum, sum + cols, 0.0f);
  int ri = 0, li = 0, oi = 0, count = 0, next = 0;

  // Writes output row `oi` to every slot that wants it (a lambda would not inherit the clone's
  // target, so this stays a macro).
#define IMPRINT_EMIT(oi)                                                \
  while (next < n_wanted && wanted[next] == (oi)) {                     \
    float* o = out + size_t(next) * cols;                               \
    const float c = float(count);                                       \
    for (int j = 0; j < cols; ++j) o[j] = sum[j] / c;                   \
    ++next;                                                             \
  }

  for (int i = 0; i < phase1; ++i, ++ri) {
    const float* r = in + size_t(ri) * cols;
    for (int j = 0; j < cols; ++j) sum[j] += r[j];
    ++count;
  }
  for (int i = 0; i < phase2; ++i, ++ri, ++oi) {
    const float* r = in + size_t(ri) * cols;
    for (int j = 0; j < cols; ++j) sum[j] += r[j];
    ++count;
    IMPRINT_EMIT(oi);
  }
  for (int i = 0; i < phase3; ++i, ++ri, ++li, ++oi) {
    const float* r = in + size_t(ri) * cols;
    const float* l = in + size_t(li) * cols;
    for (int j = 0; j < cols; ++j) {
      sum[j] += r[j];
      sum[j] -= l[j];
    }
    IMPRINT_EMIT(oi);
  }
  for (int i = 0; i < phase4; ++i, ++li, ++oi) {
    const float* l = in + size_t(li) * cols;
    for (int j = 0; j < cols; ++j) sum[j] -= l[j];
    --count;
    IMPRINT_EMIT(oi);
  }
#undef IMPRINT_EMIT
}

// out (cols x rows) = transpose of in (rows x cols), rows of `in` `in_stride` floats apart.
void transpose(const float* in, size_t in_stride, float* out, int rows, int cols) {
  for (int j = 0; j < cols; ++j) {
    float* o = out + size_t(j) * rows;
    for (int i = 0; i < rows; ++i) o[i] = in[size_t(i) * in_stride + j];
  }
}

// The reference's box1D along every row of `in` (rows x cols), writing only the `wanted` output
// columns: out is rows x n_wanted. Rows are handled in strips of kStrip: each strip is transposed
// into a cache-resident buffer, filtered there by box_columns (SIMD across the strip's rows), and
// transposed back, so whole-image transposes never touch memory. `out` may alias `in` when every
// column is wanted.
void box_rows(const float* in, float* out, int rows, int cols, int window, const int* wanted,
              int n_wanted, float* strip_in, float* strip_out, float* sum) {
  constexpr int kStrip = 16;
  for (int r0 = 0; r0 < rows; r0 += kStrip) {
    const int s = std::min(kStrip, rows - r0);
    transpose(in + size_t(r0) * cols, cols, strip_in, s, cols);  // strip_in: cols x s
    box_columns(strip_in, strip_out, cols, s, window, wanted, n_wanted, sum);  // n_wanted x s
    for (int i = 0; i < s; ++i) {
      float* o = out + size_t(r0 + i) * n_wanted;
      for (int k = 0; k < n_wanted; ++k) o[k] = strip_out[size_t(k) * s + i];
    }
  }
}

// The reference's decimateFloat sample positions: floor((i + 0.5) * n / 64), in double.
std::vector<int> decimation_indices(int n) {
  std::vector<int> idx(64);
  for (int i = 0; i < 64; ++i) idx[i] = int(((i + 0.5) * n) / 64);
  return idx;
}

std::vector<int> all_indices(int n) {
  std::vector<int> idx(n);
  for (int i = 0; i < n; ++i) idx[i] = i;
  return idx;
}

}  // namespace

void jarosz_downscale_64(float* luma, int rows, int cols, float* out64x64) {
  const int wx = window_size(cols);  // along rows (horizontal)
  const int wy = window_size(rows);  // along columns (vertical)
  // Per-thread buffers: hashing many images reuses them instead of faulting in fresh pages.
  thread_local std::vector<float> scratch, strip_in, strip_out, picked, sum;
  scratch.resize(size_t(rows) * cols);
  strip_in.resize(size_t(cols) * 16);
  strip_out.resize(size_t(std::max(cols, 64)) * 16);  // pass 2 writes 64 columns per row
  picked.resize(size_t(rows) * 64);
  sum.resize(std::max({rows, cols, 64}));  // the last pass runs over 64 columns
  const std::vector<int> all_rows = all_indices(rows);
  const std::vector<int> all_cols = all_indices(cols);
  const std::vector<int> pick_rows = decimation_indices(rows);
  const std::vector<int> pick_cols = decimation_indices(cols);

  // Pass 1: horizontal (in place), then vertical into scratch.
  box_rows(luma, luma, rows, cols, wx, all_cols.data(), cols, strip_in.data(), strip_out.data(),
           sum.data());
  box_columns(luma, scratch.data(), rows, cols, wy, all_rows.data(), rows, sum.data());
  // Pass 2: horizontal, producing only the 64 columns the decimation reads (rows x 64), then
  // vertical, producing only the 64 rows it reads: the 64x64 result.
  box_rows(scratch.data(), picked.data(), rows, cols, wx, pick_cols.data(), 64, strip_in.data(),
           strip_out.data(), sum.data());
  box_columns(picked.data(), out64x64, rows, 64, wy, pick_rows.data(), 64, sum.data());
}

}  // namespace imprint::detail
