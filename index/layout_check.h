// The photometric half of second-stage verification: does the query, seen through the projection
// RANSAC found, look like the work's thumbnail?
//
// Both sides are reduced to their detail (the thumbnail minus its Gaussian blur, sigma 2 cells),
// so smooth ramps of light, which any two skies share, do not count as agreement; what is
// compared is where edges and blobs sit. The correlation is zero-mean and normalised, so
// brightness, contrast and moderate gamma or hue changes leave it near 1.
//
// Repeated structures (tiles, stripes, grids) are the trap: two different regions of one tiled
// wallpaper align under a shift by the period and then correlate highly. self_similarity()
// measures how well a work correlates with itself under shifts of a quarter of its size or more;
// verification asks a copy to correlate better than that.
#pragma once

#include "image.h"
#include "local_features.h"

namespace imprint {

struct Projection {
  double m[9];  // row-major 3x3 homography from work pixels to query pixels
};

// Correlation of detail between the work thumbnail (grey, the work's ww x wh pixels area-averaged
// to its size) and the query thumbnail warped back by h, over the thumbnail cells that fall inside
// the query (or, given `within`, inside that rectangle of query pixels). -2 when fewer than
// min_cells do.
//
// `occluded` > 0 allows for something laid over the copy (a caption, a logo, a watermark): of
// that fraction of the cells, those the correlation's fit leaves furthest off, the ones forming
// solid patches are set aside and count as disagreeing; the answer is the correlation over the
// rest scaled by the share of cells it covers, or the plain one if that is higher. A covered copy
// regains its uncovered part; another picture, whose worst-fitting cells lie scattered, gains
// little (layout_check.cc, trimmed_zncc).
double layout_similarity(const Image& work_thumb, int ww, int wh, const Projection& h,
                         const LocalFeatures& query, int min_cells,
                         const PixelRect* within = nullptr, double occluded = 0);

// The highest correlation of detail of the thumbnail with itself shifted by at least a quarter of
// its width or height, over overlaps of at least half of it. Near 0 for photos; 0.5-0.9 for
// wallpapers tiled with a period the thumbnail resolves.
double self_similarity(const Image& thumbnail);

}  // namespace imprint
