#include "scan_lines.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "fingerprint.h"
#include "match_json.h"
#include "video_match.h"
#include "scan_journal.h"
#include "text.h"

namespace imprint::cli {
namespace {

const char* kind_name(SourceKind k) {
  switch (k) {
    case SourceKind::kDirectory:
      return "directory";
    case SourceKind::kList:
      return "list";
    case SourceKind::kFile:
      return "file";
    case SourceKind::kTar:
      return "tar";
  }
  return "?";
}

nlohmann::ordered_json str_or_null(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

// nlohmann's two flavours do not convert into each other; match_json.h builds the unordered one.
nlohmann::ordered_json ordered(const nlohmann::json& j) {
  return nlohmann::ordered_json::parse(j.dump());
}

// Where an item came from: the same leading fields in findings and errors lines. "unit" is a
// placeholder the writer fills in (with_unit_name), as it alone knows the unit's name.
nlohmann::ordered_json locate(const Sample& s) {
  nlohmann::ordered_json j;
  j["unit"] = "";
  j["unit_index"] = s.unit;
  j["item"] = s.index;
  if (!s.shard.empty()) {
    j["shard"] = s.shard;
    j["key"] = s.key;
    j["member"] = s.member;
  } else {
    j["path"] = s.member;
  }
  return j;
}

// Which of a result's matches decides it: the first with the most severe decision. Matches are
// Candidates or VideoCandidates; there is at least one.
template <class Match>
size_t decisive_index(const std::vector<Match>& matches) {
  size_t best = 0;
  for (size_t k = 1; k < matches.size(); ++k) {
    if (decision_severity(matches[k].decision) > decision_severity(matches[best].decision)) {
      best = k;
    }
  }
  return best;
}

// The fields every findings line starts with: where the sample is, its sidecar, the decision.
nlohmann::ordered_json finding_head(const Sample& s, MatchDecision decision) {
  nlohmann::ordered_json j = locate(s);
  j["url"] = str_or_null(s.url);
  j["caption"] = str_or_null(s.caption);
  j["decision"] = decision_name(decision);
  return j;
}

}  // namespace

const Candidate& decisive_match(const QueryResult& r) { return r.matches[decisive_index(r.matches)]; }

std::string finding_line(const Sample& s, const ImageFingerprint& fp, const QueryResult& r,
                         const std::string& thumb) {
  nlohmann::ordered_json j = finding_head(s, r.decision);
  const nlohmann::json best = candidate_to_json(decisive_match(r));
  for (const char* k : {"work_id", "title", "owner", "distance", "score", "transform", "method",
                        "flagged", "licence"}) {
    j[k] = ordered(best[k]);
  }
  j["pdq"] = fp.pdq.hash.to_hex();
  j["quality"] = fp.pdq.quality;
  j["weak"] = r.weak;
  j["sha256"] = to_hex(fp.sha256);
  j["width"] = fp.width;
  j["height"] = fp.height;
  j["thumb"] = str_or_null(thumb);
  nlohmann::json matches = nlohmann::json::array();
  for (const Candidate& c : r.matches) matches.push_back(candidate_to_json(c));
  j["matches"] = ordered(matches);
  return json_line(j);
}

std::string video_finding_line(const Sample& s, const VideoQuery& q, const VideoQueryResult& r,
                               const std::string& thumb) {
  nlohmann::ordered_json j = finding_head(s, r.decision);
  const nlohmann::json v = video_result_to_json(s.member, q, r);
  const size_t best = decisive_index(r.matches);  // copies come first among equals
  for (const char* k : {"work_id", "title", "owner", "distance", "score", "transform", "method",
                        "flagged", "licence", "query_match_pct", "work_match_pct", "segments"}) {
    j[k] = ordered(v["matches"][best].value(k, nlohmann::json()));
  }
  j["media"] = "video";
  for (const char* k : {"fps", "duration", "frames", "partial"}) j[k] = ordered(v[k]);
  if (q.fingerprint.partial) j["partial_reason"] = q.fingerprint.partial_reason;
  j["weak"] = r.weak;
  j["sha256"] = q.sha256 ? to_hex(*q.sha256) : "";
  j["width"] = q.fingerprint.width;
  j["height"] = q.fingerprint.height;
  j["thumb"] = str_or_null(thumb);
  j["matches"] = ordered(v["matches"]);
  return json_line(j);
}

std::string error_line(const Sample& s, const std::string& reason, const std::string& message) {
  nlohmann::ordered_json j = locate(s);
  j["reason"] = reason;
  j["message"] = message;
  return json_line(j);
}

std::string with_unit_name(const std::string& line, const std::string& unit_name) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(line, nullptr, false);
  j["unit"] = unit_name;
  return json_line(j);
}

WorkInput sample_work(const Sample& s, const ImageFingerprint& fp) {
  WorkInput in;
  describe_sample_work(s, &in);
  in.work.sha256 = fp.sha256;
  in.work.width = fp.width;
  in.work.height = fp.height;
  // The fast-mode hash: a few bits from the exact one (engine/fingerprint.h), well inside the
  // match distance, and what the scan computed anyway.
  in.fingerprints.push_back(WorkFingerprint::pdq(fp.pdq.hash, fp.pdq.quality));
  return in;
}

std::string safe_work_id(const std::string& raw) {
  constexpr size_t kMaxId = 512;  // the server's FieldLimits::kWorkId
  std::string clean = utf8_prefix(raw, raw.size());
  for (char& c : clean) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  }
  const bool blank = clean.find_first_not_of(' ') == std::string::npos;
  if (clean == raw && clean.size() <= kMaxId && !blank) return clean;
  // Changed or cut: a digest of the name as it was keeps distinct names distinct.
  const std::string digest = to_hex(sha256_of(std::span(
      reinterpret_cast<const uint8_t*>(raw.data()), raw.size())));
  const std::string tag = "~" + digest.substr(0, 16);
  return utf8_prefix(clean, kMaxId - tag.size()) + tag;
}

void describe_sample_work(const Sample& s, WorkInput* in_out) {
  WorkInput& in = *in_out;
  const bool tar = !s.shard.empty();
  // Member names and shard paths come from the corpus: ids are made what every front end takes
  // (the server refuses other ids, and its JSON and proto answers need UTF-8).
  in.work.id = safe_work_id(tar ? s.shard + "/" + s.key : s.member);
  // Cut on a character boundary, bad bytes replaced: stored text must be UTF-8 (the server's
  // JSON and proto answers carry it).
  in.work.title = utf8_prefix(s.caption, 1000);
  in.work.source =
      utf8_prefix(!s.url.empty() ? s.url : tar ? s.shard + ":" + s.member : s.member, 8192);
}

namespace {

// SHA-256 of a file's first and last 64 KiB (the whole file when shorter than 128 KiB), hex; ""
// when it cannot be read. With the size and modification time, what tells a tar shard from
// another with the same name: a re-download or re-packing changes its header blocks and its
// end (the last members and the tar trailer) even when the size happens to match.
std::string edge_digest(const std::string& path, int64_t size) {
  constexpr int64_t kEdge = 64 * 1024;
  std::ifstream f(path, std::ios::binary);
  if (!f || size < 0) return "";
  std::vector<uint8_t> bytes(size_t(std::min(size, 2 * kEdge)));
  const int64_t head = std::min(size, kEdge);
  f.read(reinterpret_cast<char*>(bytes.data()), head);
  if (int64_t(bytes.size()) > head) {
    f.seekg(size - (int64_t(bytes.size()) - head));
    f.read(reinterpret_cast<char*>(bytes.data()) + head, std::streamsize(bytes.size() - head));
  }
  if (!f) return "";
  return to_hex(sha256_of(bytes));
}

}  // namespace

nlohmann::json unit_signature(const ScanUnit& u) {
  nlohmann::json j = {{"unit", u.index}, {"name", u.name}, {"kind", kind_name(u.kind)}};
  if (u.kind == SourceKind::kTar) {
    struct stat st {};
    const bool known = ::stat(u.tar_path.c_str(), &st) == 0;
    j["bytes"] = known ? int64_t(st.st_size) : int64_t(-1);
    if (known) {
      j["mtime_ns"] = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      j["edges_sha256"] = edge_digest(u.tar_path, int64_t(st.st_size));
    }
  } else {
    j["items"] = u.paths.size();
    j["first"] = u.paths.empty() ? "" : u.paths.front().path;
    j["last"] = u.paths.empty() ? "" : u.paths.back().path;
  }
  return j;
}

std::string signature_change(const nlohmann::json& journaled, const nlohmann::json& now) {
  for (const char* k : {"name", "kind", "bytes", "items", "first", "last"}) {
    if (now.contains(k) && (!journaled.contains(k) || journaled[k] != now[k])) {
      return std::string(k) + " was " +
             (journaled.contains(k) ? json_line(journaled[k]) : "absent") + ", now " +
             json_line(now[k]);
    }
  }
  // Journaled since a tar shard's identity included them; a report begun before is resumed by
  // name and size as it was begun.
  for (const char* k : {"mtime_ns", "edges_sha256"}) {
    if (now.contains(k) && journaled.contains(k) && journaled[k] != now[k]) {
      return std::string(k == std::string("mtime_ns") ? "modification time" : "content") +
             " differs (same name and size)";
    }
  }
  return "";
}

}  // namespace imprint::cli
