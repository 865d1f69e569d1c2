// Local features: keypoints with binary descriptors, the fingerprint of the second matching stage.
//
// PDQ sees a whole image, so it misses copies that keep only part of a work (crops) or show it
// as part of something larger (screenshots, picture-in-picture, collages), and rotations beyond a
// few degrees. Local features describe small patches around distinctive points; a copy shares
// many of them with the work, in a geometrically consistent arrangement, whatever surrounds it.
//
// Features are ORB (oriented FAST keypoints, rotated BRIEF descriptors, 256 bits), detected over
// an image pyramid on the luma of the image scaled so its longer side is at most max_side, and
// spread over the image by a grid so that every part of it keeps some (a crop keeps the features
// of the part it keeps). Keypoint coordinates are in the pixels of the image given, whatever the
// scale used for detection. Extraction is deterministic and thread-safe.
//
// Beside the features, a small grey thumbnail of the image: the second stage compares it with the
// matching part of the query once the geometry is known, which tells a copy from an unrelated
// image that happens to share a repeated structure (tiles, stripes, text) at consistent places.
//
// Storage form (encode/decode_local_features): a versioned little-endian blob, 44 bytes a feature
// plus the thumbnail (1 KB for works).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "image.h"
#include "picture_regions.h"
#include "status.h"

namespace imprint {

inline constexpr int kLocalDescriptorBytes = 32;  // ORB: 256 binary tests

struct LocalKeypoint {
  float x = 0;       // in pixels of the image the features were extracted from
  float y = 0;
  float size = 0;    // diameter of the described patch, same pixels
  float angle = 0;   // degrees, [0, 360): the patch orientation ORB assigns
};

struct LocalFeatures {
  int width = 0;  // of the image the coordinates refer to
  int height = 0;
  std::vector<LocalKeypoint> keypoints;
  std::vector<uint8_t> descriptors;  // kLocalDescriptorBytes per keypoint, in keypoint order
  Image thumbnail;                   // grey (1 channel), see LocalFeatureOptions
  // Queries only (LocalFeatureOptions::region_hashes): the picture regions of the image
  // (picture_regions.h: a screenshot's viewer, a collage cell, a picture pasted into another)
  // and, last, the whole image, each with its PDQ hash. Hashed alone, such a region is the work
  // resized (or cut to the region's aspect), which PDQ matches whatever its texture; local
  // features need corners, which soft photos (mist, clouds, bokeh) and grain lack.
  std::vector<RegionHash> regions;

  size_t size() const { return keypoints.size(); }
  bool empty() const { return keypoints.empty(); }
  const uint8_t* descriptor(size_t i) const { return descriptors.data() + i * kLocalDescriptorBytes; }
};

struct LocalFeatureOptions {
  // The image is scaled (never up) so its longer side is at most this before detection: detail
  // finer than this is not what survives copying, and the cost of detection follows the area.
  int max_side = 512;
  // An image whose longer side is below this is scaled up (bilinear) to it first: ORB finds no
  // keypoint within 31 pixels of a border at any pyramid level, so a 250 px thumbnail would keep
  // features only in its middle and its coarse levels none at all. Scaling adds no detail; it
  // gives the detector room. 0: never scale up.
  int min_side = 0;
  // Features kept. Per feature the catalog stores 44 bytes and indexes 48. 0: no keypoints,
  // only the thumbnail and the picture regions.
  int max_features = 400;
  // Keypoints are chosen by response within each cell of a grid x grid partition, so textured
  // corners cannot take every slot and a crop of any part keeps its share.
  int grid = 4;
  // ORB pyramid: 8 levels of 1.2 cover scale changes of 3.6x in either direction between a
  // query and a work before their levels stop overlapping.
  int pyramid_levels = 8;
  float scale_factor = 1.2f;
  // FAST threshold on 0..255 luma after a 1-99 percentile contrast stretch. Low, so that soft
  // photos (clouds, bokeh, meadows) still yield corners; the grid and Harris ranking keep the
  // strongest. 2 rather than 5 raised the robustness benchmark's 50%-area centre crops from 82%
  // to 92-95%, 15-degree rotations from 85% to 95-98% and perspective from 88% to 98%, at
  // 36 ms instead of 15 ms of query extraction.
  int fast_threshold = 2;
  // Thumbnail: the whole image area-averaged to thumbnail_side x thumbnail_side when
  // thumbnail_square (works: 32 x 32, 1 KB, enough to check a match's layout), or to a longer
  // side of thumbnail_side keeping the aspect (queries: the work may fill a fraction of them).
  int thumbnail_side = 32;
  bool thumbnail_square = true;
  // Picture regions hashed with PDQ, at most this many plus the whole image (0: none). Queries
  // only: a work is registered whole.
  int region_hashes = 0;
};

// What works are registered with, and what queries are searched with. Queries are scaled larger
// (1024 px) because the work may fill only part of them: at 40% of a picture's width a work
// shown at 1024 px spans ~410 px, near the 512 px it was registered at.
LocalFeatureOptions work_feature_options();
LocalFeatureOptions query_feature_options();

// Grey or RGB input; an empty or tiny image (under 32 px a side) gives no features.
LocalFeatures extract_local_features(const Image& image, const LocalFeatureOptions& options);

// The blob holds the keypoints, descriptors and thumbnail; region hashes are a query's and are
// not stored.
std::vector<uint8_t> encode_local_features(const LocalFeatures& features);
// kCorruption when the blob is not one encode_local_features wrote.
Result<LocalFeatures> decode_local_features(std::span<const uint8_t> blob);

}  // namespace imprint
