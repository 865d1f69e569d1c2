// FrameToRgb: swscale to RGB24 as the reference vPDQ hasher calls it, plus the pixels its SIMD
// path leaves unwritten.
#include "vpdq_rgb.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace imprint {
namespace {

// swscale writes up to 24 bytes past the last pixel (measured: widths 856 and 1080); the
// reference's buffers (av_frame_get_buffer) have such slack, so ours do too.
constexpr size_t kSlack = 64;

// The formats for which FFmpeg 5.1's x86 YUV -> RGB24 converter leaves the last width % 8
// pixels of every row unwritten (measured with buffers prefilled two ways: yuv420p, yuvj420p,
// yuv422p, yuvj422p; yuv444p, 10-bit, nv12 and grey are fully written).
bool leaves_right_edge(int format) {
  return format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_YUVJ420P ||
         format == AV_PIX_FMT_YUV422P || format == AV_PIX_FMT_YUVJ422P;
}

}  // namespace

FrameToRgb::~FrameToRgb() {
  sws_freeContext(sws_);
  sws_freeContext(edge_sws_);
}

bool FrameToRgb::convert(const AVFrame& frame, Image* out) {
  const int w = frame.width, h = frame.height;
  // SWS_AREA at the native size, as the reference. The cached context is rebuilt only when the
  // size or format changes, so a stream whose frames change size converts each at its own.
  sws_ = sws_getCachedContext(sws_, w, h, AVPixelFormat(frame.format), w, h, AV_PIX_FMT_RGB24,
                              SWS_AREA, nullptr, nullptr, nullptr);
  if (!sws_) return false;
  // The reference's destination: rows of exactly 3w bytes, with slack past the end. swscale
  // writes straight into the image, whose buffer is reused when the caller passes the same one
  // again (resizing within capacity neither allocates nor clears).
  const size_t bytes = size_t(w) * h * 3;
  out->width = w;
  out->height = h;
  out->channels = 3;
  out->pixels.resize(bytes + kSlack);
  uint8_t* dst[4] = {out->pixels.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {3 * w, 0, 0, 0};
  const bool ok = sws_scale(sws_, frame.data, frame.linesize, 0, h, dst, dst_stride) == h &&
                  (w % 8 == 0 || !leaves_right_edge(frame.format) || fill_right_edge(frame, out));
  out->pixels.resize(bytes);
  return ok;
}

// The reference hashes whatever its freshly allocated buffer held in those columns, so its
// hashes of such videos (854 x 480, say) are not reproducible, not even by itself. We put the
// true pixels there instead: the converter works pixel by pixel (a pixel and its own chroma
// sample), so converting a strip 16 pixels wide that ends at the right edge gives exactly the
// values a full-width call would have written (checked against widths that are multiples of 8).
// Odd widths cannot start such a strip on a chroma sample; for them (and widths under 16) the
// edge comes from swscale's exact C path, which may differ by a little from the SIMD values.
bool FrameToRgb::fill_right_edge(const AVFrame& frame, Image* out) {
  const int w = frame.width, h = frame.height;
  const int tail = w % 8;
  const bool strip = w >= 16 && w % 2 == 0;
  const int x0 = strip ? w - 16 : 0;
  const int sw = w - x0;
  edge_sws_ = sws_getCachedContext(
      edge_sws_, sw, h, AVPixelFormat(frame.format), sw, h, AV_PIX_FMT_RGB24,
      strip ? SWS_AREA : SWS_AREA | SWS_ACCURATE_RND | SWS_BITEXACT, nullptr, nullptr, nullptr);
  if (!edge_sws_) return false;
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(AVPixelFormat(frame.format));
  const uint8_t* src[4] = {frame.data[0] + x0, frame.data[1] + (x0 >> desc->log2_chroma_w),
                           frame.data[2] + (x0 >> desc->log2_chroma_w), nullptr};
  edge_scratch_.resize(size_t(sw) * h * 3 + kSlack);
  uint8_t* dst[4] = {edge_scratch_.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {3 * sw, 0, 0, 0};
  if (sws_scale(edge_sws_, src, frame.linesize, 0, h, dst, dst_stride) != h) return false;
  for (int y = 0; y < h; ++y) {
    std::memcpy(out->row(y) + size_t(w - tail) * 3,
                edge_scratch_.data() + (size_t(y) * sw + (sw - tail)) * 3, size_t(tail) * 3);
  }
  return true;
}

bool shrunk_luma_of_yuv(const AVFrame& frame, int min_side, Image* out) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(AVPixelFormat(frame.format));
  if (!desc || (desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BE)) ||
      desc->nb_components < 1 || desc->comp[0].plane != 0 || desc->comp[0].depth != 8 ||
      desc->comp[0].step != 1 || desc->comp[0].offset != 0 || !frame.data[0]) {
    return false;
  }
  const int w = frame.width, h = frame.height;
  const int factor = std::max(1, std::min(w, h) / std::max(1, min_side));
  const int ow = w / factor, oh = h / factor;
  out->width = ow;
  out->height = oh;
  out->channels = 1;
  out->pixels.resize(size_t(ow) * oh);
  // swscale reads yuv formats as limited range and yuvj ones as full range, whatever the frame's
  // color_range says; so do we. The table maps a block's sum to the luma of its mean.
  const int format = frame.format;
  const bool full = format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P ||
                    format == AV_PIX_FMT_YUVJ444P || format == AV_PIX_FMT_YUVJ440P ||
                    format == AV_PIX_FMT_YUVJ411P || format == AV_PIX_FMT_GRAY8;
  const int area = factor * factor;
  thread_local std::vector<uint8_t> luma_of_sum;
  thread_local int table_area = 0;
  thread_local bool table_full = false;
  thread_local std::vector<uint32_t> column_sums;
  if (table_area != area || table_full != full) {
    luma_of_sum.resize(size_t(area) * 255 + 1);
    for (size_t sum = 0; sum < luma_of_sum.size(); ++sum) {
      const float y = float(sum) / float(area);
      const float v = full ? y : (y - 16.0f) * (255.0f / 219.0f);
      luma_of_sum[sum] = uint8_t(std::clamp(v + 0.5f, 0.0f, 255.0f));
    }
    table_area = area;
    table_full = full;
  }
  column_sums.resize(size_t(ow) * factor);
  const int used_w = ow * factor;
  for (int oy = 0; oy < oh; ++oy) {
    // Sum `factor` rows column by column (contiguous bytes: the compiler vectorises it), then
    // `factor` columns at a time.
    std::fill(column_sums.begin(), column_sums.end(), 0u);
    for (int dy = 0; dy < factor; ++dy) {
      const uint8_t* src = frame.data[0] + ptrdiff_t(oy * factor + dy) * frame.linesize[0];
      for (int x = 0; x < used_w; ++x) column_sums[size_t(x)] += src[x];
    }
    uint8_t* dst = out->row(oy);
    for (int ox = 0; ox < ow; ++ox) {
      uint32_t sum = 0;
      for (int dx = 0; dx < factor; ++dx) sum += column_sums[size_t(ox * factor + dx)];
      dst[ox] = luma_of_sum[sum];
    }
  }
  return true;
}

namespace {

// The reference's luma, one pixel at a time. No FMA: this file is built without -mfma, and in
// ISO C++ mode GCC does not contract a * b + c.
void luma_scalar(const uint8_t* p, float* luma, size_t n) {
  const float cr = 0.299f, cg = 0.587f, cb = 0.114f;
  for (size_t i = 0; i < n; ++i, p += 3) luma[i] = cr * p[0] + cg * p[1] + cb * p[2];
}

#if defined(__x86_64__)
// 16 pixels a step: byte shuffles split 48 bytes into R, G and B, then the same float products
// and sums as luma_scalar, four lanes at a time (SSE has no FMA, so the rounding is the same).
// About 2.5 times the scalar loop's speed on 1080p frames.
__attribute__((target("sse4.1"))) void luma_sse41(const uint8_t* p, float* luma, size_t n) {
  const __m128i r0 = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i r1 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14, -1, -1, -1, -1, -1);
  const __m128i r2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 4, 7, 10, 13);
  const __m128i g0 = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i g1 = _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1);
  const __m128i g2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14);
  const __m128i b0 = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i b1 = _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1);
  const __m128i b2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15);
  const __m128 cr = _mm_set1_ps(0.299f), cg = _mm_set1_ps(0.587f), cb = _mm_set1_ps(0.114f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16, p += 48) {
    const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    const __m128i v2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32));
    __m128i r = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(v0, r0), _mm_shuffle_epi8(v1, r1)),
                             _mm_shuffle_epi8(v2, r2));
    __m128i g = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(v0, g0), _mm_shuffle_epi8(v1, g1)),
                             _mm_shuffle_epi8(v2, g2));
    __m128i b = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(v0, b0), _mm_shuffle_epi8(v1, b1)),
                             _mm_shuffle_epi8(v2, b2));
    for (int q = 0; q < 4; ++q) {
      const __m128 fr = _mm_cvtepi32_ps(_mm_cvtepu8_epi32(r));
      const __m128 fg = _mm_cvtepi32_ps(_mm_cvtepu8_epi32(g));
      const __m128 fb = _mm_cvtepi32_ps(_mm_cvtepu8_epi32(b));
      const __m128 y =
          _mm_add_ps(_mm_add_ps(_mm_mul_ps(cr, fr), _mm_mul_ps(cg, fg)), _mm_mul_ps(cb, fb));
      _mm_storeu_ps(luma + i + size_t(4 * q), y);
      r = _mm_srli_si128(r, 4);
      g = _mm_srli_si128(g, 4);
      b = _mm_srli_si128(b, 4);
    }
  }
  luma_scalar(p, luma + i, n - i);
}
#endif

}  // namespace

void rgb24_to_luma(const uint8_t* rgb, float* luma, size_t pixels) {
#if defined(__x86_64__)
  static const bool sse41 = __builtin_cpu_supports("sse4.1");
  if (sse41) {
    luma_sse41(rgb, luma, pixels);
    return;
  }
#endif
  luma_scalar(rgb, luma, pixels);
}

}  // namespace imprint
