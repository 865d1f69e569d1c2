// The JSON forms of works and match results, shared by `imprint query --json`, the scan report
// and the HTTP front so every surface speaks the same contract:
//   {"path", "pdq", "quality", "weak", "decision",
//    "matches": [{"work_id", "title", "owner", "distance", "score", "transform", "method",
//                 "decision", "flagged", "licence",
//                 "explanation": {"evidence", "measure", "value", "match_line", "review_line",
//                                 "weak_query", "purpose", "permission", "licensee_named"}}]}
#pragma once

#include <nlohmann/json.hpp>

#include "catalog.h"

namespace imprint {

nlohmann::json licence_to_json(const LicencePolicy& p);
nlohmann::json work_to_json(const Work& w);
nlohmann::json candidate_to_json(const Candidate& c);
// `label` is the query's path or name.
nlohmann::json query_result_to_json(const std::string& label, const ImageFingerprint& query,
                                    const QueryResult& r);
std::string iso8601_utc(int64_t ms_since_epoch);

}  // namespace imprint
