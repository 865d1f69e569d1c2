// imprint import-hashes / export-hashes: hash lists in the layouts the hash-sharing ecosystem
// uses (index/hash_list.h lists them and says how a list's layout is recognised).
//
// Import streams each list a line at a time and registers its hashes in batches, so a list of
// any length takes the same memory (beyond what the catalog's index needs for the hashes). An
// image list gives one image work per hash; a vPDQ list gives one video work, its id the file's
// stem. Rows of other signal types are skipped; a row whose id is already registered with the
// same hash is skipped as a duplicate; any other bad row fails, is reported on stderr with its
// line, and the rest of the list still imports. Prints {"imported":N,"skipped":N,"failed":N}.
//
// Export writes the catalog's image hashes in a list layout, with the fields each work's list
// row carried (id, timestamp, tags, collab, category), so a list imported and exported in its
// own layout comes back as it was; and video works' frame hashes as vPDQ lists.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "catalog_args.h"
#include "commands.h"
#include "hash_list.h"
#include "video_index.h"
#include "video_ingest.h"

namespace imprint::cli {
namespace {

// Registrations per transaction: large enough that commits do not dominate (each fsyncs).
constexpr size_t kImportBatch = 10000;

struct ImportArgs {
  CatalogArgs catalog;
  LicenceArgs licence;
  std::vector<std::string> files;
  std::string owner;
  std::string columns;
  bool replace = false;
};

struct ImportCounts {
  int64_t imported = 0, skipped = 0, failed = 0;
};

class Importer {
 public:
  Importer(Catalog& catalog, const ImportArgs& args, const LicencePolicy& policy)
      : catalog_(catalog), args_(args), policy_(policy) {}

  void import_file(const std::string& path, const std::optional<HashListColumns>& columns) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      fail("imprint import-hashes: cannot read " + path);
      return;
    }
    const std::string stem = std::filesystem::path(path).stem().string();
    HashListReader reader(in, path, columns);
    std::vector<HashListEntry> video_frames;  // a vPDQ list: one work, registered at the end
    HashListRow row;
    while (reader.next(&row)) {
      if (row.outcome == HashListRow::Outcome::kSkipped) {
        ++counts_.skipped;
        continue;
      }
      if (row.outcome == HashListRow::Outcome::kFailed) {
        fail("imprint import-hashes: " + row.message);
        continue;
      }
      if (*reader.layout() == HashListLayout::kVpdq) {
        video_frames.push_back(std::move(row.entry));
        continue;
      }
      WorkInput in_work = new_input(row.entry.id, path);
      in_work.fingerprints.push_back(WorkFingerprint::pdq(row.entry.hash, row.entry.quality));
      if (auto fields = list_entry_fingerprint(*reader.layout(), row.entry)) {
        in_work.fingerprints.push_back(std::move(*fields));
      }
      batch_.push_back(std::move(in_work));
      if (batch_.size() >= kImportBatch) flush();
    }
    if (!reader.status().ok()) fail("imprint import-hashes: " + reader.status().message());
    if (!video_frames.empty()) {
      WorkInput video = work_input_from_frame_hashes(video_fingerprint_from_vpdq(video_frames));
      Work& w = video.work;
      const Work base = new_input(stem, path).work;
      w.id = base.id;
      w.title = base.title;
      w.owner = base.owner;
      w.source = base.source;
      w.licence = base.licence;
      batch_.push_back(std::move(video));
      flush();
    }
  }

  void flush() {
    if (batch_.empty()) return;
    const std::vector<Result<Work>> done = catalog_.register_works(batch_, args_.replace);
    for (size_t k = 0; k < done.size(); ++k) {
      if (done[k].ok()) {
        ++counts_.imported;
      } else if (done[k].status().code() == StatusCode::kAlreadyExists &&
                 same_hash_registered(batch_[k])) {
        ++counts_.skipped;  // the same row imported before, or listed twice
      } else {
        fail("imprint import-hashes: " + batch_[k].work.id + ": " + done[k].status().message());
      }
    }
    batch_.clear();
  }

  const ImportCounts& counts() const { return counts_; }

 private:
  WorkInput new_input(const std::string& id, const std::string& path) const {
    WorkInput in;
    in.work.id = id;
    in.work.title = id;
    in.work.owner = args_.owner;
    in.work.source = path;
    in.work.licence = policy_;
    return in;
  }

  // Whether the work registered under this input's id has the input's first hash.
  bool same_hash_registered(const WorkInput& in) const {
    if (in.fingerprints.empty()) return false;
    const WorkFingerprint& mine = in.fingerprints.front();
    Result<std::vector<WorkFingerprint>> theirs = catalog_.work_fingerprints(in.work.id, mine.kind);
    return theirs.ok() && !theirs->empty() && theirs->front().data == mine.data;
  }

  void fail(const std::string& message) {
    ++counts_.failed;
    std::cerr << message << '\n';
  }

  Catalog& catalog_;
  const ImportArgs& args_;
  const LicencePolicy& policy_;
  std::vector<WorkInput> batch_;
  ImportCounts counts_;
};

struct ExportArgs {
  CatalogArgs catalog;
  std::string format = "plain";
  std::string work;
  std::string out_dir;
};

Status export_image_list(const Catalog& c, HashListLayout layout) {
  std::cout << hash_list_header(layout);
  // A work's hash comes first, then its list fields when it has some.
  std::optional<std::pair<Work, WorkFingerprint>> pending;
  auto write_pending = [&](const ListEntryFields* fields) {
    if (!pending) return;
    const WorkFingerprint& f = pending->second;
    std::cout << format_hash_list_line(layout, pending->first, PdqHash::from_bytes(f.data.data()),
                                       f.quality, fields);
    pending.reset();
  };
  Status s = c.list_fingerprints(std::vector<std::string>{"pdq", kListEntryKind},
                                 [&](const Work& w, const WorkFingerprint& f) {
                                   if (f.kind == kListEntryKind) {
                                     if (pending && pending->first.pk == w.pk) {
                                       const ListEntryFields fields = parse_list_entry(f);
                                       write_pending(&fields);
                                     }
                                     return true;
                                   }
                                   write_pending(nullptr);
                                   if (f.data.size() == 32) pending.emplace(w, f);
                                   return true;
                                 });
  write_pending(nullptr);
  return s;
}

// One video work's frames as a vPDQ list.
void write_vpdq(std::ostream& out, const std::vector<WorkFingerprint>& frames,
                const WorkFingerprint* info) {
  std::vector<int64_t> t_ms;
  t_ms.reserve(frames.size());
  for (const WorkFingerprint& f : frames) t_ms.push_back(f.t_ms);
  std::vector<int64_t> numbers;
  if (info != nullptr) numbers = video_info_frame_numbers(*info, t_ms);
  for (size_t i = 0; i < frames.size(); ++i) {
    const int64_t frame = i < numbers.size() ? numbers[i] : int64_t(i);
    out << format_vpdq_line(frame, frames[i].quality, PdqHash::from_bytes(frames[i].data.data()),
                            double(frames[i].t_ms) / 1000.0);
  }
}

Status export_vpdq(const Catalog& c, const ExportArgs& a) {
  if (!a.work.empty()) {
    Result<Work> w = c.get_work(a.work);
    if (!w.ok()) return w.status();
    if (w->media != "video") return invalid_argument("work " + a.work + " is not a video");
    Result<std::vector<WorkFingerprint>> frames = c.work_fingerprints(a.work, kVideoFrameKind);
    if (!frames.ok()) return frames.status();
    Result<std::vector<WorkFingerprint>> info = c.work_fingerprints(a.work, kVideoInfoKind);
    if (!info.ok()) return info.status();
    write_vpdq(std::cout, *frames, info->empty() ? nullptr : &info->front());
    return Status::Ok();
  }
  std::error_code ec;
  std::filesystem::create_directories(a.out_dir, ec);
  if (ec) return io_error("cannot create " + a.out_dir + ": " + ec.message());
  // A video work's frames are stored before its video-info, so the info closes each work.
  std::vector<WorkFingerprint> frames;
  int64_t work_pk = -1;
  Status written;
  Status s = c.list_fingerprints(
      std::vector<std::string>{kVideoFrameKind, kVideoInfoKind},
      [&](const Work& w, const WorkFingerprint& f) {
        if (w.pk != work_pk) frames.clear();
        work_pk = w.pk;
        if (f.kind == kVideoFrameKind) {
          if (f.data.size() == 32) frames.push_back(f);
          return true;
        }
        std::string name = w.id;
        for (char& ch : name) {
          if (ch == '/' || ch == '\\') ch = '_';
        }
        const std::string path = (std::filesystem::path(a.out_dir) / (name + ".txt")).string();
        std::ofstream out(path, std::ios::binary);
        write_vpdq(out, frames, &f);
        if (!out.flush()) {
          written = io_error("cannot write " + path);
          return false;
        }
        std::cout
            << nlohmann::json{{"work_id", w.id}, {"path", path}, {"frames", frames.size()}}.dump()
            << '\n';
        frames.clear();
        return true;
      });
  return s.ok() ? written : s;
}

}  // namespace

void add_hashes_commands(CLI::App& app, int& exit_code) {
  auto ia = std::make_shared<ImportArgs>();
  CLI::App* imp = app.add_subcommand(
      "import-hashes",
      "Register works from hash lists: image hashes (one work each) and vPDQ lists (one video "
      "work each); layouts are recognised from the header or the line shape");
  add_catalog_option(imp, ia->catalog);
  add_licence_options(imp, ia->licence);
  imp->add_option("files", ia->files, "Hash list files")->required()->check(CLI::ExistingFile);
  imp->add_option("--owner", ia->owner, "Rights holder of the imported works");
  imp->add_flag("--replace", ia->replace, "Replace works whose id is already registered");
  imp->add_option("--columns", ia->columns,
                  "Where the columns are, instead of recognising the layout: hash=N,id=N,quality=N "
                  "(from 1; - for none; also type, tags, timestamp, collab, category)");
  imp->callback([ia, &exit_code] {
    std::optional<HashListColumns> columns;
    if (!ia->columns.empty()) {
      Result<HashListColumns> c = parse_hash_list_columns(ia->columns);
      if (!c.ok()) {
        std::cerr << "imprint import-hashes: " << c.status().message() << '\n';
        exit_code = 2;
        return;
      }
      columns = *c;
    }
    Result<LicencePolicy> policy = licence_from_args(ia->licence);
    if (!policy.ok()) {
      std::cerr << "imprint import-hashes: " << policy.status().message() << '\n';
      exit_code = 2;
      return;
    }
    auto c = open_catalog(ia->catalog, false, "import-hashes");
    if (!c) {
      exit_code = 2;
      return;
    }
    Importer importer(*c, *ia, *policy);
    for (const std::string& file : ia->files) importer.import_file(file, columns);
    importer.flush();
    const ImportCounts& n = importer.counts();
    std::cout << nlohmann::json{{"imported", n.imported},
                                {"skipped", n.skipped},
                                {"failed", n.failed}}
                     .dump()
              << '\n';
    exit_code = n.failed > 0 ? 1 : 0;
  });

  auto ea = std::make_shared<ExportArgs>();
  CLI::App* exp = app.add_subcommand("export-hashes", "Write the catalog's hashes as a list");
  add_catalog_option(exp, ea->catalog);
  exp->add_option(
         "--format", ea->format,
         "plain (hash,quality,id), bare (hash), hash-id, te-csv (ThreatExchange/HMA: "
         "hash,id,timestamp,tags), pytx-csv (collab,signal_type,signal_str,category,tags), "
         "pytx (pdq HASH lines; also threatexchange), vpdq (video works' frames)")
      ->capture_default_str()
      ->check(CLI::IsMember(
          {"plain", "bare", "hash-id", "te-csv", "pytx-csv", "pytx", "threatexchange", "vpdq"}));
  exp->add_option("--work", ea->work, "vpdq: the video work to write (to stdout)");
  exp->add_option("--out-dir", ea->out_dir, "vpdq: write every video work to DIR/ID.txt");
  exp->callback([ea, &exit_code] {
    if (ea->format == "vpdq" && ea->work.empty() == ea->out_dir.empty()) {
      std::cerr << "imprint export-hashes: --format vpdq writes one list per video: give --work ID "
                   "or --out-dir DIR\n";
      exit_code = 2;
      return;
    }
    auto c = open_catalog(ea->catalog, true, "export-hashes");
    if (!c) {
      exit_code = 2;
      return;
    }
    Status s;
    if (ea->format == "vpdq") {
      s = export_vpdq(*c, *ea);
    } else {
      const HashListLayout layout = ea->format == "plain"      ? HashListLayout::kHashQualityId
                                    : ea->format == "bare"     ? HashListLayout::kBare
                                    : ea->format == "hash-id"  ? HashListLayout::kHashId
                                    : ea->format == "te-csv"   ? HashListLayout::kTeCsv
                                    : ea->format == "pytx-csv" ? HashListLayout::kPytxCsv
                                                               : HashListLayout::kPytxSignals;
      s = export_image_list(*c, layout);
    }
    if (!s.ok()) {
      std::cerr << "imprint export-hashes: " << s.message() << '\n';
      exit_code = 1;
    }
  });
}

}  // namespace imprint::cli
