// The edits of the robustness benchmark: how copies of a work are made in the wild, one family
// per kind of edit. Each family turns an image (a registered work, or an unregistered distractor
// for the negative queries) into the bytes of a query file; families that combine it with other
// pictures (picture-in-picture, collage, screenshot backgrounds) take those from `fillers`, which
// hold only unregistered photos. Every random choice comes from the seed, so a run is repeatable.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "image.h"

namespace imprint::bench {

struct TransformContext {
  uint64_t seed = 0;
  const std::vector<const Image*>* fillers = nullptr;  // unregistered photos, at least 3
};

struct TransformFamily {
  std::string name;
  std::string description;
  std::function<std::vector<uint8_t>(const Image& image, const TransformContext& ctx)> apply;
};

// All families, in table order.
std::vector<TransformFamily> transform_families();

// Exposed for tests and the chart: OpenCV-backed helpers on RGB images.
Image crop_fraction(const Image& in, double area_fraction, double fx, double fy);
Image rotate_keep_canvas(const Image& in, double degrees);
Image paste_into(const Image& background, const Image& work, double width_fraction, double fx,
                 double fy);

}  // namespace imprint::bench
