#include "scan_pipeline.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <variant>

#include "image_query.h"
#include "input_paths.h"
#include "match_json.h"
#include "scan_journal.h"
#include "scan_lines.h"
#include "scan_progress.h"
#include "scan_queue.h"
#include "scan_report.h"
#include "scan_sources.h"
#include "scan_thumbs.h"
#include "video_ingest.h"
#include "video_match.h"

namespace imprint::cli {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_signalled{false};

void on_signal(int) { g_signalled.store(true); }

// What a worker made of one item.
struct ItemOutcome {
  size_t unit = 0;
  size_t index = 0;
  enum class Kind { kClean, kFinding, kError } kind = Kind::kClean;
  std::string line;    // findings or errors line, without newline
  std::string reason;  // errors: error_reason()
  bool matched = false, flagged = false, review = false, weak = false;
  std::optional<WorkInput> save;  // --save-catalog
};

// What the writer keeps of a unit until it commits: counts, the findings, and the error lines
// with the lowest item numbers (so which ones are listed does not depend on thread timing).
// Clean items leave only counts, so a unit of any size costs memory only for what it found.
struct UnitTally {
  size_t received = 0;
  int64_t scanned = 0, matched = 0, flagged = 0, review = 0, weak = 0, bad = 0;
  std::map<std::string, int64_t> reasons;
  std::vector<std::pair<size_t, std::string>> findings;
  std::vector<std::pair<size_t, std::string>> error_lines;  // a max-heap by item number
  size_t error_lines_total = 0;
  std::vector<WorkInput> to_save;
  std::vector<size_t> to_save_index;

  void add_error_line(size_t index, std::string line, size_t cap) {
    ++error_lines_total;
    if (error_lines.size() < cap) {
      error_lines.emplace_back(index, std::move(line));
      std::push_heap(error_lines.begin(), error_lines.end());
    } else if (cap > 0 && index < error_lines.front().first) {
      std::pop_heap(error_lines.begin(), error_lines.end());
      error_lines.back() = {index, std::move(line)};
      std::push_heap(error_lines.begin(), error_lines.end());
    }
  }
};

// Writer messages.
struct UnitExpected {
  size_t unit;
  nlohmann::json entry;  // the journal entry's identity part (name, kind, first/last, bytes)
};
struct UnitResults {
  size_t unit;
  std::vector<ItemOutcome> items;
};
struct UnitRead {
  size_t unit;
  UnitReadResult read;
};
using WriterMessage = std::variant<UnitExpected, UnitResults, UnitRead>;

class Scan {
 public:
  Scan(const ScanOptions& o, std::vector<ScanSource> sources, Catalog& catalog, ReportDir& report,
       Catalog* save)
      : o_(o), sources_(std::move(sources)), catalog_(catalog), report_(report), save_(save) {
    qo_.match.purpose = o.purpose;
    qo_.match.licensee = o.licensee;
    qo_.match.match_distance = o.match_distance;
    qo_.match.review_band = o.review_band;
    qo_.match.top_k = o.top_k;
    qo_.hash.mode = o.mode;
    qo_.hash.dihedral = o.dihedral;
    qo_.hash.fast_min_side = o.fast_min_side;
    qo_.hash.sha256 = true;  // exact copies match by bytes even where PDQ is weak
    qo_.hash.decode.max_pixels = o.max_pixels;
    qo_.hash.decode.max_bytes = o.max_member_bytes;
    qo_.threads = 1;  // each worker matches its own batch
    qo_.second_stage = o.second_stage;
    limits_.max_member_bytes = o.max_member_bytes;
    threads_ = o.threads > 0 ? o.threads : default_thread_count();
    readers_ = o.readers > 0 ? o.readers : std::max(1, threads_ / 4);
  }

  // Runs every stage to the end (or to a stop); returns the run record for the journal.
  nlohmann::json run();
  Status fatal() const {
    std::lock_guard<std::mutex> lk(fatal_mu_);
    return fatal_;
  }
  const ScanCounters& counters() const { return counters_; }

 private:
  bool mine(size_t unit) const { return unit % o_.shard_count == o_.shard_index; }
  void set_fatal(Status s) {
    std::lock_guard<std::mutex> lk(fatal_mu_);
    if (fatal_.ok()) fatal_ = std::move(s);
    stop_.store(true);
  }

  void plan();
  void count_totals();
  void read_units();
  void work();
  void write();
  void process_batch(std::vector<Sample>& batch);
  void make_thumbs_dir();
  void make_work_thumb(const Work& w);
  void process_video(Sample& s, ItemOutcome* item);
  void tally(size_t unit, UnitTally& t, ItemOutcome&& it);
  void save_samples(size_t unit, UnitTally& t);
  Status commit(size_t unit, nlohmann::json entry, UnitTally& t, const UnitReadResult& read);

  const ScanOptions& o_;
  const std::vector<ScanSource> sources_;
  Catalog& catalog_;
  ReportDir& report_;
  Catalog* save_;
  // The query path (index/image_query.h) with the scan's hashing; its match options serve the
  // video samples too.
  ImageQueryOptions qo_;
  ReadLimits limits_;
  int threads_ = 1, readers_ = 1;

  std::atomic<bool> stop_{false};
  std::atomic<bool> counting_done_{false};
  mutable std::mutex fatal_mu_;
  Status fatal_;
  ScanCounters counters_;

  BoundedQueue<ScanUnit> units_{2, SIZE_MAX};
  // 64 MB of encoded images in flight: a few hundred web images, enough to keep the workers fed
  // through a slow read without letting a fast reader run away with memory.
  BoundedQueue<Sample> samples_{4096, 64u << 20};
  BoundedQueue<WriterMessage> writer_{SIZE_MAX, SIZE_MAX};

  std::mutex thumbs_mu_;
  std::set<std::string> work_thumbs_;
  std::atomic<bool> thumbs_dir_made_{false};

  // Run record.
  bool planned_all_ = false;
  size_t units_planned_ = 0, units_skipped_ = 0, units_committed_ = 0;
  int64_t items_committed_ = 0;
  std::vector<nlohmann::json> failed_units_;
  bool aborted_ = false;
};

void Scan::plan() {
  const auto& done = report_.journal().units;
  bool stopped = false;
  plan_units(sources_, o_.unit_size, [&](ScanUnit&& u) {
    if (stop_.load()) {
      stopped = true;
      return false;
    }
    if (!mine(u.index)) return true;
    ++units_planned_;
    nlohmann::json sig = unit_signature(u);
    auto it = done.find(u.index);
    if (it != done.end()) {
      const std::string change = signature_change(it->second, sig);
      if (!change.empty()) {
        set_fatal(failed_precondition(
            "the input changed since this report was begun: unit " + u.name + ": " + change +
            "; a report must cover one fixed input (start a new report)"));
        stopped = true;
        return false;
      }
      ++units_skipped_;
      return true;
    }
    writer_.push(UnitExpected{u.index, std::move(sig)});
    units_.push(std::move(u));
    return true;
  });
  planned_all_ = !stopped && !stop_.load();
  units_.close();
}

// The same walk as plan(), counting only; lets progress show an ETA. Runs beside the scan and
// gives up as soon as the scan ends.
void Scan::count_totals() {
  const auto& done = report_.journal().units;
  int64_t items = 0, tar_bytes = 0;
  bool finished = true;
  plan_units(sources_, o_.unit_size, [&](ScanUnit&& u) {
    if (counting_done_.load()) {
      finished = false;
      return false;
    }
    if (!mine(u.index) || done.count(u.index)) return true;
    if (u.kind == SourceKind::kTar) {
      struct stat st {};
      if (::stat(u.tar_path.c_str(), &st) == 0) tar_bytes += st.st_size;
    } else {
      items += int64_t(u.paths.size());
    }
    return true;
  });
  if (!finished) return;
  counters_.total_path_items.store(items);
  counters_.total_tar_bytes.store(tar_bytes);
  counters_.totals_known.store(true);
}

void Scan::read_units() {
  while (std::optional<ScanUnit> u = units_.pop()) {
    UnitReadResult r;
    if (stop_.load()) {
      r.aborted = true;
    } else {
      const bool tar = u->kind == SourceKind::kTar;
      std::atomic<int64_t> ignored{0};
      r = read_unit(
          *u, limits_,
          [&](Sample&& s) {
            if (tar) counters_.tar_items_read.fetch_add(1, std::memory_order_relaxed);
            const size_t cost = s.bytes.size() + 512;
            samples_.push(std::move(s), cost);
          },
          stop_, tar ? &counters_.tar_bytes_read : &ignored);
    }
    writer_.push(UnitRead{u->index, std::move(r)});
  }
}

void Scan::work() {
  for (;;) {
    std::vector<Sample> batch = samples_.pop_some(o_.batch);
    if (batch.empty()) return;
    if (stop_.load()) continue;  // drain: nothing more will be committed
    process_batch(batch);
  }
}

void Scan::make_thumbs_dir() {
  if (thumbs_dir_made_.load()) return;
  std::error_code ec;
  fs::create_directories(report_.dir() + "/thumbs", ec);
  thumbs_dir_made_.store(true);
}

void Scan::make_work_thumb(const Work& w) {
  {
    std::lock_guard<std::mutex> lk(thumbs_mu_);
    if (!work_thumbs_.insert(w.id).second) return;
  }
  const std::string path = report_.dir() + "/" + work_thumb_name(w.id);
  std::error_code ec;
  if (fs::exists(path, ec)) return;  // made by an earlier run of this report
  // The registered file, when it is a local file this machine can still read; URLs and moved
  // files get a placeholder in the report.
  if (w.source.empty() || w.source.find("://") != std::string::npos) return;
  Result<std::vector<uint8_t>> t = make_thumbnail_of_file(w.source);
  if (t.ok()) (void)write_thumb(path, *t);
}

void Scan::process_batch(std::vector<Sample>& batch) {
  std::vector<ItemOutcome> out(batch.size());
  std::vector<ImageQueryInput> inputs;
  std::vector<size_t> input_item;
  inputs.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    Sample& s = batch[i];
    out[i].unit = s.unit;
    out[i].index = s.index;
    if (s.error.ok() && has_video_extension(s.member)) {
      process_video(s, &out[i]);
      continue;
    }
    if (s.error.ok()) {
      inputs.push_back(ImageQueryInput::of_bytes(s.bytes));
      input_item.push_back(i);
    }
  }
  // The query's own path (index/image_query.h): the same matches and decisions as `imprint
  // query` gives these bytes with the same hashing, the second stage included unless turned off.
  std::vector<ImageQueryOutcome> outcomes = query_images(catalog_, inputs, qo_);
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (outcomes[k].fingerprint.ok()) continue;
    Sample& s = batch[input_item[k]];
    s.error = outcomes[k].fingerprint.status().with_context(s.member);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const Sample& s = batch[i];
    if (s.error.ok()) continue;
    out[i].kind = ItemOutcome::Kind::kError;
    out[i].reason = error_reason(s.error);
    out[i].line = error_line(s, out[i].reason, s.error.message());
  }

  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!outcomes[k].fingerprint.ok()) continue;
    const size_t i = input_item[k];
    const Sample& s = batch[i];
    const QueryResult& r = outcomes[k].result;
    const ImageFingerprint& fp = *outcomes[k].fingerprint;
    ItemOutcome& item = out[i];
    item.weak = r.weak;
    if (save_) item.save = sample_work(s, fp);
    if (r.matches.empty()) continue;

    // A copy is what the matcher decides is one (flag or allow), whatever the method.
    item.matched = std::any_of(r.matches.begin(), r.matches.end(),
                               [](const Candidate& c) { return is_copy(c); });
    item.flagged = r.decision == MatchDecision::kFlag;
    item.review = r.decision == MatchDecision::kReview;
    item.kind = ItemOutcome::Kind::kFinding;

    // Thumbnails: the sample's now, while its bytes are at hand; each matched work's once.
    make_thumbs_dir();
    std::string name = item_thumb_name(s.unit, s.index);
    Result<std::vector<uint8_t>> thumb = make_thumbnail(s.bytes);
    if (!thumb.ok() || !write_thumb(report_.dir() + "/" + name, *thumb).ok()) name.clear();
    for (const Candidate& c : r.matches) make_work_thumb(c.work);
    item.line = finding_line(s, fp, r, name);
  }

  int64_t matched = 0, flagged = 0, errors = 0;
  for (const ItemOutcome& it : out) {
    matched += it.matched;
    flagged += it.flagged;
    errors += it.kind == ItemOutcome::Kind::kError;
  }
  counters_.matched.fetch_add(matched);
  counters_.flagged.fetch_add(flagged);
  counters_.errors.fetch_add(errors);
  counters_.items.fetch_add(int64_t(out.size()));
  // A batch may straddle units; the writer counts each unit's items separately.
  size_t begin = 0;
  for (size_t i = 1; i <= out.size(); ++i) {
    if (i == out.size() || out[i].unit != out[begin].unit) {
      UnitResults r{out[begin].unit, {}};
      r.items.assign(std::make_move_iterator(out.begin() + long(begin)),
                     std::make_move_iterator(out.begin() + long(i)));
      writer_.push(std::move(r));
      begin = i;
    }
  }
}

// A video sample: vPDQ frame hashes at the scan's rate, matched against the catalog's video works
// with the copied seconds (index/video_match.h); one finding per video, like an image.
void Scan::process_video(Sample& s, ItemOutcome* item) {
  VideoOptions vo;
  vo.seconds_per_hash = o_.video_seconds_per_hash;
  vo.mode = o_.video_mode;
  vo.max_pixels = o_.max_pixels;
  vo.threads = 1;  // the other workers keep the other cores busy
  Result<HashedVideo> v = hash_video_bytes_for_catalog(s.bytes, s.member, vo);
  if (!v.ok()) {
    item->kind = ItemOutcome::Kind::kError;
    item->reason = error_reason(v.status());
    item->line = error_line(s, item->reason, v.status().message());
    return;
  }
  const VideoQuery q = video_query_of(std::move(*v), sha256_of(s.bytes));
  const VideoQueryResult r = catalog_.match_video(q, qo_.match, VideoMatchOptions{});
  item->weak = r.weak;
  if (save_) {
    HashedVideo hv{q.fingerprint, q.cropped, {}};
    WorkInput in = work_input_from_video(hv, vo.seconds_per_hash);
    describe_sample_work(s, &in);
    in.work.sha256 = *q.sha256;
    item->save = std::move(in);
  }
  if (r.matches.empty()) return;
  for (const VideoCandidate& c : r.matches) {
    if (is_copy(c)) item->matched = true;  // the matcher's decision, as for images
  }
  item->flagged = r.decision == MatchDecision::kFlag;
  item->review = r.decision == MatchDecision::kReview;
  item->kind = ItemOutcome::Kind::kFinding;
  make_thumbs_dir();  // the commit syncs it before writing any finding
  // The sample's thumbnail: the frame where the first copied segment starts.
  const VideoCandidate& first = r.matches.front();
  const double t = first.segments.empty() ? 1.0 : first.segments.front().query_start;
  std::string name = item_thumb_name(s.unit, s.index);
  Result<std::vector<uint8_t>> thumb = make_video_thumbnail(s.bytes, t);
  if (!thumb.ok() || !write_thumb(report_.dir() + "/" + name, *thumb).ok()) name.clear();
  for (const VideoCandidate& c : r.matches) make_work_thumb(c.work);
  item->line = video_finding_line(s, q, r, name);
}

void Scan::tally(size_t unit, UnitTally& t, ItemOutcome&& it) {
  ++t.received;
  if (it.kind == ItemOutcome::Kind::kError) {
    ++t.bad;
    ++t.reasons[it.reason];
    t.add_error_line(it.index, std::move(it.line), o_.max_error_lines_per_unit);
    return;
  }
  ++t.scanned;
  t.matched += it.matched;
  t.flagged += it.flagged;
  t.review += it.review;
  t.weak += it.weak;
  if (it.kind == ItemOutcome::Kind::kFinding) t.findings.emplace_back(it.index, std::move(it.line));
  if (it.save) {
    t.to_save.push_back(std::move(*it.save));
    t.to_save_index.push_back(it.index);
    // Registered in batches as they come, so a unit of any size holds at most one batch.
    if (t.to_save.size() >= 1000) save_samples(unit, t);
  }
}

// Registers the tally's samples in the --save-catalog. Done before the unit's journal line, so a
// journaled unit is always in that catalog; `replace` makes a unit redone after a crash
// idempotent.
void Scan::save_samples(size_t unit, UnitTally& t) {
  if (!save_ || t.to_save.empty()) return;
  const std::vector<Result<Work>> done = save_->register_works(t.to_save, /*replace=*/true);
  for (size_t k = 0; k < done.size(); ++k) {
    if (done[k].ok()) continue;
    ++t.reasons["save-catalog"];
    t.add_error_line(t.to_save_index[k],
                     json_line(nlohmann::ordered_json{{"unit", ""},
                                                      {"unit_index", unit},
                                                      {"item", t.to_save_index[k]},
                                                      {"work_id", t.to_save[k].work.id},
                                                      {"reason", "save-catalog"},
                                                      {"message", done[k].status().message()}}),
                     o_.max_error_lines_per_unit);
  }
  t.to_save.clear();
  t.to_save_index.clear();
}

Status Scan::commit(size_t unit, nlohmann::json entry, UnitTally& t, const UnitReadResult& read) {
  save_samples(unit, t);
  const std::string unit_name = entry["name"].get<std::string>();
  std::sort(t.findings.begin(), t.findings.end());
  std::string findings, errors;
  for (const auto& [index, line] : t.findings) findings += with_unit_name(line, unit_name) + "\n";
  std::sort(t.error_lines.begin(), t.error_lines.end());
  for (const auto& [index, line] : t.error_lines) errors += with_unit_name(line, unit_name) + "\n";
  if (t.error_lines_total > o_.max_error_lines_per_unit) {
    errors += json_line(nlohmann::ordered_json{
                  {"unit", unit_name},
                  {"unit_index", unit},
                  {"item", nullptr},
                  {"reason", "unlisted"},
                  {"message", std::to_string(t.error_lines_total - o_.max_error_lines_per_unit) +
                                  " more errors in this unit (those after the first " +
                                  std::to_string(o_.max_error_lines_per_unit) +
                                  ") are counted in the journal and summary but not listed"}}) +
              "\n";
  }
  std::map<std::string, int64_t> reasons = t.reasons;
  for (const auto& [reason, message] : read.unit_errors) {
    ++reasons[reason];
    errors += json_line(nlohmann::ordered_json{{"unit", unit_name},
                                               {"unit_index", unit},
                                               {"item", nullptr},
                                               {"reason", reason},
                                               {"message", message}}) +
              "\n";
  }
  if (!findings.empty()) {
    // The thumbnails' directory entries must be durable before the findings that name them.
    IMPRINT_RETURN_IF_ERROR(fsync_dir(report_.dir() + "/thumbs"));
  }
  entry["items"] = read.items;
  entry["scanned"] = t.scanned;
  entry["matched"] = t.matched;
  entry["flagged"] = t.flagged;
  entry["review"] = t.review;
  entry["weak"] = t.weak;
  entry["bad_items"] = t.bad;
  entry["unit_errors"] = read.unit_errors.size();
  entry["other_members"] = read.other_members;
  entry["errors_by_reason"] = reasons;
  IMPRINT_RETURN_IF_ERROR(report_.commit_unit(findings, errors, std::move(entry)));
  ++units_committed_;
  items_committed_ += int64_t(read.items);
  return Status::Ok();
}

void Scan::write() {
  struct Pending {
    nlohmann::json entry;
    UnitTally tally;
    std::optional<UnitReadResult> read;
  };
  std::map<size_t, Pending> pending;  // by unit number; committed in that order
  std::deque<size_t> order;
  bool halted = false;  // an incomplete unit was dropped: later ones must not commit before it
  for (;;) {
    std::optional<WriterMessage> m = writer_.pop();
    if (!m) break;
    if (auto* e = std::get_if<UnitExpected>(&*m)) {
      pending[e->unit].entry = std::move(e->entry);
      order.push_back(e->unit);
    } else if (auto* r = std::get_if<UnitResults>(&*m)) {
      Pending& p = pending[r->unit];
      for (ItemOutcome& it : r->items) {
        if (!halted)
          tally(r->unit, p.tally, std::move(it));
        else
          ++p.tally.received;
      }
    } else if (auto* d = std::get_if<UnitRead>(&*m)) {
      pending[d->unit].read = std::move(d->read);
    }
    while (!order.empty()) {
      Pending& p = pending[order.front()];
      if (!p.read || p.tally.received < p.read->items) break;
      const size_t unit = order.front();
      if (!p.read->open_error.ok()) {
        // Not journaled: --resume tries it again.
        failed_units_.push_back(
            {{"unit", unit}, {"name", p.entry["name"]}, {"message", p.read->open_error.message()}});
        std::cerr << "imprint scan: error: " << p.read->open_error.message() << '\n';
      } else if (p.read->aborted || halted || stop_.load()) {
        halted = true;
        aborted_ = true;
      } else {
        const Status s = commit(unit, std::move(p.entry), p.tally, *p.read);
        if (!s.ok()) {
          set_fatal(s);
          halted = true;
        }
      }
      pending.erase(unit);
      order.pop_front();
    }
  }
  if (!order.empty()) aborted_ = true;
}

nlohmann::json Scan::run() {
  const auto t0 = Clock::now();
  const int64_t started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  std::thread counter([this] { count_totals(); });
  std::optional<ProgressReporter> progress;
  if (o_.progress != ProgressMode::kNone) {
    progress.emplace(o_.progress, counters_, [this] {
      if (g_signalled.load()) stop_.store(true);
    });
  }
  std::thread writer([this] { write(); });
  std::thread planner([this] { plan(); });
  std::vector<std::thread> readers, workers;
  for (int i = 0; i < readers_; ++i) readers.emplace_back([this] { read_units(); });
  for (int i = 0; i < threads_; ++i) workers.emplace_back([this] { work(); });

  // Without a progress thread, signals are noticed here; the caller's on_progress runs here too.
  std::atomic<bool> done{false}, cancelled{false};
  auto snapshot = [&] {
    ScanProgress p;
    p.items = counters_.items.load();
    p.matched = counters_.matched.load();
    p.flagged = counters_.flagged.load();
    p.errors = counters_.errors.load();
    p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    p.total_items = estimated_total_items(counters_);
    return p;
  };
  std::thread watcher;
  if (!progress || o_.on_progress) {
    watcher = std::thread([&] {
      auto next_report = Clock::now();
      while (!done.load()) {
        if (g_signalled.load()) stop_.store(true);
        if (o_.on_progress && Clock::now() >= next_report) {
          next_report = Clock::now() + std::chrono::milliseconds(500);
          if (!o_.on_progress(snapshot())) {
            cancelled.store(true);
            stop_.store(true);
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  planner.join();
  for (auto& t : readers) t.join();
  samples_.close();
  for (auto& t : workers) t.join();
  writer_.close();
  writer.join();
  done.store(true);
  if (watcher.joinable()) watcher.join();
  counting_done_.store(true);
  counter.join();
  if (progress) progress->stop();
  if (o_.on_progress && !cancelled.load()) o_.on_progress(snapshot());
  if (g_signalled.load() || cancelled.load()) aborted_ = true;

  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const int64_t items = counters_.items.load();
  Result<CatalogStats> st = catalog_.stats();
  nlohmann::json run = {
      {"run", report_.journal().runs.size() + 1},
      {"shard", o_.shard_index},
      {"started", iso8601_utc(started_ms)},
      {"seconds", std::round(seconds * 1000) / 1000},
      {"items", items},
      {"items_committed", items_committed_},
      {"items_per_second", seconds > 0 ? std::round(double(items) / seconds * 10) / 10 : 0.0},
      {"units_planned", units_planned_},
      {"units_skipped", units_skipped_},
      {"units_committed", units_committed_},
      {"failed_units", failed_units_},
      {"interrupted", aborted_},
      {"complete", planned_all_ && failed_units_.empty() && !aborted_ && fatal().ok()},
      {"threads", threads_},
      {"readers", readers_},
      {"catalog_generation", st.ok() ? st->generation : int64_t(-1)},
  };
  return run;
}

}  // namespace

nlohmann::json scan_identity(const ScanOptions& o, const CatalogStats& catalog) {
  return {{"sources", o.sources},
          {"shard", {{"index", o.shard_index}, {"count", o.shard_count}}},
          {"unit_size", o.unit_size},
          {"catalog_id", catalog.catalog_id},
          {"purpose", purpose_name(o.purpose)},
          {"licensee", o.licensee},
          {"match_distance", o.match_distance},
          {"review_band", o.review_band},
          {"top_k", o.top_k},
          {"hash_mode", hash_mode_name(o.mode)},
          {"fast_min_side", o.fast_min_side},
          {"dihedral", o.dihedral},
          {"second_stage", o.second_stage},
          {"max_pixels", o.max_pixels},
          {"max_member_bytes", o.max_member_bytes},
          {"max_error_lines_per_unit", o.max_error_lines_per_unit},
          {"save_catalog", o.save_catalog}};
}

int run_scan(const ScanOptions& o, Status* error) {
  // Exit status 2 with its message, on stderr and to the caller.
  auto fail = [&](const Status& status) {
    std::cerr << "imprint scan: " << status.message() << '\n';
    if (error) *error = status;
    return 2;
  };
  Result<std::vector<ScanSource>> sources = classify_sources(o.sources);
  if (!sources.ok()) {
    return fail(sources.status());
  }
  if (o.shard_count == 0 || o.shard_index >= o.shard_count) {
    return fail(invalid_argument("--shard I/N needs 0 <= I < N"));
  }
  CatalogOptions co;
  co.dir = o.catalog_dir;
  co.read_only = true;
  Result<IndexKind> kind = parse_index_kind(o.index);
  if (!kind.ok()) {
    return fail(kind.status());
  }
  co.index = *kind;
  co.second_stage = o.second_stage;  // no feature index to build when it is not used
  Result<std::unique_ptr<Catalog>> catalog = Catalog::open(co);
  if (!catalog.ok()) {
    return fail(catalog.status());
  }
  Result<CatalogStats> stats = (*catalog)->stats();
  if (!stats.ok()) {
    return fail(stats.status());
  }
  std::error_code ec;
  if (!o.save_catalog.empty() &&
      fs::weakly_canonical(o.save_catalog, ec) == fs::weakly_canonical(o.catalog_dir, ec)) {
    return fail(invalid_argument("--save-catalog must be another catalog than --catalog"));
  }

  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const nlohmann::json scan = {
      {"identity", scan_identity(o, *stats)},
      {"catalog",
       {{"dir", is_postgres_location(o.catalog_dir)
                    ? display_location(o.catalog_dir)
                    : fs::absolute(o.catalog_dir, ec).lexically_normal().string()},
        {"catalog_id", stats->catalog_id},
        {"generation", stats->generation},
        {"works", stats->works},
        {"index", stats->index_kind}}},
      {"started", iso8601_utc(now_ms)},
      {"imprint_report_version", 1}};
  Result<std::unique_ptr<ReportDir>> report = ReportDir::open(o.report_dir, scan, o.resume);
  if (!report.ok()) {
    return fail(report.status());
  }
  std::unique_ptr<Catalog> save;
  if (!o.save_catalog.empty()) {
    CatalogOptions so;
    so.dir = o.save_catalog;
    Result<std::unique_ptr<Catalog>> c = Catalog::open(so);
    if (!c.ok()) {
      return fail(c.status().with_context("--save-catalog"));
    }
    save = std::move(*c);
  }
  if ((*report)->resumed()) {
    std::cerr << "imprint scan: resuming " << o.report_dir << ": "
              << (*report)->journal().units.size() << " units already done\n";
  }

  // SIGINT/SIGTERM end the scan cleanly; SA_RESETHAND makes a second one kill at once.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  g_signalled.store(false);
  if (o.handle_signals) {
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }

  Scan s(o, *sources, **catalog, **report, save.get());
  const nlohmann::json run = s.run();
  const Status append = (*report)->append_run(run);
  if (o.handle_signals) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }

  if (!s.fatal().ok()) {
    return fail(s.fatal());
  }
  if (!append.ok()) {
    return fail(append);
  }
  if (save) {
    const Status saved = save->save_index();
    if (!saved.ok()) std::cerr << "imprint scan: --save-catalog: " << saved.message() << '\n';
  }
  Result<nlohmann::json> summary = finish_report(o.report_dir);
  if (!summary.ok()) {
    return fail(summary.status().with_context("cannot write the report"));
  }
  const nlohmann::json& t = (*summary)["totals"];
  std::cerr << "imprint scan: " << (run["interrupted"].get<bool>() ? "interrupted" : "done") << ": "
            << run["items"] << " items in " << format_duration(run["seconds"].get<double>()) << " ("
            << run["items_per_second"] << "/s); report totals: " << t["items"] << " items, "
            << t["matched"] << " matched, " << t["flagged"] << " flagged, " << t["bad_items"]
            << " bad; " << o.report_dir << "/report.html\n";
  if (run["interrupted"].get<bool>()) return 130;
  return run["failed_units"].empty() ? 0 : 1;
}

}  // namespace imprint::cli
