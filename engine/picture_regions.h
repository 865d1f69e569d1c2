// Pictures inside a picture: the rectangles of a query that may hold a whole copied image.
//
// Screenshots, picture-in-picture, collages, letterboxed and bordered reposts show a work whole,
// inside an axis-aligned rectangle with straight, sharp edges. Local features find such copies
// only when the work has corners to describe; for soft or striped works (bokeh, mist, motion
// blur, wood grain) the rectangle itself is the better clue: hashed alone, it is the work resized,
// which PDQ matches. find_picture_regions() looks for rectangles whose four sides are long
// straight edges (or the image border), at the resolution of a 512-pixel thumbnail.
//
// Also here: the centre crops of a work to common aspect ratios (thumbnails, collage cells and
// social-media previews are made that way), so that such a crop hashes to one of the work's
// region hashes. Deterministic and thread-safe.
#pragma once

#include <vector>

#include "image.h"
#include "pdq.h"

namespace imprint {

struct PixelRect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

struct PictureRegionOptions {
  int analysis_side = 512;      // the image is scaled to this longer side for the search
  double min_side = 0.12;       // fraction of the image's side
  double min_support = 0.75;    // fraction of each side of a rectangle that must be edge
  int max_regions = 16;
  // How many rectangles are ranked before the rest are searched for near-duplicates of the kept
  // ones (a grid of blocks makes a million). Only the time depends on it, never the result.
  int ranked = 64;
};

// Candidate rectangles in image pixels, strongest first; never the whole image.
std::vector<PixelRect> find_picture_regions(const Image& image,
                                            const PictureRegionOptions& options = {});

// A rectangle of an image with the PDQ hash of what it holds.
struct RegionHash {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  PdqHash hash;
  int quality = 0;
};

// PDQ hashes of rectangles of `image` (in its pixels), computed on a copy at most 1024 pixels
// long: PDQ filters any picture down to 64 x 64, so the detail lost costs a bit or two while
// each hash costs a fraction. Rectangles are clipped to the image; empty ones are skipped.
std::vector<RegionHash> hash_regions(const Image& image, const std::vector<PixelRect>& rects);

// Centre crops of a width x height image to the aspect ratios 1:1, 4:3, 3:4, 3:2, 2:3, 16:9 and
// 9:16, where the crop keeps between 40% and 95% of the image.
std::vector<PixelRect> aspect_crops(int width, int height);

// Of aspect_crops(width, height), the one nearest in aspect (log ratio) to a region_w x region_h
// picture: the part of the image that such a region shows when it was cut to its frame. The
// whole image when the region is empty or no crop qualifies.
PixelRect nearest_aspect_crop(int width, int height, int region_w, int region_h);

}  // namespace imprint
