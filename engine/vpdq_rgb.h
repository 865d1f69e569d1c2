// Decoded video frames to RGB24 the way the reference vPDQ hasher converts them (swscale, area
// filter, native size), and RGB24 to PDQ's luma. Internal to the engine (video_reader.cc, vpdq.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "image.h"

struct AVFrame;
struct SwsContext;

namespace imprint {

// Keeps its swscale contexts between frames. Not thread-safe; one per reader.
class FrameToRgb {
 public:
  FrameToRgb() = default;
  ~FrameToRgb();
  FrameToRgb(const FrameToRgb&) = delete;
  FrameToRgb& operator=(const FrameToRgb&) = delete;

  // *out becomes the frame in RGB24 at its own size; false when swscale cannot convert it.
  // Passing the same image again reuses its buffer.
  bool convert(const AVFrame& frame, Image* out);

 private:
  bool fill_right_edge(const AVFrame& frame, Image* out);

  SwsContext* sws_ = nullptr;
  SwsContext* edge_sws_ = nullptr;
  std::vector<uint8_t> edge_scratch_;
};

// Fast mode's picture of a frame: PDQ's luma, one channel, box-shrunk by the largest whole factor
// that keeps the shorter side >= min_side, read from the luma plane alone. For RGB converted by
// swscale's BT.601 matrix, 0.299 R + 0.587 G + 0.114 B is 255/219 (Y - 16) wherever no channel
// clips (Y itself for full-range yuvj formats), so chroma never needs reading or converting.
// False when the frame has no 8-bit luma plane (RGB, paletted, high bit depth).
bool shrunk_luma_of_yuv(const AVFrame& frame, int min_side, Image* out);

// PDQ's luma of RGB24 pixels, 0.299 R + 0.587 G + 0.114 B in float, bit for bit what pdq_hash
// computes (same products, same order of additions), with SSE4.1 where the CPU has it.
void rgb24_to_luma(const uint8_t* rgb, float* luma, size_t pixels);

}  // namespace imprint
