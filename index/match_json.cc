#include "match_json.h"

#include <ctime>

namespace imprint {

nlohmann::json licence_to_json(const LicencePolicy& p) { return nlohmann::json::parse(p.to_json()); }

std::string iso8601_utc(int64_t ms) {
  const std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, int(ms % 1000));
  return out;
}

nlohmann::json work_to_json(const Work& w) {
  nlohmann::json j = {{"work_id", w.id},
                      {"title", w.title},
                      {"owner", w.owner},
                      {"media", w.media},
                      {"source", w.source},
                      {"registered_at", iso8601_utc(w.registered_at_ms)},
                      {"width", w.width},
                      {"height", w.height},
                      {"licence", licence_to_json(w.licence)},
                      {"metadata", w.metadata}};
  j["sha256"] = w.sha256 ? nlohmann::json(to_hex(*w.sha256)) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json candidate_to_json(const Candidate& c) {
  nlohmann::json j = {
      {"work_id", c.work.id},
      {"title", c.work.title},
      {"owner", c.work.owner},
      // No Hamming distance stands behind a local-features match: null, not a number.
      {"distance", c.distance >= 0 ? nlohmann::json(c.distance) : nlohmann::json(nullptr)},
      {"score", std::round(c.score * 1000) / 1000},
      {"transform", dihedral_name(c.transform)},
      {"method", c.method},
      {"decision", decision_name(c.decision)},
      {"flagged", c.decision == MatchDecision::kFlag},
      {"licence", licence_to_json(c.work.licence)},
      {"metadata", c.work.metadata},
      {"explanation",
       {{"evidence", evidence_name(c.why.evidence)},
        {"measure", c.why.measure},
        {"value", c.why.value},
        {"match_line", c.why.match_line},
        {"review_line", c.why.review_line},
        {"weak_query", c.why.weak_query},
        {"purpose", purpose_name(c.why.purpose)},
        {"permission", permission_name(c.why.permission)},
        {"licensee_named", c.why.licensee_named}}}};
  if (c.region) {
    // Where the work sits in the query, and which part of the work the query shows (pixels).
    auto box = [](const PixelBox& b) { return nlohmann::json{b.x, b.y, b.width, b.height}; };
    nlohmann::json corners = nlohmann::json::array();
    for (const QueryPoint& p : c.region->work_corners) {
      corners.push_back({std::round(p.x * 10) / 10, std::round(p.y * 10) / 10});
    }
    j["region"] = {{"query_box", box(c.region->query_box)},
                   {"work_box", box(c.region->work_box)},
                   {"work_corners_in_query", corners}};
  }
  return j;
}

nlohmann::json query_result_to_json(const std::string& label, const ImageFingerprint& q,
                                    const QueryResult& r) {
  nlohmann::json matches = nlohmann::json::array();
  for (const Candidate& c : r.matches) matches.push_back(candidate_to_json(c));
  return {{"path", label},
          {"pdq", q.pdq.hash.to_hex()},
          {"quality", q.pdq.quality},
          {"weak", r.weak},
          {"decision", decision_name(r.decision)},
          {"matches", matches}};
}

}  // namespace imprint
