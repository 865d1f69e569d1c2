// What `imprint scan` reads: sources, the units of work cut from them, and the samples in a unit.
//
// A SOURCE is a directory (walked recursively in sorted order, image and video extensions only), a text
// file listing paths (one per line; relative lines are taken from the list file's directory), a
// single image or video file, or a tar shard (.tar, .tar.gz, .tgz, .tar.*) read by libarchive as a stream,
// never unpacked to disk.
//
// Units are what resume, sharding and the journal count in. Each tar shard is one unit; a
// directory or list is cut into units of `unit_size` items in walk order. Units are numbered
// across all sources in command-line order, so N copies of a scan given the same SOURCE list agree
// on every unit's number, and `--shard I/N` can take the units whose number % N == I.
//
// WebDataset shards: members are grouped into samples by key, the member's directory plus its
// basename up to the first dot ("shard/000123.jpg" and "shard/000123.json" are sample
// "shard/000123"). Consecutive members with the same key form one sample, as WebDataset writes
// them. Each image or video member (by extension) is one item; KEY.json gives the source URL ("url", "URL"
// or "source_url") and caption ("caption" or "text"), KEY.txt a caption. A sample with no image
// member is one bad item, "not an image"; other members beside an image (.cls, .npy) are metadata
// and only counted. Hostile members never stop a scan: links and devices, members over the byte
// limit (skipped without being read) and corrupt or truncated archives become errors with a reason.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "input_paths.h"
#include "status.h"

namespace imprint::cli {

enum class SourceKind { kDirectory, kList, kFile, kTar };

struct ScanSource {
  std::string path;  // as given on the command line
  SourceKind kind = SourceKind::kFile;
};

// Recognises each argument; a missing or unreadable one is an error (a misconfigured job should
// stop at once, not report an empty scan).
Result<std::vector<ScanSource>> classify_sources(const std::vector<std::string>& args);

// One unit of work. Directory and list units carry their paths (unit_size of them at most).
struct ScanUnit {
  size_t index = 0;   // across all sources, from 0
  size_t source = 0;  // index into the source list
  size_t chunk = 0;   // directory and list units: which chunk of that source
  std::string name;   // the tar path, or "SOURCE#CHUNK"
  SourceKind kind = SourceKind::kFile;
  std::string tar_path;
  std::vector<InputPath> paths;
};

// Calls `emit` for each unit in order, streaming (a directory of millions of files is walked once,
// one unit's paths at a time). Stops early when `emit` returns false.
void plan_units(const std::vector<ScanSource>& sources, size_t unit_size,
                const std::function<bool(ScanUnit&&)>& emit);

// One image to scan, or an item that could not be read (error set, bytes empty).
struct Sample {
  size_t unit = 0;
  size_t index = 0;    // item number within its unit
  std::string shard;   // tar shards: the shard's path; empty for files
  std::string key;     // tar: the sample key; files: empty
  std::string member;  // tar: the member name; files: the file's path
  std::string url, caption;
  std::vector<uint8_t> bytes;
  Status error;
};

struct ReadLimits {
  int64_t max_member_bytes = 256LL << 20;  // larger members are skipped unread
  int64_t max_sidecar_bytes = 1 << 20;     // larger .json/.txt are ignored
};

struct UnitReadResult {
  size_t items = 0;          // samples emitted (each becomes a result line or a count)
  size_t other_members = 0;  // metadata members beside images, ignored
  // Problems with the unit itself rather than one item: a truncated or corrupt archive. Reason,
  // message.
  std::vector<std::pair<std::string, std::string>> unit_errors;
  // The unit could not be opened at all; nothing was emitted. Not journaled, so --resume retries.
  Status open_error;
  bool aborted = false;  // `stop` was raised mid-unit
};

// Reads a unit's samples into `emit`, in order. `stop` is polled between items. `bytes_read` (may
// be null) is advanced by the bytes consumed from disk, for progress.
UnitReadResult read_unit(const ScanUnit& unit, const ReadLimits& limits,
                         const std::function<void(Sample&&)>& emit, const std::atomic<bool>& stop,
                         std::atomic<int64_t>* bytes_read);

// A short, stable name for why an item failed ("truncated", "over the pixel limit"), for the
// summary's counts; the full message stays beside it in errors.jsonl.
std::string error_reason(const Status& s);

}  // namespace imprint::cli
