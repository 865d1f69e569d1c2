// Scan throughput: `imprint scan` over a synthetic WebDataset against a catalog of a million works,
// next to decode-only passes over the same shards in the same run, and checks that the default scan
// (both stages, as the query runs them) finds every planted copy `imprint query --mode fast` finds,
// and that `scan --no-second-stage` finds every copy the query's PDQ stage finds.
//
//   build/benchmarks/scan_throughput [--shards 50] [--per-shard 1000] [--works 1000000]
//                                    [--planted 4] [--threads 2] [--real-works 48] [--dir DIR]
//                                    [--keep 1] [--imprint PATH] [--second-stage 0]
//
// The corpus: JPEGs at web size (longer side 512-800 px, quality 75-92) cut from the wallpaper
// photos (benchmarks/photo_corpus.h), each with a JSON sidecar (url, caption), `--planted` per
// shard being edited copies of registered works (resized, recompressed, some mirrored, cropped by
// 2% or brightened). Registered works are cut from the wallpapers that are photographs and corpus
// filler from the others, so filler does not copy a work by accident. The catalog: the real
// works registered from their files, then synthetic balanced hashes up to --works through
// Catalog::register_works in batches.
#include <archive.h>
#include <archive_entry.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "catalog.h"
#include "engine.h"
#include "photo_corpus.h"
#include "synthetic_hashes.h"

namespace imprint::bench {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Options {
  int shards = 50;
  int per_shard = 1000;
  size_t works = 1'000'000;
  int planted = 4;
  int threads = 2;
  int real_works = 48;
  std::string dir;
  bool keep = false;                     // leave the corpus, catalog and report in --dir
  bool second_stage = true;              // also time the default scan with the second stage (slow)
  std::string imprint = IMPRINT_BINARY;  // the imprint binary to time (another build, for A/B)
};

Image mirror(const Image& in) {
  Image out(in.width, in.height, in.channels);
  for (int y = 0; y < in.height; ++y) {
    for (int x = 0; x < in.width; ++x) {
      for (int c = 0; c < in.channels; ++c) {
        out.row(y)[(in.width - 1 - x) * in.channels + c] = in.row(y)[x * in.channels + c];
      }
    }
  }
  return out;
}

Image brighten(const Image& in, int delta) {
  Image out = in;
  for (uint8_t& p : out.pixels) p = uint8_t(std::clamp(int(p) + delta, 0, 255));
  return out;
}

// A web-size cut of a random region of `src`: longer side 512..800 px.
Image web_cut(const Image& src, std::mt19937_64& rng) {
  const double frac = 0.3 + 0.6 * double(rng() % 1000) / 1000.0;
  const int w = std::max(64, int(src.width * frac)),
            h = std::max(64, int(src.height * frac * (0.6 + 0.5 * double(rng() % 100) / 100)));
  const int cw = std::min(w, src.width), ch = std::min(h, src.height);
  const int x = int(rng() % uint64_t(src.width - cw + 1)),
            y = int(rng() % uint64_t(src.height - ch + 1));
  const int longer = 512 + int(rng() % 289);
  const double scale = double(longer) / std::max(cw, ch);
  return cut(src, x, y, cw, ch, std::max(16, int(cw * scale)), std::max(16, int(ch * scale)));
}

struct Planted {
  std::string shard, member, work_id, edit;
};

class TarWriter {
 public:
  explicit TarWriter(const std::string& path) : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_);
    if (archive_write_open_filename(a_, path.c_str()) != ARCHIVE_OK) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      std::exit(2);
    }
  }
  ~TarWriter() {
    archive_write_close(a_);
    archive_write_free(a_);
  }
  void add(const std::string& name, const std::string& data) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, la_int64_t(data.size()));
    archive_write_header(a_, e);
    archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
  }

 private:
  archive* a_;
};

std::string as_string(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

// Reads every JPEG member of a shard with libarchive, as the scan does, and calls fn on its bytes.
void for_each_member(const std::string& path,
                     const std::function<void(std::vector<uint8_t>&)>& fn) {
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK) std::exit(2);
  archive_entry* e = nullptr;
  std::vector<uint8_t> buf;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const std::string name = archive_entry_pathname(e);
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".jpg") != 0) {
      archive_read_data_skip(a);
      continue;
    }
    buf.resize(size_t(archive_entry_size(e)));
    if (archive_read_data(a, buf.data(), buf.size()) != la_ssize_t(buf.size())) std::exit(2);
    fn(buf);
  }
  archive_read_free(a);
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

int run_command(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char b[4096];
  size_t n;
  while ((n = fread(b, 1, sizeof b, p)) > 0) {
    if (out) out->append(b, n);
  }
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int run(const Options& o) {
  const std::string dir =
      o.dir.empty() ? (fs::temp_directory_path() / "imprint-scan-bench").string() : o.dir;
  fs::remove_all(dir);
  fs::create_directories(dir + "/works");
  fs::create_directories(dir + "/shards");
  fs::create_directories(dir + "/planted");
  const std::string& imprint = o.imprint;

  const auto t_photos = Clock::now();
  std::vector<SourcePhoto> photos = load_source_photos();
  std::vector<const SourcePhoto*> work_photos, filler_photos;
  for (size_t i = 0; i < photos.size(); ++i) {
    // Works are cut from the photographs (is_photograph); filler comes from everything else.
    const bool photo = is_photograph(photos[i].path);
    Image& im = photos[i].image;
    const double scale = 1600.0 / std::max(im.width, im.height);
    // Filler is cut at web size; shrinking its sources first makes cutting 50,000 of them cheap.
    if (!photo && scale < 1)
      im = resize_to_area(im, double(im.width) * im.height * scale * scale / 1e6);
    (photo ? work_photos : filler_photos).push_back(&photos[i]);
  }
  std::fprintf(stderr, "%zu wallpapers (%zu for works, %zu for filler) in %.1f s\n", photos.size(),
               work_photos.size(), filler_photos.size(), since(t_photos));

  // Registered works: real cuts, registered from their files like `imprint register` does.
  std::mt19937_64 rng(2026);
  std::vector<Image> works;
  std::vector<std::string> work_ids;
  const std::string catalog_dir = dir + "/catalog";
  const auto t_catalog = Clock::now();
  std::string index_kind;
  {
    CatalogOptions co;
    co.dir = catalog_dir;
    co.sync_commits = false;  // setup only; the scan opens the catalog read-only
    auto cat = Catalog::open(co);
    if (!cat.ok()) {
      std::fprintf(stderr, "%s\n", cat.status().to_string().c_str());
      return 2;
    }
    std::vector<WorkInput> inputs;
    for (int i = 0; i < o.real_works; ++i) {
      // A work worth registering has a confident hash: cut until PDQ quality >= 80 (flat sky or a
      // plain wall would be reported weak and never flagged, by the query or by the scan).
      Image img;
      for (int attempt = 0; attempt < 50; ++attempt) {
        const SourcePhoto& p = *work_photos[size_t(i + attempt) % work_photos.size()];
        const int w = p.image.width / 2, h = p.image.height / 2;
        const int x = int(rng() % uint64_t(p.image.width - w)),
                  y = int(rng() % uint64_t(p.image.height - h));
        img = cut(p.image, x, y, w, h, std::min(w, 1200), std::min(w, 1200) * h / w);
        if (pdq_hash(img).quality >= 80) break;
      }
      char id[32];
      std::snprintf(id, sizeof id, "work-%03d", i);
      const std::string path = dir + "/works/" + id + ".jpg";
      const std::vector<uint8_t> bytes = encode_jpeg(img, 92);
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
      Result<WorkInput> in = work_input_from_image(bytes);
      in->work.id = id;
      in->work.title = std::string("Photo ") + std::to_string(i);
      in->work.owner = "Studio " + std::string(1, char('A' + i % 6));
      in->work.source = path;
      inputs.push_back(std::move(*in));
      works.push_back(std::move(img));
      work_ids.push_back(id);
    }
    for (const auto& r : (*cat)->register_works(inputs)) {
      if (!r.ok()) std::abort();
    }
    std::mt19937_64 hrng(7);
    for (size_t start = size_t(o.real_works); start < o.works; start += 20000) {
      std::vector<WorkInput> batch;
      for (size_t i = start; i < std::min(o.works, start + 20000); ++i) {
        WorkInput in;
        in.work.id = "synthetic-" + std::to_string(i);
        in.work.owner = "Synthetic " + std::to_string(i % 1000);
        in.fingerprints.push_back(WorkFingerprint::pdq(balanced_hash(hrng), 100));
        batch.push_back(std::move(in));
      }
      for (const auto& r : (*cat)->register_works(batch)) {
        if (!r.ok()) std::abort();
      }
    }
    index_kind = (*cat)->stats()->index_kind;
  }
  std::fprintf(stderr, "catalog of %zu works in %.1f s\n", o.works, since(t_catalog));

  // The WebDataset, shards in parallel (each shard's randomness from its own seed).
  const auto t_data = Clock::now();
  std::vector<std::string> shard_paths(size_t(o.shards));
  std::vector<std::vector<Planted>> planted(size_t(o.shards));
  std::atomic<int64_t> corpus_bytes{0};
  parallel_for(size_t(o.shards), o.threads, [&](size_t s) {
    std::mt19937_64 r(1000 + s);
    char name[64];
    std::snprintf(name, sizeof name, "%s/shards/%05zu.tar", dir.c_str(), s);
    shard_paths[s] = name;
    TarWriter tar(name);
    std::set<int> plant_at;
    while (int(plant_at.size()) < std::min(o.planted, o.per_shard))
      plant_at.insert(int(r() % uint64_t(o.per_shard)));
    for (int i = 0; i < o.per_shard; ++i) {
      char key[32];
      std::snprintf(key, sizeof key, "%05zu%04d", s, i);
      Image img;
      std::string caption = "a photo";
      if (plant_at.count(i)) {
        const size_t w = r() % works.size();
        const Image& src = works[w];
        std::string edit;
        switch (r() % 4) {
          case 0:
            img = src;
            edit = "resized";
            break;
          case 1:
            img = mirror(src);
            edit = "mirrored";
            break;
          case 2: {
            const int dx = src.width / 50, dy = src.height / 50;  // 2% off each side
            img = cut(src, dx, dy, src.width - 2 * dx, src.height - 2 * dy, src.width - 2 * dx,
                      src.height - 2 * dy);
            edit = "cropped 2%";
            break;
          }
          default:
            img = brighten(src, 25);
            edit = "brightened";
            break;
        }
        const int longer = 512 + int(r() % 289);
        const double scale = double(longer) / std::max(img.width, img.height);
        img =
            cut(img, 0, 0, img.width, img.height, int(img.width * scale), int(img.height * scale));
        planted[s].push_back(
            {name, std::string(key) + ".jpg", work_ids[w], edit + ", recompressed"});
        caption = "copy of " + work_ids[w];
      } else {
        img = web_cut(filler_photos[r() % filler_photos.size()]->image, r);
      }
      const std::vector<uint8_t> jpeg = encode_jpeg(img, 75 + int(r() % 18));
      corpus_bytes += int64_t(jpeg.size());
      if (plant_at.count(i)) {
        std::ofstream(dir + "/planted/" + std::string(key) + ".jpg", std::ios::binary)
            .write(reinterpret_cast<const char*>(jpeg.data()), long(jpeg.size()));
      }
      tar.add(std::string(key) + ".jpg", as_string(jpeg));
      tar.add(std::string(key) + ".json",
              nlohmann::json{{"url", "https://example.org/img/" + std::string(key) + ".jpg"},
                             {"caption", caption},
                             {"key", key}}
                  .dump());
    }
  });
  const int64_t images = int64_t(o.shards) * o.per_shard;
  std::fprintf(stderr, "corpus: %lld JPEGs, %.1f MB, in %.1f s\n", (long long)images,
               double(corpus_bytes) / 1e6, since(t_data));

  // Decode-only passes over the same shards: read with libarchive, decode, nothing else.
  auto decode_pass = [&](const DecodeOptions& d) {
    std::atomic<int64_t> n{0}, failed{0};
    const auto t = Clock::now();
    parallel_for(shard_paths.size(), o.threads, [&](size_t s) {
      for_each_member(shard_paths[s], [&](std::vector<uint8_t>& bytes) {
        Result<Image> img = decode_image(bytes, d);
        ++n;
        failed += !img.ok();
      });
    });
    const double sec = since(t);
    if (failed > 0) std::fprintf(stderr, "%lld decode failures\n", (long long)failed.load());
    return std::make_pair(n.load(), sec);
  };
  decode_pass({});  // warm the page cache and the decoders; not measured
  DecodeOptions scaled;
  scaled.jpeg_min_side = HashOptions{}.fast_min_side;
  scaled.jpeg_grey = true;
  // The decode passes run before and after the scans and are summed, so a change in the
  // machine's load during the run weighs on both sides of the ratio alike.
  auto full = decode_pass({});
  auto fast = decode_pass(scaled);

  // The scan: PDQ only (--no-second-stage; 8 dihedral variants, as `imprint query`), the same
  // with --no-dihedral, then the default, both stages as the query runs them.
  std::string shard_args;
  for (const auto& p : shard_paths) shard_args += " " + p;
  std::set<std::string> planted_members;
  for (const auto& v : planted) {
    for (const Planted& p : v) planted_members.insert(p.member);
  }
  // Whether a listed match is a copy: what the matcher decided (flag or allow), every method alike
  // (catalog.h is_copy).
  auto is_copy = [](const nlohmann::json& m) {
    return m["decision"] == "flag" || m["decision"] == "allow";
  };
  struct ScanRun {
    double pipeline_s = 0, wall_s = 0;
    int64_t items = 0, unplanted_findings = 0;
    std::map<std::string, std::set<std::string>>
        found;  // member -> works within the match distance
  };
  auto scan = [&](const std::string& extra, const std::string& name) {
    ScanRun r;
    const std::string report = dir + "/" + name;
    const auto t = Clock::now();
    const int rc = run_command(imprint + " scan --progress none --threads " +
                                   std::to_string(o.threads) + extra + " --catalog " + catalog_dir +
                                   " --report " + report + shard_args + " 2>&1",
                               nullptr);
    r.wall_s = since(t);
    if (rc != 0) {
      std::fprintf(stderr, "imprint scan failed (%d)\n", rc);
      std::exit(2);
    }
    nlohmann::json summary;
    std::ifstream(report + "/summary.json") >> summary;
    r.pipeline_s = summary["throughput"][0]["seconds"].get<double>();
    r.items = summary["totals"]["items"].get<int64_t>();
    std::ifstream f(report + "/findings.jsonl");
    std::string line;
    while (std::getline(f, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      const std::string member = j["member"];
      if (!planted_members.count(member)) ++r.unplanted_findings;
      for (const auto& m : j["matches"]) {
        if (is_copy(m)) r.found[member].insert(m["work_id"].get<std::string>());
      }
    }
    return r;
  };
  const std::string load_before = loadavg();
  ScanRun dihedral = scan(" --no-second-stage", "report");
  ScanRun plain = scan(" --no-second-stage --no-dihedral", "report-no-dihedral");
  ScanRun staged = o.second_stage ? scan("", "report-second-stage") : ScanRun{};
  const auto full2 = decode_pass({});
  const auto fast2 = decode_pass(scaled);
  full.first += full2.first;
  full.second += full2.second;
  fast.first += fast2.first;
  fast.second += fast2.second;
  const std::string load_after = loadavg();

  // What `imprint query --mode fast` (8 dihedral variants) finds among the planted copies.
  std::string qout;
  run_command(imprint + " query --json --mode fast --purpose ai-training --threads " +
                  std::to_string(o.threads) + " --catalog " + catalog_dir + " " + dir +
                  "/planted 2>/dev/null",
              &qout);
  std::map<std::string, std::set<std::string>> query_found, query_pdq_found;
  std::istringstream qs(qout);
  std::string line;
  while (std::getline(qs, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    const std::string member = fs::path(j["path"].get<std::string>()).filename().string();
    for (const auto& m : j["matches"]) {
      if (!is_copy(m)) continue;
      query_found[member].insert(m["work_id"].get<std::string>());
      if (!imprint::is_second_stage_method(m["method"].get<std::string>())) {
        query_pdq_found[member].insert(m["work_id"].get<std::string>());
      }
    }
  }
  struct EditCount {
    int planted = 0, query_pdq = 0, query = 0, scan = 0, plain = 0, staged = 0;
  };
  int64_t n_planted = 0, query_pdq_right = 0, query_right = 0, scan_right = 0, plain_right = 0,
          staged_right = 0, scan_misses_query = 0, staged_misses_query = 0;
  std::map<std::string, EditCount> by_edit;
  for (const auto& v : planted) {
    for (const Planted& p : v) {
      const bool qp = query_pdq_found[p.member].count(p.work_id) > 0;
      const bool q = query_found[p.member].count(p.work_id) > 0;
      const bool s = dihedral.found[p.member].count(p.work_id) > 0;
      const bool n = plain.found[p.member].count(p.work_id) > 0;
      const bool st = staged.found[p.member].count(p.work_id) > 0;
      ++n_planted;
      query_pdq_right += qp;
      query_right += q;
      scan_right += s;
      plain_right += n;
      staged_right += st;
      scan_misses_query += qp && !s;
      staged_misses_query += o.second_stage && q && !st;
      EditCount& e = by_edit[p.edit];
      ++e.planted;
      e.query_pdq += qp;
      e.query += q;
      e.scan += s;
      e.plain += n;
      e.staged += st;
    }
  }

  const double full_rate = double(full.first) / full.second;
  const double fast_rate = double(fast.first) / fast.second;
  const double scan_rate = double(dihedral.items) / dihedral.pipeline_s;
  const double plain_rate = double(plain.items) / plain.pipeline_s;
  const double staged_rate = o.second_stage ? double(staged.items) / staged.pipeline_s : 0;
  std::printf("# Scan throughput against a catalog of %zu works\n\n", o.works);
  std::printf(
      "Machine: %s; load average %s before the timed passes, %s after (the machine is shared: "
      "the ratios, measured minutes apart in one run, are the figures to read).\n",
      machine_description().c_str(), load_before.c_str(), load_after.c_str());
  std::printf("Binary: %s\n", imprint.c_str());
  std::printf(
      "Corpus: %d WebDataset shards (uncompressed tar) x %d JPEGs (longer side 512-800 px, "
      "quality 75-92, %.0f KB mean) with JSON sidecars, cut from %zu wallpapers; %lld planted "
      "edited copies of %d registered works. Catalog: those works plus balanced random hashes to "
      "%zu works (%s index). Every pass reads the same shards with libarchive on %d threads.\n\n",
      o.shards, o.per_shard, double(corpus_bytes) / double(images) / 1024, filler_photos.size(),
      (long long)n_planted, o.real_works, o.works, index_kind.c_str(), o.threads);
  std::printf(
      "| pass over the same shards | images | seconds | images/s | / full decode | / scaled decode "
      "|\n|---|---|---|---|---|---|\n");
  std::printf(
      "| decode only: full-size RGB (libjpeg-turbo, decode_image; 2 passes) | %lld | %.2f | %.0f | "
      "1.00 | %.2f |\n",
      (long long)full.first, full.second, full_rate, full_rate / fast_rate);
  std::printf(
      "| decode only: fast mode's scaled luma (DCT domain, shorter side >= 128; 2 passes) | %lld | "
      "%.2f | %.0f | %.2f | 1.00 |\n",
      (long long)fast.first, fast.second, fast_rate, fast_rate / full_rate);
  std::printf(
      "| `imprint scan --no-second-stage` (PDQ: fast hash, 8 dihedral variants matched) | %lld | "
      "%.2f | %.0f | **%.2f** | **%.2f** |\n",
      (long long)dihedral.items, dihedral.pipeline_s, scan_rate, scan_rate / full_rate,
      scan_rate / fast_rate);
  std::printf(
      "| `imprint scan --no-second-stage --no-dihedral` (the image as it is only) | %lld | %.2f | "
      "%.0f | %.2f | %.2f |\n",
      (long long)plain.items, plain.pipeline_s, plain_rate, plain_rate / full_rate,
      plain_rate / fast_rate);
  if (o.second_stage) {
    std::printf(
        "| `imprint scan` (default: and the second stage where PDQ settles nothing, as the query) "
        "| %lld | %.2f | %.0f | %.2f | %.2f |\n",
        (long long)staged.items, staged.pipeline_s, staged_rate, staged_rate / full_rate,
        staged_rate / fast_rate);
  } else {
    std::printf("| `imprint scan` (default, both stages) | not run (--second-stage 0) | | | | |\n");
  }
  std::printf("\n");
  std::printf(
      "Scan seconds are the pipeline's (summary.json throughput); the whole processes, with the "
      "catalog load and the report, took %.2f s, %.2f s and %.2f s.\n\n",
      dihedral.wall_s, plain.wall_s, staged.wall_s);
  std::printf(
      "Target, scan >= 80%% of the scaled decode: --no-second-stage %.0f%% (%s), default (both "
      "stages) %.0f%% (%s).\n\n",
      100 * scan_rate / fast_rate, scan_rate >= 0.8 * fast_rate ? "met" : "not met",
      100 * staged_rate / fast_rate, staged_rate >= 0.8 * fast_rate ? "met" : "not met");
  std::printf(
      "| edit of the planted copy | planted | `imprint query --mode fast`: PDQ stage | `imprint "
      "query --mode fast`: both stages | scan --no-second-stage | ... --no-dihedral | scan (default) "
      "|\n|---|---|---|---|---|---|---|\n");
  for (const auto& [edit, c] : by_edit) {
    std::printf("| %s | %d | %d | %d | %d | %d | %d |\n", edit.c_str(), c.planted, c.query_pdq,
                c.query, c.scan, c.plain, c.staged);
  }
  std::printf("| all | %lld | %lld | %lld | %lld | %lld | %lld |\n\n", (long long)n_planted,
              (long long)query_pdq_right, (long long)query_right, (long long)scan_right,
              (long long)plain_right, (long long)staged_right);
  std::printf(
      "Findings that are not planted copies: %lld (--no-second-stage), %lld (--no-dihedral), %lld "
      "(default).\n",
      (long long)dihedral.unplanted_findings, (long long)plain.unplanted_findings,
      (long long)staged.unplanted_findings);
  std::printf("Every planted copy the query's PDQ stage finds, scan --no-second-stage finds: %s.\n",
              scan_misses_query == 0 ? "yes" : "NO");
  std::printf("Every planted copy the query finds (both stages), the default scan finds: %s.\n",
              !o.second_stage ? "not run" : staged_misses_query == 0 ? "yes" : "NO");
  std::fflush(stdout);
  if (!o.keep) fs::remove_all(dir);
  return scan_misses_query == 0 && staged_misses_query == 0 ? 0 : 1;
}

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  imprint::bench::Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--shards")
      o.shards = std::stoi(v);
    else if (k == "--per-shard")
      o.per_shard = std::stoi(v);
    else if (k == "--works")
      o.works = std::stoul(v);
    else if (k == "--planted")
      o.planted = std::stoi(v);
    else if (k == "--threads")
      o.threads = std::stoi(v);
    else if (k == "--real-works")
      o.real_works = std::stoi(v);
    else if (k == "--dir")
      o.dir = v;
    else if (k == "--keep")
      o.keep = v == "1";
    else if (k == "--second-stage")
      o.second_stage = v == "1";
    else if (k == "--imprint")
      o.imprint = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  return imprint::bench::run(o);
}
