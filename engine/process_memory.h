// Process-wide memory settings for programs that decode one medium after another.
#pragma once

#include <cstddef>

namespace imprint {

// Has the C library's allocator keep freed memory for reuse instead of giving it back to the
// kernel after each image or video. Decoding allocates the same large buffers again and again
// (an FFmpeg decoder's frame pool and tables: about 50 MB for 1080p H.264); glibc serves them
// with fresh pages, each zeroed on first touch, and returns them when they are freed, so every
// video pays a few thousand page faults. With this, buffers up to 32 MB come from the heap and
// up to `retained_bytes` of free heap is kept. Measured on 20 s of 1080p H.264 hashed in fast
// mode at one frame a second, one after another: 2,100 page faults and about 7% of the CPU time
// per video before, none after (benchmarks/results/video_throughput.md). The cost is that the
// process's resident size stays near its high-water mark.
//
// Call once, early in main, before threads start. Does nothing where the C library is not glibc.
void retain_freed_memory(std::size_t retained_bytes = std::size_t{128} << 20);

}  // namespace imprint
