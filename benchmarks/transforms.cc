#include "transforms.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "photo_corpus.h"

namespace imprint::bench {
namespace {

cv::Mat mat_of(const Image& img) {
  return cv::Mat(img.height, img.width, img.channels == 1 ? CV_8UC1 : CV_8UC3,
                 const_cast<uint8_t*>(img.pixels.data()))
      .clone();
}

Image image_of(const cv::Mat& m) {
  cv::Mat rgb = m;
  if (m.channels() == 1) cv::cvtColor(m, rgb, cv::COLOR_GRAY2RGB);
  Image out(rgb.cols, rgb.rows, 3);
  cv::Mat dst(rgb.rows, rgb.cols, CV_8UC3, out.pixels.data());
  rgb.copyTo(dst);
  return out;
}

std::vector<uint8_t> jpeg(const cv::Mat& rgb, int quality = 90) {
  return encode_as(image_of(rgb), ".jpg", quality);
}

cv::Mat resized(const cv::Mat& m, int w, int h) {
  cv::Mat out;
  const bool shrink = w * h < m.cols * m.rows;
  cv::resize(m, out, cv::Size(std::max(1, w), std::max(1, h)), 0, 0,
             shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

cv::Mat scaled(const cv::Mat& m, double s) {
  return resized(m, int(std::lround(m.cols * s)), int(std::lround(m.rows * s)));
}

// Resized and centre-cropped to exactly w x h (what collage tools and thumbnails do).
cv::Mat cover(const cv::Mat& m, int w, int h) {
  const double s = std::max(double(w) / m.cols, double(h) / m.rows);
  cv::Mat r = resized(m, std::max(w, int(std::ceil(m.cols * s))), std::max(h, int(std::ceil(m.rows * s))));
  return r(cv::Rect((r.cols - w) / 2, (r.rows - h) / 2, w, h)).clone();
}

cv::Mat lut_apply(const cv::Mat& m, const std::function<double(double)>& f) {
  cv::Mat lut(1, 256, CV_8U);
  for (int i = 0; i < 256; ++i) lut.at<uint8_t>(i) = cv::saturate_cast<uint8_t>(f(i));
  cv::Mat out;
  cv::LUT(m, lut, out);
  return out;
}

// White text with a black outline, the meme style, scaled to the image.
void caption(cv::Mat& m, const std::string& text, double y_fraction) {
  const int font = cv::FONT_HERSHEY_DUPLEX;
  const double scale = m.cols / 520.0;
  const int thick = std::max(2, int(scale * 2));
  int base = 0;
  const cv::Size sz = cv::getTextSize(text, font, scale, thick, &base);
  const cv::Point at((m.cols - sz.width) / 2, int(m.rows * y_fraction) + sz.height / 2);
  cv::putText(m, text, at, font, scale, cv::Scalar(0, 0, 0), thick * 3, cv::LINE_AA);
  cv::putText(m, text, at, font, scale, cv::Scalar(255, 255, 255), thick, cv::LINE_AA);
}

cv::Mat meme(const cv::Mat& in) {
  cv::Mat m = in.clone();
  caption(m, "WHEN THE BUILD PASSES", 0.1);
  caption(m, "ON THE FIRST TRY", 0.9);
  return m;
}

// A made-up logo covering `area` of the image in one corner: badge, ring and lettering.
cv::Mat with_logo(const cv::Mat& in, double area, std::mt19937_64& rng) {
  cv::Mat m = in.clone();
  const double side = std::sqrt(area * m.cols * m.rows);
  const int w = int(side * 1.25), h = int(side / 1.25);
  const int corner = int(rng() % 4);
  const int margin = int(0.03 * std::min(m.cols, m.rows));
  const int x = corner % 2 ? m.cols - w - margin : margin;
  const int y = corner / 2 ? m.rows - h - margin : margin;
  const cv::Rect r(std::max(0, x), std::max(0, y), std::min(w, m.cols), std::min(h, m.rows));
  cv::Mat roi = m(r);
  cv::Mat badge(roi.size(), roi.type(), cv::Scalar(200, 30, 40));
  cv::addWeighted(roi, 0.15, badge, 0.85, 0, roi);
  cv::circle(roi, cv::Point(h / 2, h / 2), h / 3, cv::Scalar(255, 255, 255), std::max(2, h / 12),
             cv::LINE_AA);
  cv::putText(roi, "ACME", cv::Point(h, h * 2 / 3), cv::FONT_HERSHEY_TRIPLEX, h / 60.0,
              cv::Scalar(255, 255, 255), std::max(1, h / 30), cv::LINE_AA);
  return m;
}

cv::Mat letterbox(const cv::Mat& in) {
  // Bars of 15% of the picture's height above and below (a 4:3 frame around a 16:9 picture).
  const int bar = int(in.rows * 0.15);
  cv::Mat out;
  cv::copyMakeBorder(in, out, bar, bar, 0, 0, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  return out;
}

// The work shown in a desktop window: title bar, sidebar with text, a caption under the image.
cv::Mat screenshot(const cv::Mat& work, std::mt19937_64& rng) {
  const int W = 1280, H = 800;
  cv::Mat ui(H, W, CV_8UC3, cv::Scalar(236, 236, 240));
  cv::rectangle(ui, cv::Rect(0, 0, W, 36), cv::Scalar(48, 52, 60), cv::FILLED);
  for (int i = 0; i < 3; ++i) {
    cv::circle(ui, cv::Point(20 + 22 * i, 18), 7, cv::Scalar(230, 90 + 60 * i, 80), cv::FILLED,
               cv::LINE_AA);
  }
  cv::putText(ui, "Photos - Viewer", cv::Point(540, 24), cv::FONT_HERSHEY_SIMPLEX, 0.6,
              cv::Scalar(230, 230, 230), 1, cv::LINE_AA);
  cv::rectangle(ui, cv::Rect(0, 36, 240, H - 36), cv::Scalar(250, 250, 252), cv::FILLED);
  const char* items[] = {"Library", "Albums", "Favourites", "Shared", "Imports", "Trash"};
  for (int i = 0; i < 6; ++i) {
    cv::putText(ui, items[i], cv::Point(24, 80 + 36 * i), cv::FONT_HERSHEY_SIMPLEX, 0.55,
                cv::Scalar(60, 60, 70), 1, cv::LINE_AA);
  }
  // The picture fits a 900 x 620 viewer area (a little smaller at random), aspect kept.
  const double avail_w = 900 - double(rng() % 120), avail_h = 620 - double(rng() % 80);
  const double s = std::min(avail_w / work.cols, avail_h / work.rows);
  cv::Mat shown = scaled(work, s);
  const int x = 240 + (W - 240 - shown.cols) / 2, y = 56 + (H - 56 - 60 - shown.rows) / 2;
  shown.copyTo(ui(cv::Rect(x, y, shown.cols, shown.rows)));
  cv::putText(ui, "IMG_2041.jpg   4032 x 3024   2.4 MB", cv::Point(x, y + shown.rows + 28),
              cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(90, 90, 100), 1, cv::LINE_AA);
  return ui;
}

cv::Mat perspective(const cv::Mat& in, std::mt19937_64& rng) {
  // Each corner moves inwards by 2-8% of the side: a photo of a print or screen taken slightly
  // off-axis.
  std::uniform_real_distribution<double> u(0.02, 0.08);
  const float w = float(in.cols), h = float(in.rows);
  const cv::Point2f src[4] = {{0, 0}, {w, 0}, {w, h}, {0, h}};
  const cv::Point2f dst[4] = {{float(u(rng) * w), float(u(rng) * h)},
                              {float(w - u(rng) * w), float(u(rng) * h)},
                              {float(w - u(rng) * w), float(h - u(rng) * h)},
                              {float(u(rng) * w), float(h - u(rng) * h)}};
  cv::Mat out;
  cv::warpPerspective(in, out, cv::getPerspectiveTransform(src, dst), in.size(), cv::INTER_LINEAR,
                      cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  return out;
}

cv::Mat hue_shift(const cv::Mat& in, int degrees) {
  cv::Mat hsv;
  cv::cvtColor(in, hsv, cv::COLOR_RGB2HSV);
  const int shift = degrees / 2;  // OpenCV's 8-bit hue runs 0..179
  for (int y = 0; y < hsv.rows; ++y) {
    auto* p = hsv.ptr<cv::Vec3b>(y);
    for (int x = 0; x < hsv.cols; ++x) p[x][0] = uint8_t((p[x][0] + shift) % 180);
  }
  cv::Mat out;
  cv::cvtColor(hsv, out, cv::COLOR_HSV2RGB);
  return out;
}

cv::Mat grey3(const cv::Mat& in) {
  cv::Mat g, out;
  cv::cvtColor(in, g, cv::COLOR_RGB2GRAY);
  cv::cvtColor(g, out, cv::COLOR_GRAY2RGB);
  return out;
}

const cv::Mat& filler(const TransformContext& ctx, size_t k, cv::Mat* store) {
  const auto& f = *ctx.fillers;
  *store = mat_of(*f[(ctx.seed / 7 + k * 13) % f.size()]);
  return *store;
}

}  // namespace

Image crop_fraction(const Image& in, double area, double fx, double fy) {
  const double side = std::sqrt(area);
  const int w = std::max(8, int(in.width * side)), h = std::max(8, int(in.height * side));
  const int x = int((in.width - w) * fx), y = int((in.height - h) * fy);
  return image_of(mat_of(in)(cv::Rect(x, y, w, h)));
}

Image rotate_keep_canvas(const Image& in, double degrees) {
  const cv::Mat m = mat_of(in);
  const cv::Mat r = cv::getRotationMatrix2D(cv::Point2f(m.cols / 2.f, m.rows / 2.f), degrees, 1.0);
  cv::Mat out;
  cv::warpAffine(m, out, r, m.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  return image_of(out);
}

Image paste_into(const Image& background, const Image& work, double width_fraction, double fx,
                 double fy) {
  cv::Mat bg = mat_of(background);
  const cv::Mat w = mat_of(work);
  const int ww = int(bg.cols * width_fraction);
  cv::Mat small = resized(w, ww, std::max(1, int(std::lround(double(w.rows) * ww / w.cols))));
  if (small.rows > bg.rows) small = scaled(small, double(bg.rows) / small.rows);
  const int x = int((bg.cols - small.cols) * fx), y = int((bg.rows - small.rows) * fy);
  small.copyTo(bg(cv::Rect(x, y, small.cols, small.rows)));
  return image_of(bg);
}

std::vector<TransformFamily> transform_families() {
  using Ctx = TransformContext;
  std::vector<TransformFamily> f;
  auto add = [&](std::string name, std::string desc,
                 std::function<std::vector<uint8_t>(const Image&, const Ctx&)> fn) {
    f.push_back({std::move(name), std::move(desc), std::move(fn)});
  };
  auto rng_of = [](const Ctx& c) { return std::mt19937_64(c.seed * 0x9E3779B97F4A7C15ull + 17); };
  // Off-centre crops hug one of the four corners (chosen at random), centred ones sit midway.
  auto crop_family = [&](int pct, bool centred) {
    add("crop-" + std::to_string(pct) + (centred ? "-centre" : "-offcentre"),
        "keep " + std::to_string(pct) + "% of the area, " + (centred ? "centred" : "at a corner"),
        [=](const Image& im, const Ctx& c) {
          std::mt19937_64 rng = rng_of(c);
          const int corner = int(rng() % 4);
          const double fx = centred ? 0.5 : (corner % 2 ? 1.0 : 0.0);
          const double fy = centred ? 0.5 : (corner / 2 ? 1.0 : 0.0);
          return encode_as(crop_fraction(im, pct / 100.0, fx, fy), ".jpg", 90);
        });
  };

  add("jpeg-q10-30", "JPEG at quality 10, 20 or 30", [](const Image& im, const Ctx& c) {
    return encode_as(im, ".jpg", 10 + 10 * int(c.seed % 3));
  });
  add("resize-0.3x", "scaled to 0.3x", [](const Image& im, const Ctx&) {
    return jpeg(scaled(mat_of(im), 0.3));
  });
  add("resize-2x", "scaled to 2x", [](const Image& im, const Ctx&) {
    return jpeg(scaled(mat_of(im), 2.0));
  });
  for (int pct : {80, 60, 50}) {
    crop_family(pct, true);
    crop_family(pct, false);
  }
  add("aspect-change", "height squeezed to 0.7x", [](const Image& im, const Ctx&) {
    const cv::Mat m = mat_of(im);
    return jpeg(resized(m, m.cols, int(m.rows * 0.7)));
  });
  for (int deg : {5, 15}) {
    add("rotate-" + std::to_string(deg), "rotated, same canvas, black corners",
        [=](const Image& im, const Ctx& c) {
          return encode_as(rotate_keep_canvas(im, c.seed % 2 ? deg : -deg), ".jpg", 90);
        });
  }
  add("rotate-90", "rotated 90 degrees", [](const Image& im, const Ctx&) {
    cv::Mat out;
    cv::rotate(mat_of(im), out, cv::ROTATE_90_CLOCKWISE);
    return jpeg(out);
  });
  add("rotate-180", "rotated 180 degrees", [](const Image& im, const Ctx&) {
    cv::Mat out;
    cv::rotate(mat_of(im), out, cv::ROTATE_180);
    return jpeg(out);
  });
  add("flip-h", "mirrored left-right", [](const Image& im, const Ctx&) {
    cv::Mat out;
    cv::flip(mat_of(im), out, 1);
    return jpeg(out);
  });
  add("flip-v", "flipped top-bottom", [](const Image& im, const Ctx&) {
    cv::Mat out;
    cv::flip(mat_of(im), out, 0);
    return jpeg(out);
  });
  add("greyscale", "greyscale", [](const Image& im, const Ctx&) { return jpeg(grey3(mat_of(im))); });
  add("brightness", "+50 on every channel", [](const Image& im, const Ctx&) {
    return jpeg(lut_apply(mat_of(im), [](double v) { return v + 50; }));
  });
  add("contrast", "contrast x1.6 around mid-grey", [](const Image& im, const Ctx&) {
    return jpeg(lut_apply(mat_of(im), [](double v) { return (v - 128) * 1.6 + 128; }));
  });
  add("gamma", "gamma 0.5", [](const Image& im, const Ctx&) {
    return jpeg(lut_apply(mat_of(im), [](double v) { return 255 * std::pow(v / 255, 0.5); }));
  });
  add("hue", "hue rotated 60 degrees", [](const Image& im, const Ctx&) {
    return jpeg(hue_shift(mat_of(im), 60));
  });
  add("blur", "Gaussian blur, sigma 3 px", [](const Image& im, const Ctx&) {
    cv::Mat out;
    cv::GaussianBlur(mat_of(im), out, cv::Size(0, 0), 3);
    return jpeg(out);
  });
  add("noise", "Gaussian noise, sigma 20", [=](const Image& im, const Ctx& c) {
    cv::Mat m = mat_of(im), noise(m.size(), CV_16SC3);
    cv::theRNG().state = c.seed + 1;
    cv::randn(noise, 0, 20);
    cv::Mat out;
    m.convertTo(out, CV_16SC3);
    out += noise;
    out.convertTo(out, CV_8UC3);
    return jpeg(out);
  });
  add("text-overlay", "meme captions top and bottom", [](const Image& im, const Ctx&) {
    return jpeg(meme(mat_of(im)));
  });
  add("logo-15pct", "a logo over ~15% of the area, in a corner", [=](const Image& im, const Ctx& c) {
    std::mt19937_64 rng = rng_of(c);
    return jpeg(with_logo(mat_of(im), 0.15, rng));
  });
  add("letterbox", "black bars above and below (15% of the height each)",
      [](const Image& im, const Ctx&) { return jpeg(letterbox(mat_of(im))); });
  add("screenshot", "shown in a 1280x800 photo viewer window", [=](const Image& im, const Ctx& c) {
    std::mt19937_64 rng = rng_of(c);
    return encode_as(image_of(screenshot(mat_of(im), rng)), ".png");
  });
  add("pip-40", "pasted at 40% width into another photo", [=](const Image& im, const Ctx& c) {
    std::mt19937_64 rng = rng_of(c);
    cv::Mat store;
    const cv::Mat bg = cover(filler(c, 0, &store), 1280, 853);
    std::uniform_real_distribution<double> u(0.05, 0.95);
    return jpeg(mat_of(paste_into(image_of(bg), im, 0.4, u(rng), u(rng))));
  });
  add("collage-2x2", "one cell of a 2x2 collage, three unrelated photos", [=](const Image& im,
                                                                             const Ctx& c) {
    const int cw = 600, ch = 450;
    cv::Mat out(2 * ch, 2 * cw, CV_8UC3, cv::Scalar(255, 255, 255));
    const int slot = int(c.seed % 4);
    for (int k = 0, other = 0; k < 4; ++k) {
      cv::Mat store;
      const cv::Mat src = k == slot ? mat_of(im) : filler(c, size_t(other++), &store);
      cover(src, cw - 8, ch - 8).copyTo(out(cv::Rect((k % 2) * cw + 4, (k / 2) * ch + 4, cw - 8, ch - 8)));
    }
    return jpeg(out);
  });
  add("perspective", "mild perspective warp (corners in by 2-8%)", [=](const Image& im, const Ctx& c) {
    std::mt19937_64 rng = rng_of(c);
    return jpeg(perspective(mat_of(im), rng));
  });
  add("webp", "WebP re-encode, quality 50", [](const Image& im, const Ctx&) {
    return encode_as(im, ".webp", 50);
  });
  add("chain-a", "crop 70% at a corner, 0.5x, brightness +30, JPEG 40", [=](const Image& im,
                                                                           const Ctx& c) {
    std::mt19937_64 rng = rng_of(c);
    const int corner = int(rng() % 4);
    const Image cropped = crop_fraction(im, 0.7, corner % 2 ? 1.0 : 0.0, corner / 2 ? 1.0 : 0.0);
    const cv::Mat m = lut_apply(scaled(mat_of(cropped), 0.5), [](double v) { return v + 30; });
    return jpeg(m, 40);
  });
  add("chain-b", "rotate 8, captions, greyscale, 0.7x, WebP 60", [=](const Image& im, const Ctx& c) {
    const Image rotated = rotate_keep_canvas(im, c.seed % 2 ? 8 : -8);
    const cv::Mat m = scaled(grey3(meme(mat_of(rotated))), 0.7);
    return encode_as(image_of(m), ".webp", 60);
  });
  return f;
}

}  // namespace imprint::bench
