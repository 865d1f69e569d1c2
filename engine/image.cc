#include "image.h"

#include <cstring>

#include "image_view.h"

namespace imprint {

ImageView ImageView::of(const Image& image) {
  return {image.pixels.data(),
          image.width,
          image.height,
          image.channels,
          ptrdiff_t(image.channels),
          ptrdiff_t(image.stride())};
}

Image to_image(const ImageView& v) {
  Image out(v.width, v.height, v.channels);
  for (int y = 0; y < v.height; ++y) {
    uint8_t* dst = out.row(y);
    if (v.pixel_stride == v.channels) {
      std::memcpy(dst, v.pixel(0, y), out.stride());
      continue;
    }
    for (int x = 0; x < v.width; ++x)
      std::memcpy(dst + size_t(x) * v.channels, v.pixel(x, y), v.channels);
  }
  return out;
}

Image resize_nearest(const ImageView& in, int w, int h) {
  Image out(w, h, in.channels);
  std::vector<int> src_x(w);
  for (int x = 0; x < w; ++x) src_x[x] = int((int64_t(x) * in.width) / w);
  for (int y = 0; y < h; ++y) {
    const int sy = int((int64_t(y) * in.height) / h);
    uint8_t* dst = out.row(y);
    for (int x = 0; x < w; ++x) {
      std::memcpy(dst + size_t(x) * in.channels, in.pixel(src_x[x], sy), in.channels);
    }
  }
  return out;
}

Image resize_nearest(const Image& in, int w, int h) {
  return resize_nearest(ImageView::of(in), w, h);
}

}  // namespace imprint
