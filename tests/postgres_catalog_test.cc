// Replicas on one PostgreSQL catalog (issue 28): what one registers or removes reaches the
// others' matches within a second, writers on several replicas at once keep every commit, a
// killed writer loses nothing it acknowledged, and a replica rides out a restart of the database.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "catalog.h"
#include "pg_test_support.h"
#include "server.h"
#include "test_support.h"
#include "usage_log.h"
#include "video_ingest.h"
#include "video_match.h"

namespace imprint {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Catalog> open_replica(const std::string& uri, bool read_only = false) {
  CatalogOptions o;
  o.dir = uri;
  o.read_only = read_only;
  Result<std::unique_ptr<Catalog>> c = Catalog::open(o);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(*c) : nullptr;
}

WorkInput work_of(const Image& image, const std::string& id) {
  Result<WorkInput> in = work_input_from_image(test::encode(image, ".png"));
  EXPECT_TRUE(in.ok()) << in.status().to_string();
  in->work.id = id;
  in->work.owner = "replica-test";
  return *in;
}

using test::query_of;

std::string top_match(const Catalog& c, const ImageFingerprint& q) {
  const std::vector<QueryResult> r = c.match(std::vector{q}, MatchOptions{});
  return r[0].matches.empty() || !is_copy(r[0].matches[0]) ? "" : r[0].matches[0].work.id;
}

// Milliseconds until pred() holds, polled every 10 ms; -1 past `limit_ms`.
template <typename Pred>
int64_t wait_ms(Pred pred, int64_t limit_ms) {
  const auto start = Clock::now();
  while (true) {
    const int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    if (pred()) return ms;
    if (ms > limit_ms) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TEST(PostgresCatalog, RegistrationsAndRemovalsReachTheOtherReplicaWithinASecond) {
  const std::string uri = test::fresh_postgres_database();
  ASSERT_FALSE(uri.empty());
  auto a = open_replica(uri), b = open_replica(uri);
  ASSERT_TRUE(a && b);
  const Image photo = test::synthetic_photo(480, 360, 4242);
  const ImageFingerprint copy = query_of(test::encode(photo, ".jpg", 60));
  ASSERT_EQ(top_match(*b, copy), "");

  ASSERT_TRUE(a->register_works(std::vector{work_of(photo, "shared-work")})[0].ok());
  EXPECT_EQ(top_match(*a, copy), "shared-work");  // the writer's own matches see it at once
  const int64_t seen = wait_ms([&] { return top_match(*b, copy) == "shared-work"; }, 1000);
  EXPECT_GE(seen, 0) << "not matched on the other replica within 1 s";
  ASSERT_TRUE(b->get_work("shared-work").ok());

  // A cropped copy PDQ does not settle: the second stage's index followed as well.
  cv::Mat m = test::mat_of(photo);
  const Image crop = test::image_of(m(cv::Rect(60, 40, 300, 240)).clone());
  const std::vector<uint8_t> crop_bytes = test::encode(crop, ".jpg", 85);
  const QueryPixelSource features = [&](size_t) { return decode_image(crop_bytes); };
  const std::vector<QueryResult> r =
      b->match(std::vector{query_of(crop_bytes)}, MatchOptions{}, features);
  ASSERT_FALSE(r[0].matches.empty());
  EXPECT_EQ(r[0].matches[0].work.id, "shared-work");
  EXPECT_TRUE(is_copy(r[0].matches[0]));

  ASSERT_TRUE(b->remove_work("shared-work").ok());
  EXPECT_EQ(top_match(*b, copy), "");
  const int64_t gone = wait_ms([&] { return top_match(*a, copy).empty(); }, 1000);
  EXPECT_GE(gone, 0) << "still matched on the other replica after 1 s";
  EXPECT_EQ(a->get_work("shared-work").status().code(), StatusCode::kNotFound);
  const std::vector<QueryResult> after =
      a->match(std::vector{query_of(crop_bytes)}, MatchOptions{}, features);
  EXPECT_TRUE(after[0].matches.empty() || !is_copy(after[0].matches[0]));
}

// A commit notifies every replica (LISTEN/NOTIFY): one that would poll only once a minute still
// sees another's registration and removal within seconds, and closes at once.
TEST(PostgresCatalog, CommitsWakeTheOtherReplicasWithoutWaitingForTheirPoll) {
  const std::string uri = test::fresh_postgres_database();
  ASSERT_FALSE(uri.empty());
  auto a = open_replica(uri);
  ASSERT_TRUE(a);
  CatalogOptions slow;
  slow.dir = uri;
  slow.follow_interval_ms = 60'000;
  Result<std::unique_ptr<Catalog>> b = Catalog::open(slow);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  const Image photo = test::synthetic_photo(480, 360, 4343);
  const ImageFingerprint copy = query_of(test::encode(photo, ".jpg", 60));
  ASSERT_TRUE(a->register_works(std::vector{work_of(photo, "notified")})[0].ok());
  EXPECT_GE(wait_ms([&] { return top_match(**b, copy) == "notified"; }, 5000), 0)
      << "the registration did not wake the other replica";
  ASSERT_TRUE(a->remove_work("notified").ok());
  EXPECT_GE(wait_ms([&] { return top_match(**b, copy).empty(); }, 5000), 0)
      << "the removal did not wake the other replica";
  const auto closing = Clock::now();
  b->reset();
  EXPECT_LT(Clock::now() - closing, std::chrono::seconds(5));
}

TEST(PostgresCatalog, WritersOnTwoReplicasAtOnceKeepEveryCommit) {
  const std::string uri = test::fresh_postgres_database();
  ASSERT_FALSE(uri.empty());
  auto a = open_replica(uri), b = open_replica(uri);
  ASSERT_TRUE(a && b);
  constexpr int kEach = 12;
  std::vector<Image> photos;
  for (int i = 0; i < 2 * kEach; ++i) photos.push_back(test::synthetic_photo(160, 120, 900 + i));
  std::atomic<int> errors{0};
  auto writer = [&](Catalog* c, int first) {
    for (int i = first; i < first + kEach; ++i) {
      const auto done =
          c->register_works(std::vector{work_of(photos[size_t(i)], "w" + std::to_string(i))});
      if (!done[0].ok()) ++errors;
    }
  };
  std::thread ta(writer, a.get(), 0), tb(writer, b.get(), kEach);
  ta.join();
  tb.join();
  EXPECT_EQ(errors.load(), 0);
  // A registration from the other replica may still be on its way: catch up now.
  ASSERT_TRUE(a->refresh().ok());
  ASSERT_TRUE(b->refresh().ok());
  for (Catalog* c : {a.get(), b.get()}) {
    std::set<int64_t> pks;
    ASSERT_TRUE(c->list_works({}, [&](const Work& w) { return pks.insert(w.pk).second; }).ok());
    EXPECT_EQ(pks.size(), size_t(2 * kEach));
    for (int i = 0; i < 2 * kEach; ++i) {
      EXPECT_EQ(top_match(*c, query_of(test::encode(photos[size_t(i)], ".jpg", 70))),
                "w" + std::to_string(i));
    }
    EXPECT_EQ(c->follow_state().generation, 2 * kEach);  // one generation per commit
  }
}

TEST(PostgresCatalog, AKilledWriterLosesNothingItAcknowledgedAndTheOtherReplicaKeepsAnswering) {
  const std::string uri = test::fresh_postgres_database();
  ASSERT_FALSE(uri.empty());
  test::TempDir dir;
  const std::string images = dir.file("images");
  fs::create_directories(images);
  for (int i = 0; i < 60; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img%03d", i);
    test::write_file(images + "/" + name + ".png",
                     test::encode(test::synthetic_photo(96, 72, 7000 + i), ".png"));
  }
  auto b = open_replica(uri);
  ASSERT_TRUE(b);
  const Image mine = test::synthetic_photo(320, 240, 77);
  ASSERT_TRUE(b->register_works(std::vector{work_of(mine, "mine")})[0].ok());
  const ImageFingerprint q = query_of(test::encode(mine, ".jpg", 70));
  std::atomic<bool> done{false};
  std::atomic<int> answered{0}, wrong{0};
  std::thread matcher([&] {
    while (!done) {
      (top_match(*b, q) == "mine" ? answered : wrong)++;
    }
  });
  const std::set<std::string> acked = test::register_and_kill(uri, images, 15);
  done = true;
  matcher.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(answered.load(), 0);
  ASSERT_GE(acked.size(), 15u);
  ASSERT_TRUE(b->refresh().ok());
  for (const std::string& id : acked) {
    ASSERT_TRUE(b->get_work(id).ok()) << id;
    EXPECT_EQ(top_match(*b, query_of(test::read_all(images + "/" + id + ".png"))), id);
  }
  int64_t works = 0;
  ASSERT_TRUE(b->list_works({}, [&](const Work&) { return ++works > 0; }).ok());
  EXPECT_GE(works, int64_t(acked.size()) + 1);
  EXPECT_LE(works, int64_t(acked.size()) + 1 + 3);  // at most the batch in flight, unacknowledged
}

TEST(PostgresCatalog, UsageFromTwoReplicasIsCommittedBeforeItIsAcknowledged) {
  const std::string uri = test::fresh_postgres_database();
  ASSERT_FALSE(uri.empty());
  auto a = open_replica(uri);  // creates the catalog's tables
  ASSERT_TRUE(a);
  Result<std::unique_ptr<UsageLog>> ua = UsageLog::open(uri, false),
                                    ub = UsageLog::open(uri, false);
  ASSERT_TRUE(ua.ok() && ub.ok()) << ua.status().to_string() << ub.status().to_string();
  Result<std::unique_ptr<UsageLog>> reader = UsageLog::open(uri, true);
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  auto recorder = [&](UsageLog* log, const std::string& caller) {
    for (int i = 0; i < 20; ++i) {
      UsageEvent e;
      e.time_ms = 1000 + i;
      e.work_id = "w" + std::to_string(i % 3);
      e.owner = "o";
      e.decision = MatchDecision::kFlag;
      e.caller = caller;
      ASSERT_TRUE(log->record(std::vector{e}).ok());
      // Acknowledged: another connection sees it now, without a flush.
      int64_t mine = 0;
      ASSERT_TRUE((*reader)
                      ->list({},
                             [&](const UsageEvent& x) {
                               mine += x.caller == caller;
                               return true;
                             })
                      .ok());
      EXPECT_EQ(mine, i + 1);
    }
  };
  std::thread ta(recorder, ua->get(), "replica-a"), tb(recorder, ub->get(), "replica-b");
  ta.join();
  tb.join();
  Result<std::vector<UsageTotal>> totals = (*reader)->totals();
  ASSERT_TRUE(totals.ok());
  int64_t sum = 0;
  for (const UsageTotal& t : *totals) sum += t.count;
  EXPECT_EQ(sum, 40);

  // One call retried through both replicas (the same idempotency key): one event, whichever
  // replica stored it first, and its listing carries the request id.
  UsageEvent retried;
  retried.time_ms = 5000;
  retried.work_id = "w0";
  retried.owner = "o";
  retried.caller = "platform";
  retried.request_id = "req-1";
  retried.event_id = usage_event_id("platform", "upload-9", "w0");
  ASSERT_TRUE((*ua)->record(std::vector{retried}).ok());
  ASSERT_TRUE((*ub)->record(std::vector{retried}).ok());
  ASSERT_TRUE((*ua)->record(std::vector{retried}).ok());
  std::vector<UsageEvent> listed;
  UsageFilter since;
  since.since_ms = 5000;
  ASSERT_TRUE((*reader)->list(since, [&](const UsageEvent& x) {
    listed.push_back(x);
    return true;
  }).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].event_id, retried.event_id);
  EXPECT_EQ(listed[0].request_id, "req-1");
}

// A replica with a snapshot directory: save_index() writes its indexes there; a replica that
// starts later loads them and catches up with what changed since (a removal, a registration),
// matching exactly as one that read every row; a snapshot of another catalog, or a damaged one,
// is not used.
TEST(PostgresCatalog, ReplicaStartsFromItsSnapshotAndCatchesUp) {
  const std::string uri = test::fresh_postgres_database();
  ASSERT_FALSE(uri.empty());
  test::TempDir dir;
  auto open_with = [&](const std::string& at, const std::string& snapshot) {
    CatalogOptions o;
    o.dir = at;
    o.snapshot_dir = snapshot;
    o.snapshot_interval_s = 3600;  // saves only when asked, here
    Result<std::unique_ptr<Catalog>> c = Catalog::open(o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(*c) : nullptr;
  };
  const std::string snap = dir.file("snapshot");
  std::vector<Image> photos;
  // Pictures PDQ settles (quality 50 or more), so each copy's top match is by its hash.
  for (uint32_t seed = 700; photos.size() < 9; ++seed) {
    Image p = test::synthetic_photo(320, 240, seed);
    if (pdq_hash(p).quality >= 80) photos.push_back(std::move(p));
  }
  // A video work from frame hashes.
  VideoFingerprint clip;
  std::mt19937_64 rng(77);
  for (int i = 0; i < 12; ++i) {
    FrameHash f;
    f.frame = 30 * i;
    f.t = i;
    f.hash = PdqHash::from_words({rng(), rng(), rng(), rng()});
    f.quality = 100;
    clip.frames.push_back(f);
  }
  clip.fps = 30;
  {
    auto a = open_with(uri, snap);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->snapshot_origin(), "none");
    std::vector<WorkInput> inputs;
    for (int i = 0; i < 8; ++i)
      inputs.push_back(work_of(photos[size_t(i)], "w" + std::to_string(i)));
    WorkInput video = work_input_from_frame_hashes(clip);
    video.work.id = "clip";
    inputs.push_back(video);
    for (const Result<Work>& r : a->register_works(inputs))
      ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_TRUE(a->save_index().ok());
    for (const char* f : {"replica.snapshot", "pdq.index", "frames.index", "features.index"}) {
      EXPECT_TRUE(fs::exists(snap + "/" + f)) << f;
    }
    // Changes after the snapshot: the next start catches up with them.
    ASSERT_TRUE(a->remove_work("w0").ok());
    ASSERT_TRUE(a->register_works(std::vector{work_of(photos[8], "w8")})[0].ok());
  }

  auto check = [&](Catalog& c, const std::string& label) {
    for (int i = 0; i < 9; ++i) {
      const std::string want = i == 0 ? "" : "w" + std::to_string(i);
      EXPECT_EQ(top_match(c, query_of(test::encode(photos[size_t(i)], ".jpg", 70))), want)
          << label << " photo " << i;
    }
    // A crop PDQ does not settle, found by the second stage's (loaded) feature index.
    cv::Mat m = test::mat_of(photos[3]);
    const std::vector<uint8_t> crop =
        test::encode(test::image_of(m(cv::Rect(40, 30, 200, 150)).clone()), ".jpg", 85);
    const QueryPixelSource features = [&](size_t) { return decode_image(crop); };
    const std::vector<QueryResult> r =
        c.match(std::vector{query_of(crop)}, MatchOptions{}, features);
    ASSERT_FALSE(r[0].matches.empty()) << label;
    EXPECT_EQ(r[0].matches[0].work.id, "w3") << label;
    EXPECT_TRUE(is_copy(r[0].matches[0])) << label;
    VideoQuery vq;
    vq.fingerprint = clip;
    const VideoQueryResult v = c.match_video(vq, MatchOptions{}, VideoMatchOptions{});
    ASSERT_FALSE(v.matches.empty()) << label;
    EXPECT_EQ(v.matches[0].work.id, "clip") << label;
    EXPECT_EQ(v.matches[0].query_match_pct, 100.0) << label;
  };
  {
    auto b = open_with(uri, snap);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->snapshot_origin().rfind("loaded generation ", 0), 0u) << b->snapshot_origin();
    check(*b, "from the snapshot");
  }
  {
    auto plain = open_with(uri, "");
    ASSERT_TRUE(plain);
    check(*plain, "from the database");
  }
  // Another catalog's snapshot is not used.
  const std::string other = test::fresh_postgres_database();
  ASSERT_FALSE(other.empty());
  {
    auto d = open_with(other, snap);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->snapshot_origin(), "another catalog");
    EXPECT_EQ(top_match(*d, query_of(test::encode(photos[1], ".jpg", 70))), "");
  }
  // A damaged file: a full catch-up, the same matches.
  {
    std::vector<uint8_t> bytes = test::read_all(snap + "/features.index");
    ASSERT_GT(bytes.size(), 100u);
    bytes[bytes.size() / 2] ^= 0xff;
    test::write_file(snap + "/features.index", bytes);
  }
  {
    auto e = open_with(uri, snap);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->snapshot_origin().rfind("damaged", 0), 0u) << e->snapshot_origin();
    check(*e, "after a damaged snapshot");
    // Saving writes a whole new one, which the next start loads.
    ASSERT_TRUE(e->save_index().ok());
  }
  auto f = open_with(uri, snap);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->snapshot_origin().rfind("loaded generation ", 0), 0u) << f->snapshot_origin();
  check(*f, "from the new snapshot");

  // The follower writes one on its own every snapshot_interval_s (here 1 s, +-25%).
  const std::string periodic = dir.file("periodic");
  CatalogOptions o;
  o.dir = uri;
  o.snapshot_dir = periodic;
  o.snapshot_interval_s = 1;
  Result<std::unique_ptr<Catalog>> g = Catalog::open(o);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_GE(wait_ms([&] { return fs::exists(periodic + "/replica.snapshot"); }, 30000), 0);
  g->reset();
  auto h = open_with(uri, periodic);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->snapshot_origin().rfind("loaded generation ", 0), 0u) << h->snapshot_origin();
  check(*h, "from the follower's snapshot");
}

TEST(PostgresCatalog, CopyBetweenTheFormsBothWaysKeepsEveryWorkAndTheChecksum) {
  const std::string uri = test::fresh_postgres_database();
  ASSERT_FALSE(uri.empty());
  test::TempDir dir;
  const std::string src = dir.file("src"), back = dir.file("back");
  std::vector<Image> photos;
  {
    CatalogOptions o;
    o.dir = src;
    o.now_ms = [] { return int64_t(1'700'000'000'000); };
    Result<std::unique_ptr<Catalog>> c = Catalog::open(o);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    std::vector<WorkInput> inputs;
    for (int i = 0; i < 5; ++i) {
      photos.push_back(test::synthetic_photo(200, 150, 600 + i));
      inputs.push_back(work_of(photos.back(), "w" + std::to_string(i)));
      inputs.back().work.licence.set(Purpose::kAiTraining, {Permission::kAllow, {}});
    }
    WorkInput bare;  // a work with no fingerprint at all is copied too
    bare.work.id = "bare";
    inputs.push_back(bare);
    for (const auto& r : (*c)->register_works(inputs))
      ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_TRUE((*c)->remove_work("w4").ok());
    Result<std::unique_ptr<UsageLog>> u = UsageLog::open(src, false);
    ASSERT_TRUE(u.ok());
    UsageEvent e;
    e.time_ms = 5;
    e.work_id = "w1";
    e.decision = MatchDecision::kFlag;
    ASSERT_TRUE((*u)->record(std::vector{e, e}).ok());
  }
  Result<CatalogCopyReport> there = copy_catalog(src, uri);
  ASSERT_TRUE(there.ok()) << there.status().to_string();
  EXPECT_EQ(there->works, 5);
  EXPECT_EQ(there->usage_events, 2);
  Result<CatalogCopyReport> again = copy_catalog(uri, back);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->checksum, there->checksum);
  EXPECT_EQ(again->fingerprints, there->fingerprints);
  EXPECT_EQ(again->usage_events, 2);
  // Into a catalog that has works: refused, nothing written.
  Result<CatalogCopyReport> onto = copy_catalog(src, uri);
  EXPECT_EQ(onto.status().code(), StatusCode::kFailedPrecondition);

  auto copy = open_replica(uri, true);
  ASSERT_TRUE(copy);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(top_match(*copy, query_of(test::encode(photos[size_t(i)], ".jpg", 70))),
              "w" + std::to_string(i));
  }
  EXPECT_EQ(top_match(*copy, query_of(test::encode(photos[4], ".jpg", 70))), "");
  Result<Work> w = copy->get_work("w2");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->registered_at_ms, 1'700'000'000'000);
  EXPECT_TRUE(w->licence.permits(Purpose::kAiTraining, ""));
  EXPECT_FALSE(w->licence.permits(Purpose::kCommercial, ""));
  EXPECT_TRUE(copy->get_work("bare").ok());
}

// grpc.health.v1 Check of the whole server, written by hand (the health proto is not installed
// for C++): an empty HealthCheckRequest, and the answer's status field, 1 SERVING or
// 2 NOT_SERVING; -1 when the call fails, -2 for an answer of another shape.
int grpc_health(int port) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::CompletionQueue cq;
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) return -1;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return -2;
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (bytes.size() == 2 && bytes[0] == 0x08) return bytes[1];  // field 1, varint
  return -2;
}

// The cluster's own, so that stopping it disturbs no other test.
class PostgresRestart : public ::testing::Test {
 protected:
  void SetUp() override {
    state = dir.file("pg.state");
    std::string out;
    ASSERT_EQ(test::run_command(script + " start " + state, &out), 0) << out;
    base = out.substr(0, out.find('\n'));
  }
  void TearDown() override { test::run_command(script + " stop " + state); }

  test::TempDir dir;
  const std::string script = std::string(IMPRINT_SOURCE_DIR) + "/scripts/pg-cluster.sh";
  std::string state, base;
};

TEST_F(PostgresRestart, ReplicaIsUnreadyWhileTheDatabaseIsDownAndRecoversWithoutARestart) {
  const std::string uri = test::fresh_postgres_database(base);
  ASSERT_FALSE(uri.empty());
  auto a = open_replica(uri);
  ASSERT_TRUE(a);
  const Image before = test::synthetic_photo(320, 240, 5);
  ASSERT_TRUE(a->register_works(std::vector{work_of(before, "before")})[0].ok());
  EXPECT_TRUE(a->ready(1000));
  EXPECT_EQ(top_match(*a, query_of(test::encode(before, ".jpg", 70))), "before");
  // A server on the replica: /readyz follows it (the watchdog checks every 200 ms).
  server::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.http_listen = "127.0.0.1:0";
  so.ready_max_lag_ms = 1000;
  so.access_log = [](const std::string&) {};
  Result<std::unique_ptr<server::Server>> srv = server::Server::start(*a, nullptr, so);
  ASSERT_TRUE(srv.ok()) << srv.status().to_string();
  const int port = (*srv)->http_port();
  const auto readyz = [&] {
    const std::string r = test::raw_http(port, "GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    return r.substr(0, r.find("\r\n"));
  };
  EXPECT_EQ(readyz(), "HTTP/1.1 200 OK");
  // gRPC health says the same (set by the server's watchdog every 200 ms).
  const int grpc_port = (*srv)->grpc_port();
  EXPECT_EQ(grpc_health(grpc_port), 1);

  ASSERT_EQ(test::run_command(script + " down " + state), 0);
  // Catch-ups fail while it is down: unready within the lag allowed, and matching still answers
  // from memory for works it has named before.
  EXPECT_GE(wait_ms([&] { return !a->ready(1000); }, 5000), 0);
  EXPECT_FALSE(a->follow_state().error.empty());
  EXPECT_EQ(readyz(), "HTTP/1.1 503 Service Unavailable");
  EXPECT_GE(wait_ms([&] { return grpc_health(grpc_port) == 2; }, 5000), 0)
      << "gRPC health: " << grpc_health(grpc_port);
  EXPECT_EQ(top_match(*a, query_of(test::encode(before, ".jpg", 70))), "before");
  EXPECT_FALSE(
      a->register_works(std::vector{work_of(test::synthetic_photo(320, 240, 6), "x")})[0].ok());

  ASSERT_EQ(test::run_command(script + " up " + state), 0);
  EXPECT_GE(wait_ms([&] { return a->ready(1000); }, 10000), 0) << a->follow_state().error;
  EXPECT_EQ(readyz(), "HTTP/1.1 200 OK");
  EXPECT_GE(wait_ms([&] { return grpc_health(grpc_port) == 1; }, 5000), 0)
      << "gRPC health: " << grpc_health(grpc_port);
  // Writes work again on the same replica (the first may meet the broken connection).
  const Image after = test::synthetic_photo(320, 240, 7);
  bool registered = false;
  for (int attempt = 0; attempt < 3 && !registered; ++attempt) {
    registered = a->register_works(std::vector{work_of(after, "after")})[0].ok();
  }
  EXPECT_TRUE(registered);
  auto fresh = open_replica(uri, /*read_only=*/true);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(top_match(*fresh, query_of(test::encode(before, ".jpg", 70))), "before");
  EXPECT_EQ(top_match(*fresh, query_of(test::encode(after, ".jpg", 70))), "after");
  (*srv)->shutdown(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace imprint
