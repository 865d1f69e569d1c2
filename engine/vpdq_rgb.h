// Decoded video frames to RGB24 the way the reference vPDQ hasher converts them: swscale, area
// filter, native size. Internal to the engine (video_reader.cc).
#pragma once

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
  bool convert(const AVFrame& frame, Image* out);

 private:
  bool fill_right_edge(const AVFrame& frame);

  SwsContext* sws_ = nullptr;
  SwsContext* edge_sws_ = nullptr;
  std::vector<uint8_t> scratch_;
  std::vector<uint8_t> edge_scratch_;
};

}  // namespace imprint
