// Small JPEG thumbnails of findings and of the works they match, kept under OUT/thumbs/ while a
// scan runs so report.html (and a merge of shard reports) can show both side by side without
// going back to the corpus, which may be on another machine or gone by the time counsel reads it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "status.h"

namespace imprint::cli {

// 160 px on the longer side: two side by side fit a narrow column, and a JPEG at quality 80 is
// ~5-8 KB, so a report with a few thousand inline findings stays a few tens of MB.
inline constexpr int kThumbSide = 160;

// Decodes (JPEGs at reduced DCT scale) and shrinks to fit kThumbSide; JPEG at quality 80.
Result<std::vector<uint8_t>> make_thumbnail(std::span<const uint8_t> image_bytes);
// Videos: the frame at (or just after) t_seconds. Files with a video extension get the frame at 1 s.
Result<std::vector<uint8_t>> make_video_thumbnail(std::span<const uint8_t> video_bytes, double t_seconds);
Result<std::vector<uint8_t>> make_thumbnail_of_file(const std::string& path);

// Names relative to the report directory. Items are named by unit and item number, which are the
// same in every shard of a scan, so merged reports never collide.
std::string item_thumb_name(size_t unit, size_t index);
std::string work_thumb_name(const std::string& work_id);

// Writes and fsyncs (a report whose journal names a finding should have its thumbnail).
Status write_thumb(const std::string& path, const std::vector<uint8_t>& jpeg);

}  // namespace imprint::cli
