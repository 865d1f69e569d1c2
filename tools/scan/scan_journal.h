// The report directory of a scan, and the journal that makes a killed scan resume exactly.
//
//   OUT/scan.json       what is being scanned: {"identity": {sources, shard, catalog id,
//                       purpose, thresholds, limits, ...}, "started", ...}; written first
//   OUT/findings.jsonl  one line per sample that matched a registered work
//   OUT/errors.jsonl    one line per bad item or damaged unit
//   OUT/journal.jsonl   {"unit": N, "name", counters, "findings_end", "errors_end"} per finished
//                       unit, {"run": ...} per finished run
//   OUT/thumbs/         small JPEGs of findings and matched works, for report.html
//   OUT/summary.json, OUT/report.html   derived from the files above at the end
//   OUT/LOCK            flock held by the one process writing the report
//
// Committing a unit: append its findings and errors, fsync both; then append its journal line
// and fsync the journal. A process killed anywhere leaves at worst a torn journal line and
// findings or errors past the last recorded offsets. Opening with resume drops both (the journal
// back to its last complete line, the data files back to that line's offsets), so the units it
// names are exactly the units whose lines are on disk, once.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace imprint::cli {

// Lines of a journal: units by number, and finished runs in order.
struct JournalContents {
  std::map<size_t, nlohmann::json> units;
  std::vector<size_t> commit_order;  // unit numbers as their lines appear
  std::vector<nlohmann::json> runs;
  int64_t findings_end = 0;  // offsets after the last committed unit
  int64_t errors_end = 0;
  int64_t valid_bytes = 0;  // journal bytes up to the last complete line
};

// Reads OUT/journal.jsonl (absent: empty). A torn last line is ignored.
Result<JournalContents> read_journal(const std::string& dir);

// nlohmann's dump, but bytes that are not UTF-8 (file names, captions) are replaced instead of
// throwing.
std::string json_line(const nlohmann::json& j);
std::string json_line(const nlohmann::ordered_json& j);

class ReportDir {
 public:
  // Without resume the directory must be missing or empty. With resume a directory holding a scan
  // must have been made with the same identity (a report is one scan of one input); an empty or
  // missing one starts fresh, so batch jobs can always pass --resume.
  static Result<std::unique_ptr<ReportDir>> open(const std::string& dir, const nlohmann::json& scan,
                                                 bool resume);
  ~ReportDir();

  const std::string& dir() const { return dir_; }
  const JournalContents& journal() const { return journal_; }
  bool resumed() const { return resumed_; }

  // Appends a finished unit's lines and its journal entry (the offsets are added here), durably.
  Status commit_unit(const std::string& findings, const std::string& errors, nlohmann::json entry);
  Status append_run(const nlohmann::json& run);

 private:
  ReportDir() = default;
  std::string dir_;
  int lock_fd_ = -1, findings_fd_ = -1, errors_fd_ = -1, journal_fd_ = -1;
  int64_t findings_size_ = 0, errors_size_ = 0;
  JournalContents journal_;
  bool resumed_ = false;
};

// Writes a whole file through a temporary name and rename, fsynced, so readers see the old or
// the new contents. sync_dir: also fsync the directory entry (callers that write many files into
// one directory sync it once themselves).
Status write_file_atomic(const std::string& path, std::string_view contents, bool sync_dir = true);
Status fsync_dir(const std::string& dir);

}  // namespace imprint::cli
