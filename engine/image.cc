#include "image.h"

#include <cstring>

namespace imprint {

Image resize_nearest(const Image& in, int w, int h) {
  Image out(w, h, in.channels);
  std::vector<int> src_x(w);
  for (int x = 0; x < w; ++x) src_x[x] = int((int64_t(x) * in.width) / w);
  for (int y = 0; y < h; ++y) {
    const uint8_t* src = in.row(int((int64_t(y) * in.height) / h));
    uint8_t* dst = out.row(y);
    for (int x = 0; x < w; ++x) {
      std::memcpy(dst + size_t(x) * in.channels, src + size_t(src_x[x]) * in.channels,
                  in.channels);
    }
  }
  return out;
}

}  // namespace imprint
