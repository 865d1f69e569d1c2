#include "layout_check.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <utility>
#include <vector>

namespace imprint {
namespace {

constexpr double kDetailSigma = 2.0;  // cells: 1/16 of a 32-cell thumbnail

// img minus its blur, where the blur is taken over valid cells only (normalised convolution), so
// the edge of the query's footprint does not read as detail.
cv::Mat detail(const cv::Mat& img, const cv::Mat& valid) {
  cv::Mat f, w, fw, blur_fw, blur_w;
  img.convertTo(f, CV_32F);
  valid.convertTo(w, CV_32F, 1.0 / 255);
  fw = f.mul(w);
  cv::GaussianBlur(fw, blur_fw, cv::Size(0, 0), kDetailSigma, 0, cv::BORDER_REFLECT);
  cv::GaussianBlur(w, blur_w, cv::Size(0, 0), kDetailSigma, 0, cv::BORDER_REFLECT);
  cv::Mat base = blur_fw / cv::max(blur_w, 1e-3);
  return f - base;
}

// The sums of a zero-normalised cross-correlation, added cell by cell.
struct ZnccSums {
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  int count = 0;
  void add(float a, float b) {
    sa += a;
    sb += b;
    saa += double(a) * a;
    sbb += double(b) * b;
    sab += double(a) * b;
    ++count;
  }
  // -2 with fewer than min_cells cells, 0 when either side is flat.
  double value(int min_cells) const {
    if (count < min_cells) return -2;
    const double va = saa - sa * sa / count, vb = sbb - sb * sb / count;
    if (va <= 1e-6 || vb <= 1e-6) return 0;
    return (sab - sa * sb / count) / std::sqrt(va * vb);
  }
};

// The sums over the cells where `use` is set, row by row.
ZnccSums sums_over(const cv::Mat& a, const cv::Mat& b, const cv::Mat& use) {
  ZnccSums z;
  for (int y = 0; y < a.rows; ++y) {
    const float* pa = a.ptr<float>(y);
    const float* pb = b.ptr<float>(y);
    const uint8_t* k = use.ptr<uint8_t>(y);
    for (int x = 0; x < a.cols; ++x) {
      if (k[x]) z.add(pa[x], pb[x]);
    }
  }
  return z;
}

double zncc(const cv::Mat& a, const cv::Mat& b, const cv::Mat& use, int min_cells) {
  return sums_over(a, b, use).value(min_cells);
}

// zncc() over the cells of `use`; with occluded > 0, without the cells an overlay hides. The
// `occluded` fraction of the cells that the correlation's fit leaves furthest off (with both
// sides standardised, a cell is off by |zb - r za|) are candidates, and of those only the ones in
// solid blobs (a morphological opening, 3x3 cells) are set aside: a caption or a logo covers a
// patch of cells, while the cells where an unrelated picture or another cut of the same photo
// fits worst lie scattered. Chosen twice: from the fit over all cells, then from the fit over
// those the first choice kept. The cells set aside count as disagreeing: the correlation over the
// rest is scaled by the share of the cells it covers (and never lowers the plain one).
double trimmed_zncc(const cv::Mat& a, const cv::Mat& b, const cv::Mat& use, int min_cells,
                    double occluded) {
  const ZnccSums all = sums_over(a, b, use);
  const double whole = all.value(min_cells);
  if (occluded <= 0 || whole == -2) return whole;
  const int total = all.count;
  const size_t worst = size_t(std::lround(total * occluded));
  if (worst == 0) return whole;
  cv::Mat keep;  // set after the first round; that round's fit is over every cell (`all`)
  std::vector<std::pair<double, int>> off;
  for (int round = 0; round < 2; ++round) {
    const ZnccSums z = round == 0 ? all : sums_over(a, b, keep);
    if (z.count < 2) return whole;
    const double r = z.value(0), n = z.count, ma = z.sa / n, mb = z.sb / n;
    const double sa = std::sqrt(std::max(1e-12, z.saa / n - ma * ma));
    const double sb = std::sqrt(std::max(1e-12, z.sbb / n - mb * mb));
    off.clear();
    for (int y = 0; y < a.rows; ++y) {
      const float* pa = a.ptr<float>(y);
      const float* pb = b.ptr<float>(y);
      const uint8_t* k = use.ptr<uint8_t>(y);
      for (int x = 0; x < a.cols; ++x) {
        if (!k[x]) continue;
        const double za = (pa[x] - ma) / sa, zb = (pb[x] - mb) / sb;
        off.emplace_back(std::abs(zb - r * za), y * a.cols + x);
      }
    }
    std::nth_element(off.begin(), off.begin() + long(worst), off.end(),
                     [](const auto& p, const auto& q) { return p.first > q.first; });
    cv::Mat candidates(a.size(), CV_8UC1, cv::Scalar(0));
    for (size_t i = 0; i < worst; ++i) candidates.data[off[i].second] = 255;
    cv::Mat hidden;
    cv::morphologyEx(candidates, hidden, cv::MORPH_OPEN,
                     cv::getStructuringElement(cv::MORPH_RECT, cv::Size(3, 3)));
    keep = use & ~hidden;
  }
  // The cells set aside count as cells that do not agree: the correlation over the rest, scaled
  // by the share of the cells it covers.
  const double rest = zncc(a, b, keep, min_cells);
  if (rest == -2) return whole;
  return std::max(whole, rest * cv::countNonZero(keep) / total);
}

// zncc of two windows of the same size in one float matrix, every cell used: the same sums in
// the same order as zncc() over copies of the windows, without copying them.
double window_zncc(const cv::Mat& d, const cv::Rect& a, const cv::Rect& b, int min_cells) {
  ZnccSums z;
  for (int y = 0; y < a.height; ++y) {
    const float* pa = d.ptr<float>(a.y + y) + a.x;
    const float* pb = d.ptr<float>(b.y + y) + b.x;
    for (int x = 0; x < a.width; ++x) z.add(pa[x], pb[x]);
  }
  return z.value(min_cells);
}

cv::Mat mat_of(const Image& g) {
  return cv::Mat(g.height, g.width, CV_8UC1, const_cast<uint8_t*>(g.pixels.data()));
}

}  // namespace

double layout_similarity(const Image& work_thumb, int ww, int wh, const Projection& hp,
                         const LocalFeatures& q, int min_cells, const PixelRect* within,
                         double occluded) {
  const Image& qt = q.thumbnail;
  if (work_thumb.empty() || qt.empty() || q.width <= 0 || q.height <= 0 || ww <= 0 || wh <= 0) {
    return -2;
  }
  // The query thumbnail is warped onto a grid 4x finer than the work's and area-averaged down,
  // so both sides average the same footprint whatever the scale of the copy.
  constexpr int kOver = 4;
  const int n = work_thumb.width, m = work_thumb.height;
  const double sx = double(ww) / (n * kOver), sy = double(wh) / (m * kOver);
  const cv::Matx33d grid_to_work(sx, 0, 0.5 * sx, 0, sy, 0.5 * sy, 0, 0, 1);
  const cv::Matx33d query_to_thumb(double(qt.width) / q.width, 0, 0, 0,
                                   double(qt.height) / q.height, 0, 0, 0, 1);
  const cv::Matx33d h(hp.m);
  const cv::Mat grid_to_thumb(query_to_thumb * h * grid_to_work);
  const cv::Mat src = mat_of(qt);
  cv::Mat inside(qt.height, qt.width, CV_8UC1, cv::Scalar(within ? 0 : 255));
  if (within) {
    const double fx = double(qt.width) / q.width, fy = double(qt.height) / q.height;
    const int x0 = std::clamp(int(std::ceil(within->x * fx)), 0, qt.width);
    const int y0 = std::clamp(int(std::ceil(within->y * fy)), 0, qt.height);
    const int x1 = std::clamp(int(std::floor((within->x + within->width) * fx)), x0, qt.width);
    const int y1 = std::clamp(int(std::floor((within->y + within->height) * fy)), y0, qt.height);
    inside(cv::Rect(x0, y0, x1 - x0, y1 - y0)).setTo(255);
  }
  cv::Mat warped, mask;
  const cv::Size fine(n * kOver, m * kOver);
  cv::warpPerspective(src, warped, grid_to_thumb, fine, cv::INTER_LINEAR | cv::WARP_INVERSE_MAP,
                      cv::BORDER_CONSTANT, 0);
  cv::warpPerspective(inside, mask, grid_to_thumb, fine, cv::INTER_LINEAR | cv::WARP_INVERSE_MAP,
                      cv::BORDER_CONSTANT, 0);
  cv::Mat coarse, coarse_mask, valid;
  cv::resize(warped, coarse, cv::Size(n, m), 0, 0, cv::INTER_AREA);
  cv::resize(mask, coarse_mask, cv::Size(n, m), 0, 0, cv::INTER_AREA);
  cv::threshold(coarse_mask, valid, 249, 255, cv::THRESH_BINARY);
  const cv::Mat all(m, n, CV_8UC1, cv::Scalar(255));
  return trimmed_zncc(detail(mat_of(work_thumb), all), detail(coarse, valid), valid, min_cells,
                      occluded);
}

double self_similarity(const Image& thumbnail) {
  if (thumbnail.empty()) return 0;
  const int n = thumbnail.width, m = thumbnail.height;
  const cv::Mat d = detail(mat_of(thumbnail), cv::Mat(m, n, CV_8UC1, cv::Scalar(255)));
  double best = 0;
  for (int dy = -m / 2; dy <= m / 2; ++dy) {
    for (int dx = -n / 2; dx <= n / 2; ++dx) {
      if (std::abs(dx) * 4 < n && std::abs(dy) * 4 < m) continue;  // under a quarter: neighbours
      const int w = n - std::abs(dx), h = m - std::abs(dy);
      const cv::Rect a(std::max(0, dx), std::max(0, dy), w, h);
      const cv::Rect b(std::max(0, -dx), std::max(0, -dy), w, h);
      best = std::max(best, window_zncc(d, a, b, (n * m) / 2));
    }
  }
  return best;
}

}  // namespace imprint
