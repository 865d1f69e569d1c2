#include "scan_sources.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "decode.h"

namespace imprint::cli {
namespace fs = std::filesystem;
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool is_tar_name(const std::string& path) {
  const std::string name = lower(fs::path(path).filename().string());
  return ends_with(name, ".tar") || ends_with(name, ".tgz") ||
         name.find(".tar.") != std::string::npos;
}

// Thrown from inside a directory walk to end it early; never leaves this file.
struct StopPlanning {};

// Cuts a stream of paths into units of unit_size.
class UnitCutter {
 public:
  UnitCutter(size_t* next_index, size_t source_index, const ScanSource& source, size_t unit_size,
             const std::function<bool(ScanUnit&&)>& emit)
      : next_index_(next_index),
        source_index_(source_index),
        source_(source),
        unit_size_(unit_size),
        emit_(emit) {}

  void add(InputPath p) {
    current_.paths.push_back(std::move(p));
    if (current_.paths.size() >= unit_size_) flush();
  }
  void flush() {
    if (current_.paths.empty()) return;
    current_.index = (*next_index_)++;
    current_.source = source_index_;
    current_.chunk = chunk_++;
    current_.kind = source_.kind;
    current_.name = source_.path + "#" + std::to_string(current_.chunk);
    ScanUnit u = std::move(current_);
    current_ = ScanUnit{};
    if (!emit_(std::move(u))) throw StopPlanning{};
  }

 private:
  size_t* next_index_;
  size_t source_index_;
  const ScanSource& source_;
  size_t unit_size_;
  const std::function<bool(ScanUnit&&)>& emit_;
  size_t chunk_ = 0;
  ScanUnit current_;
};

// ---- tar shards ----

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};

// The WebDataset key of a member: its directory plus the basename up to the first dot.
std::string member_key(const std::string& name) {
  const size_t slash = name.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = name.find('.', base);
  // A leading dot (".hidden") would give an empty key: keep the whole basename instead.
  if (dot == std::string::npos || dot == base) return name;
  return name.substr(0, dot);
}

std::string member_extension(const std::string& name) {
  const size_t slash = name.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot < base) return "";
  return lower(name.substr(dot + 1));
}

// Sidecar text as UTF-8-safe strings: invalid bytes are replaced when the report is written.
void read_sidecar_json(const std::vector<uint8_t>& bytes, std::string* url, std::string* caption) {
  const nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (!j.is_object()) return;
  auto first_string = [&](std::initializer_list<const char*> keys) -> std::string {
    for (const char* k : keys) {
      auto it = j.find(k);
      if (it != j.end() && it->is_string()) return it->get<std::string>();
    }
    return "";
  };
  if (url->empty()) *url = first_string({"url", "URL", "source_url"});
  if (caption->empty()) *caption = first_string({"caption", "text", "TEXT"});
}

struct PendingImage {
  std::string member;
  std::vector<uint8_t> bytes;
  Status error;
};

// The members of one WebDataset sample seen so far.
struct SampleGroup {
  std::string key;
  std::vector<PendingImage> images;
  std::vector<std::string> others;  // members that are neither image nor sidecar
  std::string url, caption, txt_caption;
  int64_t bytes = 0;
  bool any_image_member = false;
  bool has_sidecar = false;
};

class TarReader {
 public:
  TarReader(const ScanUnit& unit, const ReadLimits& limits,
            const std::function<void(Sample&&)>& emit, const std::atomic<bool>& stop,
            std::atomic<int64_t>* bytes_read)
      : unit_(unit), limits_(limits), emit_(emit), stop_(stop), bytes_read_(bytes_read) {}

  UnitReadResult run() {
    std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
    // The compressions libarchive decodes itself (zlib, libbz2, liblzma, libzstd). Not
    // archive_read_support_filter_all: its lrzip, lzop and grzip filters run an outside program
    // on the shard's bytes, which a hostile shard must not get to choose.
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_bzip2(a.get());
    archive_read_support_filter_xz(a.get());
    archive_read_support_filter_zstd(a.get());
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    if (archive_read_open_filename(a.get(), unit_.tar_path.c_str(), 1 << 16) != ARCHIVE_OK) {
      result_.open_error =
          io_error(unit_.tar_path + ": cannot open archive (" + error_text(a.get()) + ")");
      return result_;
    }
    archive_entry* entry = nullptr;
    std::string last_member;
    for (;;) {
      if (stop_.load(std::memory_order_relaxed)) {
        result_.aborted = true;
        return result_;
      }
      const int rc = archive_read_next_header(a.get(), &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc == ARCHIVE_RETRY) continue;
      if (rc == ARCHIVE_FATAL) {
        archive_failed(a.get(), last_member);
        break;
      }
      // ARCHIVE_WARN: the header is usable (an odd pax field, a checksum warning); go on.
      const char* raw_name = archive_entry_pathname(entry);
      std::string name = raw_name ? raw_name : "";
      while (name.rfind("./", 0) == 0) name.erase(0, 2);
      last_member = name;
      const mode_t type = archive_entry_filetype(entry);
      if (type == AE_IFDIR) continue;
      if (!process_member(a.get(), entry, name, type)) break;
      advance_progress(a.get());
    }
    flush_all();
    advance_progress(a.get());
    return result_;
  }

 private:
  static std::string error_text(archive* a) {
    const char* e = archive_error_string(a);
    return e ? e : "unknown libarchive error";
  }

  void archive_failed(archive* a, const std::string& last_member) {
    const std::string where = last_member.empty() ? "at its start" : "after member " + last_member;
    result_.unit_errors.push_back({"corrupt archive", unit_.tar_path + ": archive unreadable " +
                                                          where + " (" + error_text(a) +
                                                          "); the members before it were scanned"});
  }

  void advance_progress(archive* a) {
    if (!bytes_read_) return;
    const int64_t now = archive_filter_bytes(a, -1);
    if (now > reported_) {
      bytes_read_->fetch_add(now - reported_, std::memory_order_relaxed);
      reported_ = now;
    }
  }

  // Reads the member's data into *out, refusing more than `limit` bytes. False on a read error.
  bool read_data(archive* a, int64_t limit, std::vector<uint8_t>* out, bool* over) {
    *over = false;
    out->clear();
    uint8_t buf[1 << 16];
    for (;;) {
      const la_ssize_t n = archive_read_data(a, buf, sizeof buf);
      if (n == 0) return true;
      if (n < 0) return false;  // data missing or damaged: the rest of the archive is unreliable
      if (int64_t(out->size()) + n > limit) {
        *over = true;
        out->clear();
        out->shrink_to_fit();
        return archive_read_data_skip(a) == ARCHIVE_OK;
      }
      out->insert(out->end(), buf, buf + n);
    }
  }

  // False when the archive cannot be read further.
  bool process_member(archive* a, archive_entry* entry, const std::string& name, mode_t type) {
    SampleGroup& g = group_for(member_key(name));
    const std::string ext = member_extension(name);
    // "image" here is any picture the workers hash: a still, or a video (scan_pipeline.h).
    const bool image = has_image_extension(name) || has_video_extension(name);
    const bool sidecar = ext == "json" || ext == "txt";
    if (type != AE_IFREG) {
      // Links and devices carry no image bytes of their own; a hard link would alias another
      // member, a symlink could point anywhere on the auditor's disk. Neither is followed.
      g.images.push_back(
          {name, {}, invalid_argument(name + ": not a regular file (link or device member)")});
      g.any_image_member = true;
      return true;
    }
    if (!image && !sidecar) {
      g.others.push_back(name);
      if (archive_read_data_skip(a) == ARCHIVE_FATAL) {
        archive_failed(a, name);
        return false;
      }
      return true;
    }
    const int64_t limit = image ? limits_.max_member_bytes : limits_.max_sidecar_bytes;
    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > limit) {
      // Skipped unread: a 10 GB member costs a seek (or a decompressing skip), not 10 GB of memory.
      if (image) {
        g.images.push_back(
            {name,
             {},
             resource_exhausted(name + ": member is " + std::to_string(archive_entry_size(entry)) +
                                " bytes, over the " + std::to_string(limit) + "-byte limit")});
        g.any_image_member = true;
      }
      if (archive_read_data_skip(a) == ARCHIVE_FATAL) {
        archive_failed(a, name);
        return false;
      }
      return true;
    }
    std::vector<uint8_t> data;
    bool over = false;
    if (!read_data(a, limit, &data, &over)) {
      if (image) {
        g.images.push_back({name, {}, invalid_argument(name + ": truncated member data")});
        g.any_image_member = true;
      }
      archive_failed(a, name);
      return false;
    }
    if (image) {
      g.any_image_member = true;
      if (over) {
        g.images.push_back({name,
                            {},
                            resource_exhausted(name + ": member is over the " +
                                               std::to_string(limit) + "-byte limit")});
      } else {
        g.bytes += int64_t(data.size());
        g.images.push_back({name, std::move(data), Status::Ok()});
      }
      // A hostile shard could give thousands of images one key; emit early rather than hold them
      // (the sidecar, if it comes later, is then missing from those items).
      if (g.images.size() >= 16 || g.bytes > limits_.max_member_bytes) emit_images(g);
    } else if (!over) {
      g.has_sidecar = true;
      if (ext == "json") {
        read_sidecar_json(data, &g.url, &g.caption);
      } else {
        g.txt_caption.assign(data.begin(), data.end());
        while (!g.txt_caption.empty() &&
               (g.txt_caption.back() == '\n' || g.txt_caption.back() == '\r')) {
          g.txt_caption.pop_back();
        }
      }
    }
    return true;
  }

  // The open group for `key`, or a new one; the oldest groups are finished when the window is
  // full. WebDataset writers put a sample's members next to each other, but a shard made with
  // plain `tar` from a directory lists them in directory order; a window of recent samples
  // joins those too, at the cost of holding a few samples' bytes.
  SampleGroup& group_for(const std::string& key) {
    for (SampleGroup& g : open_) {
      if (g.key == key) return g;
    }
    int64_t held = 0;
    for (const SampleGroup& g : open_) held += g.bytes;
    while (!open_.empty() && (open_.size() >= kGroupWindow || held > kGroupWindowBytes)) {
      held -= open_.front().bytes;
      flush_group(open_.front());
      open_.pop_front();
    }
    open_.emplace_back();
    open_.back().key = key;
    return open_.back();
  }

  void flush_all() {
    for (SampleGroup& g : open_) flush_group(g);
    open_.clear();
  }

  void emit_images(SampleGroup& g) {
    for (PendingImage& im : g.images) {
      Sample s;
      s.unit = unit_.index;
      s.index = result_.items++;
      s.shard = unit_.tar_path;
      s.key = g.key;
      s.member = im.member;
      s.url = g.url;
      s.caption = g.caption.empty() ? g.txt_caption : g.caption;
      s.bytes = std::move(im.bytes);
      s.error = std::move(im.error);
      emit_(std::move(s));
    }
    g.images.clear();
    g.bytes = 0;
  }

  void flush_group(SampleGroup& g) {
    if (!g.any_image_member) {
      if (!g.others.empty()) {
        // No image under this key at all: the sample is a bad item, named by its members.
        std::string members;
        for (size_t i = 0; i < g.others.size() && i < 4; ++i) {
          members += (i ? ", " : "") + g.others[i];
        }
        if (g.others.size() > 4) members += ", ...";
        Sample s;
        s.unit = unit_.index;
        s.index = result_.items++;
        s.shard = unit_.tar_path;
        s.key = g.key;
        s.member = g.others.front();
        s.url = g.url;
        s.caption = g.caption.empty() ? g.txt_caption : g.caption;
        s.error = invalid_argument("not an image: sample " + g.key + " has no image member (" +
                                   members + ")");
        emit_(std::move(s));
      } else if (g.has_sidecar) {
        ++result_.other_members;  // metadata of a sample without an image: nothing to scan
      }
    } else {
      emit_images(g);
      result_.other_members += g.others.size();
    }
  }

  const ScanUnit& unit_;
  const ReadLimits& limits_;
  const std::function<void(Sample&&)>& emit_;
  const std::atomic<bool>& stop_;
  std::atomic<int64_t>* bytes_read_;
  int64_t reported_ = 0;
  static constexpr size_t kGroupWindow = 32;
  static constexpr int64_t kGroupWindowBytes = 64LL << 20;
  std::deque<SampleGroup> open_;
  UnitReadResult result_;
};

UnitReadResult read_path_unit(const ScanUnit& unit, const ReadLimits& limits,
                              const std::function<void(Sample&&)>& emit,
                              const std::atomic<bool>& stop, std::atomic<int64_t>* bytes_read) {
  UnitReadResult r;
  for (const InputPath& p : unit.paths) {
    if (stop.load(std::memory_order_relaxed)) {
      r.aborted = true;
      return r;
    }
    Sample s;
    s.unit = unit.index;
    s.index = r.items++;
    s.member = p.path;
    if (!p.error.ok()) {
      s.error = p.error;
    } else {
      Result<std::vector<uint8_t>> bytes = read_file(p.path, limits.max_member_bytes);
      if (bytes.ok()) {
        s.bytes = std::move(*bytes);
        if (bytes_read) bytes_read->fetch_add(int64_t(s.bytes.size()), std::memory_order_relaxed);
      } else {
        s.error = bytes.status().with_context(p.path);
      }
    }
    emit(std::move(s));
  }
  return r;
}

}  // namespace

Result<std::vector<ScanSource>> classify_sources(const std::vector<std::string>& args) {
  std::vector<ScanSource> out;
  for (const std::string& arg : args) {
    struct stat st {};
    if (::stat(arg.c_str(), &st) != 0) {
      return not_found(arg + ": no such file or directory (" + std::strerror(errno) + ")");
    }
    ScanSource s;
    s.path = arg;
    if (S_ISDIR(st.st_mode)) {
      s.kind = SourceKind::kDirectory;
    } else if (!S_ISREG(st.st_mode)) {
      return invalid_argument(arg + ": not a directory or regular file");
    } else if (is_tar_name(arg)) {
      s.kind = SourceKind::kTar;
    } else if (has_image_extension(arg) || has_video_extension(arg)) {
      s.kind = SourceKind::kFile;
    } else {
      std::ifstream f(arg);
      if (!f) return io_error(arg + ": cannot read the list of paths");
      s.kind = SourceKind::kList;
    }
    out.push_back(std::move(s));
  }
  return out;
}

void plan_units(const std::vector<ScanSource>& sources, size_t unit_size,
                const std::function<bool(ScanUnit&&)>& emit) {
  unit_size = std::max<size_t>(1, unit_size);
  size_t next = 0;
  try {
    for (size_t si = 0; si < sources.size(); ++si) {
      const ScanSource& src = sources[si];
      if (src.kind == SourceKind::kTar) {
        ScanUnit u;
        u.index = next++;
        u.source = si;
        u.kind = SourceKind::kTar;
        u.name = src.path;
        u.tar_path = src.path;
        if (!emit(std::move(u))) return;
        continue;
      }
      UnitCutter cutter(&next, si, src, unit_size, emit);
      if (src.kind == SourceKind::kList) {
        std::ifstream f(src.path);
        const fs::path base = fs::path(src.path).parent_path();
        std::string line;
        while (std::getline(f, line)) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (line.empty()) continue;
          const fs::path p(line);
          const std::string resolved =
              p.is_relative() && !base.empty() ? (base / p).string() : line;
          expand_inputs({resolved}, [&](InputPath ip) { cutter.add(std::move(ip)); },
                        /*videos=*/true);
        }
      } else {
        expand_inputs({src.path}, [&](InputPath ip) { cutter.add(std::move(ip)); },
                      /*videos=*/true);
      }
      cutter.flush();
    }
  } catch (const StopPlanning&) {
  }
}

UnitReadResult read_unit(const ScanUnit& unit, const ReadLimits& limits,
                         const std::function<void(Sample&&)>& emit, const std::atomic<bool>& stop,
                         std::atomic<int64_t>* bytes_read) {
  if (unit.kind == SourceKind::kTar) return TarReader(unit, limits, emit, stop, bytes_read).run();
  return read_path_unit(unit, limits, emit, stop, bytes_read);
}

std::string error_reason(const Status& s) {
  const std::string m = lower(s.message());
  auto has = [&](const char* w) { return m.find(w) != std::string::npos; };
  switch (s.code()) {
    case StatusCode::kNotFound:
      return "missing";
    case StatusCode::kIOError:
      return "unreadable";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kResourceExhausted:
      if (has("byte")) return "over the byte limit";
      return "over the pixel limit";
    default:
      break;
  }
  if (has("not a regular file") || has("is a directory")) return "not a regular file";
  if (has("symlink loop") || has("dangling symlink")) return "bad link";
  if (has("empty input")) return "empty";
  if (has("not an image")) return "not an image";
  if (has("not a video") || has("no video stream")) return "not a video";
  if (has("truncated")) return "truncated";
  if (has("corrupt") || has("unreadable") || has("declares") || has("outside the file") ||
      has("holds no image") || has("no colour map") || has("frame is empty")) {
    return "corrupt";
  }
  return "other";
}

}  // namespace imprint::cli
