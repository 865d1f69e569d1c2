// Load on `imprint serve`'s gRPC API over loopback: N concurrent MatchStream streams driven by
// gRPC's async (callback) API, each with a bounded number of requests in flight, printing
// requests/s and p50/p99/p99.9 latency for hash matching and for image matching (1 MP JPEGs),
// against a catalog of a million works; beside them, the same work done in process (no gRPC) in
// the same run.
//
//   build/benchmarks/grpc_load [--works 1000000] [--streams 8] [--seconds 10] [--inflight 8,16]
//                              [--no-images] [--catalog postgresql://...]
// --catalog runs the server on that catalog (an empty PostgreSQL database, say) instead of a
// fresh directory, to compare the two forms run against run.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <condition_variable>
#include <sstream>
#include <thread>

#include "catalog.h"
#include "imprint/v1/imprint.grpc.pb.h"
#include "measure.h"
#include "photo_corpus.h"
#include "server.h"

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

// One MatchStream driven with gRPC's callback (async) API: up to `inflight` requests outstanding,
// a new one written as each answer arrives, until `stop_at`; then WritesDone once every answer is
// in. No thread of its own: gRPC's callback threads run it, so the generator takes as little of
// the machine as it can.
class StreamLoad final : public grpc::ClientBidiReactor<v1::MatchStreamRequest, v1::MatchStreamResponse> {
 public:
  StreamLoad(v1::MatchService::Stub* stub, int inflight, Clock::time_point stop_at, size_t first_id,
             const MakeRequest& make)
      : inflight_(inflight), stop_at_(stop_at), next_id_(first_id), make_(make) {
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
      latencies_.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - sent_[id % sent_.size()]).count());
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
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<Clock::time_point> sent_ = std::vector<Clock::time_point>(4096);  // > inflight
  std::vector<double> latencies_;
  size_t errors_ = 0;
  int outstanding_ = 0;
  bool writing_ = false, writes_done_ = false, broken_ = false, finished_ = false;
};

// Drives `streams` MatchStream calls for `seconds`; make(i) builds request i.
LoadResult drive(const std::shared_ptr<grpc::Channel>& channel, int streams, int inflight, double seconds,
                 const MakeRequest& make) {
  auto stub = v1::MatchService::NewStub(channel);
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::unique_ptr<StreamLoad>> loads;
  for (int s = 0; s < streams; ++s) {
    loads.push_back(std::make_unique<StreamLoad>(stub.get(), std::min(inflight, 4000), stop_at,
                                                 size_t(s) << 40, make));
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

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  using namespace imprint;
  using namespace imprint::bench;
  size_t works = 1'000'000;
  int streams = 8;
  std::vector<int> inflights = {8, 16};  // hash rows: requests in flight per stream
  double seconds = 10;
  bool images = true;
  std::string location;  // --catalog: instead of a fresh directory
  for (int i = 1; i < argc; ++i) {
    const bool value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--no-images")) images = false;
    else if (value && !std::strcmp(argv[i], "--works")) works = std::stoul(argv[++i]);
    else if (value && !std::strcmp(argv[i], "--streams")) streams = std::atoi(argv[++i]);
    else if (value && !std::strcmp(argv[i], "--inflight")) {
      inflights.clear();
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');) {
        inflights.push_back(std::max(1, std::stoi(item)));
      }
    }
    else if (value && !std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[++i]);
    else if (value && !std::strcmp(argv[i], "--catalog"))
      location = argv[++i];
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
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
