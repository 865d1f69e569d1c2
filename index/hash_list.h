// Hash lists as the hash-sharing ecosystem exchanges them: reading them a line at a time, keeping
// what each line says besides its hash, and writing them back in the layout they came in.
//
// Layouts (HashListLayout), recognised from the first line that is not blank or a # comment,
// by its header or its shape, never by what a column's digits look like they mean:
//   bare            HASH                          one hash a line
//   hash-id         HASH,ID                       two cells, the first a hash
//   hash-quality-id HASH,QUALITY,ID               three cells: pdq-photo-hasher's output
//   te-csv          HASH,ID,TIMESTAMP,TAGS        four cells, the first a hash: ThreatExchange
//                                                 and HMA 1.0 CSV exports (tags space-separated)
//   vpdq            FRAME,QUALITY,HASH,TIMESTAMP  four cells, the third a hash, the first two
//                                                 whole numbers: vPDQ frame hashes of one video
//   pytx-signals    TYPE SIGNAL                   a signal type name, a space, its signal:
//                                                 python-threatexchange's signal files
//   header-csv      a header row naming a hash column (hash, pdq, pdq_hash, signal, signal_str,
//                   signal_value, indicator) and optionally id, quality, signal_type, tags,
//                   timestamp, collab, category; `collab,signal_type,signal_str,category,tags`
//                   is python-threatexchange's signal CSV (pytx-csv)
//   columns         the caller's column map (`--columns hash=1,id=2,quality=-`)
// A "hash" cell's shape is 32 or more hex digits, so a short or long hash still fixes the layout
// and then fails on its own line. Once fixed, the layout holds for the whole list: a line with
// another cell count fails; a row of another signal type (pytx `video_md5 ...`, a CSV's
// signal_type other than pdq) is skipped. A UTF-8 byte order mark and CRLF line ends are
// ignored.
//
// Reading streams: HashListReader holds one line at a time, so a list of any length is read in
// constant memory.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "catalog.h"
#include "pdq.h"
#include "video.h"

namespace imprint {

enum class HashListLayout {
  kBare,
  kHashId,
  kHashQualityId,
  kTeCsv,
  kVpdq,
  kPytxSignals,
  kHeaderCsv,
  kPytxCsv,
  kColumns,
};
const char* hash_list_layout_name(HashListLayout layout);
Result<HashListLayout> parse_hash_list_layout(const std::string& name);
// The layouts understood, one short line each, for error messages and --help.
std::string hash_list_layouts_understood();

// Zero-based cell positions; -1: the list has no such column.
struct HashListColumns {
  int hash = -1;
  int id = -1;
  int quality = -1;
  int type = -1;  // signal type: rows whose type is not pdq are skipped
  int tags = -1;
  int timestamp = -1;
  int collab = -1;
  int category = -1;
};
// "hash=1,id=2,quality=-": one-based positions, "-" for none; hash is required.
Result<HashListColumns> parse_hash_list_columns(const std::string& spec);

// One hash of a list, with what the line said about it.
struct HashListEntry {
  int64_t line = 0;
  PdqHash hash;
  int quality = 100;  // lists without a quality column: 100, as the reference tools assume
  std::string id;     // the list's id, or "<list name>:<line number>" when it has none
  // Kept so the list can be written back in its layout; empty when the layout has no such field.
  std::string timestamp;  // te-csv, vpdq (seconds, as written)
  std::string tags;       // te-csv (space-separated), pytx-csv
  std::string collab;     // pytx-csv
  std::string category;   // pytx-csv
  int64_t frame = -1;     // vpdq frame number
};

struct HashListRow {
  enum class Outcome { kEntry, kSkipped, kFailed };
  Outcome outcome = Outcome::kEntry;
  HashListEntry entry;  // kEntry
  std::string message;  // kSkipped, kFailed: why, naming the line
};

class HashListReader {
 public:
  // `name` names the list in messages (a file's path); its stem prefixes derived ids. With
  // `columns` the layout is kColumns and a first row whose hash cell is not hex digits is a header.
  HashListReader(std::istream& in, std::string name,
                 std::optional<HashListColumns> columns = std::nullopt);

  // The next hash, skipped row or failed row; false at the end of the list or when its layout
  // cannot be recognised (then status() says so, naming the line).
  bool next(HashListRow* row);
  const Status& status() const { return status_; }
  // Known once next() has returned a row.
  std::optional<HashListLayout> layout() const { return layout_; }
  int64_t lines_read() const { return line_no_; }

 private:
  Status detect(const std::vector<std::string>& cells, bool commas, const std::string& line);
  void parse(const std::vector<std::string>& cells, HashListRow* row);

  std::istream& in_;
  std::string name_;
  std::string id_prefix_;
  std::optional<HashListLayout> layout_;
  HashListColumns columns_;
  bool columns_given_ = false;
  bool commas_ = true;         // cells separated by commas; otherwise by spaces and tabs
  bool signal_lines_ = false;  // "TYPE SIGNAL": two cells, the signal the rest of the line
  size_t expected_cells_ = 0;  // 0: any count that holds the mapped columns
  int64_t line_no_ = 0;
  std::string line_;
  Status status_;
};

// The list fields of an entry as a "list-entry" fingerprint (kListEntryKind): JSON with the
// layout and whichever of timestamp, tags, collab and category the line had. Absent
// (std::nullopt) when the line had none of them, so a bare list costs no extra rows.
inline constexpr const char* kListEntryKind = "list-entry";
std::optional<WorkFingerprint> list_entry_fingerprint(HashListLayout layout,
                                                      const HashListEntry& entry);

// Writing lists. Each call appends one line (with its '\n'). `entry` carries the fields read
// from a list-entry fingerprint, when the work has one; otherwise the work's own fields stand in
// (its id, its registration time as the timestamp, its title as nothing).
struct ListEntryFields {
  std::string timestamp, tags, collab, category;
};
ListEntryFields parse_list_entry(const WorkFingerprint& f);
// The header line a layout starts with ("" for layouts without one).
std::string hash_list_header(HashListLayout layout);
std::string format_hash_list_line(HashListLayout layout, const Work& work, const PdqHash& hash,
                                  int quality, const ListEntryFields* fields);
// One vPDQ line: FRAME,QUALITY,HASH,SECONDS with three decimals, as Meta's vpdq tools write.
std::string format_vpdq_line(int64_t frame, int quality, const PdqHash& hash, double t_seconds);

// The frames of a vPDQ list as a video: frame numbers, timestamps, hashes and quality as the
// list gives them; fps from the frame numbers and timestamps (0 when they do not tell).
VideoFingerprint video_fingerprint_from_vpdq(std::span<const HashListEntry> frames);
// The same from frames already read (the server's RegisterWork video_frames).
VideoFingerprint video_fingerprint_from_frames(std::vector<FrameHash> frames);

}  // namespace imprint
