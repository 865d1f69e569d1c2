// Picture regions: the rectangles of a query that hold a whole picture (collage cells, a picture
// shown in a viewer window) are found to within a few pixels, and hashed alone they are the work
// resized, which PDQ matches.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "local_features.h"
#include "picture_regions.h"
#include "test_support.h"

namespace imprint {
namespace {

// The found rectangle nearest `want` (largest overlap), or an empty one.
PixelRect nearest(const std::vector<PixelRect>& found, const cv::Rect& want) {
  PixelRect best;
  double best_overlap = 0;
  for (const PixelRect& r : found) {
    const double overlap = (cv::Rect(r.x, r.y, r.width, r.height) & want).area();
    if (overlap > best_overlap) {
      best_overlap = overlap;
      best = r;
    }
  }
  return best;
}

void expect_near(const PixelRect& got, const cv::Rect& want, int slack) {
  EXPECT_NEAR(got.x, want.x, slack);
  EXPECT_NEAR(got.y, want.y, slack);
  EXPECT_NEAR(got.width, want.width, slack);
  EXPECT_NEAR(got.height, want.height, slack);
}

TEST(PictureRegions, FindsEveryCellOfACollage) {
  // 2 x 2 cells of 592 x 442 with 8-pixel white gutters, as collage tools lay them out. A
  // rectangle may take in the 4-pixel margin at the image border (the analysis runs at 512
  // pixels, where the margin is under two pixels wide): PDQ does not notice that.
  cv::Mat collage(900, 1200, CV_8UC3, cv::Scalar(255, 255, 255));
  std::vector<cv::Rect> cells;
  for (int k = 0; k < 4; ++k) {
    const cv::Rect cell((k % 2) * 600 + 4, (k / 2) * 450 + 4, 592, 442);
    test::mat_of(test::synthetic_photo(592, 442, 40 + k)).copyTo(collage(cell));
    cells.push_back(cell);
  }
  const std::vector<PixelRect> found = find_picture_regions(test::image_of(collage));
  for (const cv::Rect& cell : cells) expect_near(nearest(found, cell), cell, 6);
}

TEST(PictureRegions, FindsAPictureShownInAViewerWindowAndItsHashMatchesTheWork) {
  const Image work = test::synthetic_photo(800, 600, 7);
  cv::Mat ui(800, 1280, CV_8UC3, cv::Scalar(236, 236, 240));
  cv::rectangle(ui, cv::Rect(0, 0, 1280, 36), cv::Scalar(48, 52, 60), cv::FILLED);
  cv::putText(ui, "Library", cv::Point(24, 80), cv::FONT_HERSHEY_SIMPLEX, 0.55,
              cv::Scalar(60, 60, 70), 1, cv::LINE_AA);
  const cv::Rect shown(330, 90, 760, 570);
  cv::Mat small;
  cv::resize(test::mat_of(work), small, shown.size(), 0, 0, cv::INTER_AREA);
  small.copyTo(ui(shown));
  const Image query = test::image_of(ui);
  expect_near(nearest(find_picture_regions(query), shown), shown, 3);

  // The query's features carry the region's PDQ hash, which is the work's within the match line.
  const LocalFeatures f = extract_local_features(query, query_feature_options());
  const PdqResult whole = pdq_hash(work);
  int best = 256;
  for (const RegionHash& r : f.regions) best = std::min(best, r.hash.distance(whole.hash));
  EXPECT_LE(best, 16);
  // Works are registered whole: their features carry no region hashes.
  EXPECT_TRUE(extract_local_features(work, work_feature_options()).regions.empty());
}

TEST(PictureRegions, CentreCropsToCommonAspectsKeepBetween40And95PercentOfTheArea) {
  const std::vector<PixelRect> crops = aspect_crops(1000, 500);
  ASSERT_FALSE(crops.empty());
  for (const PixelRect& c : crops) {
    const double kept = double(c.width) * c.height / (1000.0 * 500);
    EXPECT_GE(kept, 0.4);
    EXPECT_LE(kept, 0.95);
    EXPECT_NEAR(c.x + c.width / 2.0, 500, 1);
    EXPECT_NEAR(c.y + c.height / 2.0, 250, 1);
  }
}

TEST(PictureRegions, AGridOfBlocksGivesTheSameRegionsWhateverTheLimit) {
  // 40 x 40 blocks of random colours: every pair of grid lines bounds a supported rectangle, about
  // a million in all, and only the best are ranked. Asking for fewer regions must give a prefix of
  // asking for more (the near-duplicates that replace kept rectangles are found however far down
  // the ranking they sit), and every region is a whole number of blocks.
  constexpr int kSide = 1200, kCells = 40, kCell = kSide / kCells;
  cv::Mat grid(kSide, kSide, CV_8UC3);
  cv::RNG rng(11);
  for (int i = 0; i < kCells; ++i) {
    for (int j = 0; j < kCells; ++j) {
      cv::rectangle(grid, cv::Rect(i * kCell, j * kCell, kCell, kCell),
                    cv::Scalar(rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(0, 256)),
                    cv::FILLED);
    }
  }
  const Image image = test::image_of(grid);
  PictureRegionOptions few, many;
  few.max_regions = 16;
  many.max_regions = 40;
  const std::vector<PixelRect> a = find_picture_regions(image, few);
  const std::vector<PixelRect> b = find_picture_regions(image, many);
  ASSERT_EQ(a.size(), 16u);
  ASSERT_EQ(b.size(), 40u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].x, b[i].x);
    EXPECT_EQ(a[i].y, b[i].y);
    EXPECT_EQ(a[i].width, b[i].width);
    EXPECT_EQ(a[i].height, b[i].height);
  }
  for (const PixelRect& r : b) {
    for (int v : {r.x, r.y, r.x + r.width, r.y + r.height}) {
      const int off = v % kCell;
      EXPECT_LE(std::min(off, kCell - off), 1)
          << r.x << "," << r.y << " " << r.width << "x" << r.height;
    }
  }
  // Deterministic: the same regions again.
  const std::vector<PixelRect> again = find_picture_regions(image, few);
  ASSERT_EQ(again.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(again[i].x, a[i].x);
}

TEST(PictureRegions, RankingAFewRectanglesFirstGivesWhatRankingThemAllGives) {
  // 5 x 5 tiles with 8-pixel gutters, every fifth a photo in a one-pixel dark frame: each such
  // tile is found with and without its frame, near-duplicates of which the smaller is kept, and
  // with many flat tiles ranked ahead, some of those smaller ones rank far down. Whatever number is
  // ranked before the search for near-duplicates, the result is that of sorting every rectangle.
  constexpr int kSide = 1200, kTiles = 5, kGutter = 8, kFrame = 1;
  constexpr int kTile = (kSide - kGutter * (kTiles + 1)) / kTiles;
  cv::Mat page(kSide, kSide, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::RNG rng(2);
  for (int i = 0; i < kTiles; ++i) {
    for (int j = 0; j < kTiles; ++j) {
      const cv::Rect tile(kGutter + i * (kTile + kGutter), kGutter + j * (kTile + kGutter), kTile,
                          kTile);
      if ((i + j + 2) % 5 == 0) {
        page(tile).setTo(cv::Scalar(20, 20, 20));
        const cv::Rect inner(tile.x + kFrame, tile.y + kFrame, kTile - 2 * kFrame,
                             kTile - 2 * kFrame);
        test::mat_of(test::synthetic_photo(inner.width, inner.height, 200 + i * kTiles + j))
            .copyTo(page(inner));
      } else {
        page(tile).setTo(cv::Scalar(rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(0, 256)));
      }
    }
  }
  const Image image = test::image_of(page);
  PictureRegionOptions all;
  all.ranked = 1 << 30;
  const std::vector<PixelRect> want = find_picture_regions(image, all);
  ASSERT_EQ(want.size(), 16u);
  for (int ranked : {1, 5, 64}) {
    PictureRegionOptions o;
    o.ranked = ranked;
    const std::vector<PixelRect> got = find_picture_regions(image, o);
    ASSERT_EQ(got.size(), want.size()) << ranked;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].x, want[i].x) << ranked << " #" << i;
      EXPECT_EQ(got[i].y, want[i].y) << ranked << " #" << i;
      EXPECT_EQ(got[i].width, want[i].width) << ranked << " #" << i;
      EXPECT_EQ(got[i].height, want[i].height) << ranked << " #" << i;
    }
  }
}

}  // namespace
}  // namespace imprint
