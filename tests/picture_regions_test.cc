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

}  // namespace
}  // namespace imprint
