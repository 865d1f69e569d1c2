// Registering image files and bytes as works, as `imprint register` does, for every front end
// (the command line, the Python module): the work's default naming and the JSON line a
// registration reports.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "catalog.h"

namespace imprint {

// A work named after the file it was registered from: id and title the file's name without
// extension, source its absolute path.
void name_work_after_file(const std::string& path, Work* work);

// work_input_from_image of a file's bytes, named after the file. Errors start with the path.
Result<WorkInput> image_work_input_from_file(const std::string& path);

// The JSON a registration reports once committed: work_to_json, and the work's PDQ hash and
// quality (images) or its frames, duration, fps, seconds_per_hash and partial flag (videos, from
// the video-info fingerprint work_input_from_video puts last).
nlohmann::json registration_to_json(const Work& registered, const WorkInput& input);

// `imprint stats --json`: totals, works per owner and media, the index, and each owner's usage
// totals per work and decision when the catalog has usage records.
nlohmann::json catalog_stats_to_json(const Catalog& catalog, const CatalogStats& stats);

}  // namespace imprint
