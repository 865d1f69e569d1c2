// The lines of a scan report: findings.jsonl, errors.jsonl, and the journal's unit signature.
//
// findings.jsonl, one object per sample with at least one listed match, keys in this order:
//   unit, unit_index, item             which unit of the scan and which item in it
//   shard, key, member | path          tar shards: the shard, the WebDataset key and member;
//                                      files: the path
//   url, caption                       from the sample's sidecar (null when absent)
//   decision                           the sample's decision for the scan's purpose (flag, review,
//                                      allow, none)
//   work_id, title, owner, distance, score, transform, method, flagged, licence
//                                      the match that decides it (match_json.h's fields)
//   pdq, quality, weak, sha256, width, height    the sample's fingerprint
//   thumb                              the sample's thumbnail in the report, or null
//   matches                            every listed match, as `imprint query --json` lists them
//   video samples (video_finding_line) have media "video", fps, duration, frames, partial,
//   query_match_pct, work_match_pct and segments (which seconds copy which) instead of pdq and
//   quality
// errors.jsonl: unit, unit_index, item (null for a unit's own error), where (as above), reason
// (error_reason()), message.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "catalog.h"
#include "video_match.h"
#include "scan_sources.h"

namespace imprint::cli {

// The match that decides a result: the nearest with the most severe decision.
const Candidate& decisive_match(const QueryResult& r);

// A findings line, without the unit's name (the writer fills it in: with_unit_name).
std::string finding_line(const Sample& s, const ImageFingerprint& fp, const QueryResult& r,
                         const std::string& thumb);
// The same for a video sample: the decisive match's fields, then media "video", fps, duration,
// frames, partial (and partial_reason), query_match_pct, work_match_pct and segments as
// `imprint query --json` gives them for videos; no pdq/quality (a video has one per frame).
std::string video_finding_line(const Sample& s, const VideoQuery& q, const VideoQueryResult& r,
                               const std::string& thumb);
std::string error_line(const Sample& s, const std::string& reason, const std::string& message);
std::string with_unit_name(const std::string& line, const std::string& unit_name);

// What --save-catalog registers for a sample: id SHARD/KEY or the path, title the caption,
// source the URL (else where it was read), no licence beyond the default.
WorkInput sample_work(const Sample& s, const ImageFingerprint& fp);
// Just the id, title and source of that work (a video sample's fingerprints come from
// work_input_from_video).
void describe_sample_work(const Sample& s, WorkInput* in);
// A work id every front end accepts, from a name read in a corpus: valid UTF-8 (bad bytes
// replaced), control characters replaced by '_', at most 512 bytes, not blank. A name that had
// to change ends in "~" and 16 hex digits of its SHA-256, so distinct names stay distinct.
std::string safe_work_id(const std::string& raw);

// The journal fields that say which input a unit covered, checked again on resume; and, given the
// journaled and current signature, what changed (empty: nothing).
nlohmann::json unit_signature(const ScanUnit& u);
std::string signature_change(const nlohmann::json& journaled, const nlohmann::json& now);

}  // namespace imprint::cli
