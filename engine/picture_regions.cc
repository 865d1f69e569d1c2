#include "picture_regions.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace imprint {
namespace {

// A step of at least this much between neighbouring pixels (0..255 luma, after area averaging to
// the analysis size) counts as edge. Pasted pictures meet their surroundings with a step; soft
// content rarely changes this fast along a straight line.
constexpr int kEdgeStep = 6;
constexpr int kMaxCandidates = 48;  // per direction; 48^2 x 48^2 / 4 rectangles at most

struct Line {
  double pos = 0;  // edge coordinate at the analysis scale (between pixel rows or columns)
  int index = -1;  // row of the edge map (-1: the image border, fully supported)
  int run = 0;
};

// edges(i, j): an edge between pixel j and j+1 along direction i, thinned to local maxima and
// widened by one pixel across, with prefix sums along the line for O(1) coverage queries.
struct EdgeMap {
  int lines = 0, length = 0;
  std::vector<int> prefix;  // (lines) x (length + 1)
  double coverage(int line, int from, int to) const {
    if (to <= from) return 0;
    const int* p = prefix.data() + size_t(line) * (length + 1);
    return double(p[to] - p[from]) / (to - from);
  }
};

// Edges between rows y and y+1 of g (transpose g for columns). An edge is a step: the mean of
// the two rows below minus the mean of the two rows above, averaged over 7 pixels along the
// line. Texture (grass, fabric, scan lines) changes sign every few pixels and averages away; the
// border of a pasted picture keeps one sign along its length.
// Colour images are taken per channel (the largest step counts): a picture pasted on a background
// of the same brightness still differs in hue.
// The sums are kept in integers: sum(x) adds (row y+1 + row y+2) - (row y-1 + row y) over the 7
// pixels x-3..x+3 (the border pixel repeated), 14 times the averaged step, so a step of
// kEdgeStep is a sum of 14 * kEdgeStep and steps compare as their sums do.
EdgeMap row_edges(const cv::Mat& g, std::vector<Line>* candidates, int min_run) {
  const int h = g.rows, w = g.cols, ch = g.channels();
  constexpr int kHalf = 3;  // 7 pixels along the line
  // strength[y * w + x]: the largest over channels of |sum(x)| for the edge below row y.
  std::vector<int> strength(size_t(h - 1) * w, 0);
  // One row of differences, channels interleaved, with kHalf pixels repeated at each end; and
  // their sums over 7 pixels.
  const int pad = kHalf * ch, n = w * ch;
  std::vector<int16_t> diff(static_cast<size_t>(n + 2 * pad));
  std::vector<int16_t> sums(static_cast<size_t>(n));
  for (int y = 0; y + 1 < h; ++y) {
    const uint8_t* a0 = g.ptr<uint8_t>(std::max(0, y - 1));
    const uint8_t* a1 = g.ptr<uint8_t>(y);
    const uint8_t* b0 = g.ptr<uint8_t>(y + 1);
    const uint8_t* b1 = g.ptr<uint8_t>(std::min(h - 1, y + 2));
    int16_t* d = diff.data() + pad;
    for (int i = 0; i < n; ++i) d[i] = int16_t(int(b0[i]) + b1[i] - a0[i] - a1[i]);
    for (int i = 0; i < pad; ++i) {
      d[i - pad] = d[i % ch];
      d[n + i] = d[n - ch + i % ch];
    }
    for (int i = 0; i < n; ++i) {  // |sum| <= 7 * 510
      sums[size_t(i)] = int16_t(d[i - 3 * ch] + d[i - 2 * ch] + d[i - ch] + d[i] + d[i + ch] +
                                d[i + 2 * ch] + d[i + 3 * ch]);
    }
    int* out = strength.data() + size_t(y) * w;
    for (int x = 0; x < w; ++x) {
      int best = 0;
      for (int c = 0; c < ch; ++c) best = std::max(best, std::abs(int(sums[size_t(x * ch + c)])));
      out[x] = best;
    }
  }
  constexpr int kEdgeSum = 14 * kEdgeStep;
  cv::Mat thin(h - 1, w, CV_8U, cv::Scalar(0));
  for (int y = 0; y + 1 < h; ++y) {
    const int* c = strength.data() + size_t(y) * w;
    const int* up = y > 0 ? c - w : nullptr;
    const int* dn = y + 2 < h ? c + w : nullptr;
    uint8_t* t = thin.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      if (c[x] < kEdgeSum) continue;
      if (up && up[x] > c[x]) continue;
      if (dn && dn[x] >= c[x]) continue;
      t[x] = 1;
    }
  }
  EdgeMap m;
  m.lines = h - 1;
  m.length = w;
  m.prefix.assign(size_t(m.lines) * (w + 1), 0);
  for (int y = 0; y + 1 < h; ++y) {
    int* p = m.prefix.data() + size_t(y) * (w + 1);
    int run = 0, best = 0, gap = 0;
    for (int x = 0; x < w; ++x) {
      bool e = thin.at<uint8_t>(y, x);
      if (y > 0) e |= thin.at<uint8_t>(y - 1, x) != 0;
      if (y + 2 < h) e |= thin.at<uint8_t>(y + 1, x) != 0;
      p[x + 1] = p[x] + (e ? 1 : 0);
      // Longest run allowing gaps of up to 3 pixels (JPEG blocks, a matching colour here and there).
      if (e) {
        run += 1 + gap;
        gap = 0;
      } else if (run > 0 && ++gap > 3) {
        run = 0;
        gap = 0;
      }
      best = std::max(best, run);
    }
    if (best >= min_run) candidates->push_back({double(y + 1), y, best});
  }
  // One candidate per edge: the longest run within two rows.
  std::sort(candidates->begin(), candidates->end(),
            [](const Line& a, const Line& b) { return a.run > b.run; });
  std::vector<Line> kept;
  for (const Line& l : *candidates) {
    bool near = false;
    for (const Line& k : kept) near |= std::abs(k.pos - l.pos) <= 2;
    if (!near) kept.push_back(l);
    if (int(kept.size()) == kMaxCandidates) break;
  }
  *candidates = std::move(kept);
  return m;
}

// Mean over the span of the largest per-channel step between the two rows from `pos` and the two
// rows before it, in the full-resolution image (rows of `img`; transposed for columns).
double step_at(const cv::Mat& img, int pos, int from, int to) {
  if (pos < 2 || pos + 1 >= img.rows || to <= from) return 0;
  const int ch = img.channels();
  const uint8_t* a0 = img.ptr<uint8_t>(pos - 2);
  const uint8_t* a1 = img.ptr<uint8_t>(pos - 1);
  const uint8_t* b0 = img.ptr<uint8_t>(pos);
  const uint8_t* b1 = img.ptr<uint8_t>(pos + 1);
  double sum = 0;
  for (int x = from; x < to; ++x) {
    int best = 0;
    for (int c = 0; c < ch; ++c) {
      const int i = x * ch + c;
      best = std::max(best, std::abs(int(b0[i]) + b1[i] - a0[i] - a1[i]));
    }
    sum += best;
  }
  return sum / (2.0 * (to - from));
}

// The edge position near `guess` (full-resolution pixels) along [from, to), searched within
// +-radius: the analysis scale locates edges to a pixel or two of its own, and PDQ needs the
// picture's bounds to about 1% (a bright strip along a dark picture moves its hash by dozens of
// bits). A gutter between two pictures has an edge on each side, closer together than the
// analysis scale can tell apart; of the strong steps (within 70% of the strongest) the one
// furthest towards the rectangle's inside (`inward` +1: larger positions, -1: smaller) is where
// this picture begins, the other being the neighbour's.
int refine_edge(const cv::Mat& img, int guess, int from, int to, int radius, int inward) {
  if (guess <= 0 || guess >= img.rows) return guess;  // the image border is exact
  const int inset = (to - from) / 10;  // corners belong to two sides; skip them
  const int lo = std::max(2, guess - radius), hi = std::min(img.rows - 2, guess + radius);
  if (hi < lo) return guess;
  std::vector<double> step(size_t(hi - lo + 1));
  double best_step = 0;
  for (int p = lo; p <= hi; ++p) {
    step[size_t(p - lo)] = step_at(img, p, from + inset, to - inset);
    best_step = std::max(best_step, step[size_t(p - lo)]);
  }
  if (best_step <= 0) return guess;
  int best = guess;
  for (int p = lo; p <= hi; ++p) {
    if (step[size_t(p - lo)] < 0.7 * best_step) continue;
    if (best == guess || (inward > 0 ? p > best : p < best)) best = p;
  }
  return best;
}

double iou(const PixelRect& a, const PixelRect& b) {
  const int x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
  const int x1 = std::min(a.x + a.width, b.x + b.width), y1 = std::min(a.y + a.height, b.y + b.height);
  if (x1 <= x0 || y1 <= y0) return 0;
  const double inter = double(x1 - x0) * (y1 - y0);
  return inter / (double(a.width) * a.height + double(b.width) * b.height - inter);
}

}  // namespace

std::vector<PixelRect> find_picture_regions(const Image& image, const PictureRegionOptions& o) {
  std::vector<PixelRect> out;
  if (image.width < 32 || image.height < 32) return out;
  const cv::Mat in(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
                   const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat g = in;
  const double s = std::min(1.0, double(o.analysis_side) / std::max(image.width, image.height));
  if (s < 1) cv::resize(g, g, cv::Size(), s, s, cv::INTER_AREA);
  const int w = g.cols, h = g.rows;
  if (w < 16 || h < 16) return out;
  const int min_w = std::max(8, int(o.min_side * w)), min_h = std::max(8, int(o.min_side * h));

  std::vector<Line> rows, cols;
  const EdgeMap rm = row_edges(g, &rows, int(min_w * o.min_support));
  cv::Mat gt;
  cv::transpose(g, gt);
  const EdgeMap cm = row_edges(gt, &cols, int(min_h * o.min_support));
  rows.push_back({0, -1, w});
  rows.push_back({double(h), -1, w});
  cols.push_back({0, -1, h});
  cols.push_back({double(w), -1, h});
  std::sort(rows.begin(), rows.end(), [](const Line& a, const Line& b) { return a.pos < b.pos; });
  std::sort(cols.begin(), cols.end(), [](const Line& a, const Line& b) { return a.pos < b.pos; });

  if (o.max_regions <= 0) return out;
  const int nr = int(rows.size()), nc = int(cols.size());
  // Support tables: row_cover[(i * nc + l) * nc + r] is how much of row line i is edge between
  // column lines l and r (1 for the border), and col_cover[(j * nr + t) * nr + b] likewise for
  // column line j between row lines t and b; every rectangle's sides and the crossing test below
  // are lookups in them.
  auto cover_table = [](const std::vector<Line>& lines, const std::vector<Line>& across,
                        const EdgeMap& map) {
    const int n = int(lines.size()), m = int(across.size());
    std::vector<double> cover(size_t(n) * m * m, 0);
    for (int i = 0; i < n; ++i) {
      for (int l = 0; l < m; ++l) {
        for (int r = l + 1; r < m; ++r) {
          cover[(size_t(i) * m + l) * m + r] =
              lines[i].index < 0
                  ? 1.0
                  : map.coverage(lines[i].index, int(across[l].pos), int(across[r].pos));
        }
      }
    }
    return cover;
  };
  const std::vector<double> row_cover = cover_table(rows, cols, rm);
  const std::vector<double> col_cover = cover_table(cols, rows, cm);
  // A rectangle is crossed when an edge line (not the border) runs right across its inside, a few
  // pixels clear of its own sides: the gutter between two collage cells does that to the rectangle
  // around both cells. crossing_rows[(l * nc + r) * (nr + 1) + k] counts the row lines before k
  // supported between column lines l and r (crossing_cols likewise for column lines between row
  // lines); row_from[t] is the first row line more than kClear below line t and row_to[b] one past
  // the last more than kClear above line b (col_from, col_to likewise for columns).
  constexpr int kClear = 3;
  auto crossing_table = [&o](const std::vector<Line>& lines, int m,
                             const std::vector<double>& cover) {
    const int n = int(lines.size());
    std::vector<uint8_t> counts(size_t(m) * m * (n + 1), 0);
    for (int l = 0; l < m; ++l) {
      for (int r = l + 1; r < m; ++r) {
        uint8_t* p = counts.data() + (size_t(l) * m + r) * (n + 1);
        for (int i = 0; i < n; ++i) {
          p[i + 1] =
              p[i] + (lines[i].index >= 0 && cover[(size_t(i) * m + l) * m + r] >= o.min_support);
        }
      }
    }
    return counts;
  };
  const std::vector<uint8_t> crossing_rows = crossing_table(rows, nc, row_cover);
  const std::vector<uint8_t> crossing_cols = crossing_table(cols, nr, col_cover);
  auto inner_bounds = [](const std::vector<Line>& lines, std::vector<int>* from,
                         std::vector<int>* to) {
    const int n = int(lines.size());
    from->assign(size_t(n), n);
    to->assign(size_t(n), 0);
    for (int a = 0; a < n; ++a) {
      const int p = int(lines[a].pos);
      for (int k = 0; k < n; ++k) {
        if (lines[k].pos > p + kClear) {
          (*from)[a] = k;
          break;
        }
      }
      for (int k = n - 1; k >= 0; --k) {
        if (lines[k].pos < p - kClear) {
          (*to)[a] = k + 1;
          break;
        }
      }
    }
  };
  std::vector<int> row_from, row_to, col_from, col_to;
  inner_bounds(rows, &row_from, &row_to);
  inner_bounds(cols, &col_from, &col_to);

  // Each supported rectangle as one sortable key, smaller first: rectangles no edge crosses first,
  // the best supported (in steps of 5%), then the larger (a picture rather than a part of it:
  // stripes inside a picture make rectangles too, but smaller ones). Then crossed ones, the
  // smaller first: a picture with a horizon of its own is crossed once, a union of collage cells
  // is larger. Ties go by the lines' order, so that the result does not depend on a sort.
  constexpr int kLineBits = 6;  // kMaxCandidates + 2 lines per direction
  constexpr uint64_t kAreaLimit = uint64_t(1) << 20;
  static_assert(kMaxCandidates + 2 <= (1 << kLineBits));
  auto for_each_rectangle = [&](auto&& visit) {
    for (int t = 0; t < nr; ++t) {
      for (int b = t + 1; b < nr; ++b) {
        const int y0 = int(rows[t].pos), y1 = int(rows[b].pos);
        if (y1 - y0 < min_h) continue;
        const uint8_t* cross_c = crossing_cols.data() + (size_t(t) * nr + b) * (nc + 1);
        const bool rows_between = row_from[t] < row_to[b];
        for (int l = 0; l < nc; ++l) {
          for (int r = l + 1; r < nc; ++r) {
            const int x0 = int(cols[l].pos), x1 = int(cols[r].pos);
            if (x1 - x0 < min_w) continue;
            // At least two sides on real edges: the border alone bounds any strip of the image.
            const int sides = (rows[t].index >= 0) + (rows[b].index >= 0) + (cols[l].index >= 0) +
                              (cols[r].index >= 0);
            if (sides < 2) continue;
            const double aspect = double(x1 - x0) / (y1 - y0);
            if (aspect > 4 || aspect < 0.25) continue;
            const size_t lr = size_t(l) * nc + r;
            double sup = row_cover[size_t(t) * nc * nc + lr];
            if (sup < o.min_support) continue;
            sup = std::min(sup, row_cover[size_t(b) * nc * nc + lr]);
            if (sup < o.min_support) continue;
            sup = std::min(sup, col_cover[(size_t(l) * nr + t) * nr + b]);
            if (sup < o.min_support) continue;
            sup = std::min(sup, col_cover[(size_t(r) * nr + t) * nr + b]);
            if (sup < o.min_support) continue;
            const uint8_t* cross_r = crossing_rows.data() + lr * (nr + 1);
            const bool crossed =
                (rows_between && cross_r[row_to[b]] > cross_r[row_from[t]]) ||
                (col_from[l] < col_to[r] && cross_c[col_to[r]] > cross_c[col_from[l]]);
            const uint64_t bucket = 20 - std::clamp(int(sup * 20), 0, 20);
            const uint64_t area = std::min<uint64_t>(uint64_t(x1 - x0) * (y1 - y0), kAreaLimit - 1);
            const uint64_t order =
                crossed ? (area << 5 | bucket) : (bucket << 20 | (kAreaLimit - 1 - area));
            const uint64_t lines = uint64_t(t) << (3 * kLineBits) | uint64_t(b) << (2 * kLineBits) |
                                   uint64_t(l) << kLineBits | uint64_t(r);
            visit(uint64_t(crossed) << 62 | order << (4 * kLineBits) | lines);
          }
        }
      }
    }
  };
  const uint64_t kLineMask = (uint64_t(1) << kLineBits) - 1;
  auto rectangle_of = [&](uint64_t key) {
    const int t = int(key >> (3 * kLineBits) & kLineMask),
              b = int(key >> (2 * kLineBits) & kLineMask);
    const int l = int(key >> kLineBits & kLineMask), r = int(key & kLineMask);
    const int x0 = int(cols[l].pos), y0 = int(rows[t].pos);
    return PixelRect{x0, y0, int(cols[r].pos) - x0, int(rows[b].pos) - y0};
  };

  // Rectangles in key order; near-duplicates (a rectangle and the same one taking in a gutter or
  // a frame a pixel or two wide at the analysis scale) keep the smaller: the picture without its
  // surround.
  std::vector<PixelRect> kept;
  auto take = [&](const PixelRect& f) {
    for (PixelRect& k : kept) {
      if (iou(k, f) <= 0.98) continue;
      if (double(f.width) * f.height < double(k.width) * k.height) k = f;
      return;
    }
    if (int(kept.size()) < o.max_regions) kept.push_back(f);
  };
  // A grid of blocks makes a million supported rectangles, so they are not all sorted: the keys
  // are gathered in one pass, the first `first` of them (options.ranked) are selected and sorted,
  // growing until they fill `kept`. After that, a later rectangle changes the result only as a
  // near-duplicate of a kept one or of such a near-duplicate, so those are collected from the
  // rest (to a fixed point) and taken in order too: the same result as sorting them all.
  std::vector<uint64_t> keys;
  for_each_rectangle([&](uint64_t key) { keys.push_back(key); });
  size_t first = size_t(std::max(1, o.ranked)), sorted = 0;
  for (;;) {
    first = std::min(first, keys.size());
    // keys[0, sorted) are the smallest, in order; select and sort the next ones up to `first`.
    if (first > sorted) {
      std::nth_element(keys.begin() + long(sorted), keys.begin() + long(first - 1), keys.end());
      std::sort(keys.begin() + long(sorted), keys.begin() + long(first));
      for (size_t i = sorted; i < first; ++i) take(rectangle_of(keys[i]));
      sorted = first;
    }
    if (sorted == keys.size() || int(kept.size()) == o.max_regions) break;
    first *= 8;
  }
  if (sorted < keys.size()) {
    std::vector<PixelRect> frontier = kept;
    std::vector<uint64_t> near;
    std::vector<char> taken(keys.size() - sorted, 0);
    while (!frontier.empty()) {
      // The overlap of two rectangles is at most the ratio of their areas, so most rectangles are
      // out of reach of the whole frontier on their area alone.
      double least = 1e300, most = 0;
      for (const PixelRect& k : frontier) {
        least = std::min(least, double(k.width) * k.height);
        most = std::max(most, double(k.width) * k.height);
      }
      std::vector<PixelRect> added;
      for (size_t i = sorted; i < keys.size(); ++i) {
        if (taken[i - sorted]) continue;
        const PixelRect f = rectangle_of(keys[i]);
        const double area = double(f.width) * f.height;
        if (area < 0.98 * least || 0.98 * area > most) continue;
        for (const PixelRect& k : frontier) {
          const double k_area = double(k.width) * k.height;
          if (std::min(area, k_area) <= 0.98 * std::max(area, k_area)) continue;
          if (iou(k, f) > 0.98) {
            taken[i - sorted] = 1;
            near.push_back(keys[i]);
            added.push_back(f);
            break;
          }
        }
      }
      frontier = std::move(added);
    }
    std::sort(near.begin(), near.end());
    for (uint64_t key : near) take(rectangle_of(key));
  }
  cv::Mat in_t;
  cv::transpose(in, in_t);
  const int radius = int(std::ceil(1.5 / s));
  for (const PixelRect& k : kept) {
    int x0 = int(std::lround(k.x / s)), x1 = int(std::lround((k.x + k.width) / s));
    int y0 = int(std::lround(k.y / s)), y1 = int(std::lround((k.y + k.height) / s));
    const int ny0 = refine_edge(in, y0, x0, x1, radius, +1);
    const int ny1 = refine_edge(in, y1, x0, x1, radius, -1);
    const int nx0 = refine_edge(in_t, x0, y0, y1, radius, +1);
    const int nx1 = refine_edge(in_t, x1, y0, y1, radius, -1);
    x0 = std::clamp(nx0, 0, image.width);
    x1 = std::clamp(nx1, 0, image.width);
    y0 = std::clamp(ny0, 0, image.height);
    y1 = std::clamp(ny1, 0, image.height);
    if (x1 - x0 > 0 && y1 - y0 > 0) out.push_back({x0, y0, x1 - x0, y1 - y0});
  }
  return out;
}

std::vector<RegionHash> hash_regions(const Image& image, const std::vector<PixelRect>& rects) {
  std::vector<RegionHash> out;
  if (image.empty() || rects.empty()) return out;
  constexpr int kSide = 1024;
  const double s = std::min(1.0, double(kSide) / std::max(image.width, image.height));
  const cv::Mat full(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
                     const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat small = full;
  if (s < 1.0) cv::resize(full, small, cv::Size(), s, s, cv::INTER_AREA);
  for (const PixelRect& r : rects) {
    const cv::Rect in_small = cv::Rect(int(r.x * s), int(r.y * s), int(std::lround(r.width * s)),
                                       int(std::lround(r.height * s))) &
                              cv::Rect(0, 0, small.cols, small.rows);
    if (in_small.width < kPdqMinDimension || in_small.height < kPdqMinDimension) continue;
    const cv::Mat part = small(in_small);
    Image img(part.cols, part.rows, image.channels);
    part.copyTo(cv::Mat(part.rows, part.cols, part.type(), img.pixels.data()));
    const PdqResult h = pdq_hash(img);
    out.push_back({r.x, r.y, r.width, r.height, h.hash, h.quality});
  }
  return out;
}

std::vector<PixelRect> aspect_crops(int width, int height) {
  std::vector<PixelRect> out;
  if (width <= 0 || height <= 0) return out;
  for (const auto& [aw, ah] : {std::pair{1, 1}, std::pair{4, 3}, std::pair{3, 4}, std::pair{3, 2},
                               std::pair{2, 3}, std::pair{16, 9}, std::pair{9, 16}}) {
    const double a = double(aw) / ah;
    int w = width, h = height;
    if (a < double(width) / height) {
      w = int(std::lround(height * a));
    } else {
      h = int(std::lround(width / a));
    }
    const double kept = double(w) * h / (double(width) * height);
    if (kept < 0.4 || kept > 0.95) continue;
    out.push_back({(width - w) / 2, (height - h) / 2, w, h});
  }
  return out;
}

PixelRect nearest_aspect_crop(int width, int height, int region_w, int region_h) {
  PixelRect best{0, 0, width, height};
  if (region_w <= 0 || region_h <= 0) return best;
  const double want = std::log(double(region_w) / region_h);
  double best_gap = 1e9;
  for (const PixelRect& r : aspect_crops(width, height)) {
    const double gap = std::abs(std::log(double(r.width) / r.height) - want);
    if (gap < best_gap) {
      best_gap = gap;
      best = r;
    }
  }
  return best;
}

}  // namespace imprint
