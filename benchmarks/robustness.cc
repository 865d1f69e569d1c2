// Robustness: which edited copies of a registered work does imprint find, and at what cost in
// false matches? Works and distractors are cut from the wallpaper photos (photo_corpus.h); the
// distractors include other regions of the same photos as the works (hard negatives). Every
// transform family (transforms.h) is applied to every work (positive queries) and every
// distractor (negative queries); each query goes through the real path (fingerprint_image,
// Catalog::match with the second stage fed by the decoded query) and, in the same run, through
// PDQ-only matching (the same catalog opened with the second stage off) and OpenCV img_hash's
// PHash, BlockMean, MarrHildreth and ColorMoment (nearest registered work by their distance).
//
// Per method one score threshold is chosen, the lowest that keeps false positives (a negative
// query matched to any work, or a positive matched to the wrong work) at or below 0.1% of the
// negative queries; the table gives each family's recall at that threshold, and the recall and
// false flags of the catalog's default decisions. Then the second stage's cost: ms per query
// and memory per work for feature indexes of 10k and 100k works.
//
//   build/benchmarks/robustness [--quick] [--works N] [--distractors N] [--threads N]
//                               [--cost-sizes 10000,100000] [--families SUBSTR] [--out DIR]
//                               [--list-misses] [--guided-rounds N] [--no-region-hashes]
//                               [--ransac-iterations N] [--classic-ransac] [--min-consistent N]
//                               [--occluded-cells F]
//                               [--corpus photos|wide] [--per-group N] [--dump FILE] [--export DIR]
//                               [--accuracy-floor R]
//
// --accuracy-floor R is the test command's accuracy check (tests/CMakeLists.txt): only the
// held-out half's queries run (the tuning half's works stay registered, as targets to confuse),
// without the img_hash methods and the cost section, and the run fails (exit 3) when imprint's
// default decisions flag fewer than R of the held-out copies as the right work, or flag any
// negative query (a false flag) or any copy as another work (a wrong flag).
#include <opencv2/core.hpp>
#include <opencv2/img_hash.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "catalog.h"
#include "engine.h"
#include "fingerprint_index.h"
#include "local_features.h"
#include "photo_corpus.h"
#include "process_memory.h"
#include "second_stage.h"
#include "synthetic_hashes.h"
#include "transforms.h"

namespace imprint::bench {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct Args {
  int works = 120;
  int distractors = 80;
  int threads = 2;
  std::vector<int> cost_sizes = {10000, 100000};
  std::string families;  // substring filter, for development
  bool list_misses = false;
  double accuracy_floor = -1;  // >= 0: the held-out accuracy check (see the top of the file)
  // Ablations: the second stage without guided matching or without picture-region hashes.
  int guided_rounds = -1;  // -1: the catalog's default
  int ransac_iterations = -1;  // -1: the catalog's default
  int min_consistent = -1;     // -1: the catalog's default
  double occluded_cells = -1;  // -1: the catalog's default
  bool classic_ransac = false;  // classic RANSAC instead of the default USAC_FAST
  int searched_features = 0;    // FeatureIndexOptions::searched_per_work (0: all)
  bool region_hashes = true;
  // "photos": the wallpaper photos (PDQ quality >= 50); "wide": every picture kind of the eight
  // allowed packages, soft and flat works included (photo_corpus.h load_wide_sources).
  std::string corpus = "photos";
  size_t per_group = 60;
  std::string dump;  // a TSV of every query's top candidates, for analysis
  // Writes the registered works (DIR/works/ID.jpg, the bytes registered) and every query's bytes
  // (DIR/queries/FAMILY/ID) for front-end comparisons (benchmarks/python_query_equality.py).
  std::string export_dir;
  std::string name = "robustness";  // results file name (wide corpus: robustness-wide)
  std::string out = std::string(IMPRINT_SOURCE_DIR) + "/benchmarks/results";
};

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// ---------------------------------------------------------------------------------------------
// The corpus: works, distractors and fillers cut from de-duplicated wallpapers.

struct Piece {
  std::string id;
  std::string origin;  // photo file and rectangle, for the record
  Image image;
  size_t photo = 0;
  bool hard = false;  // a distractor from a photo that also gave works
  int half = 0;       // evaluation_half of its source: 0 tuning, 1 held-out
  std::string group;  // the source's kind (wide corpus)
};

struct Corpus {
  std::vector<Piece> works, distractors, fillers;
  size_t photos_used = 0;
  size_t photos_total = 0;
  size_t repeats_dropped = 0;  // pieces showing another piece's content (repeated motifs)
};

// Wallpaper packages ship one picture in several sizes (Elephants_3840x2160), colours (-d/-l,
// Cold/Warm) and formats; a distractor cut from another version of a work's photo would be a
// copy, not a negative. Versions are merged by name stem and by PDQ distance (any dihedral
// variant within 70 bits), and the largest of each group is kept.
std::vector<size_t> distinct_photos(const std::vector<SourcePhoto>& photos, bool wide) {
  auto stem = [wide](const std::string& path) {
    std::string s = fs::path(path).stem().string();
    if (wide) {
      // Desktop and boot themes ship one artwork as several files (grub-16x9.png, grub-4x3.png,
      // the boot splash's background.png, the Debian Edu edition of the theme): one design.
      for (const char* root : {"/usr/share/desktop-base/", "/usr/share/plymouth/themes/"}) {
        if (!path.starts_with(root)) continue;
        std::string theme = path.substr(std::strlen(root));
        theme = theme.substr(0, theme.find('/'));
        if (theme.starts_with("debian-edu-")) theme = theme.substr(11);
        if (theme.ends_with("-theme")) theme.resize(theme.size() - 6);
        return "theme:" + theme;
      }
      // An icon theme draws its document icons from its application icons (lemon-theme's tar.png
      // is its kpackage.png on a sheet of paper): a theme is one design, or a "negative" cut from
      // one icon would be a copy of another registered as a work.
      if (const size_t at = path.find("/icons/"); at != std::string::npos) {
        const std::string rest = path.substr(at + 7);
        const std::string theme = rest.substr(0, rest.find('/'));
        if (theme.ends_with("-theme") && theme.size() < rest.size()) return "icons:" + theme;
      }
      // Game art and clip art number their variants (basic_range3_1, basic_range4_1; banana_01,
      // banana_02): variants in one folder share drawn parts, so they are one design.
      std::erase_if(s, [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
      return fs::path(path).parent_path().string() + "/" + s;
    }
    for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (s.size() > 2 && (s.ends_with("-d") || s.ends_with("-l"))) s.resize(s.size() - 2);
    const size_t x = s.find('_');
    if (x != std::string::npos && x + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[x + 1]))) {
      s.resize(x);
    }
    return s;
  };
  const size_t n = photos.size();
  std::vector<size_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  std::function<size_t(size_t)> root = [&](size_t i) { return parent[i] == i ? i : parent[i] = root(parent[i]); };
  std::vector<PdqDihedral> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = pdq_dihedral(photos[i].image);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      bool same = stem(photos[i].path) == stem(photos[j].path);
      for (int d = 0; d < kDihedralCount && !same; ++d) same = h[i].hashes[0].distance(h[j].hashes[size_t(d)]) <= 70;
      if (same) parent[root(i)] = root(j);
    }
  }
  std::map<size_t, size_t> best;  // group root -> largest member
  for (size_t i = 0; i < n; ++i) {
    auto [it, fresh] = best.emplace(root(i), i);
    const auto px = [&](size_t k) { return size_t(photos[k].image.width) * photos[k].image.height; };
    if (!fresh && px(i) > px(it->second)) it->second = i;
  }
  std::vector<size_t> out;
  for (const auto& [r, i] : best) out.push_back(i);
  std::sort(out.begin(), out.end());
  return out;
}

// A picture made of a repeated motif (a sheet of bananas, a tiled texture) gives pieces that show
// the same drawing: a "hard negative" cut from it is a copy of a work, and two works cut from it
// are copies of each other. Found without the matcher, by pixels: the middle of a piece (40% of
// each side, with detail) is looked for by normalised cross-correlation in every work cut from the
// same picture, on the picture shrunk to at most 800 pixels a side; a correlation of 0.9 or more
// means the piece repeats that work. Such distractors are dropped, and of two works that repeat
// each other the later one.
void drop_repeats(const std::vector<SourcePhoto>& photos, Corpus* c) {
  auto rect_of = [](const Piece& p) {
    // origin: "file x,y wxh"
    int x = 0, y = 0, w = 0, h = 0;
    const size_t sp = p.origin.rfind(' ', p.origin.rfind(' ') - 1);
    std::sscanf(p.origin.c_str() + sp + 1, "%d,%d %dx%d", &x, &y, &w, &h);
    return cv::Rect(x, y, w, h);
  };
  std::map<size_t, cv::Mat> shrunk;
  std::map<size_t, double> factor;
  auto grey_of = [&](size_t photo) -> const cv::Mat& {
    auto it = shrunk.find(photo);
    if (it != shrunk.end()) return it->second;
    const Image& im = photos[photo].image;
    const double f = std::min(1.0, 800.0 / std::max(im.width, im.height));
    cv::Mat rgb(im.height, im.width, CV_8UC3, const_cast<uint8_t*>(im.pixels.data())), g, out;
    cv::cvtColor(rgb, g, cv::COLOR_RGB2GRAY);
    cv::resize(g, out, cv::Size(std::max(1, int(im.width * f)), std::max(1, int(im.height * f))), 0, 0,
               cv::INTER_AREA);
    factor[photo] = f;
    return shrunk[photo] = out;
  };
  auto repeats = [&](const Piece& p, const Piece& w) {
    const cv::Mat& g = grey_of(p.photo);
    const double f = factor[p.photo];
    const cv::Rect pr = rect_of(p), wr = rect_of(w);
    const cv::Rect patch(int((pr.x + 0.3 * pr.width) * f), int((pr.y + 0.3 * pr.height) * f),
                         std::max(8, int(0.4 * pr.width * f)), std::max(8, int(0.4 * pr.height * f)));
    const cv::Rect area = cv::Rect(int(wr.x * f), int(wr.y * f), int(wr.width * f), int(wr.height * f)) &
                          cv::Rect(0, 0, g.cols, g.rows);
    if ((patch & cv::Rect(0, 0, g.cols, g.rows)) != patch) return false;
    if (area.width <= patch.width || area.height <= patch.height) return false;
    cv::Scalar mean, sd;
    cv::meanStdDev(g(patch), mean, sd);
    if (sd[0] < 8) return false;  // too plain to say
    cv::Mat r;
    cv::matchTemplate(g(area), g(patch), r, cv::TM_CCOEFF_NORMED);
    double best = 0;
    cv::minMaxLoc(r, nullptr, &best);
    return best >= 0.9;
  };
  std::vector<Piece> works;
  for (Piece& w : c->works) {
    const bool dup = std::any_of(works.begin(), works.end(), [&](const Piece& k) {
      return k.photo == w.photo && photos[w.photo].tiled && (repeats(w, k) || repeats(k, w));
    });
    if (dup) {
      ++c->repeats_dropped;
    } else {
      works.push_back(std::move(w));
    }
  }
  c->works = std::move(works);
  std::erase_if(c->distractors, [&](const Piece& d) {
    if (!d.hard) return false;
    const bool dup = std::any_of(c->works.begin(), c->works.end(), [&](const Piece& w) {
      return w.photo == d.photo && (repeats(d, w) || repeats(w, d));
    });
    c->repeats_dropped += dup;
    return dup;
  });
}

Corpus build_corpus(const std::vector<SourcePhoto>& photos, int n_works, int n_distractors,
                    bool wide) {
  Corpus c;
  c.photos_total = photos.size();
  const std::vector<size_t> keep = distinct_photos(photos, wide);
  c.photos_used = keep.size();
  std::mt19937_64 rng(42);
  struct Cell {
    size_t photo;
    cv::Rect rect;
  };
  // Each photo is cut into a grid; each cell gives at most one piece, a random rectangle of 75-
  // 100% of the cell in each direction, so pieces of one photo never overlap.
  std::vector<std::vector<Cell>> work_cells, hard_cells;
  std::vector<Cell> unrelated_cells;
  std::set<size_t> designs;  // pools of work_cells that may give only one work
  for (size_t k = 0; k < keep.size(); ++k) {
    const Image& im = photos[keep[k]].image;
    const int g = !photos[keep[k]].tiled ? 1 : std::min(im.width, im.height) >= 2400 ? 4 : 3;
    std::vector<Cell> cells;
    for (int gy = 0; gy < g; ++gy) {
      for (int gx = 0; gx < g; ++gx) {
        const int cw = im.width / g, ch = im.height / g;
        std::uniform_real_distribution<double> u(g == 1 ? 1.0 : 0.75, 1.0);
        const int w = int(cw * u(rng)), h = int(ch * u(rng));
        const int x = gx * cw + int(rng() % uint64_t(cw - w + 1));
        const int y = gy * ch + int(rng() % uint64_t(ch - h + 1));
        cells.push_back({keep[k], cv::Rect(x, y, w, h)});
      }
    }
    std::shuffle(cells.begin(), cells.end(), rng);
    if (k % 4 == 3) {  // a quarter of the photos give only unrelated distractors and fillers
      unrelated_cells.insert(unrelated_cells.end(), cells.begin(), cells.end());
    } else if (g == 1) {  // a picture too small to cut gives one work
      work_cells.emplace_back(cells.begin(), cells.end());
      hard_cells.emplace_back();
    } else if (!is_photograph(photos[keep[k]].path) &&
               (!wide || photos[keep[k]].path.starts_with("/usr/share/backgrounds/"))) {
      // A design (tiles, stripes, wood grain, a rendered pattern) repeats itself: two pieces of
      // it show the same motifs, so a second piece would be a copy of the first, neither another
      // work nor an unrelated image. A design gives one work and no hard negatives.
      work_cells.emplace_back(cells.begin(), cells.end());
      hard_cells.emplace_back();
      designs.insert(work_cells.size() - 1);
    } else {
      const size_t nw = (cells.size() * 2 + 2) / 3;
      work_cells.emplace_back(cells.begin(), cells.begin() + long(nw));
      hard_cells.emplace_back(cells.begin() + long(nw), cells.end());
    }
  }
  auto piece = [&](const Cell& cell, const std::string& id, bool hard) {
    const Image& src = photos[cell.photo].image;
    const double s = std::min(1.0, 1024.0 / std::max(cell.rect.width, cell.rect.height));
    Piece p;
    p.id = id;
    p.photo = cell.photo;
    p.hard = hard;
    p.half = evaluation_half(photos[cell.photo].path);
    p.group = photos[cell.photo].group;
    p.origin = fs::path(photos[cell.photo].path).filename().string() + " " +
               std::to_string(cell.rect.x) + "," + std::to_string(cell.rect.y) + " " +
               std::to_string(cell.rect.width) + "x" + std::to_string(cell.rect.height);
    p.image = cut(src, cell.rect.x, cell.rect.y, cell.rect.width, cell.rect.height,
                  int(cell.rect.width * s), int(cell.rect.height * s));
    return p;
  };
  // Round-robin over photos so that every photo gives works.
  auto take_round_robin = [&](std::vector<std::vector<Cell>>& pools, int n, auto&& make,
                              const std::set<size_t>& single = {}) {
    std::vector<int> taken(pools.size(), 0);
    for (size_t round = 0; n > 0; ++round) {
      bool any = false;
      for (size_t k = 0; k < pools.size(); ++k) {
        if (single.count(k) && taken[k] > 0) continue;
        if (round < pools[k].size() && n > 0) {
          if (make(pools[k][round])) --n, ++taken[k];
          any = true;
        }
      }
      if (!any) break;
    }
  };
  // Works and distractors must be usable images: PDQ quality >= 50, the reference's line below
  // which a hash is too weak to act on (flat sky, blank paper). Those cells are skipped.
  // The wide corpus keeps soft and flat works at their natural rate and drops only blank pieces
  // (a plain colour is no one's work). Pools are visited in a shuffled order there, so that
  // every kind of picture gives works whatever the counts asked for.
  auto usable = [&](const Piece& p) {
    if (!wide) return pdq_hash(p.image).quality >= kPdqMinUsefulQuality;
    cv::Mat grey;
    cv::Mat rgb(p.image.height, p.image.width, CV_8UC3, const_cast<uint8_t*>(p.image.pixels.data()));
    cv::cvtColor(rgb, grey, cv::COLOR_RGB2GRAY);
    cv::Scalar mean, sd;
    cv::meanStdDev(grey, mean, sd);
    return sd[0] >= 4;
  };
  if (wide) {
    std::vector<size_t> order(work_cells.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<std::vector<Cell>> w2, h2;
    std::set<size_t> d2;
    for (size_t i : order) {
      if (designs.count(i)) d2.insert(w2.size());
      w2.push_back(std::move(work_cells[i]));
      h2.push_back(std::move(hard_cells[i]));
    }
    work_cells = std::move(w2);
    hard_cells = std::move(h2);
    designs = std::move(d2);
  }
  take_round_robin(work_cells, n_works, [&](const Cell& cell) {
    char id[16];
    std::snprintf(id, sizeof id, "w%04zu", c.works.size());
    Piece p = piece(cell, id, false);
    if (!usable(p)) return false;
    c.works.push_back(std::move(p));
    return true;
  }, designs);
  const int n_hard = n_distractors / 2;
  take_round_robin(hard_cells, n_hard, [&](const Cell& cell) {
    Piece p = piece(cell, "h" + std::to_string(c.distractors.size()), true);
    if (!usable(p)) return false;
    c.distractors.push_back(std::move(p));
    return true;
  });
  if (wide) std::shuffle(unrelated_cells.begin(), unrelated_cells.end(), rng);
  for (size_t i = 0; i < unrelated_cells.size(); ++i) {
    Piece p = piece(unrelated_cells[i], "u" + std::to_string(i), false);
    if (int(c.distractors.size()) < n_distractors && usable(p)) c.distractors.push_back(p);
    c.fillers.push_back(std::move(p));
  }
  if (wide) drop_repeats(photos, &c);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Methods and their outcomes.

enum Method { kOurs = 0, kPdqOnly, kPHash, kBlockMean, kMarrHildreth, kColorMoment, kMethods };
const char* kMethodNames[kMethods] = {"imprint (PDQ + 2nd stage)", "PDQ only", "PHash",
                                      "BlockMean", "MarrHildreth", "ColorMoment"};
const char* kMethodShort[kMethods] = {"imprint", "PDQ only", "PHash", "BlockMean", "MarrHildreth",
                                      "ColorMoment"};

struct Outcome {
  int work = -1;        // best work (index into corpus.works), -1: none
  double score = -1e9;  // higher is more confident
  bool flagged_right = false;
  bool flagged_wrong = false;
  std::string wrong_method;  // the method of a wrong or false flag
};

struct QueryRecord {
  int family = 0;
  int truth = -1;  // work index, -1 for negatives
  bool hard = false;
  int half = 0;
  std::string dump;
  Outcome out[kMethods];
  bool second_stage_ran = false;
  std::string top_method;
  double top_score = 0;
  int top_work = -1;
  double ours_ms = 0, pdq_ms = 0;
  bool skipped = false;  // --accuracy-floor: a tuning-half query, not run
};

struct ImgHashes {
  cv::Mat h[4];
};

ImgHashes img_hashes(const Image& image) {
  thread_local cv::Ptr<cv::img_hash::ImgHashBase> algos[4] = {
      cv::img_hash::PHash::create(), cv::img_hash::BlockMeanHash::create(),
      cv::img_hash::MarrHildrethHash::create(), cv::img_hash::ColorMomentHash::create()};
  cv::Mat rgb(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
              const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat bgr;
  if (image.channels == 1) {
    cv::cvtColor(rgb, bgr, cv::COLOR_GRAY2BGR);
  } else {
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  }
  ImgHashes out;
  for (int k = 0; k < 4; ++k) algos[k]->compute(bgr, out.h[k]);
  return out;
}

double img_hash_distance(int k, const cv::Mat& a, const cv::Mat& b) {
  thread_local cv::Ptr<cv::img_hash::ImgHashBase> algos[4] = {
      cv::img_hash::PHash::create(), cv::img_hash::BlockMeanHash::create(),
      cv::img_hash::MarrHildrethHash::create(), cv::img_hash::ColorMomentHash::create()};
  return algos[k]->compare(a, b);
}

Outcome catalog_outcome(const QueryResult& r, const std::map<std::string, int>& work_index,
                        int truth) {
  Outcome o;
  if (!r.matches.empty()) {
    const auto it = work_index.find(r.matches.front().work.id);
    o.work = it == work_index.end() ? -2 : it->second;
    o.score = r.matches.front().score;
  }
  for (const Candidate& c : r.matches) {
    if (c.decision != MatchDecision::kFlag) continue;
    const auto it = work_index.find(c.work.id);
    if (it != work_index.end() && it->second == truth) {
      o.flagged_right = true;
    } else {
      o.flagged_wrong = true;
      if (o.wrong_method.empty()) o.wrong_method = c.method;
    }
  }
  return o;
}

// The lowest threshold at which false positives stay within `allowed`: scores at or above it
// count. Returns +inf when even the best score of a false positive exceeds every true one.
double threshold_for(const std::vector<QueryRecord>& q, int m, size_t allowed) {
  std::vector<double> fp;
  for (const QueryRecord& r : q) {
    const Outcome& o = r.out[m];
    if (o.work == -1) continue;
    if (r.truth < 0 || o.work != r.truth) fp.push_back(o.score);
  }
  std::sort(fp.rbegin(), fp.rend());
  if (fp.size() <= allowed) return -1e18;
  return std::nextafter(fp[allowed], 1e18);
}

// ---------------------------------------------------------------------------------------------
// The chart: recall per family, one bar per method, drawn with OpenCV.

void draw_chart(const std::string& path, const std::vector<std::string>& families,
                const std::vector<std::array<double, kMethods>>& recall, const std::string& title) {
  const cv::Scalar colours[kMethods] = {{40, 110, 230}, {60, 170, 80},  {200, 120, 40},
                                        {150, 80, 170}, {120, 120, 120}, {40, 180, 200}};
  const int label_w = 190, bar_w = 640, bar_h = 5, group_h = kMethods * bar_h + 8;
  const int top = 90, left = label_w + 10;
  const int height = top + int(families.size()) * group_h + 50, width = left + bar_w + 40;
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  cv::putText(img, title, cv::Point(10, 24), font, 0.6, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  for (int m = 0; m < kMethods; ++m) {
    const int x = 10 + (m % 3) * 260, y = 44 + (m / 3) * 20;
    cv::rectangle(img, cv::Rect(x, y - 10, 14, 10), colours[m], cv::FILLED);
    cv::putText(img, kMethodNames[m], cv::Point(x + 20, y), font, 0.45, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
  }
  for (int p = 0; p <= 100; p += 25) {
    const int x = left + bar_w * p / 100;
    cv::line(img, cv::Point(x, top - 4), cv::Point(x, height - 40), cv::Scalar(220, 220, 220), 1);
    cv::putText(img, std::to_string(p) + "%", cv::Point(x - 12, height - 24), font, 0.4,
                cv::Scalar(80, 80, 80), 1, cv::LINE_AA);
  }
  const int target_x = left + bar_w * 90 / 100;
  cv::line(img, cv::Point(target_x, top - 4), cv::Point(target_x, height - 40),
           cv::Scalar(0, 0, 200), 1, cv::LINE_AA);
  cv::putText(img, "90%", cv::Point(target_x - 10, top - 8), font, 0.35, cv::Scalar(0, 0, 200), 1,
              cv::LINE_AA);
  for (size_t f = 0; f < families.size(); ++f) {
    const int y0 = top + int(f) * group_h;
    if (f % 2 == 1) {
      cv::rectangle(img, cv::Rect(0, y0 - 2, width, group_h), cv::Scalar(246, 246, 246), cv::FILLED);
    }
    cv::putText(img, families[f], cv::Point(10, y0 + group_h / 2 + 2), font, 0.42,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    for (int m = 0; m < kMethods; ++m) {
      const int w = int(std::lround(bar_w * recall[f][size_t(m)]));
      cv::rectangle(img, cv::Rect(left, y0 + m * bar_h, std::max(1, w), bar_h - 1), colours[m],
                    cv::FILLED);
    }
  }
  cv::line(img, cv::Point(left, top - 4), cv::Point(left, height - 40), cv::Scalar(0, 0, 0), 1);
  cv::Mat bgr;
  cv::cvtColor(img, bgr, cv::COLOR_RGB2BGR);
  cv::imwrite(path, bgr);
}

// ---------------------------------------------------------------------------------------------
// Second-stage cost at catalog scale.

struct CostLine {
  int works = 0;
  double build_s = 0;
  double memory_per_work = 0;
  double mean_ms = 0, p50_ms = 0, p95_ms = 0;
  int found = 0, found_base = 0, positives = 0;
  int depth = 0;
  // The index saved as the catalog saves features.index, then read back and loaded: the open
  // time of a catalog whose file is current, and the file's size.
  double load_s = 0, file_per_work = 0;
  // Picture regions: the query's region hashes searched among 8 hashes a work (whole and centre
  // crops) at region_radius, as index/region_match.cc does.
  double region_mean_ms = 0, region_p95_ms = 0, region_memory_per_work = 0;
};

// A feature index of `n` works: the registered works' own features, then copies of real
// feature sets from unregistered cuts with 40 of 256 bits flipped in every descriptor and the
// keypoints moved by a random similarity, so the filler is as dense as real photos (its
// descriptors sit where ORB descriptors sit) without being copies of any query.
std::unique_ptr<FeatureIndex> scaled_index(const std::vector<LocalFeatures>& registered,
                                           const std::vector<LocalFeatures>& sources, int n,
                                           double* build_s) {
  const auto t0 = Clock::now();
  auto index = std::make_unique<FeatureIndex>();
  std::mt19937_64 rng(7);
  index->begin_bulk();  // as the catalog loads its index at open
  for (size_t i = 0; i < registered.size(); ++i) index->add(int64_t(i) + 1, registered[i]);
  for (int i = int(registered.size()); i < n; ++i) {
    LocalFeatures f = sources[rng() % sources.size()];
    const double a = std::uniform_real_distribution<double>(0, 6.283)(rng);
    const double s = std::uniform_real_distribution<double>(0.6, 1.6)(rng);
    for (LocalKeypoint& k : f.keypoints) {
      const double x = k.x, y = k.y;
      k.x = float(s * (std::cos(a) * x - std::sin(a) * y) + f.width);
      k.y = float(s * (std::sin(a) * x + std::cos(a) * y) + f.height);
      k.angle = float(std::fmod(k.angle + a * 57.2958, 360.0));
    }
    for (size_t d = 0; d < f.size(); ++d) {
      uint8_t* code = f.descriptors.data() + d * kLocalDescriptorBytes;
      for (int b = 0; b < 40; ++b) {
        const uint64_t bit = rng() % 256;
        code[bit / 8] ^= uint8_t(1u << (bit % 8));
      }
    }
    index->add(int64_t(i) + 1, f);
  }
  index->end_bulk();
  *build_s = ms_since(t0) / 1000;
  return index;
}

// The figures of one half of the evaluation (or of all of it, half -1).
struct HalfStats {
  size_t n_neg = 0, n_pos = 0;
  double thr[kMethods] = {};
  size_t fp_at[kMethods] = {};
  std::vector<std::array<double, kMethods>> recall;
  std::array<double, kMethods> mean_recall{};
  std::vector<double> def_ours, def_pdq, ran;
  size_t false_flags[2] = {0, 0}, wrong_flags[2] = {0, 0}, hard_flags[2] = {0, 0};
  size_t right_flags[2] = {0, 0};
  std::map<std::string, size_t> bad_flags_by_method;  // imprint's false and wrong flags
};

// Thresholds at zero false positives (allowed = 0), then recall per family.
HalfStats half_stats(const std::vector<QueryRecord>& all, size_t n_families, int half) {
  HalfStats s;
  std::vector<QueryRecord> records;
  for (const QueryRecord& r : all) {
    if (half < 0 || r.half == half) records.push_back(r);
  }
  for (const QueryRecord& r : records) (r.truth < 0 ? s.n_neg : s.n_pos) += 1;
  for (int m = 0; m < kMethods; ++m) {
    s.thr[m] = threshold_for(records, m, 0);
    for (const QueryRecord& r : records) {
      const Outcome& o = r.out[m];
      if (o.work != -1 && o.score >= s.thr[m] && (r.truth < 0 || o.work != r.truth)) ++s.fp_at[m];
    }
  }
  s.recall.assign(n_families, {});
  s.def_ours.assign(n_families, 0);
  s.def_pdq.assign(n_families, 0);
  s.ran.assign(n_families, 0);
  std::vector<int> pos_count(n_families, 0);
  for (const QueryRecord& r : records) {
    const size_t f = size_t(r.family);
    if (r.out[kOurs].flagged_wrong) ++s.bad_flags_by_method[r.out[kOurs].wrong_method];
    if (r.truth < 0) {
      if (r.out[kOurs].flagged_wrong) ++s.false_flags[0], s.hard_flags[0] += r.hard;
      if (r.out[kPdqOnly].flagged_wrong) ++s.false_flags[1], s.hard_flags[1] += r.hard;
      continue;
    }
    ++pos_count[f];
    for (int m = 0; m < kMethods; ++m) {
      const Outcome& o = r.out[m];
      s.recall[f][size_t(m)] += o.work == r.truth && o.score >= s.thr[m];
    }
    s.def_ours[f] += r.out[kOurs].flagged_right;
    s.def_pdq[f] += r.out[kPdqOnly].flagged_right;
    s.right_flags[0] += r.out[kOurs].flagged_right;
    s.right_flags[1] += r.out[kPdqOnly].flagged_right;
    s.wrong_flags[0] += r.out[kOurs].flagged_wrong;
    s.wrong_flags[1] += r.out[kPdqOnly].flagged_wrong;
    s.ran[f] += r.second_stage_ran;
  }
  for (size_t f = 0; f < n_families; ++f) {
    const double n = std::max(1, pos_count[f]);
    for (double& v : s.recall[f]) v /= n;
    s.def_ours[f] /= n;
    s.def_pdq[f] /= n;
    s.ran[f] /= n;
    for (int m = 0; m < kMethods; ++m) s.mean_recall[size_t(m)] += s.recall[f][size_t(m)] / double(n_families);
  }
  return s;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string pct(double v) { return fmt("%.0f%%", 100 * v); }

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  using namespace imprint;
  using namespace imprint::bench;
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (k == "--quick") {
      a.works = 40;
      a.distractors = 40;
      a.cost_sizes = {10000};
    } else if (k == "--works") {
      a.works = std::atoi(v), ++i;
    } else if (k == "--distractors") {
      a.distractors = std::atoi(v), ++i;
    } else if (k == "--threads") {
      a.threads = std::max(1, std::atoi(v)), ++i;
    } else if (k == "--families") {
      a.families = v, ++i;
    } else if (k == "--corpus") {
      a.corpus = v, ++i;
      if (a.corpus == "wide") a.name = "robustness-wide";
    } else if (k == "--per-group") {
      a.per_group = size_t(std::max(1, std::atoi(v))), ++i;
    } else if (k == "--dump") {
      a.dump = v, ++i;
    } else if (k == "--export") {
      a.export_dir = v, ++i;
    } else if (k == "--accuracy-floor") {
      a.accuracy_floor = std::atof(v), ++i;
    } else if (k == "--list-misses") {
      a.list_misses = true;
    } else if (k == "--guided-rounds") {
      a.guided_rounds = std::atoi(v), ++i;
    } else if (k == "--ransac-iterations") {
      a.ransac_iterations = std::atoi(v), ++i;
    } else if (k == "--no-region-hashes") {
      a.region_hashes = false;
    } else if (k == "--classic-ransac") {
      a.classic_ransac = true;
    } else if (k == "--searched-features") {
      a.searched_features = std::atoi(v), ++i;
    } else if (k == "--min-consistent") {
      a.min_consistent = std::atoi(v), ++i;
    } else if (k == "--occluded-cells") {
      a.occluded_cells = std::atof(v), ++i;
    } else if (k == "--out") {
      a.out = v, ++i;
    } else if (k == "--cost-sizes") {
      a.cost_sizes.clear();
      std::stringstream ss(v);
      for (std::string t; std::getline(ss, t, ',');) {
        if (!t.empty() && std::atoi(t.c_str()) > 0) a.cost_sizes.push_back(std::atoi(t.c_str()));
      }
      ++i;
    } else {
      std::fprintf(
          stderr,
          "usage: robustness [--quick] [--works N] [--distractors N] [--threads N] "
          "[--cost-sizes 10000,100000] [--families SUBSTR] [--out DIR] [--list-misses] "
          "[--guided-rounds N] [--no-region-hashes] [--corpus photos|wide] [--per-group N] "
          "[--dump FILE] [--export DIR] [--accuracy-floor R] [--occluded-cells F]\n");
      return 2;
    }
  }
  cv::setNumThreads(1);  // parallelism is ours: one query per thread
  retain_freed_memory();  // as the imprint CLI and server do (engine/process_memory.h)
  const auto t_start = Clock::now();

  std::fprintf(stderr, "loading wallpapers...\n");
  if (a.corpus != "photos" && a.corpus != "wide") {
    std::fprintf(stderr, "--corpus is photos or wide\n");
    return 2;
  }
  const bool wide = a.corpus == "wide";
  const std::vector<SourcePhoto> photos = wide ? load_wide_sources(a.per_group) : load_source_photos();
  const Corpus corpus = build_corpus(photos, a.works, a.distractors, wide);
  std::vector<TransformFamily> families = transform_families();
  // Each family's place in the full list seeds its queries, so a --families run makes the same
  // queries as the full run.
  std::map<std::string, uint64_t> family_seed;
  for (size_t f = 0; f < families.size(); ++f) family_seed[families[f].name] = f;
  if (!a.families.empty()) {
    // A comma-separated list of substrings: a family runs when its name contains one of them.
    std::vector<std::string> wanted;
    std::stringstream ss(a.families);
    for (std::string t; std::getline(ss, t, ',');) {
      if (!t.empty()) wanted.push_back(t);
    }
    std::erase_if(families, [&](const TransformFamily& f) {
      return std::none_of(wanted.begin(), wanted.end(),
                          [&](const std::string& w) { return f.name.find(w) != std::string::npos; });
    });
  }
  std::vector<const Image*> fillers;
  for (const Piece& p : corpus.fillers) fillers.push_back(&p.image);
  size_t n_hard = 0;
  for (const Piece& p : corpus.distractors) n_hard += p.hard;

  // Register the works through the real path: JPEG bytes, work_input_from_image, register_works.
  const fs::path dir = fs::temp_directory_path() / ("imprint-robustness-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  CatalogOptions co;
  co.dir = dir.string();
  co.sync_commits = false;
  if (a.guided_rounds >= 0) co.second_stage_options.guided_rounds = a.guided_rounds;
  if (a.ransac_iterations > 0) co.second_stage_options.ransac_iterations = a.ransac_iterations;
  if (a.classic_ransac) co.second_stage_options.usac = false;
  if (a.min_consistent >= 0) co.second_stage_options.min_consistent = a.min_consistent;
  if (a.occluded_cells >= 0) co.second_stage_options.occluded_cells = a.occluded_cells;
  co.feature_index_options.searched_per_work = a.searched_features;
  co.second_stage_options.use_picture_regions = a.region_hashes;
  Result<std::unique_ptr<Catalog>> opened = Catalog::open(co);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    return 1;
  }
  std::unique_ptr<Catalog> catalog = std::move(*opened);
  std::vector<WorkInput> inputs(corpus.works.size());
  std::vector<ImgHashes> work_hashes(corpus.works.size());
  std::vector<LocalFeatures> work_features(corpus.works.size());
  std::map<std::string, int> work_index;
  std::atomic<size_t> feature_bytes{0};
  const auto t_reg = Clock::now();
  parallel_for(corpus.works.size(), a.threads, [&](size_t i) {
    const Piece& p = corpus.works[i];
    const std::vector<uint8_t> bytes = encode_as(p.image, ".jpg", 95);
    if (!a.export_dir.empty()) write_bytes(fs::path(a.export_dir) / "works" / (p.id + ".jpg"), bytes);
    Result<WorkInput> in = work_input_from_image(bytes);
    if (!in.ok()) {
      std::fprintf(stderr, "%s: %s\n", p.id.c_str(), in.status().to_string().c_str());
      std::exit(1);
    }
    in->work.id = p.id;
    in->work.title = p.origin;
    for (const WorkFingerprint& f : in->fingerprints) {
      if (f.kind == kLocalFeaturesKind) {
        feature_bytes += f.data.size();
        work_features[i] = *decode_local_features(f.data);
      }
    }
    inputs[i] = std::move(*in);
    work_hashes[i] = img_hashes(*decode_image(bytes));
  });
  const double fingerprint_ms = ms_since(t_reg) * a.threads / double(std::max<size_t>(1, inputs.size()));
  for (size_t i = 0; i < inputs.size(); i += 32) {
    const size_t n = std::min<size_t>(32, inputs.size() - i);
    for (const auto& r : catalog->register_works(std::span<const WorkInput>(inputs.data() + i, n))) {
      if (!r.ok()) {
        std::fprintf(stderr, "register: %s\n", r.status().to_string().c_str());
        return 1;
      }
    }
  }
  for (size_t i = 0; i < corpus.works.size(); ++i) work_index[corpus.works[i].id] = int(i);
  // The second stage's index as the catalog holds it (every feature, or --searched-features).
  std::string feature_memory;
  if (Result<CatalogStats> st = catalog->stats(); st.ok() && st->feature_works > 0) {
    feature_memory = fmt("%.1f", double(st->feature_memory_bytes) / st->feature_works / 1024) +
                     " KB a work in memory (" + std::to_string(st->features / st->feature_works) +
                     " features a work held, " +
                     (a.searched_features > 0 ? std::to_string(a.searched_features) + " searched"
                                              : std::string("all searched")) +
                     ")";
    std::fprintf(stderr, "second-stage index: %s\n", feature_memory.c_str());
  }
  // PDQ only: the same catalog, opened by a reader with the second stage switched off.
  CatalogOptions ro = co;
  ro.read_only = true;
  ro.second_stage = false;
  Result<std::unique_ptr<Catalog>> pdq_only = Catalog::open(ro);
  if (!pdq_only.ok()) {
    std::fprintf(stderr, "%s\n", pdq_only.status().to_string().c_str());
    return 1;
  }
  ro.second_stage = true;
  const auto t_open = Clock::now();
  Result<std::unique_ptr<Catalog>> reopened = Catalog::open(ro);
  const double reopen_ms = ms_since(t_open);
  if (!reopened.ok()) return 1;
  reopened->reset();

  // Queries: every family on every work and every distractor.
  const size_t per_family = corpus.works.size() + corpus.distractors.size();
  std::vector<QueryRecord> records(families.size() * per_family);
  std::atomic<size_t> done{0};
  std::mutex log_mu;
  MatchOptions mo;
  mo.min_score = 0;  // list the nearest works whatever their score: the threshold is swept here
  mo.top_k = 5;
  std::fprintf(stderr, "%zu works, %zu distractors (%zu hard), %zu families: %zu queries\n",
               corpus.works.size(), corpus.distractors.size(), n_hard, families.size(),
               records.size());
  std::vector<double> stage_ms;
  parallel_for(records.size(), a.threads, [&](size_t qi) {
    const size_t f = qi / per_family, i = qi % per_family;
    const bool positive = i < corpus.works.size();
    const Piece& p = positive ? corpus.works[i] : corpus.distractors[i - corpus.works.size()];
    QueryRecord& rec = records[qi];
    rec.family = int(f);
    rec.truth = positive ? int(i) : -1;
    rec.hard = p.hard;
    rec.half = p.half;
    if (a.accuracy_floor >= 0 && p.half != 1) {
      rec.skipped = true;
      return;
    }
    TransformContext ctx;
    ctx.seed = family_seed.at(families[f].name) * 1000003ull + i * 7919ull + 1;
    ctx.fillers = &fillers;
    const std::vector<uint8_t> bytes = families[f].apply(p.image, ctx);
    if (!a.export_dir.empty()) {
      write_bytes(fs::path(a.export_dir) / "queries" / families[f].name / p.id, bytes);
    }

    HashOptions ho;
    ho.dihedral = true;  // as `imprint query` does
    Result<ImageFingerprint> fp = fingerprint_image(bytes, ho);
    if (!fp.ok()) {
      std::fprintf(stderr, "%s/%s: %s\n", families[f].name.c_str(), p.id.c_str(),
                   fp.status().to_string().c_str());
      return;
    }
    const std::vector<ImageFingerprint> q = {*fp};
    const QueryPixelSource source = [&](size_t) {
      rec.second_stage_ran = true;
      return decode_image(bytes);
    };
    std::vector<LocalMatch> verified;
    if (!a.dump.empty()) record_verified_matches(&verified);
    auto t = Clock::now();
    const QueryResult ours = catalog->match(q, mo, source).front();
    rec.ours_ms = ms_since(t);
    record_verified_matches(nullptr);
    t = Clock::now();
    const QueryResult pdq = (*pdq_only)->match(q, mo).front();
    rec.pdq_ms = ms_since(t);
    rec.out[kOurs] = catalog_outcome(ours, work_index, rec.truth);
    rec.out[kPdqOnly] = catalog_outcome(pdq, work_index, rec.truth);
    if (!ours.matches.empty()) rec.top_method = ours.matches.front().method;
    if (!a.dump.empty()) {
      std::ostringstream d;
      d << p.half << "\t" << families[f].name << "\t" << p.id << " [" << p.origin << "]\t" << p.group << "\t"
        << (positive ? p.id : "-") << "\t" << p.hard << "\t" << fp->pdq.quality << "\t"
        << rec.second_stage_ran << "\t";
      for (const Candidate& c : ours.matches) {
        d << c.work.id << ":" << c.method << ":" << fmt("%.4f", c.score) << ":" << c.distance << ":"
          << decision_name(c.decision) << ":" << int(c.transform) << ";";
      }
      // Every verified local-feature match before the threshold: work pk, inliers, chance
      // inliers, votes, RANSAC inliers, similarity, the work's self-similarity, score, the query's
      // size, the query box and the work's corners in the query.
      d << "\t";
      for (const LocalMatch& m : verified) {
        const MatchRegion& g = m.region;
        d << m.work_pk << ":" << m.inliers << ":" << m.chance_inliers << ":" << m.votes << ":"
          << m.ransac_inliers << ":" << fmt("%.3f", m.similarity) << ":"
          << fmt("%.3f", m.self_similarity) << ":" << fmt("%.4f", m.score) << ":" << fp->width
          << "x" << fp->height << ":" << g.query_box.x << "," << g.query_box.y << ","
          << g.query_box.width << "," << g.query_box.height << ":" << g.work_box.x << ","
          << g.work_box.y << "," << g.work_box.width << "," << g.work_box.height << ":";
        for (const QueryPoint& c : g.work_corners) d << fmt("%.1f", c.x) << "," << fmt("%.1f", c.y) << ",";
        d << ";";
      }
      d << "\t" << (positive ? int(i) : -1) << "\t" << fmt("%.2f", rec.ours_ms);
      rec.dump = d.str();
    }
    if (a.list_misses) {
      const bool miss = positive ? !rec.out[kOurs].flagged_right : rec.out[kOurs].flagged_wrong;
      if (positive && rec.out[kOurs].flagged_wrong) {
        std::lock_guard<std::mutex> lk(log_mu);
        for (const Candidate& c : ours.matches) {
          if (c.decision == MatchDecision::kFlag && c.work.id != p.id) {
            std::fprintf(stderr, "WRONGFLAG %s %s [%s] -> %s [%s] score=%.3f method=%s\n",
                         families[f].name.c_str(), p.id.c_str(), p.origin.c_str(),
                         c.work.id.c_str(), c.work.title.c_str(), c.score, c.method.c_str());
          }
        }
      }
      if (miss) {
        std::lock_guard<std::mutex> lk(log_mu);
        std::fprintf(stderr, "%s %s %s [%s] q=%d top=%s score=%.3f method=%s ran=%d\n",
                     positive ? "MISS" : "FALSE", families[f].name.c_str(), p.id.c_str(),
                     p.origin.c_str(), fp->pdq.quality,
                     ours.matches.empty() ? "-" : ours.matches.front().work.id.c_str(),
                     ours.matches.empty() ? 0.0 : ours.matches.front().score,
                     rec.top_method.c_str(), int(rec.second_stage_ran));
      }
    }

    Result<Image> decoded =
        a.accuracy_floor >= 0 ? Result<Image>(invalid_argument("not needed")) : decode_image(bytes);
    if (decoded.ok()) {
      const ImgHashes qh = img_hashes(*decoded);
      for (int k = 0; k < 4; ++k) {
        Outcome& o = rec.out[kPHash + k];
        for (size_t w = 0; w < work_hashes.size(); ++w) {
          const double d = img_hash_distance(k, qh.h[k], work_hashes[w].h[k]);
          if (-d > o.score) {
            o.score = -d;
            o.work = int(w);
          }
        }
      }
    }
    const size_t n = ++done;
    std::lock_guard<std::mutex> lk(log_mu);
    if (rec.second_stage_ran) stage_ms.push_back(rec.ours_ms - rec.pdq_ms);
    if (n % 200 == 0) {
      std::fprintf(stderr, "  %zu/%zu queries, %.0f s\n", n, records.size(), ms_since(t_start) / 1000);
    }
  });

  std::erase_if(records, [](const QueryRecord& r) { return r.skipped; });
  const HalfStats held = half_stats(records, families.size(), 1);
  if (a.accuracy_floor >= 0) {
    const double recall = double(held.right_flags[0]) / double(std::max<size_t>(1, held.n_pos));
    size_t hard_neg = 0;
    for (const QueryRecord& r : records) hard_neg += r.truth < 0 && r.hard;
    std::printf("held-out half: %zu works, %zu distractors, %zu families\n", held.n_pos / std::max<size_t>(1, families.size()),
                held.n_neg / std::max<size_t>(1, families.size()), families.size());
    for (size_t f = 0; f < families.size(); ++f) {
      std::printf("  %-18s flagged right %.0f%%\n", families[f].name.c_str(), 100 * held.def_ours[f]);
    }
    std::printf(
        "recall (default flags, right work): %zu of %zu = %.1f%% (floor %.1f%%); false flags: %zu "
        "of %zu negative queries (%zu hard); wrong flags: %zu\n",
        held.right_flags[0], held.n_pos, 100 * recall, 100 * a.accuracy_floor, held.false_flags[0],
        held.n_neg, hard_neg, held.wrong_flags[0]);
    catalog.reset();
    fs::remove_all(dir);
    const bool ok = held.n_pos > 0 && held.n_neg > 0 && recall >= a.accuracy_floor &&
                    held.false_flags[0] == 0 && held.wrong_flags[0] == 0;
    std::printf("%s\n", ok ? "accuracy floor: PASS" : "accuracy floor: FAIL");
    return ok ? 0 : 3;
  }
  const HalfStats tune = half_stats(records, families.size(), 0);
  size_t n_neg = 0;
  for (const QueryRecord& r : records) n_neg += r.truth < 0;
  if (!a.dump.empty()) {
    if (fs::path(a.dump).has_parent_path()) fs::create_directories(fs::path(a.dump).parent_path());
    std::ofstream d(a.dump);
    d << "half\tfamily\tpiece\tgroup\ttruth\thard\tquality\tstage\tcandidates\tverified\ttruth_index\tms\n";
    for (const QueryRecord& r : records) d << r.dump << "\n";
  }

  // Second-stage cost at catalog scale, on real query features (crops, picture-in-picture,
  // collages and negatives), with the same options the catalog uses.
  const SecondStageOptions so = co.second_stage_options;
  std::vector<LocalFeatures> cost_queries;
  std::vector<int> cost_truth;
  {
    std::mt19937_64 rng(99);
    std::vector<size_t> pick_families;
    for (size_t f = 0; f < families.size(); ++f) {
      const std::string& n = families[f].name;
      if (n.starts_with("crop") || n == "pip-40" || n == "collage-2x2" || n == "screenshot") {
        pick_families.push_back(f);
      }
    }
    if (pick_families.empty()) pick_families.push_back(0);
    const size_t n_cost = std::min<size_t>(120, corpus.works.size() + corpus.distractors.size());
    for (size_t k = 0; k < n_cost; ++k) {
      const size_t f = pick_families[k % pick_families.size()];
      const bool positive = k % 3 != 2;
      const size_t i = positive ? rng() % corpus.works.size() : rng() % corpus.distractors.size();
      const Piece& p = positive ? corpus.works[i] : corpus.distractors[i];
      TransformContext ctx;
      ctx.seed = 5000 + k;
      ctx.fillers = &fillers;
      const std::vector<uint8_t> bytes = families[f].apply(p.image, ctx);
      cost_queries.push_back(extract_local_features(*decode_image(bytes), query_feature_options()));
      cost_truth.push_back(positive ? int(i) + 1 : -1);  // index pk = work index + 1
    }
  }
  // Extraction cost of a query's features, decode included (one thread).
  double extract_ms = 0;
  {
    const auto t = Clock::now();
    int n = 0;
    for (size_t k = 0; k < std::min<size_t>(30, corpus.works.size()); ++k, ++n) {
      const std::vector<uint8_t> bytes = encode_as(corpus.works[k].image, ".jpg", 90);
      (void)extract_local_features(*decode_image(bytes), query_feature_options());
    }
    extract_ms = ms_since(t) / std::max(1, n);
  }
  std::vector<LocalFeatures> sources;
  {
    std::mt19937_64 rng(5);
    const size_t n_sources = a.cost_sizes.empty() ? 0 : 400;
    std::vector<LocalFeatures> got(n_sources);
    parallel_for(n_sources, a.threads, [&](size_t k) {
      const Piece& p = k % 2 ? corpus.fillers[k % corpus.fillers.size()]
                             : corpus.distractors[k % corpus.distractors.size()];
      std::mt19937_64 r(k + 1);
      const double fw = std::uniform_real_distribution<double>(0.4, 1.0)(r);
      const double fh = std::uniform_real_distribution<double>(0.4, 1.0)(r);
      const Image part = crop_fraction(p.image, fw * fh, double(r() % 100) / 99, double(r() % 100) / 99);
      got[k] = extract_local_features(part, work_feature_options());
    });
    for (auto& g : got) {
      if (!g.empty()) sources.push_back(std::move(g));
    }
  }
  std::vector<CostLine> cost;
  for (int n : a.cost_sizes) {
    std::fprintf(stderr, "second-stage cost at %d works...\n", n);
    CostLine c;
    c.works = n;
    std::unique_ptr<FeatureIndex> index = scaled_index(work_features, sources, n, &c.build_s);
    {
      // Saved, dropped, read back and loaded: the searches below run on the loaded index.
      std::vector<uint8_t> bytes;
      index->save(bytes);
      c.file_per_work = double(bytes.size()) / n;
      const std::string path = (std::filesystem::temp_directory_path() /
                                ("imprint-bench-" + std::to_string(getpid()) + ".features"))
                                   .string();
      {
        std::ofstream f(path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
      }
      bytes = {};
      index.reset();
      const auto t = Clock::now();
      Result<std::vector<uint8_t>> read = read_file(path, int64_t(1) << 40);
      Result<std::unique_ptr<FeatureIndex>> loaded =
          read.ok() ? FeatureIndex::load(*read)
                    : Result<std::unique_ptr<FeatureIndex>>(read.status());
      c.load_s = ms_since(t) / 1000;
      std::filesystem::remove(path);
      if (!loaded.ok()) {
        std::fprintf(stderr, "feature index did not load: %s\n",
                     loaded.status().to_string().c_str());
        return 1;
      }
      index = std::move(*loaded);
    }
    c.memory_per_work = double(index->memory_bytes()) / n;
    c.depth = index->depth();
    std::vector<double> t_ms;
    FeatureIndex base;
    for (size_t i = 0; i < work_features.size(); ++i) base.add(int64_t(i) + 1, work_features[i]);
    for (size_t k = 0; k < cost_queries.size(); ++k) {
      const auto t = Clock::now();
      const std::vector<LocalMatch> got = match_local_features(*index, cost_queries[k], so);
      t_ms.push_back(ms_since(t));
      if (cost_truth[k] < 0) continue;
      ++c.positives;
      c.found += !got.empty() && got.front().work_pk == cost_truth[k] && got.front().score >= 0.5;
      const std::vector<LocalMatch> small = match_local_features(base, cost_queries[k], so);
      c.found_base += !small.empty() && small.front().work_pk == cost_truth[k] && small.front().score >= 0.5;
    }
    {
      // Balanced random hashes stand for the works' region hashes: what the search costs is the
      // probing, and real work hashes are as spread (128 +- 8 bits apart).
      std::mt19937_64 rng{uint64_t(n)};
      std::vector<PdqHash> hashes;
      std::vector<int64_t> labels;
      for (size_t i = 0; i < size_t(n) * 8; ++i) {
        hashes.push_back(balanced_hash(rng));
        labels.push_back(int64_t(i / 8));
      }
      std::unique_ptr<FingerprintIndex> regions = make_index(IndexKind::kMih);
      regions->add(hashes, labels);
      c.region_memory_per_work = double(regions->memory_bytes()) / n;
      std::vector<double> r_ms;
      for (const LocalFeatures& q : cost_queries) {
        std::vector<PdqHash> qh;
        for (const RegionHash& r : q.regions) qh.push_back(r.hash);
        const auto t = Clock::now();
        (void)regions->search_radius(qh, so.region_radius);
        r_ms.push_back(ms_since(t));
      }
      std::sort(r_ms.begin(), r_ms.end());
      c.region_mean_ms = std::accumulate(r_ms.begin(), r_ms.end(), 0.0) / double(r_ms.size());
      c.region_p95_ms = r_ms[std::min(r_ms.size() - 1, size_t(double(r_ms.size()) * 0.95))];
    }
    std::sort(t_ms.begin(), t_ms.end());
    c.mean_ms = std::accumulate(t_ms.begin(), t_ms.end(), 0.0) / double(t_ms.size());
    c.p50_ms = t_ms[t_ms.size() / 2];
    c.p95_ms = t_ms[std::min(t_ms.size() - 1, size_t(double(t_ms.size()) * 0.95))];
    cost.push_back(c);
  }

  // Fast path: a query PDQ settles costs the same with the second stage on as off.
  std::vector<double> settled_on, settled_off;
  for (const QueryRecord& r : records) {
    if (r.truth >= 0 && !r.second_stage_ran) {
      settled_on.push_back(r.ours_ms);
      settled_off.push_back(r.pdq_ms);
    }
  }
  auto median = [](std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };

  // Report.
  std::ostringstream md;
  md << "# Robustness: recall per edit at zero false positives\n\n";
  md << "Machine: " << machine_description() << "\n\n";
  if (!feature_memory.empty()) md << "Second-stage index: " << feature_memory << ".\n\n";
  std::map<std::string, int> works_by_group;
  for (const Piece& p : corpus.works) ++works_by_group[p.group];
  md << "Inputs: " << corpus.photos_used << " distinct pictures (of " << corpus.photos_total
     << (wide ? " pictures from gnome/mate/sway-backgrounds, desktop-base, debian-edu-artwork-*, "
                "wesnoth-1.16-data, openclipart-png and tuxpaint-stamps-default, any PDQ quality"
              : " wallpapers in gnome/mate/sway-backgrounds")
     << "; versions of one picture, and the icons of one icon theme, merged), cut into "
        "non-overlapping pieces: "
     << corpus.works.size() << " registered works, " << corpus.distractors.size()
     << " unregistered distractors (" << n_hard
     << " of them other regions of the works' own photos: hard negatives; a design, tiled or "
        "textured rather than photographed, gives one work and no hard negative, since its "
        "pieces repeat each other), "
     << corpus.fillers.size() << " unregistered fillers for backgrounds and collages. Works by kind:";
  for (const auto& [g, n] : works_by_group) md << " " << g << " " << n << ";";
  if (wide) {
    md << " " << corpus.repeats_dropped
       << " pieces left out because their pixels repeat a work cut from the same picture (a "
          "repeated motif: drop_repeats);";
  }
  md << " ";
  md
     << families.size() << " edit families applied to every work (" << corpus.works.size() * families.size()
     << " positive queries) and every distractor (" << n_neg << " negative queries). Queries run "
     << "through fingerprint_image (exact, dihedral) and Catalog::match; the second stage gets "
        "the decoded query's pixels and extracts its features and picture regions.\n\n";
  md << "Each method's threshold is the lowest score that lets through no false positive (a "
        "negative query matched to any work, or a positive query matched to a wrong work); img_hash "
        "methods match the nearest registered work by their own distance (threshold on that "
        "distance); PDQ only is the same catalog opened with `CatalogOptions::second_stage = "
        "false`. Works and queries are split by source picture (photo_corpus.h evaluation_half) "
        "into a tuning half, on which thresholds and mechanisms are chosen, and a held-out half "
        "that nothing was tuned on. Both halves' works are in one catalog.\n\n";
  auto write_half = [&](const HalfStats& s, const char* title) {
    md << "## " << title << ": " << s.n_pos << " positive and " << s.n_neg << " negative queries\n\n";
    md << "| family | " << kMethodShort[0];
    for (int m = 1; m < kMethods; ++m) md << " | " << kMethodShort[m];
    md << " | imprint default flags | PDQ-only default flags | 2nd stage ran |\n|---|";
    for (int m = 0; m < kMethods + 3; ++m) md << "---|";
    md << "\n";
    for (size_t f = 0; f < families.size(); ++f) {
      md << "| " << families[f].name;
      for (int m = 0; m < kMethods; ++m) md << " | " << pct(s.recall[f][size_t(m)]);
      md << " | " << pct(s.def_ours[f]) << " | " << pct(s.def_pdq[f]) << " | " << pct(s.ran[f]) << " |\n";
    }
    md << "| **mean over families**";
    for (int m = 0; m < kMethods; ++m) md << " | **" << pct(s.mean_recall[size_t(m)]) << "**";
    md << " | | | |\n\n";
    md << "| method | threshold (score) | false positives at it |\n|---|---|---|\n";
    for (int m = 0; m < kMethods; ++m) {
      md << "| " << kMethodNames[m] << " | "
         << (s.thr[m] < -1e17 ? std::string("any candidate")
             : s.thr[m] > 1e17 ? std::string("none (a false positive outscores every copy)")
             : fmt(m < 2 ? "%.3f" : "%.4g", m < 2 ? s.thr[m] : -s.thr[m]) + (m < 2 ? "" : " (distance <=)"))
         << " | " << s.fp_at[m] << " / " << s.n_neg << " |\n";
    }
    md << "\nDefault decisions (MatchOptions defaults, every work's licence denies): imprint flags "
       << s.right_flags[0] << " of " << s.n_pos << " copies as the right work ("
       << pct(double(s.right_flags[0]) / double(std::max<size_t>(1, s.n_pos))) << "), "
       << s.false_flags[0] << " of " << s.n_neg << " negative queries (" << s.hard_flags[0]
       << " of them hard negatives) and " << s.wrong_flags[0]
       << " copies as a wrong work; PDQ only flags " << s.right_flags[1] << " copies ("
       << pct(double(s.right_flags[1]) / double(std::max<size_t>(1, s.n_pos))) << "), "
       << s.false_flags[1] << " negatives (" << s.hard_flags[1] << " hard) and " << s.wrong_flags[1]
       << " as a wrong work.";
    if (!s.bad_flags_by_method.empty()) {
      md << " imprint's false and wrong flags by method:";
      for (const auto& [m, n] : s.bad_flags_by_method) md << " " << m << " " << n << ";";
    }
    md << "\n\n";
  };
  write_half(held, "Held-out half (nothing tuned on it)");
  write_half(tune, "Tuning half");
  md << "Families: ";
  for (size_t f = 0; f < families.size(); ++f) {
    md << (f ? "; " : "") << "`" << families[f].name << "` " << families[f].description;
  }
  md << ".\n\n";

  md << "# Second stage: cost\n\n";
  md << "Per registered work: " << fmt("%.1f", double(feature_bytes) / 1024 / std::max<size_t>(1, corpus.works.size()))
     << " KB of local features in SQLite; registration fingerprinting (decode, PDQ, features) "
     << fmt("%.1f", fingerprint_ms) << " ms a work; reopening the " << corpus.works.size()
     << "-work catalog (feature index rebuilt from SQLite) " << fmt("%.0f", reopen_ms) << " ms.\n\n";
  md << "Fast path: queries PDQ settles do not run the second stage; their match() takes "
     << fmt("%.3f", median(settled_on)) << " ms (median) with it on, " << fmt("%.3f", median(settled_off))
     << " ms with it off. Where it runs, the second stage adds " << fmt("%.1f", median(stage_ms))
     << " ms (median) in this run: query decode + feature extraction (" << fmt("%.1f", extract_ms)
     << " ms alone), index search and verification.\n\n";
  if (!cost.empty()) {
    md << "Search and verification per query (one thread, " << cost_queries.size()
       << " real queries: crops, picture-in-picture, collages, screenshots and negatives) in "
          "feature indexes of N works: the registered works plus filler works made from real "
          "feature sets of unregistered cuts (every descriptor 40 bits away from its source, "
          "keypoints moved by a random similarity). Query feature extraction (" << fmt("%.1f", extract_ms)
       << " ms) comes on top.\n\n";
    md << "Build s is a rebuild from the works' features (training the tree); the index is then "
          "saved as the catalog saves features.index, dropped, and read back from the file (load "
          "s, from the page cache) and the searches run on the loaded index.\n\n";
    md << "| works | ms/query mean | p50 | p95 | memory per work | file per work | tree depth | "
          "build s | load s | positives found (vs "
       << corpus.works.size() << " works) |\n|---|---|---|---|---|---|---|---|---|---|\n";
    for (const CostLine& c : cost) {
      md << "| " << c.works << " | " << fmt("%.1f", c.mean_ms) << " | " << fmt("%.1f", c.p50_ms)
         << " | " << fmt("%.1f", c.p95_ms) << " | " << fmt("%.1f KB", c.memory_per_work / 1024)
         << " | " << fmt("%.1f KB", c.file_per_work / 1024) << " | " << c.depth << " | "
         << fmt("%.1f", c.build_s) << " | " << fmt("%.2f", c.load_s) << " | " << c.found << "/"
         << c.positives << " (" << c.found_base << "/" << c.positives << ") |\n";
    }
    md << "\nPicture regions (index/region_match.cc): each query's region hashes (up to 24 and the "
          "whole query) searched within "
       << so.region_radius
       << " bits among 8 PDQ hashes a work (whole and centre crops; balanced random hashes "
          "stand for the fillers), plus the layout check of the few candidates found (measured in "
          "the run above).\n\n| works | region search ms/query mean | p95 | memory per work |\n"
          "|---|---|---|---|\n";
    for (const CostLine& c : cost) {
      md << "| " << c.works << " | " << fmt("%.2f", c.region_mean_ms) << " | "
         << fmt("%.2f", c.region_p95_ms) << " | " << fmt("%.2f KB", c.region_memory_per_work / 1024)
         << " |\n";
    }
  }
  md << "\nRun time " << fmt("%.0f", ms_since(t_start) / 1000) << " s with " << a.threads
     << " threads. Command: `build/benchmarks/robustness";
  for (int i = 1; i < argc; ++i) md << " " << argv[i];
  md << "`\n";

  const std::string text = md.str();
  std::fputs(text.c_str(), stdout);
  fs::create_directories(a.out);
  std::ofstream(a.out + "/" + a.name + ".md") << text;
  std::vector<std::string> names;
  for (const auto& f : families) names.push_back(f.name);
  draw_chart(a.out + "/" + a.name + ".png", names, held.recall,
             "Held-out half: recall at zero false positives (" + std::to_string(held.n_pos) +
                 " copies, " + std::to_string(held.n_neg) + " negative queries)");
  catalog.reset();
  fs::remove_all(dir);
  return 0;
}
