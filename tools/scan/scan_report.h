// The derived parts of a scan report (summary.json, report.html) and merging shard reports.
//
// Both are computed from the durable files only (scan.json, journal.jsonl, findings.jsonl,
// thumbs/), never from a process's memory, so a resumed scan, an interrupted one and a merge of
// shards all summarise the same way, and `imprint report html` can rebuild them at any time.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "status.h"

namespace imprint::cli {

// summary.json's contents:
//   complete        every unit of every shard covered was scanned (no interruption, no unit that
//                   could not be opened); shards_covered of shard_count says which shards those are
//   scan, catalog   scan.json's identity and catalog (dir, catalog_id, generation, works)
//   totals          units, items, scanned, matched, flagged, review, weak, bad_items,
//                   damaged_units, other_members, errors_by_reason
//   by_owner        owners with their flagged, matched and review sample counts and works hit
//   by_work         works with the same counts, title, owner, best distance and licence
//   throughput      per shard: items, seconds and items/s of its runs
//   failed_units    units whose last run could not open them
Result<nlohmann::json> build_summary(const std::string& dir);

// Writes summary.json and report.html; returns the summary.
Result<nlohmann::json> finish_report(const std::string& dir);

// Combines reports of the same scan made by `--shard I/N` copies (or earlier merges) into `out`,
// which must be missing or empty: findings, errors and journal in unit order (so the result is
// the same, byte for byte, as one unsharded run's), thumbnails, and a new summary and report.
// *complete says whether the inputs covered all N shards, each complete.
Status merge_reports(const std::string& out, const std::vector<std::string>& inputs,
                     bool* complete);

}  // namespace imprint::cli
