// report.html: one self-contained file an auditor can send to counsel.
//
// Totals at the top, then the flagged findings grouped by owner and by work, each finding with
// the corpus image and the registered work side by side (thumbnails inlined as data URIs; a
// work's image is stored once and referenced by every finding of it), the distance and the
// licence terms; then near misses to review, copies the licence permits, and the bad items.
// Groups are <details> elements, collapsed when there are many, so a report with thousands of
// findings opens quickly; no script, no external resource, prints as it shows.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "status.h"

namespace imprint::cli {

// Reads DIR/findings.jsonl, DIR/errors.jsonl and DIR/thumbs/, writes DIR/report.html.
Status write_report_html(const std::string& dir, const nlohmann::json& summary);

// Inline thumbnails beyond this many are left out of the file (the finding stays listed with
// its path to the thumbnail), which keeps the file under ~100 MB whatever the scan found.
inline constexpr size_t kMaxInlineThumbs = 10000;

}  // namespace imprint::cli
