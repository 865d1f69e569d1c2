// Internal: PDQ's downscaler (two passes of a Jarosz box filter, then decimation to 64x64),
// reproducing the reference's float arithmetic exactly while running several times faster.
//
// The reference filters each row and column with one running float sum (add, then subtract the
// oldest, then divide by the window count). Float sums are order-sensitive, so we keep that exact
// sequence per line but run many lines at once (SIMD across columns; rows are handled by
// transposing), and we skip the divisions whose results the 64x64 decimation never reads.
#pragma once

namespace imprint::detail {

// Blur-and-decimate `luma` (rows x cols, row-major; used as scratch) into out64x64 exactly as
// the reference's jaroszFilterFloat(2 passes) + decimateFloat do.
void jarosz_downscale_64(float* luma, int rows, int cols, float* out64x64);

}  // namespace imprint::detail
