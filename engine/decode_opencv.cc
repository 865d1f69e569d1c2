// PNG, WebP, BMP and TIFF through OpenCV's imgcodecs, normalised to 8-bit grey or RGB.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstring>

#include "decode_internal.h"

namespace imprint::detail {

Result<Image> decode_with_opencv(std::span<const uint8_t> b, const DecodeOptions& o,
                                 const ImageInfo& info) {
  const char* fmt = image_format_name(info.format);
  cv::Mat m;
  try {
    // UNCHANGED keeps grey as one channel, keeps alpha, keeps 16 bits and ignores EXIF.
    const cv::Mat raw(1, int(b.size()), CV_8U, const_cast<uint8_t*>(b.data()));
    m = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    return invalid_argument(std::string("corrupt ") + fmt + " data (" + e.err + ")");
  }
  if (m.empty()) return invalid_argument(std::string("corrupt or truncated ") + fmt + " data");
  if (m.depth() == CV_16U) {
    m.convertTo(m, CV_8U, 1.0 / 257.0);  // 65535 -> 255, rounded to nearest
  } else if (m.depth() != CV_8U) {
    return unsupported(std::string(fmt) + " with " + std::to_string(m.elemSize1() * 8) +
                       "-bit non-integer samples");
  }
  if (!m.isContinuous()) m = m.clone();
  const int c = m.channels();
  Image img;
  if (c == 1) {
    img = Image(m.cols, m.rows, 1);
    std::memcpy(img.pixels.data(), m.data, img.pixels.size());
  } else if (c == 3) {
    cv::Mat rgb;
    cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB);
    img = Image(m.cols, m.rows, 3);
    std::memcpy(img.pixels.data(), rgb.data, img.pixels.size());
  } else if (c == 2 || c == 4) {
    cv::Mat rgba = m;
    if (c == 4) cv::cvtColor(m, rgba, cv::COLOR_BGRA2RGBA);
    img = flatten_alpha(rgba.data, m.cols, m.rows, c, o.alpha);
  } else {
    return unsupported(std::string(fmt) + " with " + std::to_string(c) + " channels");
  }
  if (o.apply_exif_orientation && info.format == ImageFormat::kJpeg) {
    img = apply_orientation(img, exif_orientation(b));
  }
  return img;
}

Image flatten_alpha(const uint8_t* src, int width, int height, int channels, AlphaMode mode) {
  const int colour = channels - 1;  // 1 (grey) or 3 (RGB)
  Image img(width, height, colour);
  uint8_t* d = img.pixels.data();
  const size_t n = size_t(width) * height;
  for (size_t i = 0; i < n; ++i, src += channels, d += colour) {
    const unsigned a = mode == AlphaMode::kIgnore ? 255 : src[colour];
    for (int k = 0; k < colour; ++k) d[k] = uint8_t((src[k] * a + 255 * (255 - a) + 127) / 255);
  }
  return img;
}

}  // namespace imprint::detail
