#include "scan_report.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "match_json.h"
#include "scan_html.h"
#include "scan_journal.h"

namespace imprint::cli {
namespace fs = std::filesystem;
namespace {

Result<nlohmann::json> read_json_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return not_found("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return corruption(path + " is not valid JSON");
  return j;
}

// Shard numbers a report covers: its own, or the list a merge recorded.
std::vector<size_t> covered_shards(const nlohmann::json& scan) {
  const nlohmann::json& shard = scan["identity"]["shard"];
  if (shard.contains("merged")) return shard["merged"].get<std::vector<size_t>>();
  return {shard["index"].get<size_t>()};
}

struct Tally {
  int64_t flagged = 0, matched = 0, review = 0;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status copy_range(std::ifstream& in, int64_t from, int64_t to, std::ofstream& out) {
  if (to < from) return corruption("journal offsets go backwards");
  in.clear();
  in.seekg(from);
  std::vector<char> buf(1 << 16);
  int64_t left = to - from;
  while (left > 0) {
    const std::streamsize n = std::streamsize(std::min<int64_t>(left, int64_t(buf.size())));
    in.read(buf.data(), n);
    if (in.gcount() != n) return corruption("a report file is shorter than its journal records");
    out.write(buf.data(), n);
    left -= n;
  }
  return Status::Ok();
}

}  // namespace

Result<nlohmann::json> build_summary(const std::string& dir) {
  Result<nlohmann::json> scan = read_json_file(dir + "/scan.json");
  if (!scan.ok()) return scan.status();
  Result<JournalContents> journal = read_journal(dir);
  if (!journal.ok()) return journal.status();
  const nlohmann::json& identity = (*scan)["identity"];

  // Totals come from the journal, which counts every item even where errors.jsonl stops listing.
  int64_t items = 0, scanned = 0, matched = 0, flagged = 0, review = 0, weak = 0, bad = 0,
          damaged = 0, other = 0;
  std::map<std::string, int64_t> reasons;
  for (const auto& [unit, e] : journal->units) {
    items += e.value("items", int64_t{0});
    scanned += e.value("scanned", int64_t{0});
    matched += e.value("matched", int64_t{0});
    flagged += e.value("flagged", int64_t{0});
    review += e.value("review", int64_t{0});
    weak += e.value("weak", int64_t{0});
    bad += e.value("bad_items", int64_t{0});
    damaged += e.value("unit_errors", int64_t{0}) > 0;
    other += e.value("other_members", int64_t{0});
    if (e.contains("errors_by_reason")) {
      for (auto it = e["errors_by_reason"].begin(); it != e["errors_by_reason"].end(); ++it) {
        reasons[it.key()] += it.value().get<int64_t>();
      }
    }
  }

  // Per work and owner, from the findings (only the committed part: a resumed scan truncates).
  std::map<std::string, Tally> by_work_tally;
  std::map<std::string, nlohmann::json> work_info;
  std::map<std::string, Tally> by_owner_tally;
  std::map<std::string, std::set<std::string>> owner_works;
  {
    std::ifstream f(dir + "/findings.jsonl");
    std::string line;
    int64_t pos = 0;
    while (pos < journal->findings_end && std::getline(f, line)) {
      pos += int64_t(line.size()) + 1;
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("matches")) continue;
      std::set<std::string> owners_flagged, owners_matched, owners_review;
      for (const nlohmann::json& m : j["matches"]) {
        const std::string id = m.value("work_id", "");
        const std::string owner = m.value("owner", "");
        const std::string decision = m.value("decision", "none");
        // A local-features match has no distance (null); what is a match is the catalog's
        // decision, the same for every method.
        const auto dj = m.find("distance");
        const int distance = dj != m.end() && dj->is_number() ? dj->get<int>() : 256;
        const bool is_match = decision == "flag" || decision == "allow";
        Tally& t = by_work_tally[id];
        t.flagged += decision == "flag";
        t.matched += is_match;
        t.review += decision == "review";
        nlohmann::json& info = work_info[id];
        if (info.is_null()) {
          info = {{"work_id", id},
                  {"title", m.value("title", "")},
                  {"owner", owner},
                  {"licence", m.value("licence", nlohmann::json::object())},
                  {"best_distance", distance}};
        } else {
          info["best_distance"] = std::min(info["best_distance"].get<int>(), distance);
        }
        owner_works[owner].insert(id);
        if (decision == "flag") owners_flagged.insert(owner);
        if (is_match) owners_matched.insert(owner);
        if (decision == "review") owners_review.insert(owner);
      }
      for (const auto& o : owners_flagged) ++by_owner_tally[o].flagged;
      for (const auto& o : owners_matched) ++by_owner_tally[o].matched;
      for (const auto& o : owners_review) ++by_owner_tally[o].review;
    }
  }
  nlohmann::json by_work = nlohmann::json::array();
  for (auto& [id, info] : work_info) {
    const Tally& t = by_work_tally[id];
    info["flagged"] = t.flagged;
    info["matched"] = t.matched;
    info["review"] = t.review;
    by_work.push_back(info);
  }
  std::stable_sort(
      by_work.begin(), by_work.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
        return std::make_tuple(-a["flagged"].get<int64_t>(), -a["matched"].get<int64_t>()) <
               std::make_tuple(-b["flagged"].get<int64_t>(), -b["matched"].get<int64_t>());
      });
  nlohmann::json by_owner = nlohmann::json::array();
  for (const auto& [owner, t] : by_owner_tally) {
    by_owner.push_back({{"owner", owner},
                        {"flagged", t.flagged},
                        {"matched", t.matched},
                        {"review", t.review},
                        {"works", owner_works[owner].size()}});
  }
  std::stable_sort(by_owner.begin(), by_owner.end(),
                   [](const nlohmann::json& a, const nlohmann::json& b) {
                     return a["flagged"].get<int64_t>() > b["flagged"].get<int64_t>();
                   });

  // Runs: completeness and throughput per shard. A shard is complete when its last run was.
  std::map<size_t, std::vector<nlohmann::json>> runs_by_shard;
  for (const nlohmann::json& r : journal->runs)
    runs_by_shard[r.value("shard", size_t{0})].push_back(r);
  const std::vector<size_t> covered = covered_shards(*scan);
  const size_t shard_count = identity["shard"].value("count", size_t{1});
  bool complete = true;
  nlohmann::json throughput = nlohmann::json::array();
  nlohmann::json failed = nlohmann::json::array();
  std::set<int64_t> generations;
  for (size_t shard : covered) {
    auto it = runs_by_shard.find(shard);
    if (it == runs_by_shard.end() || it->second.empty()) {
      complete = false;  // never finished a run (killed, or still running)
      throughput.push_back({{"shard", shard}, {"runs", 0}});
      continue;
    }
    const nlohmann::json& last = it->second.back();
    complete = complete && last.value("complete", false);
    for (const auto& f : last.value("failed_units", nlohmann::json::array())) failed.push_back(f);
    double seconds = 0;
    int64_t n = 0;
    for (const nlohmann::json& r : it->second) {
      seconds += r.value("seconds", 0.0);
      n += r.value("items", int64_t{0});
      generations.insert(r.value("catalog_generation", int64_t{-1}));
    }
    throughput.push_back(
        {{"shard", shard},
         {"runs", it->second.size()},
         {"items", n},
         {"seconds", std::round(seconds * 1000) / 1000},
         {"items_per_second", seconds > 0 ? std::round(n / seconds * 10) / 10 : 0.0},
         {"threads", last.value("threads", 0)}});
  }

  nlohmann::json catalog = (*scan)["catalog"];
  // A catalog that gained or lost works mid-scan makes early and late units answer to different
  // catalogs; the auditor should know.
  catalog["generations_seen"] = generations;
  nlohmann::json totals = {{"units", journal->units.size()},
                           {"items", items},
                           {"scanned", scanned},
                           {"matched", matched},
                           {"flagged", flagged},
                           {"review", review},
                           {"weak", weak},
                           {"bad_items", bad},
                           {"damaged_units", damaged},
                           {"other_members", other},
                           {"errors_by_reason", reasons}};
  return nlohmann::json{{"imprint_report_version", 1},
                        {"complete", complete},
                        {"shards_covered", covered},
                        {"shard_count", shard_count},
                        {"generated", iso8601_utc(now_ms())},
                        {"scan", identity},
                        {"catalog", catalog},
                        {"totals", totals},
                        {"by_owner", by_owner},
                        {"by_work", by_work},
                        {"throughput", throughput},
                        {"failed_units", failed}};
}

Result<nlohmann::json> finish_report(const std::string& dir) {
  Result<nlohmann::json> summary = build_summary(dir);
  if (!summary.ok()) return summary.status();
  IMPRINT_RETURN_IF_ERROR(write_file_atomic(dir + "/summary.json", summary->dump(2) + "\n"));
  IMPRINT_RETURN_IF_ERROR(write_report_html(dir, *summary));
  return summary;
}

Status merge_reports(const std::string& out, const std::vector<std::string>& inputs,
                     bool* complete) {
  if (inputs.empty()) return invalid_argument("no reports to merge");
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_empty(out, ec)) {
    return already_exists("merge output " + out + " is not empty");
  }
  struct Input {
    std::string dir;
    nlohmann::json scan;
    JournalContents journal;
  };
  std::vector<Input> in;
  std::set<size_t> shards;
  nlohmann::json identity;
  for (const std::string& dir : inputs) {
    // A scan still writing its report holds LOCK; merging it now would take a moving snapshot.
    const int lock = ::open((dir + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC);
    if (lock >= 0) {
      const bool busy = ::flock(lock, LOCK_EX | LOCK_NB) != 0;
      ::close(lock);
      if (busy)
        return failed_precondition(dir +
                                   " is still being written by a scan; merge it when it ends");
    }
    Result<nlohmann::json> scan = read_json_file(dir + "/scan.json");
    if (!scan.ok()) return scan.status().with_context("not a scan report");
    Result<JournalContents> j = read_journal(dir);
    if (!j.ok()) return j.status();
    nlohmann::json id = (*scan)["identity"];
    const size_t count = id["shard"]["count"].get<size_t>();
    id["shard"] = {{"count", count}};
    if (identity.is_null()) {
      identity = id;
    } else if (identity != id) {
      return failed_precondition(dir +
                                 " is a report of a different scan (sources, catalog or "
                                 "options differ); only shards of one scan can be merged");
    }
    for (size_t s : covered_shards(*scan)) {
      if (!shards.insert(s).second) {
        return failed_precondition("shard " + std::to_string(s) + " appears in two inputs (" + dir +
                                   ")");
      }
    }
    in.push_back({dir, std::move(*scan), std::move(*j)});
  }

  fs::create_directories(out + "/thumbs", ec);
  if (ec) return io_error("cannot create " + out + ": " + ec.message());

  // Each input's unit blocks, found from consecutive journal offsets, then written in unit order.
  struct Block {
    size_t input;
    int64_t f_from, f_to, e_from, e_to;
    nlohmann::json entry;
  };
  std::map<size_t, Block> blocks;
  for (size_t i = 0; i < in.size(); ++i) {
    int64_t f = 0, e = 0;
    for (size_t unit : in[i].journal.commit_order) {
      const nlohmann::json& entry = in[i].journal.units.at(unit);
      const int64_t f_end = entry["findings_end"].get<int64_t>();
      const int64_t e_end = entry["errors_end"].get<int64_t>();
      if (blocks.count(unit))
        return failed_precondition("unit " + std::to_string(unit) + " is in two inputs");
      blocks[unit] = {i, f, f_end, e, e_end, entry};
      f = f_end;
      e = e_end;
    }
  }
  std::vector<std::ifstream> findings_in, errors_in;
  for (const Input& x : in) {
    findings_in.emplace_back(x.dir + "/findings.jsonl", std::ios::binary);
    errors_in.emplace_back(x.dir + "/errors.jsonl", std::ios::binary);
  }
  std::ofstream findings_out(out + "/findings.jsonl", std::ios::binary);
  std::ofstream errors_out(out + "/errors.jsonl", std::ios::binary);
  std::string journal;
  int64_t f_pos = 0, e_pos = 0;
  for (auto& [unit, b] : blocks) {
    IMPRINT_RETURN_IF_ERROR(copy_range(findings_in[b.input], b.f_from, b.f_to, findings_out));
    IMPRINT_RETURN_IF_ERROR(copy_range(errors_in[b.input], b.e_from, b.e_to, errors_out));
    f_pos += b.f_to - b.f_from;
    e_pos += b.e_to - b.e_from;
    b.entry["findings_end"] = f_pos;
    b.entry["errors_end"] = e_pos;
    journal += json_line(b.entry) + "\n";
  }
  findings_out.close();
  errors_out.close();
  if (!findings_out || !errors_out) return io_error("cannot write the merged findings or errors");
  for (const Input& x : in) {
    for (const nlohmann::json& r : x.journal.runs) journal += json_line(r) + "\n";
  }
  IMPRINT_RETURN_IF_ERROR(write_file_atomic(out + "/journal.jsonl", journal));

  for (const Input& x : in) {
    const std::string thumbs = x.dir + "/thumbs";
    if (!fs::is_directory(thumbs, ec)) continue;
    for (const auto& e : fs::directory_iterator(thumbs, ec)) {
      const fs::path to = fs::path(out) / "thumbs" / e.path().filename();
      if (e.path().extension() != ".jpg" || fs::exists(to, ec)) continue;  // work thumbs repeat
      fs::copy_file(e.path(), to, ec);
      if (ec) return io_error("cannot copy " + e.path().string() + ": " + ec.message());
    }
  }

  nlohmann::json scan = in.front().scan;
  scan["identity"] = identity;
  scan["identity"]["shard"]["merged"] = shards;
  scan["merged_from"] = inputs;
  IMPRINT_RETURN_IF_ERROR(write_file_atomic(out + "/scan.json", scan.dump(2) + "\n"));

  Result<nlohmann::json> summary = finish_report(out);
  if (!summary.ok()) return summary.status();
  const size_t count = identity["shard"]["count"].get<size_t>();
  *complete = (*summary)["complete"].get<bool>() && shards.size() == count;
  return Status::Ok();
}

}  // namespace imprint::cli
