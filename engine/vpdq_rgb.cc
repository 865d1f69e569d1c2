// FrameToRgb: swscale to RGB24 as the reference vPDQ hasher calls it, plus the pixels its SIMD
// path leaves unwritten.
#include "vpdq_rgb.h"

#include <cstring>

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
  // The reference's destination: rows of exactly 3w bytes.
  const size_t bytes = size_t(w) * h * 3;
  scratch_.resize(bytes + kSlack);
  uint8_t* dst[4] = {scratch_.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {3 * w, 0, 0, 0};
  if (sws_scale(sws_, frame.data, frame.linesize, 0, h, dst, dst_stride) != h) return false;
  if (w % 8 != 0 && leaves_right_edge(frame.format) && !fill_right_edge(frame)) return false;
  *out = Image(w, h, 3);
  std::memcpy(out->pixels.data(), scratch_.data(), bytes);
  return true;
}

// The reference hashes whatever its freshly allocated buffer held in those columns, so its
// hashes of such videos (854 x 480, say) are not reproducible, not even by itself. We put the
// true pixels there instead: the converter works pixel by pixel (a pixel and its own chroma
// sample), so converting a strip 16 pixels wide that ends at the right edge gives exactly the
// values a full-width call would have written (checked against widths that are multiples of 8).
// Odd widths cannot start such a strip on a chroma sample; for them (and widths under 16) the
// edge comes from swscale's exact C path, which may differ by a little from the SIMD values.
bool FrameToRgb::fill_right_edge(const AVFrame& frame) {
  const int w = frame.width, h = frame.height;
  const int tail = w % 8;
  const bool strip = w >= 16 && w % 2 == 0;
  const int x0 = strip ? w - 16 : 0;
  const int sw = w - x0;
  edge_sws_ = sws_getCachedContext(edge_sws_, sw, h, AVPixelFormat(frame.format), sw, h,
                                   AV_PIX_FMT_RGB24,
                                   strip ? SWS_AREA : SWS_AREA | SWS_ACCURATE_RND | SWS_BITEXACT,
                                   nullptr, nullptr, nullptr);
  if (!edge_sws_) return false;
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(AVPixelFormat(frame.format));
  const uint8_t* src[4] = {frame.data[0] + x0, frame.data[1] + (x0 >> desc->log2_chroma_w),
                           frame.data[2] + (x0 >> desc->log2_chroma_w), nullptr};
  edge_scratch_.resize(size_t(sw) * h * 3 + kSlack);
  uint8_t* dst[4] = {edge_scratch_.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {3 * sw, 0, 0, 0};
  if (sws_scale(edge_sws_, src, frame.linesize, 0, h, dst, dst_stride) != h) return false;
  for (int y = 0; y < h; ++y) {
    std::memcpy(scratch_.data() + (size_t(y) * w + (w - tail)) * 3,
                edge_scratch_.data() + (size_t(y) * sw + (sw - tail)) * 3, size_t(tail) * 3);
  }
  return true;
}

}  // namespace imprint
