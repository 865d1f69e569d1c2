// Hash lists: layout detection, line parsing and writing (hash_list.h).
#include "hash_list.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

namespace imprint {
namespace {

constexpr const char* kLayoutNames[] = {"bare",       "hash-id",  "hash-quality-id",
                                        "te-csv",     "vpdq",     "pytx-signals",
                                        "header-csv", "pytx-csv", "columns"};

// Splits a CSV line (RFC 4180 quoting within the line); cells are trimmed of spaces.
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      if (quoted && i + 1 < line.size() && line[i + 1] == '"') {
        cell += '"';
        ++i;
      } else {
        quoted = !quoted;
      }
    } else if (c == ',' && !quoted) {
      out.push_back(std::move(cell));
      cell.clear();
    } else {
      cell += c;
    }
  }
  out.push_back(std::move(cell));
  for (std::string& s : out) {
    const size_t b = s.find_first_not_of(" \t");
    const size_t e = s.find_last_not_of(" \t");
    s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  }
  return out;
}

std::vector<std::string> split_spaces(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// "TYPE SIGNAL": the first word, and the rest of the line trimmed (a signal may hold spaces).
std::vector<std::string> split_signal_line(const std::string& line) {
  std::vector<std::string> words = split_spaces(line);
  if (words.size() <= 2) return words;
  const size_t start = line.find_first_not_of(" \t", line.find(words[0]) + words[0].size());
  const size_t end = line.find_last_not_of(" \t");
  return {words[0], line.substr(start, end - start + 1)};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool all_of_chars(const std::string& s, int (*pred)(int)) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [&](unsigned char c) { return pred(c) != 0; });
}

// The shape of a hash cell: 32 or more hex digits. Ids (ThreatExchange's are 16 digits), frame
// numbers and qualities are shorter, so the shape says where the hash is without reading the
// other cells' digits as anything.
bool hash_shaped(const std::string& s) { return s.size() >= 32 && all_of_chars(s, isxdigit); }

// A python-threatexchange signal type name: pdq, video_md5, url, trend_query...
bool signal_type_shaped(const std::string& s) {
  return !s.empty() && std::isalpha(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::islower(c) || std::isdigit(c) || c == '_';
         });
}

bool is_pdq_type(const std::string& t) {
  const std::string l = lower(t);
  return l == "pdq" || l == "hash_pdq" || l == "pdq_hash";
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos &&
      (s.empty() || (s.front() != ' ' && s.back() != ' '))) {
    return s;
  }
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

std::string iso_utc(int64_t ms) {
  const std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+0000", &tm);
  return buf;
}

std::string cells_description(size_t n) {
  return std::to_string(n) + (n == 1 ? " cell" : " cells");
}

}  // namespace

const char* hash_list_layout_name(HashListLayout layout) { return kLayoutNames[int(layout)]; }

Result<HashListLayout> parse_hash_list_layout(const std::string& name) {
  for (int i = 0; i < int(std::size(kLayoutNames)); ++i) {
    if (name == kLayoutNames[i]) return HashListLayout(i);
  }
  return invalid_argument("unknown hash list layout " + name);
}

std::string hash_list_layouts_understood() {
  return "HASH (bare); HASH,ID; HASH,QUALITY,ID (pdq-photo-hasher); HASH,ID,TIMESTAMP,TAGS "
         "(ThreatExchange/HMA CSV); FRAME,QUALITY,HASH,TIMESTAMP (vPDQ); TYPE SIGNAL "
         "(python-threatexchange signal file); a CSV whose header names a hash column (hash, pdq, "
         "pdq_hash, signal, signal_str, signal_value, indicator), such as python-threatexchange's "
         "collab,signal_type,signal_str,category,tags; or --columns hash=N,id=N,quality=N|-";
}

Result<HashListColumns> parse_hash_list_columns(const std::string& spec) {
  HashListColumns c;
  std::map<std::string, int*> fields = {{"hash", &c.hash},           {"id", &c.id},
                                        {"quality", &c.quality},     {"type", &c.type},
                                        {"signal_type", &c.type},    {"tags", &c.tags},
                                        {"timestamp", &c.timestamp}, {"collab", &c.collab},
                                        {"category", &c.category}};
  for (const std::string& part : split_csv(spec)) {
    const size_t eq = part.find('=');
    if (eq == std::string::npos) return invalid_argument("--columns: " + part + " is not NAME=N");
    const std::string key = lower(part.substr(0, eq));
    const std::string value = part.substr(eq + 1);
    auto it = fields.find(key);
    if (it == fields.end()) {
      return invalid_argument("--columns: unknown column " + key +
                              " (hash, id, quality, type, tags, timestamp, collab, category)");
    }
    if (value == "-") {
      *it->second = -1;
    } else if (all_of_chars(value, isdigit) && value.size() < 6 && std::stoi(value) >= 1) {
      *it->second = std::stoi(value) - 1;
    } else {
      return invalid_argument("--columns: " + key + "=" + value + ": give a column from 1, or -");
    }
  }
  if (c.hash < 0) return invalid_argument("--columns must place the hash (hash=N)");
  return c;
}

HashListReader::HashListReader(std::istream& in, std::string name,
                               std::optional<HashListColumns> columns)
    : in_(in), name_(std::move(name)), id_prefix_(std::filesystem::path(name_).stem().string()) {
  if (columns) {
    columns_ = *columns;
    columns_given_ = true;
  }
}

Status HashListReader::detect(const std::vector<std::string>& cells, bool commas,
                              const std::string& line) {
  commas_ = commas;
  const std::string where = name_ + ":" + std::to_string(line_no_) + ": ";
  if (columns_given_) {
    layout_ = HashListLayout::kColumns;
    return Status::Ok();
  }
  const bool any_hash = std::any_of(cells.begin(), cells.end(), hash_shaped);
  if (commas && !any_hash) {
    // A header row names its columns.
    HashListColumns c;
    for (int i = 0; i < int(cells.size()); ++i) {
      const std::string n = lower(cells[i]);
      if (n == "hash" || n == "pdq" || n == "pdq_hash" || n == "signal" || n == "signal_str" ||
          n == "signal_value" || n == "indicator") {
        c.hash = i;
      } else if (n == "id" || n == "content_id" || n == "descriptor_id" || n == "path" ||
                 n == "name") {
        c.id = i;
      } else if (n == "quality") {
        c.quality = i;
      } else if (n == "signal_type" || n == "type") {
        c.type = i;
      } else if (n == "tags") {
        c.tags = i;
      } else if (n == "timestamp" || n == "added_on" || n == "time") {
        c.timestamp = i;
      } else if (n == "collab") {
        c.collab = i;
      } else if (n == "category") {
        c.category = i;
      }
    }
    if (c.hash >= 0) {
      columns_ = c;
      expected_cells_ = cells.size();
      layout_ = lower(line) == "collab,signal_type,signal_str,category,tags"
                    ? HashListLayout::kPytxCsv
                    : HashListLayout::kHeaderCsv;
      return Status::Ok();
    }
  }
  const size_t n = cells.size();
  if (!commas && n == 1) {
    layout_ = HashListLayout::kBare;
  } else if (signal_lines_) {
    layout_ = HashListLayout::kPytxSignals;
  } else if (commas && n == 2 && hash_shaped(cells[0])) {
    layout_ = HashListLayout::kHashId;
  } else if (commas && n == 3 && hash_shaped(cells[0])) {
    layout_ = HashListLayout::kHashQualityId;
  } else if (commas && n == 4 && hash_shaped(cells[0])) {
    layout_ = HashListLayout::kTeCsv;
  } else if (commas && n == 4 && hash_shaped(cells[2]) && all_of_chars(cells[0], isdigit) &&
             all_of_chars(cells[1], isdigit)) {
    layout_ = HashListLayout::kVpdq;
  } else {
    return invalid_argument(where + "unrecognised hash list layout (" + cells_description(n) +
                            (commas ? ", comma-separated" : ", space-separated") +
                            "); understood: " + hash_list_layouts_understood());
  }
  expected_cells_ = n;
  return Status::Ok();
}

bool HashListReader::next(HashListRow* row) {
  if (!status_.ok()) return false;
  while (std::getline(in_, line_)) {
    ++line_no_;
    if (line_no_ == 1 && line_.rfind("\xEF\xBB\xBF", 0) == 0) line_.erase(0, 3);
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    const size_t first = line_.find_first_not_of(" \t");
    if (first == std::string::npos || line_[first] == '#') continue;
    if (!layout_) {
      // A signal file's line is a type name, a space and the signal, which may hold commas and
      // spaces of its own (raw_text, url): its first word says so before any comma does.
      const std::vector<std::string> words = split_spaces(line_);
      signal_lines_ = !columns_given_ && words.size() >= 2 && signal_type_shaped(words[0]) &&
                      !hash_shaped(words[0]);
      commas_ = !signal_lines_ && line_.find(',') != std::string::npos;
    }
    const bool commas = commas_;
    const std::vector<std::string> cells = signal_lines_ ? split_signal_line(line_)
                                           : commas      ? split_csv(line_)
                                                         : split_spaces(line_);
    if (!layout_) {
      status_ = detect(cells, commas, line_);
      if (!status_.ok()) return false;
      const bool header =
          layout_ == HashListLayout::kHeaderCsv || layout_ == HashListLayout::kPytxCsv ||
          (layout_ == HashListLayout::kColumns && int(cells.size()) > columns_.hash &&
           !all_of_chars(cells[columns_.hash], isxdigit));
      if (header) continue;
    }
    *row = HashListRow{};
    parse(cells, row);
    return true;
  }
  if (in_.bad()) status_ = io_error(name_ + ": read error after line " + std::to_string(line_no_));
  return false;
}

void HashListReader::parse(const std::vector<std::string>& cells, HashListRow* row) {
  const std::string where = name_ + ":" + std::to_string(line_no_) + ": ";
  auto fail = [&](const std::string& why) {
    row->outcome = HashListRow::Outcome::kFailed;
    row->message = where + why;
  };
  HashListEntry& e = row->entry;
  e.line = line_no_;
  if (expected_cells_ != 0 && cells.size() != expected_cells_) {
    fail("expected " + cells_description(expected_cells_) + " (" + hash_list_layout_name(*layout_) +
         " layout), got " + std::to_string(cells.size()));
    return;
  }
  auto cell = [&](int i) -> std::string { return i >= 0 && i < int(cells.size()) ? cells[i] : ""; };
  std::string hex, quality;
  switch (*layout_) {
    case HashListLayout::kBare:
      hex = cells[0];
      break;
    case HashListLayout::kHashId:
      hex = cells[0];
      e.id = cells[1];
      break;
    case HashListLayout::kHashQualityId:
      hex = cells[0];
      quality = cells[1];
      e.id = cells[2];
      break;
    case HashListLayout::kTeCsv:
      hex = cells[0];
      e.id = cells[1];
      e.timestamp = cells[2];
      e.tags = cells[3];
      break;
    case HashListLayout::kVpdq: {
      if (!all_of_chars(cells[0], isdigit) || cells[0].size() > 15) {
        return fail("frame number " + cells[0] + " is not a whole number");
      }
      e.frame = std::stoll(cells[0]);
      quality = cells[1];
      hex = cells[2];
      e.timestamp = cells[3];
      char* end = nullptr;
      const double t = std::strtod(e.timestamp.c_str(), &end);
      if (e.timestamp.empty() || *end != '\0' || !std::isfinite(t) || t < 0) {
        return fail("timestamp " + e.timestamp + " is not a number of seconds");
      }
      break;
    }
    case HashListLayout::kPytxSignals:
      if (!is_pdq_type(cells[0])) {
        row->outcome = HashListRow::Outcome::kSkipped;
        row->message = where + "signal type " + cells[0] + " is not pdq";
        return;
      }
      hex = cells[1];
      break;
    case HashListLayout::kHeaderCsv:
    case HashListLayout::kPytxCsv:
    case HashListLayout::kColumns:
      if (columns_.type >= 0 && !is_pdq_type(cell(columns_.type))) {
        row->outcome = HashListRow::Outcome::kSkipped;
        row->message = where + "signal type " + cell(columns_.type) + " is not pdq";
        return;
      }
      if (columns_.hash >= int(cells.size())) {
        return fail("no cell " + std::to_string(columns_.hash + 1) + " for the hash (" +
                    cells_description(cells.size()) + ")");
      }
      hex = cells[columns_.hash];
      e.id = cell(columns_.id);
      quality = columns_.quality >= 0 ? cell(columns_.quality) : "";
      e.tags = cell(columns_.tags);
      e.timestamp = cell(columns_.timestamp);
      e.collab = cell(columns_.collab);
      e.category = cell(columns_.category);
      break;
  }
  Result<PdqHash> h = PdqHash::from_hex(hex);
  if (!h.ok()) return fail(h.status().message());
  e.hash = *h;
  // Layouts with a quality column (columns_ places none for the fixed layouts).
  if (*layout_ == HashListLayout::kHashQualityId || *layout_ == HashListLayout::kVpdq ||
      columns_.quality >= 0) {
    if (!all_of_chars(quality, isdigit) || quality.size() > 3 || std::stoi(quality) > 100) {
      return fail("quality " + quality + " is not a whole number 0..100");
    }
    e.quality = std::stoi(quality);
  }
  if (e.id.empty()) e.id = id_prefix_ + ":" + std::to_string(line_no_);
}

std::optional<WorkFingerprint> list_entry_fingerprint(HashListLayout layout,
                                                      const HashListEntry& e) {
  nlohmann::json j = {{"layout", hash_list_layout_name(layout)}};
  if (!e.timestamp.empty()) j["timestamp"] = e.timestamp;
  if (!e.tags.empty()) j["tags"] = e.tags;
  if (!e.collab.empty()) j["collab"] = e.collab;
  if (!e.category.empty()) j["category"] = e.category;
  if (j.size() == 1) return std::nullopt;
  WorkFingerprint f;
  f.kind = kListEntryKind;
  const std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  f.data.assign(s.begin(), s.end());
  return f;
}

ListEntryFields parse_list_entry(const WorkFingerprint& f) {
  ListEntryFields out;
  const nlohmann::json j = nlohmann::json::parse(f.data.begin(), f.data.end(), nullptr, false);
  if (!j.is_object()) return out;
  auto get = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  out.timestamp = get("timestamp");
  out.tags = get("tags");
  out.collab = get("collab");
  out.category = get("category");
  return out;
}

std::string hash_list_header(HashListLayout layout) {
  switch (layout) {
    case HashListLayout::kPytxCsv:
      return "collab,signal_type,signal_str,category,tags\n";
    case HashListLayout::kHeaderCsv:
      return "hash,quality,id,timestamp,tags\n";
    default:
      return "";
  }
}

std::string format_hash_list_line(HashListLayout layout, const Work& work, const PdqHash& hash,
                                  int quality, const ListEntryFields* fields) {
  const ListEntryFields none;
  const ListEntryFields& f = fields != nullptr ? *fields : none;
  const std::string hex = hash.to_hex();
  switch (layout) {
    case HashListLayout::kBare:
      return hex + '\n';
    case HashListLayout::kHashId:
      return hex + ',' + csv_cell(work.id) + '\n';
    case HashListLayout::kTeCsv:
      return hex + ',' + csv_cell(work.id) + ',' +
             csv_cell(f.timestamp.empty() ? iso_utc(work.registered_at_ms) : f.timestamp) + ',' +
             csv_cell(f.tags) + '\n';
    case HashListLayout::kPytxSignals:
      return "pdq " + hex + '\n';
    case HashListLayout::kPytxCsv:
      return csv_cell(f.collab) + ",pdq," + hex + ',' + csv_cell(f.category) + ',' +
             csv_cell(f.tags) + '\n';
    case HashListLayout::kHeaderCsv:
      return hex + ',' + std::to_string(quality) + ',' + csv_cell(work.id) + ',' +
             csv_cell(f.timestamp) + ',' + csv_cell(f.tags) + '\n';
    case HashListLayout::kHashQualityId:
    case HashListLayout::kColumns:
    case HashListLayout::kVpdq:
      break;
  }
  return hex + ',' + std::to_string(quality) + ',' + csv_cell(work.id) + '\n';
}

std::string format_vpdq_line(int64_t frame, int quality, const PdqHash& hash, double t_seconds) {
  char t[40];
  std::snprintf(t, sizeof t, "%.3f", t_seconds);
  return std::to_string(frame) + ',' + std::to_string(quality) + ',' + hash.to_hex() + ',' + t +
         '\n';
}

VideoFingerprint video_fingerprint_from_vpdq(std::span<const HashListEntry> frames) {
  std::vector<FrameHash> out;
  out.reserve(frames.size());
  for (const HashListEntry& e : frames) {
    FrameHash f;
    f.frame = e.frame;
    f.t = std::strtod(e.timestamp.c_str(), nullptr);
    f.hash = e.hash;
    f.quality = e.quality;
    out.push_back(f);
  }
  return video_fingerprint_from_frames(std::move(out));
}

VideoFingerprint video_fingerprint_from_frames(std::vector<FrameHash> frames) {
  VideoFingerprint fp;
  fp.frames = std::move(frames);
  if (fp.frames.size() >= 2) {
    const FrameHash& a = fp.frames.front();
    const FrameHash& b = fp.frames.back();
    if (b.t > a.t && b.frame > a.frame) {
      // Timestamps are written to the millisecond, so 30000/1001 comes out as 29.97 give or take
      // a few thousandths: round to the hundredth, which tells the common rates apart.
      fp.fps = std::round(double(b.frame - a.frame) / (b.t - a.t) * 100) / 100;
    }
  }
  if (!fp.frames.empty()) {
    // The last frame lasts one frame interval (or the sampling step when the rate is unknown).
    const double step = fp.fps > 0 ? 1 / fp.fps : 0;
    fp.duration_s = fp.frames.back().t + step;
  }
  return fp;
}

}  // namespace imprint
