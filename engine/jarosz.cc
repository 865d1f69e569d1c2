#include "jarosz.h"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace imprint::detail {
namespace {

// Window of the box filter along a dimension of `n` samples when the target is 64: the reference's
// computeJaroszFilterWindowSize(n, 64) = ceil(n / 128).
int window_size(int n) { return (n + 127) / 128; }

// Runs the reference's box1D down every column of `in` (rows x cols) at once: one running sum per
// column, updated in the reference's order (phase 1: add; 2: add, write; 3: add, subtract, write;
// 4: subtract, write). `wanted` lists the output rows to produce, non-decreasing, possibly
// repeated (n_wanted entries); output k goes to out[k * cols]. Rows not wanted skip the division.
__attribute__((target_clones("avx2", "default"))) void box_columns(
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

// out (cols x rows) = transpose of in (rows x cols), in cache-sized tiles.
void transpose(const float* in, float* out, int rows, int cols) {
  constexpr int kTile = 32;
  for (int i0 = 0; i0 < rows; i0 += kTile) {
    const int i1 = std::min(rows, i0 + kTile);
    for (int j0 = 0; j0 < cols; j0 += kTile) {
      const int j1 = std::min(cols, j0 + kTile);
      for (int i = i0; i < i1; ++i) {
        for (int j = j0; j < j1; ++j) out[size_t(j) * rows + i] = in[size_t(i) * cols + j];
      }
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
  const size_t n = size_t(rows) * cols;
  std::vector<float> scratch(n);
  std::vector<float> sum(std::max({rows, cols, 64}));  // the last pass runs over 64 columns
  const std::vector<int> all_rows = all_indices(rows);
  const std::vector<int> all_cols = all_indices(cols);
  const std::vector<int> pick_rows = decimation_indices(rows);
  const std::vector<int> pick_cols = decimation_indices(cols);

  // Pass 1, horizontal: a row filter is a column filter on the transpose.
  transpose(luma, scratch.data(), rows, cols);  // scratch: cols x rows
  box_columns(scratch.data(), luma, cols, rows, wx, all_cols.data(), cols, sum.data());
  transpose(luma, scratch.data(), cols, rows);  // scratch: rows x cols
  // Pass 1, vertical.
  box_columns(scratch.data(), luma, rows, cols, wy, all_rows.data(), rows, sum.data());
  // Pass 2, horizontal: only the 64 columns the decimation reads.
  transpose(luma, scratch.data(), rows, cols);  // scratch: cols x rows
  std::vector<float> picked_t(size_t(64) * rows);
  box_columns(scratch.data(), picked_t.data(), cols, rows, wx, pick_cols.data(), 64, sum.data());
  std::vector<float> picked(size_t(rows) * 64);
  transpose(picked_t.data(), picked.data(), 64, rows);  // picked: rows x 64
  // Pass 2, vertical: only the 64 rows the decimation reads; this is the 64x64 result.
  box_columns(picked.data(), out64x64, rows, 64, wy, pick_rows.data(), 64, sum.data());
}

}  // namespace imprint::detail
