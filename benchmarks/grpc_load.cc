// Load on `imprint serve`'s gRPC API over loopback: N concurrent MatchStream streams driven by
// gRPC's async (callback) API, each with a bounded number of requests in flight, printing
// requests/s and p50/p99/p99.9 latency for hash matching and for image matching (1 MP JPEGs),
// against a catalog of a million works; beside them, the same work done in process (no gRPC) in
// the same run.
//
//   build/benchmarks/grpc_load [--works 1000000] [--streams 8] [--seconds 10] [--inflight 8,16]
//                              [--no-images] [--catalog postgresql://...]
// --catalog runs the server on that catalog (an empty PostgreSQL database, say) instead of a
// fresh directory, to compare the two forms run against run. After the hash rows, a server with
// the default limits is flooded with unary MatchImage calls within and beyond its 64 at once.
//
//   build/benchmarks/grpc_load --upload-mix [--works 10000] [--uploads 200] [--copy-share 0.05]
//                              [--streams 4] [--inflight 2] [--seconds 20]
// A platform's uploads instead (run_upload_mix below): 95% unrelated, 5% edited copies, through
// MatchStream against a catalog whose every work has the second stage's fingerprints.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <opencv2/core.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "catalog.h"
#include "image_query.h"
#include "imprint/v1/imprint.grpc.pb.h"
#include "measure.h"
#include "photo_corpus.h"
#include "process_memory.h"
#include "server.h"
#include "synthetic_works.h"
#include "transforms.h"

namespace imprint::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = imprint::v1;

struct LoadResult {
  double per_second = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  size_t errors = 0;
};

using MakeRequest = std::function<void(size_t, v1::MatchStreamRequest*)>;
// Called with each answer, its request's id and its latency (ms), on gRPC's threads.
using OnAnswer = std::function<void(size_t, const v1::MatchStreamResponse&, double)>;

// One MatchStream driven with gRPC's callback (async) API: up to `inflight` requests outstanding,
// a new one written as each answer arrives, until `stop_at`; then WritesDone once every answer is
// in. No thread of its own: gRPC's callback threads run it, so the generator takes as little of
// the machine as it can.
class StreamLoad final : public grpc::ClientBidiReactor<v1::MatchStreamRequest, v1::MatchStreamResponse> {
 public:
  StreamLoad(v1::MatchService::Stub* stub, int inflight, Clock::time_point stop_at, size_t first_id,
             const MakeRequest& make, const OnAnswer* on_answer = nullptr)
      : inflight_(inflight),
        stop_at_(stop_at),
        next_id_(first_id),
        make_(make),
        on_answer_(on_answer) {
    stub->async()->MatchStream(&ctx_, this);
    StartRead(&resp_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      write_next_locked();
    }
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lk(mu_);
    writing_ = false;
    if (!ok) broken_ = true;
    write_next_locked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    {
      std::lock_guard<std::mutex> lk(mu_);
      const size_t id = std::stoul(resp_.id());
      const double ms =
          std::chrono::duration<double, std::milli>(Clock::now() - sent_[id % sent_.size()])
              .count();
      latencies_.push_back(ms);
      if (on_answer_) (*on_answer_)(id, resp_, ms);
      if (resp_.error_code() != 0) ++errors_;
      --outstanding_;
      write_next_locked();
    }
    StartRead(&resp_);
  }

  void OnDone(const grpc::Status&) override {
    std::lock_guard<std::mutex> lk(mu_);
    finished_ = true;
    done_cv_.notify_all();
  }

  // Waits for the stream to end; its latencies (ms) and error count.
  std::pair<std::vector<double>, size_t> wait() {
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return finished_; });
    return {std::move(latencies_), errors_};
  }

 private:
  void write_next_locked() {
    if (writing_ || writes_done_) return;
    if (broken_ || Clock::now() >= stop_at_) {
      if (outstanding_ == 0) {
        writes_done_ = true;
        StartWritesDone();
      }
      return;
    }
    if (outstanding_ >= inflight_) return;
    make_(next_id_, &req_);
    req_.set_id(std::to_string(next_id_));
    sent_[next_id_ % sent_.size()] = Clock::now();
    ++next_id_;
    ++outstanding_;
    writing_ = true;
    StartWrite(&req_);
  }

  grpc::ClientContext ctx_;
  v1::MatchStreamRequest req_;
  v1::MatchStreamResponse resp_;
  const int inflight_;
  const Clock::time_point stop_at_;
  size_t next_id_;
  const MakeRequest& make_;
  const OnAnswer* on_answer_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<Clock::time_point> sent_ = std::vector<Clock::time_point>(4096);  // > inflight
  std::vector<double> latencies_;
  size_t errors_ = 0;
  int outstanding_ = 0;
  bool writing_ = false, writes_done_ = false, broken_ = false, finished_ = false;
};

// Drives `streams` MatchStream calls for `seconds`; make(i) builds request i.
LoadResult drive(const std::shared_ptr<grpc::Channel>& channel, int streams, int inflight,
                 double seconds, const MakeRequest& make, const OnAnswer* on_answer = nullptr) {
  auto stub = v1::MatchService::NewStub(channel);
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::unique_ptr<StreamLoad>> loads;
  for (int s = 0; s < streams; ++s) {
    loads.push_back(std::make_unique<StreamLoad>(stub.get(), std::min(inflight, 4000), stop_at,
                                                 size_t(s) << 40, make, on_answer));
  }
  std::vector<double> latencies;
  size_t errors = 0;
  for (auto& l : loads) {
    auto [lat, err] = l->wait();
    latencies.insert(latencies.end(), lat.begin(), lat.end());
    errors += err;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  LoadResult r;
  r.per_second = double(latencies.size()) / elapsed;
  r.p50_ms = percentile(latencies, 0.5);
  r.p99_ms = percentile(latencies, 0.99);
  r.p999_ms = percentile(latencies, 0.999);
  r.errors = errors;
  return r;
}

// Unary MatchImage calls kept `outstanding` at a time with the callback API (a new one as each
// ends) until `seconds` pass: against a server's concurrency limit, how many are served and how
// fast, and how many are refused busy. A refused call is reissued at once, as a flood would.
struct UnaryResult {
  double served_per_s = 0, p50_ms = 0, p99_ms = 0;
  size_t served = 0, busy = 0, other = 0;
};

UnaryResult drive_unary(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                        int outstanding, double seconds,
                        const std::function<void(size_t, v1::MatchImageRequest*)>& make) {
  std::vector<std::unique_ptr<v1::MatchService::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(v1::MatchService::NewStub(channel));
  struct Call {
    grpc::ClientContext ctx;
    v1::MatchImageRequest req;
    v1::MatchResponse resp;
    Clock::time_point sent;
  };
  std::mutex mu;
  std::condition_variable ended;
  std::vector<double> latencies;
  UnaryResult r;
  int live = outstanding;
  size_t next = 0;
  const auto start = Clock::now();
  const auto stop_at =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::function<void()> issue = [&] {
    auto* c = new Call;
    size_t i = 0;
    {
      std::lock_guard<std::mutex> lk(mu);
      i = next++;
      make(i, &c->req);
    }
    c->sent = Clock::now();
    stubs[i % stubs.size()]->async()->MatchImage(
        &c->ctx, &c->req, &c->resp, [&, c](grpc::Status st) {
          const double ms =
              std::chrono::duration<double, std::milli>(Clock::now() - c->sent).count();
          delete c;
          bool again = false;
          {
            std::lock_guard<std::mutex> lk(mu);
            if (st.ok()) {
              latencies.push_back(ms);
            } else if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
              ++r.busy;
            } else {
              ++r.other;
            }
            again = Clock::now() < stop_at;
            if (!again && --live == 0) ended.notify_all();
          }
          if (again) issue();
        });
  };
  for (int i = 0; i < outstanding; ++i) issue();
  std::unique_lock<std::mutex> lk(mu);
  ended.wait(lk, [&] { return live == 0; });
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  r.served = latencies.size();
  r.served_per_s = double(r.served) / elapsed;
  r.p50_ms = percentile(latencies, 0.5);
  r.p99_ms = percentile(latencies, 0.99);
  return r;
}

Image mirrored(const Image& in) {
  Image out = in;
  const cv::Mat src(in.height, in.width, CV_8UC(in.channels),
                    const_cast<uint8_t*>(in.pixels.data()));
  cv::Mat dst(out.height, out.width, CV_8UC(out.channels), out.pixels.data());
  cv::flip(src, dst, 1);
  return out;
}

// The platform's upload mix (issue 23): most uploads match nothing. Works are 1 MP cuts of the
// photographs among one half of the wallpaper designs (registered from JPEG as `imprint
// register` does: PDQ, crop hashes, local features, preview) and, up to `works`, synthetic works
// carrying the (perturbed) local features of cuts of that half's other wallpapers; the uploads are
// edited copies of the real works, one transform family after another, and cuts of the other
// half's wallpapers, which are in the catalog in no form. Prints the throughput through
// MatchStream with the latency of each kind, recall and false flags, the catalog's open time and
// memory per work, and beside them the same uploads in process.
int run_upload_mix(size_t works, int streams, int inflight, double seconds, size_t uploads_n,
                   double copy_share) {
  const std::vector<SourcePhoto> photos = load_source_photos();
  std::vector<Image> registered;
  std::vector<const Image*> unrelated;
  // Split by design (evaluation_half), so no version of an unrelated upload's picture is
  // registered. Of the other half, the photographs are the real works (one per design, so a copy
  // has one right answer) and the rest (patterns, renderings) give the synthetic works their
  // features: pictures other than the real works, so a crop of a real work is a crop of no
  // synthetic one (design_key does not join all colour variants, such as MATE's cold and warm
  // renderings, so alternating designs would not do).
  std::set<std::string> designs;
  std::vector<const Image*> bulk_sources;
  for (const SourcePhoto& p : photos) {
    if (evaluation_half(p.path) == 1) {
      unrelated.push_back(&p.image);
    } else if (!is_photograph(p.path)) {
      bulk_sources.push_back(&p.image);
    } else if (designs.insert(design_key(p.path)).second) {
      registered.push_back(resize_to_area(p.image, 1.0));
    }
  }
  works = std::max(works, registered.size());
  const std::string dir = (std::filesystem::temp_directory_path() / "imprint-upload-mix").string();
  std::filesystem::remove_all(dir);
  CatalogOptions co;
  co.dir = dir;
  co.sync_commits = false;
  double register_s = 0;
  {
    const auto t0 = Clock::now();
    auto catalog = std::move(*Catalog::open(co));
    std::vector<WorkInput> batch;
    for (size_t i = 0; i < registered.size(); ++i) {
      WorkInput in = *work_input_from_image(encode_jpeg(registered[i], 95));
      in.work.id = "photo-" + std::to_string(i);
      batch.push_back(std::move(in));
    }
    for (const auto& r : catalog->register_works(batch)) {
      if (!r.ok()) std::fprintf(stderr, "register: %s\n", r.status().to_string().c_str());
    }
    const std::vector<LocalFeatures> sources = feature_sources(200, bulk_sources);
    std::mt19937_64 rng(17);
    for (size_t start = registered.size(); start < works; start += 5000) {
      batch.clear();
      for (size_t i = start; i < std::min(works, start + 5000); ++i) {
        batch.push_back(feature_work(i, sources, rng));
      }
      catalog->register_works(batch);
    }
    register_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const long rss_before = resident_kb();
  const auto t_open = Clock::now();
  auto catalog = std::move(*Catalog::open(co));
  const double open_s = std::chrono::duration<double>(Clock::now() - t_open).count();
  const long rss_after = resident_kb();
  const CatalogStats stats = *catalog->stats();

  // The uploads, in a fixed shuffled order: edited copies of the real works, one family after
  // another, and cuts of unregistered photos at 0.5-1 MP, JPEG 80-90, some mirrored.
  struct Upload {
    std::string bytes;
    std::string work_id;  // empty: unrelated
    std::string family;
  };
  std::vector<Upload> uploads;
  const std::vector<TransformFamily> families = transform_families();
  TransformContext tctx;
  tctx.fillers = &unrelated;
  const size_t copies = std::max<size_t>(1, size_t(std::lround(double(uploads_n) * copy_share)));
  std::mt19937_64 rng(23);
  for (size_t k = 0; k < copies; ++k) {
    const TransformFamily& f = families[k % families.size()];
    tctx.seed = k;
    const std::vector<uint8_t> b = f.apply(registered[k % registered.size()], tctx);
    uploads.push_back({std::string(b.begin(), b.end()),
                       "photo-" + std::to_string(k % registered.size()), f.name});
  }
  std::uniform_real_distribution<double> unit(0, 1);
  while (uploads.size() < uploads_n) {
    const Image& p = *unrelated[uploads.size() % unrelated.size()];
    Image cut = crop_fraction(p, 0.3 + 0.6 * unit(rng), unit(rng), unit(rng));
    cut = resize_to_area(cut, 0.5 + 0.5 * unit(rng));
    if (unit(rng) < 0.2) cut = mirrored(cut);
    const std::vector<uint8_t> b = encode_jpeg(cut, 80 + int(rng() % 11));
    uploads.push_back({std::string(b.begin(), b.end()), "", "unrelated"});
  }
  std::shuffle(uploads.begin(), uploads.end(), rng);

  auto usage = std::move(*UsageLog::open(dir, false));
  server::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.http_listen = "";
  so.max_concurrent_calls = 256;
  so.access_log = [](const std::string&) {};
  auto srv = std::move(*server::Server::start(*catalog, usage.get(), so));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(srv->grpc_port()),
                                           grpc::InsecureChannelCredentials(), args);

  // In process first, one thread, each upload once: what each kind costs without gRPC or a
  // second caller, and which copies PDQ settles.
  ImageQueryOptions qo;
  qo.threads = 1;
  qo.match.purpose = Purpose::kAiTraining;
  std::vector<double> unrelated_ms, pdq_copy_ms, second_stage_copy_ms;
  for (const Upload& u : uploads) {
    const ImageQueryInput in = ImageQueryInput::of_bytes(
        std::span(reinterpret_cast<const uint8_t*>(u.bytes.data()), u.bytes.size()));
    const auto t0 = Clock::now();
    const std::vector<ImageQueryOutcome> out = query_images(*catalog, std::span(&in, 1), qo);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (std::getenv("IMPRINT_MIX_VERBOSE")) {
      const QueryResult& r = out[0].result;
      std::fprintf(stderr, "%-16s %-10s -> %s %s %s %.2f (%.0f ms)\n", u.family.c_str(),
                   u.work_id.c_str(), decision_name(r.decision),
                   r.matches.empty() ? "-" : r.matches[0].work.id.c_str(),
                   r.matches.empty() ? "-" : r.matches[0].method.c_str(),
                   r.matches.empty() ? 0.0 : r.matches[0].score, ms);
    }
    if (u.work_id.empty()) {
      unrelated_ms.push_back(ms);
    } else if (!out[0].result.matches.empty() &&
               !is_second_stage_method(out[0].result.matches[0].method)) {
      pdq_copy_ms.push_back(ms);
    } else {
      second_stage_copy_ms.push_back(ms);
    }
  }
  // In process, two threads for half the time: the rate the machine gives without gRPC.
  std::atomic<size_t> done{0};
  {
    const auto stop_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(seconds / 2));
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; ++t) {
      ts.emplace_back([&, t] {
        for (size_t i = size_t(t) * 7; Clock::now() < stop_at; ++i) {
          const Upload& u = uploads[i % uploads.size()];
          const ImageQueryInput in = ImageQueryInput::of_bytes(
              std::span(reinterpret_cast<const uint8_t*>(u.bytes.data()), u.bytes.size()));
          (void)query_images(*catalog, std::span(&in, 1), qo);
          ++done;
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  const double local_rate = double(done) / (seconds / 2);

  std::mutex mu;
  std::vector<double> copy_lat, unrelated_lat;
  size_t copies_seen = 0, copies_right = 0, unrelated_seen = 0, unrelated_flagged = 0;
  const MakeRequest make = [&](size_t i, v1::MatchStreamRequest* req) {
    req->set_image(uploads[i % uploads.size()].bytes);
    req->mutable_context()->set_purpose(v1::AI_TRAINING);
  };
  const OnAnswer on_answer = [&](size_t id, const v1::MatchStreamResponse& r, double ms) {
    const Upload& u = uploads[id % uploads.size()];
    const bool flagged = r.error_code() == 0 && r.result().decision() == "flag";
    std::lock_guard<std::mutex> lk(mu);
    if (u.work_id.empty()) {
      unrelated_lat.push_back(ms);
      ++unrelated_seen;
      unrelated_flagged += flagged;
    } else {
      copy_lat.push_back(ms);
      ++copies_seen;
      copies_right += flagged && r.result().matches(0).work_id() == u.work_id;
    }
  };
  const LoadResult load = drive(channel, streams, inflight, seconds, make, &on_answer);

  std::printf("# Upload mix through MatchStream\n\nMachine: %s\n", machine_description().c_str());
  std::printf(
      "Catalog: %zu works: %zu real 1 MP photos (registered from JPEG: PDQ, crop hashes, local "
      "features, preview) and %zu synthetic works with the local features of cuts of other "
      "wallpapers (patterns, renderings; perturbed); feature index %zu works, %.1f MB; "
      "registration %.1f s; open %.2f s; resident "
      "memory at open %.2f KB a work.\n",
      works, registered.size(), works - registered.size(), stats.feature_works,
      double(stats.feature_memory_bytes) / 1e6, register_s, open_s,
      double(rss_after - rss_before) / double(works));
  std::printf(
      "Uploads: %zu, of which %zu edited copies of the real works (one transform family after "
      "another, benchmarks/transforms.h) and %zu cuts of the other wallpapers, which are in the "
      "catalog in no form (0.5-1 MP, JPEG 80-90, a fifth mirrored); purpose ai-training; usage "
      "records on; server and load generator share the machine.\n\n",
      uploads.size(), copies, uploads.size() - copies);
  std::printf(
      "| streams x in flight | uploads/s | p50 ms | p99 ms | copies p50 ms | unrelated p50 ms | "
      "unrelated p99 ms | errors | in-process uploads/s (2 threads) "
      "|\n|---|---|---|---|---|---|---|---|---|\n");
  std::printf("| %d x %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %zu | %.1f |\n", streams,
              inflight, load.per_second, load.p50_ms, load.p99_ms, percentile(copy_lat, 0.5),
              percentile(unrelated_lat, 0.5), percentile(unrelated_lat, 0.99), load.errors,
              local_rate);
  std::printf(
      "\nCopies flagged as the right work: %zu of %zu answers (%.1f%%); unrelated uploads "
      "flagged: %zu of %zu.\n",
      copies_right, copies_seen,
      copies_seen ? 100.0 * double(copies_right) / double(copies_seen) : 0.0, unrelated_flagged,
      unrelated_seen);
  const double pdq_p50 = percentile(pdq_copy_ms, 0.5),
               unrelated_p50 = percentile(unrelated_ms, 0.5);
  std::printf(
      "In process, one thread, each upload once: unrelated p50 %.1f ms (p90 %.1f), copies PDQ "
      "settles p50 %.1f ms (%zu), copies the second stage finds p50 %.1f ms (%zu); an unrelated "
      "upload costs %.2fx a PDQ-settled copy.\n",
      unrelated_p50, percentile(unrelated_ms, 0.9), pdq_p50, pdq_copy_ms.size(),
      percentile(second_stage_copy_ms, 0.5), second_stage_copy_ms.size(),
      pdq_p50 > 0 ? unrelated_p50 / pdq_p50 : 0.0);
  srv->shutdown(std::chrono::seconds(5));
  std::filesystem::remove_all(dir);
  return 0;
}
}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  using namespace imprint;
  using namespace imprint::bench;
  retain_freed_memory();  // as `imprint serve` does (engine/process_memory.h)
  size_t works = 1'000'000;
  int streams = 8;
  std::vector<int> inflights = {8, 16};  // hash rows: requests in flight per stream
  double seconds = 10;
  bool images = true;
  std::string location;  // --catalog: instead of a fresh directory
  bool upload_mix = false, streams_given = false, inflight_given = false;
  size_t uploads = 200;
  double copy_share = 0.05;
  for (int i = 1; i < argc; ++i) {
    const bool value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--no-images")) images = false;
    else if (!std::strcmp(argv[i], "--upload-mix"))
      upload_mix = true;
    else if (value && !std::strcmp(argv[i], "--uploads"))
      uploads = std::stoul(argv[++i]);
    else if (value && !std::strcmp(argv[i], "--copy-share"))
      copy_share = std::atof(argv[++i]);
    else if (value && !std::strcmp(argv[i], "--works")) works = std::stoul(argv[++i]);
    else if (value && !std::strcmp(argv[i], "--streams")) {
      streams = std::atoi(argv[++i]);
      streams_given = true;
    } else if (value && !std::strcmp(argv[i], "--inflight")) {
      inflight_given = true;
      inflights.clear();
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');) {
        inflights.push_back(std::max(1, std::stoi(item)));
      }
    } else if (value && !std::strcmp(argv[i], "--seconds"))
      seconds = std::atof(argv[++i]);
    else if (value && !std::strcmp(argv[i], "--catalog"))
      location = argv[++i];
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (upload_mix) {  // images: fewer calls in flight than hashes, unless told
    return run_upload_mix(works, streams_given ? streams : 4, inflight_given ? inflights[0] : 2,
                          seconds, uploads, copy_share);
  }
  std::string dir = (std::filesystem::temp_directory_path() / "imprint-grpc-load").string();
  if (location.empty()) {
    std::filesystem::remove_all(dir);
  } else {
    dir = location;
  }

  // The catalog: real works (1 MP cuts of the wallpapers) plus synthetic balanced hashes.
  const std::vector<SourcePhoto> photos = load_source_photos();
  std::vector<std::vector<uint8_t>> jpegs;
  std::vector<PdqHash> real_hashes;
  CatalogOptions co;
  co.dir = dir;
  auto catalog = std::move(*Catalog::open(co));
  {
    std::vector<WorkInput> batch;
    for (size_t i = 0; i < photos.size(); ++i) {
      const Image work = resize_to_area(photos[i].image, 1.0);
      jpegs.push_back(encode_jpeg(work, 85));
      WorkInput in = *work_input_from_image(encode_jpeg(work, 95));
      in.work.id = "photo-" + std::to_string(i);
      real_hashes.push_back(PdqHash::from_bytes(in.fingerprints[0].data.data()));
      batch.push_back(std::move(in));
    }
    catalog->register_works(batch);
  }
  std::mt19937_64 rng(5);
  for (size_t start = photos.size(); start < works; start += 50'000) {
    std::vector<WorkInput> batch;
    for (size_t i = start; i < std::min(works, start + 50'000); ++i) {
      std::array<uint64_t, 4> w{rng(), rng(), rng(), rng()};
      WorkInput in;
      in.work.id = "w" + std::to_string(i);
      in.fingerprints.push_back(WorkFingerprint::pdq(PdqHash::from_words(w), 100));
      batch.push_back(std::move(in));
    }
    catalog->register_works(batch);
  }
  auto usage = std::move(*UsageLog::open(dir, false));
  server::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.http_listen = "";
  so.max_concurrent_calls = 256;
  so.record_usage = std::getenv("IMPRINT_LOAD_NO_USAGE") == nullptr;
  so.access_log = [](const std::string&) {};  // a log line per call would measure the terminal
  auto srv = std::move(*server::Server::start(*catalog, usage.get(), so));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(srv->grpc_port()),
                                           grpc::InsecureChannelCredentials(), args);

  // Queries: hashes near the real works (matches, which also write usage records) and random
  // hashes (no match), half and half; images are the 1 MP JPEGs.
  auto make_hash = [&](size_t i, v1::MatchStreamRequest* req) {
    req->clear_image();
    PdqHash h = real_hashes[i % real_hashes.size()];
    if (i % 2) h = PdqHash::from_words({i * 0x9e3779b97f4a7c15ull, ~i * 31, i << 7, i ^ 0x55555555});
    req->mutable_hash()->set_hash(h.to_hex());
    req->mutable_context()->set_purpose(v1::AI_TRAINING);
  };
  auto make_image = [&](size_t i, v1::MatchStreamRequest* req) {
    req->clear_hash();
    const auto& b = jpegs[i % jpegs.size()];
    req->set_image(std::string(b.begin(), b.end()));
  };

  std::printf("# gRPC load on loopback\n\nMachine: %s\n", machine_description().c_str());
  std::printf("Catalog form: %s\n",
              location.empty() ? "directory (SQLite)" : display_location(location).c_str());
  std::printf("Catalog: %zu works (%zu real 1 MP photos + random balanced hashes); %d MatchStream streams, "
              "%.0f s per row; server and load generator share the machine; usage records %s.\n\n",
              works, photos.size(), streams, seconds, so.record_usage ? "on" : "off");
  std::printf(
      "| workload | in flight | requests/s | p50 ms | p99 ms | p99.9 ms | errors | in-process (no "
      "gRPC) per s |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");

  // In-process baselines on the same catalog, spread over the same 2 cores.
  auto in_process = [&](bool images, double secs) {
    std::atomic<size_t> n{0};
    const auto stop_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
    std::vector<std::thread> ts;
    const auto t0 = Clock::now();
    for (int t = 0; t < 2; ++t) {
      ts.emplace_back([&, t] {
        HashOptions ho;
        ho.dihedral = true;
        MatchOptions mo;
        mo.purpose = Purpose::kAiTraining;
        for (size_t i = size_t(t) << 40; Clock::now() < stop_at; ++i) {
          ImageFingerprint fp;
          if (images) {
            fp = *fingerprint_image(jpegs[i % jpegs.size()], ho);
          } else {
            fp.pdq = {real_hashes[i % real_hashes.size()], 100};
          }
          (void)catalog->match(std::vector{fp}, mo);
          ++n;
        }
      });
    }
    for (auto& t : ts) t.join();
    return double(n) / std::chrono::duration<double>(Clock::now() - t0).count();
  };
  const double local_hash = in_process(false, seconds / 2);
  for (int inflight : inflights) {
    const LoadResult hash = drive(channel, streams, inflight, seconds, make_hash);
    std::printf("| MatchStream, PDQ hash | %d | %.0f | %.3f | %.3f | %.3f | %zu | %.0f |\n", streams * inflight,
                hash.per_second, hash.p50_ms, hash.p99_ms, hash.p999_ms, hash.errors, local_hash);
    std::fflush(stdout);
  }
  // Against the limits (issue 21): a second server on the same catalog with the default
  // ServerOptions (64 calls at once), flooded with unary MatchImage calls (1 MP JPEGs, tens of
  // milliseconds each, so calls pile up in the handlers) within and beyond them.
  {
    server::ServerOptions limited;
    limited.listen = "127.0.0.1:0";
    limited.http_listen = "";
    limited.record_usage = so.record_usage;
    limited.access_log = [](const std::string&) {};
    auto guarded = std::move(*server::Server::start(*catalog, usage.get(), limited));
    // Connections of their own (a local subchannel pool each): HTTP/2 bounds the streams of one
    // connection (GRPC_ARG_MAX_CONCURRENT_STREAMS), so a flood over one connection waits in its
    // client, and only a flood over many reaches the server's own admission.
    const auto connections = [&](int n) {
      std::vector<std::shared_ptr<grpc::Channel>> out;
      for (int k = 0; k < n; ++k) {
        grpc::ChannelArguments own = args;
        own.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        out.push_back(grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(guarded->grpc_port()),
                                                grpc::InsecureChannelCredentials(), own));
      }
      return out;
    };
    const auto make_unary = [&](size_t i, v1::MatchImageRequest* req) {
      const auto& b = jpegs[i % jpegs.size()];
      req->set_image(std::string(b.begin(), b.end()));
      req->mutable_context()->set_purpose(v1::AI_TRAINING);
    };
    std::printf(
        "\nAgainst the default limits: a second server on the same catalog with ServerOptions' "
        "defaults (%d calls at once), unary MatchImage calls of the 1 MP JPEGs kept outstanding, "
        "each refused one "
        "reissued at once:\n\n| outstanding | connections | served/s | p50 ms | p99 ms | refused "
        "busy | other errors |\n|---|---|---|---|---|---|---|\n",
        limited.max_concurrent_calls);
    const int limit = limited.max_concurrent_calls;
    for (auto [outstanding, links] : {std::pair{limit / 2, 1}, {limit * 4, 1}, {limit * 4, 8}}) {
      const UnaryResult u = drive_unary(connections(links), outstanding, seconds, make_unary);
      std::printf("| %d | %d | %.1f | %.1f | %.1f | %zu | %zu |\n", outstanding, links,
                  u.served_per_s, u.p50_ms, u.p99_ms, u.busy, u.other);
      std::fflush(stdout);
    }
    guarded->shutdown(std::chrono::seconds(5));
  }
  if (!images) {
    srv->shutdown(std::chrono::seconds(5));
    std::filesystem::remove_all(dir);
    return 0;
  }
  const double local_image = in_process(true, seconds / 2);
  const LoadResult image = drive(channel, streams, 2, seconds, make_image);
  std::printf("| MatchStream, 1 MP JPEG | %d | %.1f | %.2f | %.2f | %.2f | %zu | %.1f |\n", streams * 2,
              image.per_second, image.p50_ms,
              image.p99_ms, image.p999_ms, image.errors, local_image);
  std::printf("\nImage matching over gRPC reaches %.0f%% of in-process hashing+matching throughput.\n",
              100.0 * image.per_second / local_image);
  srv->shutdown(std::chrono::seconds(5));
  std::filesystem::remove_all(dir);
  return 0;
}
