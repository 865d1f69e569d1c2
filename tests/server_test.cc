// The gRPC and HTTP service in process: matching, auth and roles, limits, streams, bursts, drain.
#include "server.h"

#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "api_keys.h"
#include "catalog.h"
#include "imprint/v1/imprint.grpc.pb.h"
#include "rate_limit.h"
#include "test_support.h"
#include "video_ingest.h"

// libcpp-httplib.so is built with the package's flags; compiled without them, httplib::Client is
// smaller here than in the library, whose constructor then writes past it on the test's stack
// (tests/CMakeLists.txt gives server_test those flags).
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "compile with cpp-httplib's flags (pkg-config --cflags cpp-httplib)"
#endif

namespace imprint {
namespace {

// Under a sanitizer (the TSan job runs some of these cases) every call is 5-15x slower, and more
// on a busy machine: the deadlines that bound a call's wait (not the ones a test is about, which
// set their own) stretch with it, so a slow build never fails a test by its clock.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kSlowdown = 15;
#else
constexpr int kSlowdown = 1;
#endif

namespace v1 = imprint::v1;
using server::ApiKeys;
using server::Role;

std::string bytes_of(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

// Bytes the process holds from malloc, in every arena and in mmapped chunks: what it keeps live,
// not what the allocator keeps cached or the kernel keeps resident (both vary by allocator and
// by machine).
long heap_in_use_kb() {
  const struct mallinfo2 m = mallinfo2();
  return long((m.uordblks + m.hblkhd) / 1024);
}

// The first way `v` breaks `schema`, as "where: why", or "" when it conforms. The subset of JSON
// Schema the OpenAPI document uses: $ref into the document, type (with nullable), enum, oneOf,
// required, properties and additionalProperties, items with minItems and maxItems, minimum,
// maximum, pattern, maxLength.
std::string schema_mismatch(const nlohmann::json& doc, const nlohmann::json& schema,
                            const nlohmann::json& v, const std::string& at) {
  using nlohmann::json;
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"];
    return schema_mismatch(doc, doc.at(json::json_pointer(ref.substr(1))), v, at);
  }
  if (schema.contains("oneOf")) {
    int fits = 0;
    std::string why;
    for (const json& s : schema["oneOf"]) {
      const std::string m = schema_mismatch(doc, s, v, at);
      if (m.empty()) ++fits;
      why += " [" + m + "]";
    }
    return fits == 1 ? "" : at + ": fits " + std::to_string(fits) + " of oneOf" + why;
  }
  if (v.is_null() && schema.value("nullable", false)) return "";
  if (schema.contains("type")) {
    const std::string t = schema["type"];
    const bool fits = t == "object"    ? v.is_object()
                      : t == "array"   ? v.is_array()
                      : t == "string"  ? v.is_string()
                      : t == "integer" ? v.is_number_integer()
                      : t == "number"  ? v.is_number()
                      : t == "boolean" ? v.is_boolean()
                                       : false;
    if (!fits) return at + ": " + v.dump().substr(0, 60) + " is not " + t;
  }
  if (schema.contains("enum")) {
    bool listed = false;
    for (const json& e : schema["enum"]) listed |= e == v;
    if (!listed) return at + ": " + v.dump() + " is not one of " + schema["enum"].dump();
  }
  if (v.is_number()) {
    if (schema.contains("minimum") && v.get<double>() < schema["minimum"].get<double>()) {
      return at + ": under the minimum";
    }
    if (schema.contains("maximum") && v.get<double>() > schema["maximum"].get<double>()) {
      return at + ": over the maximum";
    }
  }
  if (v.is_string()) {
    const std::string text = v;
    if (schema.contains("pattern") &&
        !std::regex_search(text, std::regex(schema["pattern"].get<std::string>()))) {
      return at + ": '" + text + "' does not match " + schema["pattern"].get<std::string>();
    }
    if (schema.contains("maxLength") && text.size() > schema["maxLength"].get<size_t>()) {
      return at + ": longer than maxLength";
    }
  }
  if (v.is_object()) {
    for (const json& r : schema.value("required", json::array())) {
      if (!v.contains(r.get<std::string>())) return at + ": missing " + r.get<std::string>();
    }
    const json props = schema.value("properties", json::object());
    for (const auto& [key, value] : v.items()) {
      if (props.contains(key)) {
        const std::string m = schema_mismatch(doc, props[key], value, at + "." + key);
        if (!m.empty()) return m;
      } else if (schema.contains("additionalProperties") &&
                 schema["additionalProperties"].is_boolean() &&
                 !schema["additionalProperties"].get<bool>()) {
        return at + ": '" + key + "' is not in the document";
      } else if (schema.contains("additionalProperties") &&
                 schema["additionalProperties"].is_object()) {
        const std::string m =
            schema_mismatch(doc, schema["additionalProperties"], value, at + "." + key);
        if (!m.empty()) return m;
      }
    }
  }
  if (v.is_array()) {
    if (schema.contains("minItems") && v.size() < schema["minItems"].get<size_t>()) {
      return at + ": fewer items than minItems";
    }
    if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<size_t>()) {
      return at + ": more items than maxItems";
    }
    if (schema.contains("items")) {
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string m =
            schema_mismatch(doc, schema["items"], v[i], at + "[" + std::to_string(i) + "]");
        if (!m.empty()) return m;
      }
    }
  }
  return "";
}

// How an HTTP answer breaks the server's own OpenAPI document (GET /api/v1/openapi.json): its
// status must be documented for the route (or fall under "default") and its JSON body must fit
// the documented schema. "" when it conforms.
std::string openapi_mismatch(int http_port, const std::string& path, const std::string& method,
                             const httplib::Result& answer) {
  if (!answer) return "no answer";
  httplib::Client http("127.0.0.1", http_port);
  auto got = http.Get("/api/v1/openapi.json");
  if (!got || got->status != 200) return "no OpenAPI document";
  const nlohmann::json doc = nlohmann::json::parse(got->body);
  const nlohmann::json& responses = doc["paths"][path][method]["responses"];
  const std::string status = std::to_string(answer->status);
  nlohmann::json documented = responses.contains(status)      ? responses[status]
                              : responses.contains("default") ? responses["default"]
                                                              : nlohmann::json();
  if (documented.contains("$ref")) {  // a response kept once under components/responses
    const std::string ref = documented["$ref"];
    documented = doc.at(nlohmann::json::json_pointer(ref.substr(1)));
  }
  if (documented.is_null()) return method + " " + path + ": status " + status + " undocumented";
  const std::string type = answer->get_header_value("Content-Type");
  if (!documented["content"].contains(type)) {
    return method + " " + path + " " + status + ": content type " + type + " undocumented";
  }
  if (type != "application/json") return "";
  const nlohmann::json body = nlohmann::json::parse(answer->body, nullptr, false);
  if (body.is_discarded()) return "the body is not JSON";
  return schema_mismatch(doc, documented["content"][type]["schema"], body, "body");
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CatalogOptions co;
    co.dir = dir.file("cat");
    co.sync_commits = false;
    catalog = std::move(*Catalog::open(co));
    for (int i = 0; i < 4; ++i) {
      photos.push_back(test::synthetic_photo(400, 300, 500 + i));
      WorkInput in = *work_input_from_image(test::encode(photos[i], ".png"));
      in.work.id = "art" + std::to_string(i);
      in.work.owner = "Ana";
      if (i == 1) in.work.licence.set(Purpose::kCommercial, {Permission::kLicensed, {"Acme"}});
      ASSERT_TRUE(catalog->register_works(std::vector{in})[0].ok());
    }
    usage = std::move(*UsageLog::open(dir.file("cat"), false));
    admin_key = ApiKeys::generate_key();
    registrar_key = ApiKeys::generate_key();
    matcher_key = ApiKeys::generate_key();
    std::ofstream keys(dir.file("keys"));
    keys << "# test keys\n"
         << ApiKeys::line_for("boss", Role::kAdmin, admin_key) << '\n'
         // A registrar acts for the owners its line names.
         << ApiKeys::line_for("gallery", Role::kRegistrar, registrar_key) << " Ana, Bo\n"
         << ApiKeys::line_for("platform", Role::kMatcher, matcher_key) << '\n';
  }

  void start(server::ServerOptions o = {}) {
    // The server's own cap on a call, unless the test sets one: scaled as the clients' are.
    if (o.call_deadline_ms == server::ServerOptions{}.call_deadline_ms) {
      o.call_deadline_ms *= kSlowdown;
    }
    o.listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    if (o.keys_file.empty()) o.keys_file = dir.file("keys");
    o.access_log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lk(log_mu);
      access_log.push_back(line);
    };
    Result<std::unique_ptr<server::Server>> s = server::Server::start(*catalog, usage.get(), o);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    srv = std::move(*s);
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(srv->grpc_port()),
                                  grpc::InsecureChannelCredentials());
    match = v1::MatchService::NewStub(channel);
    cat = v1::CatalogService::NewStub(channel);
  }

  std::unique_ptr<grpc::ClientContext> ctx(const std::string& key) {
    auto c = std::make_unique<grpc::ClientContext>();
    if (!key.empty()) c->AddMetadata("authorization", "Bearer " + key);
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20 * kSlowdown));
    return c;
  }

  grpc::Status match_image(const std::string& key, const std::string& bytes, v1::MatchResponse* resp,
                           v1::Purpose purpose = v1::ANY_USE, const std::string& licensee = "") {
    v1::MatchImageRequest req;
    req.set_image(bytes);
    req.mutable_context()->set_purpose(purpose);
    req.mutable_context()->set_licensee(licensee);
    req.mutable_context()->set_reference("post-42");
    return match->MatchImage(ctx(key).get(), req, resp);
  }

  // Waits until /metrics reports `n` calls in flight (a stream counts from when its handler runs,
  // which the client cannot see). False after 30 s.
  bool wait_for_calls_in_flight(int n) {
    httplib::Client http("127.0.0.1", srv->http_port());
    const std::string want = "imprint_calls_in_flight " + std::to_string(n) + "\n";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30 * kSlowdown);
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = http.Get("/metrics");
      if (m && m->body.find(want) != std::string::npos) return true;
      if (m) last = m->body;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << "never " << n << " calls in flight:\n" << last;
    return false;
  }

  // Usage records as an admin lists them over gRPC (every one, oldest first, by default). The
  // call's status goes to *status when given, else it must be OK.
  std::vector<v1::UsageEvent> list_usage(const v1::ListUsageRequest& lr = {},
                                         grpc::Status* status = nullptr) {
    auto c = ctx(admin_key);
    auto reader = cat->ListUsage(c.get(), lr);
    std::vector<v1::UsageEvent> events;
    v1::UsageEvent e;
    while (reader->Read(&e)) events.push_back(e);
    const grpc::Status st = reader->Finish();
    if (status) {
      *status = st;
    } else {
      EXPECT_TRUE(st.ok()) << st.error_message();
    }
    return events;
  }

  // Works as ListWorks gives them to the registrar.
  std::vector<v1::Work> list_works(const v1::ListWorksRequest& lr, grpc::Status* status = nullptr) {
    auto c = ctx(registrar_key);
    auto reader = cat->ListWorks(c.get(), lr);
    std::vector<v1::Work> works;
    v1::Work w;
    while (reader->Read(&w)) works.push_back(w);
    const grpc::Status st = reader->Finish();
    if (status) {
      *status = st;
    } else {
      EXPECT_TRUE(st.ok()) << st.error_message();
    }
    return works;
  }

  test::TempDir dir;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<UsageLog> usage;
  std::vector<Image> photos;
  std::string admin_key, registrar_key, matcher_key;
  // Before srv: the server's threads log into these until it is destroyed.
  std::mutex log_mu;
  std::vector<std::string> access_log;
  std::unique_ptr<server::Server> srv;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::MatchService::Stub> match;
  std::unique_ptr<v1::CatalogService::Stub> cat;
};

TEST_F(ServerTest, MatchImageDecidesByLicenceAndRecordsUsage) {
  start();
  v1::MatchResponse r;
  ASSERT_TRUE(match_image(matcher_key, bytes_of(test::encode(photos[1], ".jpg", 70)), &r, v1::COMMERCIAL, "Acme").ok());
  ASSERT_EQ(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).work_id(), "art1");
  EXPECT_EQ(r.decision(), "allow");
  EXPECT_EQ(r.matches(0).licence().commercial().permission(), v1::LICENSED);
  // The explanation: a copy by its PDQ distance against the lines, allowed as Acme is named.
  const v1::Explanation& why = r.matches(0).explanation();
  EXPECT_EQ(why.evidence(), "copy");
  EXPECT_EQ(why.measure(), "pdq-distance");
  EXPECT_EQ(why.value(), r.matches(0).distance());
  EXPECT_EQ(why.match_line(), 31);
  EXPECT_EQ(why.review_line(), 39);
  EXPECT_EQ(why.purpose(), "commercial");
  EXPECT_EQ(why.permission(), "licensed");
  EXPECT_TRUE(why.licensee_named());
  ASSERT_TRUE(match_image(matcher_key, bytes_of(test::encode(photos[1], ".jpg", 70)), &r, v1::AI_TRAINING).ok());
  EXPECT_EQ(r.decision(), "flag");
  EXPECT_TRUE(r.matches(0).flagged());
  EXPECT_EQ(r.matches(0).explanation().permission(), "deny");
  EXPECT_EQ(r.matches(0).explanation().purpose(), "ai-training");
  EXPECT_FALSE(r.matches(0).explanation().licensee_named());
  ASSERT_TRUE(match_image(matcher_key, bytes_of(test::encode(test::synthetic_photo(400, 300, 9), ".jpg")), &r).ok());
  EXPECT_EQ(r.matches_size(), 0);
  EXPECT_EQ(r.decision(), "none");

  // Both decisions were recorded, with the caller's key name and reference, never the key.
  const std::vector<v1::UsageEvent> events = list_usage();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].decision(), "allow");
  EXPECT_EQ(events[1].decision(), "flag");
  EXPECT_EQ(events[1].purpose(), "ai-training");
  EXPECT_EQ(events[1].caller(), "platform");
  EXPECT_EQ(events[1].reference(), "post-42");
  EXPECT_EQ(events[1].query_sha256().size(), 64u);
  std::lock_guard<std::mutex> lk(log_mu);
  for (const std::string& line : access_log) {
    EXPECT_EQ(line.find(matcher_key), std::string::npos);
    EXPECT_NE(line.find("\"method\""), std::string::npos);
  }
}

// Video uploads: hashed one frame a second, matched against video works with the copied seconds,
// recorded as usage; damaged bytes and bad options get clear codes; matchers only.
TEST_F(ServerTest, MatchVideoReportsTheCopiedSecondsAndRecordsUsage) {
  const std::string videos = test::shared_dir() + "/vpdq-reference/videos/";
  VideoOptions vo;
  vo.seconds_per_hash = 0;
  Result<HashedVideo> v = hash_video_for_catalog(videos + "chair-orig-22-sd-bar.mp4", vo);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  WorkInput in = work_input_from_video(*v, 0);
  in.work.id = "chair";
  in.work.owner = "Vera";
  ASSERT_TRUE(catalog->register_works(std::vector{in})[0].ok());
  start();

  auto match_video = [&](const std::string& key, const std::string& bytes, double sph,
                         v1::MatchVideoResponse* resp) {
    v1::MatchVideoRequest req;
    req.set_video(bytes);
    req.set_seconds_per_hash(sph);
    req.mutable_context()->set_purpose(v1::AI_TRAINING);
    req.mutable_context()->set_reference("clip-7");
    return match->MatchVideo(ctx(key).get(), req, resp);
  };
  const std::string clip = bytes_of(test::read_all(videos + "chair-19-sd-bar.mp4"));
  v1::MatchVideoResponse r;
  grpc::Status st = match_video(matcher_key, clip, 0, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.decision(), "flag");
  EXPECT_EQ(r.frames(), 19);  // 18.8 s at one a second
  ASSERT_EQ(r.matches_size(), 1);
  const v1::VideoMatch& m = r.matches(0);
  EXPECT_EQ(m.match().work_id(), "chair");
  EXPECT_EQ(m.match().method(), "vpdq");
  EXPECT_GT(m.query_match_pct(), 90.0);
  ASSERT_GE(m.segments_size(), 1);
  EXPECT_NEAR(m.segments(0).work_start() - m.segments(0).query_start(), 3.7, 1.0);

  v1::MatchVideoResponse other;
  ASSERT_TRUE(match_video(matcher_key, bytes_of(test::read_all(videos + "pattern-sd-grey-bar.mp4")),
                          0, &other)
                  .ok());
  EXPECT_EQ(other.matches_size(), 0);
  EXPECT_EQ(other.decision(), "none");

  v1::MatchVideoResponse bad;
  EXPECT_EQ(match_video(matcher_key, "not a video", 0, &bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(match_video(matcher_key, "", 0, &bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(match_video(matcher_key, clip, -1, &bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(match_video("", clip, 0, &bad).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // The HTTP JSON endpoint takes the same bytes and answers like `imprint query --json`.
  httplib::Client http("127.0.0.1", srv->http_port());
  auto h = http.Post("/api/v1/match?purpose=ai-training&name=clip.mp4",
                     {{"Authorization", "Bearer " + matcher_key}}, clip, "video/mp4");
  ASSERT_TRUE(h);
  ASSERT_EQ(h->status, 200) << h->body;
  const auto j = nlohmann::json::parse(h->body);
  EXPECT_EQ(j["media"], "video");
  EXPECT_EQ(j["decision"], "flag");
  EXPECT_EQ(j["matches"][0]["work_id"], "chair");
  EXPECT_FALSE(j["matches"][0]["segments"].empty());
  EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/match", "post", h), "");

  // The flag is a usage record with the caller's reference.
  const std::vector<v1::UsageEvent> events = list_usage();
  ASSERT_EQ(events.size(), 2u);  // the gRPC call's and the HTTP call's
  EXPECT_EQ(events[0].work_id(), "chair");
  EXPECT_EQ(events[0].reference(), "clip-7");
  EXPECT_EQ(events[1].work_id(), "chair");

  // format=proto: MatchVideoResponse in protobuf's JSON mapping, as a generated client reads it.
  auto p = http.Post("/api/v1/match?purpose=ai-training&format=proto",
                     {{"Authorization", "Bearer " + matcher_key}}, clip, "video/mp4");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->status, 200) << p->body;
  EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/match", "post", p), "") << p->body;
  v1::MatchVideoResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(p->body, &parsed).ok()) << p->body;
  EXPECT_EQ(parsed.decision(), "flag");
  EXPECT_EQ(parsed.frames(), r.frames());
  ASSERT_EQ(parsed.matches_size(), 1);
  EXPECT_EQ(parsed.matches(0).match().work_id(), "chair");
  EXPECT_EQ(parsed.matches(0).query_match_pct(), r.matches(0).query_match_pct());
}

// Video works over the API: from the file's bytes (hashed as `imprint register` hashes it) or
// from its vPDQ frame hashes; retries are answered with the stored work, other content under the
// id is refused, and every bad field is named.
TEST_F(ServerTest, VideosAreRegisteredFromTheirBytesOrTheirFrameHashes) {
  start();
  const std::string videos = test::shared_dir() + "/vpdq-reference/videos/";
  auto register_work = [&](const v1::RegisterWorkRequest& req, v1::RegisterWorkResponse* resp) {
    return cat->RegisterWork(ctx(registrar_key).get(), req, resp);
  };
  auto flagged_as = [&](const std::string& file) {
    v1::MatchVideoRequest req;
    req.set_video(bytes_of(test::read_all(videos + file)));
    req.mutable_context()->set_purpose(v1::AI_TRAINING);
    v1::MatchVideoResponse r;
    const grpc::Status st = match->MatchVideo(ctx(matcher_key).get(), req, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::set<std::string> ids;
    for (const v1::VideoMatch& m : r.matches()) {
      if (m.match().decision() == "flag") ids.insert(m.match().work_id());
    }
    return ids;
  };
  EXPECT_TRUE(flagged_as("chair-19-sd-bar.mp4").empty());

  // From the bytes.
  v1::RegisterWorkRequest from_bytes;
  from_bytes.mutable_work()->set_work_id("chair");
  from_bytes.mutable_work()->set_owner("Bo");
  from_bytes.set_video(bytes_of(test::read_all(videos + "chair-orig-22-sd-bar.mp4")));
  v1::RegisterWorkResponse r;
  grpc::Status st = register_work(from_bytes, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.work().media(), "video");
  EXPECT_EQ(r.work().sha256().size(), 64u);
  EXPECT_EQ(r.frames(), 23);  // 22.4 s at one a second
  EXPECT_FALSE(r.has_pdq());
  EXPECT_FALSE(r.partial());
  EXPECT_EQ(flagged_as("chair-19-sd-bar.mp4"), std::set<std::string>{"chair"});
  // A retry answers with the stored work; other bytes under the id are refused.
  v1::RegisterWorkResponse again;
  st = register_work(from_bytes, &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(again.work().registered_at(), r.work().registered_at());
  EXPECT_EQ(again.frames(), 23);
  v1::RegisterWorkRequest other = from_bytes;
  other.set_video(bytes_of(test::read_all(videos + "pattern-sd-grey-bar.mp4")));
  EXPECT_EQ(register_work(other, &again).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  // From the frame hashes, as a vPDQ list gives them.
  Result<VideoFingerprint> fp = hash_video_file(videos + "pattern-hd-no-bar.mp4");
  ASSERT_TRUE(fp.ok()) << fp.status().to_string();
  v1::RegisterWorkRequest from_frames;
  from_frames.mutable_work()->set_work_id("pattern");
  from_frames.mutable_work()->set_owner("Ana");
  for (const FrameHash& f : fp->frames) {
    v1::VideoFrameHash* h = from_frames.mutable_video_frames()->add_frames();
    h->set_frame(f.frame);
    h->set_quality(f.quality);
    h->set_hash(f.hash.to_hex());
    h->set_seconds(f.t);
  }
  ASSERT_GT(from_frames.video_frames().frames_size(), 3);
  EXPECT_TRUE(flagged_as("pattern-hd-no-bar.mp4").empty());
  st = register_work(from_frames, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.work().media(), "video");
  EXPECT_EQ(r.frames(), from_frames.video_frames().frames_size());
  EXPECT_EQ(flagged_as("pattern-hd-no-bar.mp4"), std::set<std::string>{"pattern"});
  st = register_work(from_frames, &again);
  EXPECT_TRUE(st.ok()) << st.error_message();
  v1::RegisterWorkRequest changed = from_frames;
  changed.mutable_video_frames()->mutable_frames(1)->set_seconds(
      from_frames.video_frames().frames(1).seconds() + 0.5);
  EXPECT_EQ(register_work(changed, &again).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  // Every bad field is refused with its name; nothing is registered.
  auto refusal = [&](v1::RegisterWorkRequest req, const std::string& id) {
    req.mutable_work()->set_work_id(id);
    v1::RegisterWorkResponse out;
    const grpc::Status bad = register_work(req, &out);
    return std::make_pair(bad.error_code(), bad.error_message());
  };
  auto frames_with = [&](const std::function<void(v1::VideoFrameHashes*)>& edit) {
    v1::RegisterWorkRequest req = from_frames;
    edit(req.mutable_video_frames());
    return req;
  };
  const std::vector<std::tuple<v1::RegisterWorkRequest, std::string>> bad = {
      {[&] {
         auto q = from_bytes;
         q.set_video("");
         return q;
       }(),
       "empty video"},
      {[&] {
         auto q = from_bytes;
         q.set_video("not a video at all");
         return q;
       }(),
       "video"},
      {[&] {
         auto q = from_bytes;
         q.mutable_work()->set_media("image");
         return q;
       }(),
       "work.media"},
      {[&] {
         auto q = from_bytes;
         q.set_seconds_per_hash(-1);
         return q;
       }(),
       "seconds_per_hash"},
      {frames_with([](auto* v) { v->mutable_frames(1)->set_hash("zz"); }), "frames[1].hash"},
      {frames_with([](auto* v) { v->mutable_frames(2)->set_quality(101); }), "frames[2].quality"},
      {frames_with([](auto* v) { v->mutable_frames(2)->set_frame(0); }), "frames[2].frame"},
      {frames_with([](auto* v) { v->mutable_frames(2)->set_seconds(-1); }), "frames[2].seconds"},
      {frames_with([](auto* v) { v->mutable_frames(2)->set_seconds(std::nan("")); }),
       "frames[2].seconds"},
      {frames_with([](auto* v) { v->mutable_frames(3)->set_seconds(0); }), "frames[3].seconds"},
      {frames_with([](auto* v) { v->clear_frames(); }), "no frame"},
      {frames_with([](auto* v) { v->set_sha256("12"); }), "video_frames."},
  };
  int n = 0;
  for (const auto& [req, field] : bad) {
    const auto [code, message] = refusal(req, "bad-" + std::to_string(n++));
    EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << field << ": " << message;
    EXPECT_NE(message.find(field), std::string::npos) << field << ": " << message;
  }
  v1::ListWorksRequest list;
  auto lc = ctx(admin_key);
  auto works = cat->ListWorks(lc.get(), list);
  v1::Work w;
  std::set<std::string> ids;
  while (works->Read(&w)) ids.insert(w.work_id());
  EXPECT_TRUE(works->Finish().ok());
  EXPECT_EQ(ids.count("chair") + ids.count("pattern"), 2u);
  for (const std::string& id : ids) EXPECT_NE(id.rfind("bad-", 0), 0u) << id;
}

// A video longer than the server hashes is refused, not registered in part; frame hash lists
// are held to the server's frame budget.
TEST_F(ServerTest, VideoRegistrationKeepsToTheServersVideoLimits) {
  server::ServerOptions o;
  o.max_video_seconds = 15;
  o.max_video_frames = 20;
  start(o);
  const std::string videos = test::shared_dir() + "/vpdq-reference/videos/";
  v1::RegisterWorkRequest req;
  req.mutable_work()->set_work_id("chair");
  req.mutable_work()->set_owner("Bo");
  req.set_video(bytes_of(test::read_all(videos + "chair-orig-22-sd-bar.mp4")));
  v1::RegisterWorkResponse r;
  grpc::Status st = cat->RegisterWork(ctx(registrar_key).get(), req, &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_NE(st.error_message().find("video_frames"), std::string::npos) << st.error_message();

  Result<VideoFingerprint> fp = hash_video_file(videos + "chair-orig-22-sd-bar.mp4");
  ASSERT_TRUE(fp.ok());
  ASSERT_GT(fp->frames.size(), 20u);
  v1::RegisterWorkRequest frames;
  frames.mutable_work()->set_work_id("chair");
  frames.mutable_work()->set_owner("Bo");
  for (const FrameHash& f : fp->frames) {
    v1::VideoFrameHash* h = frames.mutable_video_frames()->add_frames();
    h->set_frame(f.frame);
    h->set_quality(f.quality);
    h->set_hash(f.hash.to_hex());
    h->set_seconds(f.t);
  }
  st = cat->RegisterWork(ctx(registrar_key).get(), frames, &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  frames.mutable_video_frames()->mutable_frames()->DeleteSubrange(20, fp->frames.size() - 20);
  st = cat->RegisterWork(ctx(registrar_key).get(), frames, &r);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.frames(), 20);

  // A short one is registered whole.
  req.mutable_work()->set_work_id("doorknob");
  req.set_video(bytes_of(test::read_all(videos + "doorknob-hd-no-bar.mp4")));
  st = cat->RegisterWork(ctx(registrar_key).get(), req, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(r.frames(), 0);
  EXPECT_FALSE(r.partial());
  EXPECT_FALSE(catalog->get_work("doorknob").status().code() == StatusCode::kNotFound);
}

TEST_F(ServerTest, MatchHashAndStreamAnswerInOrderWithPerMessageErrors) {
  start();
  const PdqHash h = pdq_hash(photos[2]).hash;
  v1::MatchHashRequest req;
  req.set_pdq(h.to_hex());
  v1::MatchResponse r;
  ASSERT_TRUE(match->MatchHash(ctx(matcher_key).get(), req, &r).ok());
  ASSERT_EQ(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).work_id(), "art2");
  req.set_pdq("not-a-hash");
  EXPECT_EQ(match->MatchHash(ctx(matcher_key).get(), req, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto c = ctx(matcher_key);
  auto stream = match->MatchStream(c.get());
  for (int i = 0; i < 20; ++i) {
    v1::MatchStreamRequest m;
    m.set_id("q" + std::to_string(i));
    if (i % 5 == 4) {
      m.mutable_hash()->set_hash("zz");  // bad hash: an error for this message only
    } else if (i % 5 == 3) {
      m.set_image(bytes_of(test::encode(photos[i % 4], ".jpg", 80)));
    } else {
      m.mutable_hash()->set_hash(pdq_hash(photos[i % 4]).hash.to_hex());
    }
    ASSERT_TRUE(stream->Write(m));
  }
  stream->WritesDone();
  v1::MatchStreamResponse resp;
  int n = 0;
  while (stream->Read(&resp)) {
    EXPECT_EQ(resp.id(), "q" + std::to_string(n));
    if (n % 5 == 4) {
      EXPECT_EQ(resp.error_code(), int(grpc::StatusCode::INVALID_ARGUMENT));
    } else {
      ASSERT_EQ(resp.result().matches_size(), 1) << n;
      EXPECT_EQ(resp.result().matches(0).work_id(), "art" + std::to_string(n % 4));
    }
    ++n;
  }
  EXPECT_EQ(n, 20);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerTest, KeysAndRolesGuardEveryCall) {
  start();
  v1::MatchResponse r;
  const std::string img = bytes_of(test::encode(photos[0], ".jpg"));
  EXPECT_EQ(match_image("", img, &r).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(match_image("imp_wrong", img, &r).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(match_image(registrar_key, img, &r).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(match_image(admin_key, img, &r).ok());

  v1::RegisterWorkRequest reg;
  reg.mutable_work()->set_work_id("new");
  reg.mutable_work()->set_owner("Bo");
  reg.set_image(bytes_of(test::encode(test::synthetic_photo(320, 240, 77), ".png")));
  v1::RegisterWorkResponse rr;
  EXPECT_EQ(cat->RegisterWork(ctx(matcher_key).get(), reg, &rr).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(cat->RegisterWork(ctx(registrar_key).get(), reg, &rr).ok());
  EXPECT_EQ(rr.work().work_id(), "new");
  EXPECT_EQ(rr.work().licence().ai_training().permission(), v1::DENY);
  EXPECT_TRUE(cat->RegisterWork(ctx(registrar_key).get(), reg, &rr).ok());  // a retry
  reg.mutable_work()->set_title("Changed");
  EXPECT_EQ(cat->RegisterWork(ctx(registrar_key).get(), reg, &rr).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // Registered while serving: visible to the next match at once.
  ASSERT_TRUE(match_image(matcher_key, bytes_of(test::encode(test::synthetic_photo(320, 240, 77), ".jpg")), &r).ok());
  ASSERT_EQ(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).work_id(), "new");

  v1::ListUsageRequest lr;
  auto c = ctx(registrar_key);
  auto reader = cat->ListUsage(c.get(), lr);
  v1::UsageEvent e;
  while (reader->Read(&e)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::RemoveWorkRequest rm;
  rm.set_work_id("new");
  v1::RemoveWorkResponse rmr;
  EXPECT_EQ(cat->RemoveWork(ctx(matcher_key).get(), rm, &rmr).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(cat->RemoveWork(ctx(registrar_key).get(), rm, &rmr).ok());
  EXPECT_EQ(cat->RemoveWork(ctx(registrar_key).get(), rm, &rmr).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, LimitsAnswerWithClearCodes) {
  server::ServerOptions o;
  o.max_message_bytes = 200'000;
  o.max_pixels = 1'000'000;
  start(o);
  v1::MatchResponse r;
  // Over the message limit.
  const std::string big = bytes_of(test::encode(test::synthetic_photo(1200, 900, 3), ".png"));
  ASSERT_GT(big.size(), 200'000u);
  EXPECT_EQ(match_image(matcher_key, big, &r).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // A decompression bomb: a header declaring 100000 x 100000 pixels.
  const std::string bomb = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                            0, 1, '\x86', '\xa0', 0, 1, '\x86', '\xa0', 8, 2, 0, 0, 0};
  grpc::Status st = match_image(matcher_key, bomb, &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("decompression bomb"), std::string::npos);
  // Malformed bytes, empty image, garbage protobuf fields.
  EXPECT_EQ(match_image(matcher_key, "this is not an image", &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(match_image(matcher_key, "", &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::RegisterWorkRequest reg;
  reg.mutable_work()->set_work_id("x");
  reg.mutable_fingerprints()->add_pdq()->set_hash(std::string(63, 'a'));
  v1::RegisterWorkResponse rr;
  EXPECT_EQ(cat->RegisterWork(ctx(admin_key).get(), reg, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  reg.mutable_fingerprints()->mutable_pdq(0)->set_hash(std::string(64, 'a'));
  // A digest with a sign or a space in it is refused, not read as a number.
  reg.mutable_fingerprints()->set_sha256(std::string(10, 'a') + "-1" + std::string(52, 'b'));
  grpc::Status bad_sha = cat->RegisterWork(ctx(admin_key).get(), reg, &rr);
  EXPECT_EQ(bad_sha.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad_sha.error_message().find("fingerprints.sha256 has a non-hex character at position 11"),
            std::string::npos) << bad_sha.error_message();
  reg.mutable_fingerprints()->clear_sha256();
  reg.mutable_work()->mutable_licence()->mutable_commercial()->set_permission(v1::LICENSED);
  EXPECT_EQ(cat->RegisterWork(ctx(admin_key).get(), reg, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The server is still fine.
  EXPECT_TRUE(match_image(matcher_key, bytes_of(test::encode(photos[0], ".jpg")), &r).ok());
}

TEST_F(ServerTest, ConcurrentCallsAreBoundedAndTheRefusalSaysServerBusy) {
  server::ServerOptions o;
  o.max_concurrent_calls = 4;  // streams stay open as long as the test needs: no idle cancel
  start(o);
  // Four open streams take every slot...
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<v1::MatchStreamRequest, v1::MatchStreamResponse>>> streams;
  for (int i = 0; i < 4; ++i) {
    ctxs.push_back(ctx(matcher_key));
    streams.push_back(match->MatchStream(ctxs.back().get()));
  }
  ASSERT_TRUE(wait_for_calls_in_flight(4));
  v1::MatchResponse r;
  const std::string img = bytes_of(test::encode(photos[0], ".jpg"));
  const grpc::Status busy = match_image(matcher_key, img, &r);
  EXPECT_EQ(busy.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(busy.error_message().find("server busy"), std::string::npos) << busy.error_message();
  // ...and give them back when they end.
  for (auto& s : streams) {
    ASSERT_TRUE(s->WritesDone());
    const grpc::Status st = s->Finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  }
  ASSERT_TRUE(wait_for_calls_in_flight(0));
  const grpc::Status st = match_image(matcher_key, img, &r);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(ServerTest, SilentStreamsAreCancelledAndGiveTheirSlotsBack) {
  server::ServerOptions o;
  o.stream_idle_timeout_ms = 300;
  o.max_concurrent_calls = 2;
  start(o);
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<
      std::unique_ptr<grpc::ClientReaderWriter<v1::MatchStreamRequest, v1::MatchStreamResponse>>>
      streams;
  for (int i = 0; i < 2; ++i) {
    ctxs.push_back(ctx(matcher_key));
    streams.push_back(match->MatchStream(ctxs.back().get()));
  }
  // Nothing is ever sent: the watchdog cancels them, however long the test took to get here.
  for (auto& s : streams) {
    v1::MatchStreamResponse resp;
    EXPECT_FALSE(s->Read(&resp));
    EXPECT_EQ(s->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The cancelled handlers give their slots back as they unwind (the client may hear of the
  // cancellation first).
  ASSERT_TRUE(wait_for_calls_in_flight(0));
  v1::MatchResponse r;
  const grpc::Status st = match_image(matcher_key, bytes_of(test::encode(photos[0], ".jpg")), &r);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(ServerTest, StreamsEndAtTheirMessageLimitAndCallsAtTheirDeadline) {
  server::ServerOptions o;
  o.max_stream_messages = 3;
  o.call_deadline_ms = 1;  // far less than decoding the 12 MP upload below takes
  start(o);
  // Three messages are answered; the fourth ends the stream, saying why.
  auto c = ctx(matcher_key);
  auto stream = match->MatchStream(c.get());
  for (int i = 0; i < 4; ++i) {
    v1::MatchStreamRequest req;
    req.set_id("m" + std::to_string(i));
    req.mutable_hash()->set_hash(std::string(64, '0'));
    ASSERT_TRUE(stream->Write(req));
  }
  stream->WritesDone();
  v1::MatchStreamResponse resp;
  std::vector<std::string> answered;
  while (stream->Read(&resp)) answered.push_back(resp.id());
  EXPECT_EQ(answered, (std::vector<std::string>{"m0", "m1", "m2"}));
  const grpc::Status ended = stream->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(ended.error_message().find("stream longer than 3 messages"), std::string::npos)
      << ended.error_message();

  v1::MatchResponse r;
  const grpc::Status slow = match_image(
      matcher_key, bytes_of(test::encode(test::synthetic_photo(4000, 3000, 8), ".png")), &r);
  EXPECT_EQ(slow.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(slow.error_message().find("server's limit of 1 ms"), std::string::npos)
      << slow.error_message();
}

TEST_F(ServerTest, BurstOfRegistrationsAndMatchesLosesNothingAndMemorySettles) {
  start();
  v1::MatchResponse warm;
  ASSERT_TRUE(match_image(matcher_key, bytes_of(test::encode(photos[0], ".jpg")), &warm).ok());
  const long before = heap_in_use_kb();
  std::vector<std::thread> threads;
  std::atomic<int> registered{0}, matched{0};
  std::vector<std::string> acked[3];
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        v1::RegisterWorkRequest reg;
        const std::string id = "burst-" + std::to_string(t) + "-" + std::to_string(i);
        reg.mutable_work()->set_work_id(id);
        reg.mutable_work()->set_owner("Bo");
        reg.set_image(bytes_of(test::encode(test::synthetic_photo(160, 120, 1000 + t * 100 + i), ".png")));
        v1::RegisterWorkResponse rr;
        if (cat->RegisterWork(ctx(registrar_key).get(), reg, &rr).ok()) {
          ++registered;
          acked[t].push_back(id);
        }
      }
    });
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        v1::MatchResponse r;
        if (match_image(matcher_key, bytes_of(test::encode(photos[(t + i) % 4], ".jpg", 75)), &r).ok() &&
            r.matches_size() == 1) {
          ++matched;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(registered.load(), 45);
  EXPECT_EQ(matched.load(), 45);
  for (const auto& ids : acked) {
    for (const std::string& id : ids) EXPECT_TRUE(catalog->get_work(id).ok()) << id;
  }
  // What is still held afterwards is the 45 new works (index entries, second-stage features,
  // previews: 3.4 MB measured, 2026-12-06), not the 90 calls' buffers: keeping each upload and
  // its decoded pixels (57 kB of RGB each, more in the decoder) would add more than 9 MB.
  const long grown = heap_in_use_kb() - before;
  EXPECT_LT(grown, 8 * 1024) << "heap in use grew from " << before << " kB by " << grown << " kB";
}

TEST_F(ServerTest, ShutdownDrainsCallsInFlight) {
  start();
  // A stream that has had its first answer is a call in flight for certain (a single large call
  // could finish before the test saw it running).
  auto c = ctx(matcher_key);
  auto stream = match->MatchStream(c.get());
  v1::MatchStreamRequest req;
  req.set_image(bytes_of(test::encode(photos[2], ".jpg")));
  v1::MatchStreamResponse resp;
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_EQ(resp.result().matches_size(), 1);

  std::thread stopper([&] { srv->shutdown(std::chrono::seconds(60)); });
  // Once new calls are refused the server is draining...
  v1::MatchResponse r;
  const std::string img = bytes_of(test::encode(photos[0], ".jpg"));
  grpc::Status refused;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30 * kSlowdown);
  while ((refused = match_image(matcher_key, img, &r)).ok() &&
         std::chrono::steady_clock::now() < deadline) {
  }
  // (gRPC answers a call that reaches a server shutting down CANCELLED, one that finds the
  // listener closed UNAVAILABLE.)
  EXPECT_TRUE(refused.error_code() == grpc::StatusCode::UNAVAILABLE ||
              refused.error_code() == grpc::StatusCode::CANCELLED)
      << refused.error_code() << " " << refused.error_message();
  // ...and the call in flight is still served to its end.
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.result().matches_size(), 1);
  ASSERT_TRUE(stream->WritesDone());
  const grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  stopper.join();
  // Once it is down, nothing listens.
  EXPECT_EQ(match_image(matcher_key, img, &r).error_code(), grpc::StatusCode::UNAVAILABLE);
}

// The catalog over HTTP, as over gRPC: bodies and answers in protobuf's JSON mapping (a body a
// generated client prints), the same roles, owners, retries and refusals, pages that continue
// where the last ended, and every answer as the OpenAPI document describes it.
TEST_F(ServerTest, HttpCatalogRoutesRegisterGetListAndRemoveAsGrpcDoes) {
  start();
  httplib::Client http("127.0.0.1", srv->http_port());
  const auto as = [](const std::string& key) {
    return httplib::Headers{{"Authorization", "Bearer " + key}};
  };
  const auto conforms = [&](const std::string& path, const std::string& method,
                            const httplib::Result& r) {
    return openapi_mismatch(srv->http_port(), path, method, r);
  };
  const Image art = test::synthetic_photo(320, 240, 91);
  v1::RegisterWorkRequest reg;
  reg.mutable_work()->set_work_id("web1");
  reg.mutable_work()->set_owner("Bo");
  reg.mutable_work()->set_title("From the web");
  (*reg.mutable_work()->mutable_metadata())["catalogue"] = "C-7";
  reg.set_image(bytes_of(test::encode(art, ".png")));
  std::string body;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(reg, &body).ok());

  auto anon = http.Post("/api/v1/works", body, "application/json");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401);
  EXPECT_EQ(conforms("/api/v1/works", "post", anon), "");
  auto matcher = http.Post("/api/v1/works", as(matcher_key), body, "application/json");
  ASSERT_TRUE(matcher);
  EXPECT_EQ(matcher->status, 403);
  EXPECT_NE(matcher->body.find("POST /api/v1/works needs registrar"), std::string::npos)
      << matcher->body;

  auto made = http.Post("/api/v1/works", as(registrar_key), body, "application/json");
  ASSERT_TRUE(made);
  ASSERT_EQ(made->status, 200) << made->body;
  EXPECT_EQ(conforms("/api/v1/works", "post", made), "") << made->body;
  const auto mj = nlohmann::json::parse(made->body);
  EXPECT_EQ(mj["work"]["workId"], "web1");
  EXPECT_EQ(mj["work"]["metadata"]["catalogue"], "C-7");
  EXPECT_EQ(mj["pdq"]["hash"].get<std::string>().size(), 64u);
  // gRPC sees the same work, and the HTTP answer's hash is the one it matches by.
  v1::GetWorkRequest gr;
  gr.set_work_id("web1");
  v1::Work w;
  ASSERT_TRUE(cat->GetWork(ctx(registrar_key).get(), gr, &w).ok());
  EXPECT_EQ(w.title(), "From the web");
  EXPECT_EQ(w.metadata().at("catalogue"), "C-7");
  // A retry is answered as the first was; other content under the id is a conflict.
  auto again = http.Post("/api/v1/works", as(registrar_key), body, "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  reg.mutable_work()->set_title("Changed");
  std::string changed;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(reg, &changed).ok());
  auto conflict = http.Post("/api/v1/works", as(registrar_key), changed, "application/json");
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->status, 409);
  EXPECT_EQ(nlohmann::json::parse(conflict->body)["code"], "ALREADY_EXISTS");
  EXPECT_EQ(conforms("/api/v1/works", "post", conflict), "");
  // An owner the key does not act for, a body that is not JSON, a field the message lacks.
  reg.mutable_work()->set_work_id("web2");
  reg.mutable_work()->set_owner("Cy");
  std::string other_owner;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(reg, &other_owner).ok());
  auto foreign = http.Post("/api/v1/works", as(registrar_key), other_owner, "application/json");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403) << foreign->body;
  for (const std::string& bad : {std::string("{"), std::string(""),
                                 std::string(R"({"work":{"workId":"x"},"replce":true})")}) {
    auto r = http.Post("/api/v1/works", as(registrar_key), bad, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(nlohmann::json::parse(r->body).value("field", ""), "body") << r->body;
  }
  EXPECT_EQ(catalog->get_work("web2").status().code(), imprint::StatusCode::kNotFound);

  // Registered over HTTP: matched at once (a use for AI training the licence denies: a flag).
  auto m = http.Post("/api/v1/match?purpose=ai-training", as(matcher_key),
                     bytes_of(test::encode(art, ".jpg", 80)), "image/jpeg");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200) << m->body;
  EXPECT_EQ(nlohmann::json::parse(m->body)["matches"][0]["work_id"], "web1");

  auto got = http.Get("/api/v1/works/web1", as(registrar_key));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200) << got->body;
  EXPECT_EQ(conforms("/api/v1/works/{id}", "get", got), "") << got->body;
  EXPECT_EQ(nlohmann::json::parse(got->body)["title"], "From the web");
  auto missing = http.Get("/api/v1/works/nope", as(registrar_key));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(conforms("/api/v1/works/{id}", "get", missing), "");

  // Pages of two, in registration order, each continuing where the last ended.
  std::vector<std::string> ids;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    auto p = http.Get("/api/v1/works?limit=2&page_token=" + token, as(registrar_key));
    ASSERT_TRUE(p);
    ASSERT_EQ(p->status, 200) << p->body;
    EXPECT_EQ(conforms("/api/v1/works", "get", p), "") << p->body;
    const auto pj = nlohmann::json::parse(p->body);
    for (const auto& work : pj["works"]) ids.push_back(work["workId"]);
    token = pj["nextPageToken"];
    if (token.empty()) break;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"art0", "art1", "art2", "art3", "web1"}));
  auto newest = http.Get("/api/v1/works?limit=1&newest_first=true", as(registrar_key));
  ASSERT_TRUE(newest);
  EXPECT_EQ(nlohmann::json::parse(newest->body)["works"][0]["workId"], "web1");
  for (const char* bad : {"/api/v1/works?limit=0", "/api/v1/works?limit=1001",
                          "/api/v1/works?newest_first=maybe", "/api/v1/works?page_token=w9.x"}) {
    auto r = http.Get(bad, as(registrar_key));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(conforms("/api/v1/works", "get", r), "") << bad;
  }

  // Usage is for admin keys; the flag above is listed.
  auto usage_refused = http.Get("/api/v1/usage", as(registrar_key));
  ASSERT_TRUE(usage_refused);
  EXPECT_EQ(usage_refused->status, 403);
  auto usage = http.Get("/api/v1/usage?work_id=web1&decision=flag", as(admin_key));
  ASSERT_TRUE(usage);
  ASSERT_EQ(usage->status, 200) << usage->body;
  EXPECT_EQ(conforms("/api/v1/usage", "get", usage), "") << usage->body;
  const auto uj = nlohmann::json::parse(usage->body);
  ASSERT_EQ(uj["events"].size(), 1u) << usage->body;
  EXPECT_EQ(uj["events"][0]["purpose"], "ai-training");
  EXPECT_EQ(uj["nextPageToken"], "");

  // Removal: the key's role and owners, then gone for both fronts.
  auto del_refused = http.Delete("/api/v1/works/web1", as(matcher_key));
  ASSERT_TRUE(del_refused);
  EXPECT_EQ(del_refused->status, 403);
  auto del = http.Delete("/api/v1/works/web1", as(registrar_key));
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(conforms("/api/v1/works/{id}", "delete", del), "") << del->body;
  auto gone = http.Get("/api/v1/works/web1", as(registrar_key));
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  EXPECT_EQ(cat->GetWork(ctx(registrar_key).get(), gr, &w).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, HttpMetricsJsonMatchAndCreatorCheck) {
  start();
  httplib::Client http("127.0.0.1", srv->http_port());
  const std::string copy = bytes_of(test::encode(photos[3], ".jpg", 70));
  auto unauth = http.Post("/api/v1/match", copy, "image/jpeg");
  ASSERT_TRUE(unauth);
  EXPECT_EQ(unauth->status, 401);
  httplib::Headers h = {{"Authorization", "Bearer " + matcher_key}};
  auto m = http.Post("/api/v1/match?purpose=ai-training", h, copy, "image/jpeg");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200) << m->body;
  const auto j = nlohmann::json::parse(m->body);
  EXPECT_EQ(j["decision"], "flag");
  EXPECT_EQ(j["matches"][0]["work_id"], "art3");
  EXPECT_EQ(j["matches"][0]["explanation"]["evidence"], "copy");
  EXPECT_EQ(j["matches"][0]["explanation"]["permission"], "deny");
  EXPECT_EQ(j["matches"][0]["explanation"]["purpose"], "ai-training");
  // The creators' page and its check need no key, and say things in words.
  auto page = http.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("Has my art been copied?"), std::string::npos);
  auto check = http.Post("/api/v1/check", copy, "image/jpeg");
  ASSERT_TRUE(check);
  const auto cj = nlohmann::json::parse(check->body);
  EXPECT_EQ(cj["verdict"], "copy");
  EXPECT_FALSE(cj.contains("pdq"));  // no internals
  auto bad = http.Post("/api/v1/check", std::string("nope"), "image/jpeg");
  ASSERT_TRUE(bad);
  const auto bj = nlohmann::json::parse(bad->body);
  EXPECT_EQ(bj["verdict"], "error");
  EXPECT_FALSE(bj.value("message", "").empty()) << bad->body;
  {
    // Each check passed the gate: an access-log line as the public caller, with its request id.
    std::lock_guard<std::mutex> lk(log_mu);
    std::vector<std::string> codes;
    for (const std::string& line : access_log) {
      const auto j = nlohmann::json::parse(line);
      if (j["method"] != "http.check") continue;
      EXPECT_EQ(j["caller"], "public") << line;
      EXPECT_EQ(j["request_id"].get<std::string>().size(), 32u) << line;
      codes.push_back(j["code"]);
    }
    EXPECT_EQ(codes, (std::vector<std::string>{"OK", "INVALID_ARGUMENT"}));
  }
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("imprint_calls_total{method=\"http.match\",code=\"OK\"} 1"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("imprint_catalog_works 4"), std::string::npos);
  EXPECT_NE(metrics->body.find("imprint_call_seconds_bucket"), std::string::npos);
}

TEST_F(ServerTest, CorruptUploadsNeverSpoilLaterValidOnesFromOtherCallers) {
  // A JPEG cut inside its Huffman tables (400 bytes) or right after its header (200 bytes) used
  // to leave the worker thread's decoder failing every later JPEG upload, whoever sent it.
  start();
  const std::vector<uint8_t> src = test::encode(test::synthetic_photo(640, 480, 31), ".jpg", 90);
  const std::vector<std::string> corrupt = {bytes_of({src.begin(), src.begin() + 400}),
                                            bytes_of({src.begin(), src.begin() + 200})};
  std::vector<std::string> copies;
  for (int i = 0; i < 4; ++i) copies.push_back(bytes_of(test::encode(photos[i], ".jpg", 70)));
  auto other = v1::MatchService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(srv->grpc_port()), grpc::InsecureChannelCredentials()));
  httplib::Client http("127.0.0.1", srv->http_port());
  const httplib::Headers h = {{"Authorization", "Bearer " + matcher_key}};

  // Whether one valid upload of photo i is matched to art<i>, over gRPC or HTTP.
  auto valid_ok = [&](v1::MatchService::Stub* stub, httplib::Client* client, int i) {
    if (client) {
      auto r = client->Post("/api/v1/match", h, copies[size_t(i)], "image/jpeg");
      if (!r || r->status != 200) return false;
      const auto j = nlohmann::json::parse(r->body);
      return !j["matches"].empty() && j["matches"][0]["work_id"] == "art" + std::to_string(i);
    }
    v1::MatchImageRequest req;
    req.set_image(copies[size_t(i)]);
    v1::MatchResponse resp;
    const grpc::Status st = stub->MatchImage(ctx(matcher_key).get(), req, &resp);
    return st.ok() && resp.matches_size() > 0 && resp.matches(0).work_id() == "art" + std::to_string(i);
  };
  auto send_corrupt = [&](v1::MatchService::Stub* stub, httplib::Client* client, int k) {
    const std::string& body = corrupt[size_t(k) % corrupt.size()];
    if (client) {
      auto r = client->Post("/api/v1/match", h, body, "image/jpeg");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 400) << r->body;
      return;
    }
    v1::MatchImageRequest req;
    req.set_image(body);
    v1::MatchResponse resp;
    EXPECT_EQ(stub->MatchImage(ctx(matcher_key).get(), req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  };

  // Sequential: corrupt uploads from one caller, then valid ones from another, both protocols.
  for (int k = 0; k < 8; ++k) send_corrupt(match.get(), nullptr, k);
  for (int k = 0; k < 8; ++k) send_corrupt(nullptr, &http, k);
  int failed = 0;
  for (int i = 0; i < 20; ++i) failed += !valid_ok(other.get(), nullptr, i % 4);
  for (int i = 0; i < 20; ++i) failed += !valid_ok(nullptr, &http, i % 4);
  EXPECT_EQ(failed, 0) << "valid uploads refused after corrupt ones";

  // Concurrent: four callers send corrupt uploads while four others send copies.
  std::atomic<int> refused{0}, checked{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      auto stub = v1::MatchService::NewStub(grpc::CreateChannel(
          "127.0.0.1:" + std::to_string(srv->grpc_port()), grpc::InsecureChannelCredentials()));
      httplib::Client client("127.0.0.1", srv->http_port());
      httplib::Client* via_http = t % 2 ? &client : nullptr;
      for (int k = 0; k < 12; ++k) {
        if (t < 4) {
          send_corrupt(stub.get(), via_http, k + t);
        } else {
          refused += !valid_ok(stub.get(), via_http, (k + t) % 4);
          ++checked;
        }
      }
    });
  }
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(checked.load(), 48);
  EXPECT_EQ(refused.load(), 0);
  for (int i = 0; i < 8; ++i) failed += !valid_ok(other.get(), nullptr, i % 4);
  EXPECT_EQ(failed, 0);
}

// Issue 21 item 2: a parameter that cannot be served is a 400 naming it, and every exit path gives
// its in-flight slot back (these used to answer 500 and keep the slot for good).
TEST_F(ServerTest, HttpMatchRefusesBadParametersAndGivesItsSlotBack) {
  server::ServerOptions o;
  o.max_concurrent_calls = 2;
  start(o);
  httplib::Client http("127.0.0.1", srv->http_port());
  const httplib::Headers h = {{"Authorization", "Bearer " + matcher_key}};
  const std::string copy = bytes_of(test::encode(photos[3], ".jpg", 70));
  const std::pair<const char*, const char*> bad[] = {
      {"reference=%FF", "reference"},     {"name=%FF", "name"},
      {"licensee=%C3", "licensee"},       {"purpose=bogus", "purpose"},
      {"purpose=ai_training", "purpose"}, {"top_k=-5", "top_k"},
      {"min_score=nan", "min_score"},     {"min_score=0.5%00junk", "min_score"}};
  for (int round = 0; round < 3; ++round) {
    for (const auto& [query, field] : bad) {
      auto r = http.Post((std::string("/api/v1/match?") + query).c_str(), h, copy, "image/jpeg");
      ASSERT_TRUE(r) << query;
      EXPECT_EQ(r->status, 400) << query << ": " << r->body;
      const auto j = nlohmann::json::parse(r->body, nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << query << ": '" << r->body << "'";
      EXPECT_EQ(j.value("code", ""), "INVALID_ARGUMENT") << query << ": " << j.dump();
      EXPECT_EQ(j.value("field", ""), field) << query << ": " << j.dump();
      EXPECT_NE(j.value("message", "").find(field), std::string::npos) << query << ": " << j.dump();
    }
  }
  // Twenty-four refusals later both slots are free...
  auto ok = http.Post("/api/v1/match?purpose=ai-training&reference=post-1", h, copy, "image/jpeg");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("imprint_calls_in_flight 0"), std::string::npos) << metrics->body;
  // ...and only the good call left a usage record, which lists.
  const std::vector<v1::UsageEvent> events = list_usage();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reference(), "post-1");
}

// One gate for both fronts (issue 19, issue 21's "one gate"): with no call slot free, HTTP and
// gRPC refuse every keyed call alike, before its key is even read; HTTP says so as 503 with
// Retry-After (not 413, which means a body too large), and both log and count the refusal.
TEST_F(ServerTest, OneGateRefusesABusyServerOnBothFronts) {
  server::ServerOptions o;
  o.max_concurrent_calls = 0;
  start(o);
  httplib::Client http("127.0.0.1", srv->http_port());
  const httplib::Headers h = {{"Authorization", "Bearer " + matcher_key}};
  const std::string copy = bytes_of(test::encode(photos[3], ".jpg", 70));
  for (const httplib::Headers& headers : {h, httplib::Headers{}}) {
    auto m = http.Post("/api/v1/match", headers, copy, "image/jpeg");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->status, 503) << m->body;
    EXPECT_EQ(m->get_header_value("Retry-After"), "1");
    EXPECT_EQ(nlohmann::json::parse(m->body)["code"], "RESOURCE_EXHAUSTED");
    EXPECT_NE(m->body.find("server busy"), std::string::npos) << m->body;
    EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/match", "post", m), "") << m->body;
  }
  auto works =
      http.Get("/api/v1/works", httplib::Headers{{"Authorization", "Bearer " + registrar_key}});
  ASSERT_TRUE(works);
  EXPECT_EQ(works->status, 503) << works->body;
  // The creators' page's check is a call like any other: refused busy in the page's words.
  auto check = http.Post("/api/v1/check", copy, "image/jpeg");
  ASSERT_TRUE(check);
  EXPECT_EQ(check->status, 503) << check->body;
  EXPECT_EQ(check->get_header_value("Retry-After"), "1");
  EXPECT_EQ(nlohmann::json::parse(check->body)["verdict"], "error") << check->body;
  EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/check", "post", check), "") << check->body;
  v1::MatchResponse r;
  const grpc::Status busy = match_image(matcher_key, copy, &r);
  EXPECT_EQ(busy.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(busy.error_message().find("server busy"), std::string::npos) << busy.error_message();
  std::lock_guard<std::mutex> lk(log_mu);
  int http_refusals = 0, grpc_refusals = 0;
  for (const std::string& line : access_log) {
    const auto j = nlohmann::json::parse(line);
    if (j["code"] != "RESOURCE_EXHAUSTED") continue;
    http_refusals += j["method"] == "http.match" || j["method"] == "http.list_works" ||
                     j["method"] == "http.check";
    grpc_refusals += j["method"] == "MatchImage";
  }
  EXPECT_EQ(http_refusals, 4);
  EXPECT_EQ(grpc_refusals, 1);
}

using test::connect_loopback;
using test::raw_http;

// Issue 25 item 3: every HTTP error is a JSON body {code, message, field?} with the status of its
// code, and a refused role is named in the words gRPC uses.
TEST_F(ServerTest, HttpErrorsAreJsonWithCodeMessageAndField) {
  server::ServerOptions o;
  o.max_message_bytes = 1 << 20;
  start(o);
  httplib::Client http("127.0.0.1", srv->http_port());
  const std::string copy = bytes_of(test::encode(photos[3], ".jpg", 70));
  const auto key = [](const std::string& k) {
    return httplib::Headers{{"Authorization", "Bearer " + k}};
  };
  // The answer's status and body; the body must be {code, message, field?} and nothing else.
  const auto expect_error = [](const httplib::Result& r, int status, const std::string& code,
                               const std::string& words, const std::string& field = "") {
    SCOPED_TRACE(words);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    EXPECT_FALSE(r->get_header_value("X-Request-Id").empty());
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "'" << r->body << "'";
    EXPECT_EQ(j.value("code", ""), code) << r->body;
    EXPECT_NE(j.value("message", "").find(words), std::string::npos) << words << " in " << r->body;
    if (field.empty()) {
      EXPECT_FALSE(j.contains("field")) << r->body;
    } else {
      EXPECT_EQ(j.value("field", ""), field) << r->body;
    }
    for (const auto& [name, value] : j.items()) {
      EXPECT_TRUE(name == "code" || name == "message" || name == "field")
          << name << " in " << r->body;
    }
  };
  expect_error(http.Post("/api/v1/match", copy, "image/jpeg"), 401, "UNAUTHENTICATED",
               "missing 'Authorization: Bearer <key>' header");
  expect_error(http.Post("/api/v1/match", key("imp_wrong"), copy, "image/jpeg"), 401,
               "UNAUTHENTICATED", "unknown API key");
  // The role refusal names the role needed, as gRPC's does.
  expect_error(http.Post("/api/v1/match", key(registrar_key), copy, "image/jpeg"), 403,
               "PERMISSION_DENIED",
               "key 'gallery' has role registrar; POST /api/v1/match needs matcher");
  v1::MatchResponse unused;
  const grpc::Status grpc_refusal = match_image(registrar_key, copy, &unused);
  EXPECT_EQ(grpc_refusal.error_message(),
            "key 'gallery' has role registrar; MatchImage needs matcher");
  expect_error(http.Get("/api/v1/thumbnail?id=art3", key(matcher_key)), 403, "PERMISSION_DENIED",
               "key 'platform' has role matcher; GET /api/v1/thumbnail needs registrar");
  // An empty body, a bad parameter, bytes that are no image: 400 naming what is wrong.
  expect_error(http.Post("/api/v1/match", key(matcher_key), "", "image/jpeg"), 400,
               "INVALID_ARGUMENT", "empty", "body");
  expect_error(http.Post("/api/v1/match?purpose=painting", key(matcher_key), copy, "image/jpeg"),
               400, "INVALID_ARGUMENT", "unknown 'painting'", "purpose");
  expect_error(http.Post("/api/v1/match?top_k=lots", key(matcher_key), copy, "image/jpeg"), 400,
               "INVALID_ARGUMENT", "not a whole number", "top_k");
  expect_error(http.Post("/api/v1/match", key(matcher_key), std::string(3000, 'x'), "image/jpeg"),
               400, "INVALID_ARGUMENT", "image", "image");
  // Over the size limit by its Content-Length (refused before the body is sent), and a request
  // that is no HTTP: the answers httplib's client would not wait for, read off the socket.
  const std::string over = raw_http(
      srv->http_port(), "POST /api/v1/match HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                            matcher_key + "\r\nContent-Length: 1048577\r\n\r\n");
  EXPECT_EQ(over.rfind("HTTP/1.1 413 ", 0), 0u) << over;
  EXPECT_NE(over.find("X-Request-Id: "), std::string::npos) << over;
  EXPECT_NE(
      over.find(
          R"({"code":"RESOURCE_EXHAUSTED","message":"request body over the limit of 1048576 bytes"})"),
      std::string::npos)
      << over;
  const std::string garbage = raw_http(srv->http_port(), "HELLO\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400 ", 0), 0u) << garbage;
  EXPECT_NE(garbage.find(R"({"code":"INVALID_ARGUMENT","message":"malformed HTTP request"})"),
            std::string::npos)
      << garbage;
  // What httplib answers itself, and the thumbnail's own refusals, are JSON too.
  expect_error(http.Get("/api/v1/nothing-here"), 404, "NOT_FOUND",
               "no such path: /api/v1/nothing-here");
  expect_error(http.Get("/api/v1/thumbnail?t=00000000000000000000000000000000"), 404, "NOT_FOUND",
               "no such thumbnail");
  expect_error(http.Get("/api/v1/thumbnail?id=no-such-work", key(admin_key)), 404, "NOT_FOUND",
               "no stored picture");
  expect_error(http.Get("/api/v1/thumbnail?id=art3", {{"Host", "attacker.example"}}), 421,
               "MISDIRECTED_REQUEST", "does not answer to Host 'attacker.example'");
  // After all these refusals the slots are free and a good call works.
  auto ok = http.Post("/api/v1/match", key(matcher_key), copy, "image/jpeg");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

// Issue 25 item 3: `curl --data-binary @img.jpg` sends application/x-www-form-urlencoded. The
// body is the upload whatever its Content-Type says, read only once the key is known.
TEST_F(ServerTest, HttpTakesRawBodiesWhateverTheirContentType) {
  start();
  httplib::Client http("127.0.0.1", srv->http_port());
  const httplib::Headers h = {{"Authorization", "Bearer " + matcher_key}};
  // Over 100 KB: beyond httplib's 8 KB limit on the form bodies it parses.
  const std::string copy = bytes_of(test::encode(photos[3], ".png"));
  ASSERT_GT(copy.size(), size_t(100'000));
  for (const char* type : {"application/x-www-form-urlencoded", "text/plain",
                           "application/octet-stream", "image/png", "image/jpeg"}) {
    auto r = http.Post("/api/v1/match?purpose=ai-training", h, copy, type);
    ASSERT_TRUE(r) << type;
    ASSERT_EQ(r->status, 200) << type << ": " << r->body;
    const auto j = nlohmann::json::parse(r->body);
    EXPECT_EQ(j["decision"], "flag") << type;
    EXPECT_EQ(j["matches"][0]["work_id"], "art3") << type;
    auto check = http.Post("/api/v1/check", copy, type);
    ASSERT_TRUE(check) << type;
    EXPECT_EQ(nlohmann::json::parse(check->body)["verdict"], "copy") << type << ": " << check->body;
  }
  // Without a key the form-typed upload is refused for the key, not for its size.
  auto anon = http.Post("/api/v1/match", copy, "application/x-www-form-urlencoded");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401) << anon->body;
  EXPECT_EQ(nlohmann::json::parse(anon->body)["code"], "UNAUTHENTICATED");
}

// Issue 25 item 4: a request's id is the caller's x-request-id or a new one, answered in the
// response (HTTP header, gRPC initial metadata) and written in the access log line.
TEST_F(ServerTest, RequestIdsAreEchoedOrMadeAndLogged) {
  start();
  httplib::Client http("127.0.0.1", srv->http_port());
  const std::string copy = bytes_of(test::encode(photos[3], ".jpg", 70));
  const auto logged = [&](const std::string& id) {
    std::lock_guard<std::mutex> lk(log_mu);
    return std::count_if(access_log.begin(), access_log.end(), [&](const std::string& line) {
      return nlohmann::json::parse(line).value("request_id", "") == id;
    });
  };
  const auto is_new_id = [](const std::string& id) {
    return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
  };
  auto sent =
      http.Post("/api/v1/match",
                {{"Authorization", "Bearer " + matcher_key}, {"X-Request-Id", "upload-7f3a"}}, copy,
                "image/jpeg");
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->status, 200);
  EXPECT_EQ(sent->get_header_value("X-Request-Id"), "upload-7f3a");
  EXPECT_EQ(logged("upload-7f3a"), 1);
  // None sent, or one that is no id (spaces, over 128 characters): a new one each time.
  std::vector<std::string> made;
  for (const httplib::Headers& h :
       {httplib::Headers{}, httplib::Headers{{"X-Request-Id", "two words"}},
        httplib::Headers{{"X-Request-Id", std::string(129, 'a')}}}) {
    auto r = http.Post("/api/v1/match", h, copy, "image/jpeg");  // no key: 401, still with an id
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    made.push_back(r->get_header_value("X-Request-Id"));
    EXPECT_TRUE(is_new_id(made.back())) << made.back();
    EXPECT_EQ(logged(made.back()), 1) << made.back();
  }
  EXPECT_NE(made[0], made[1]);
  EXPECT_NE(made[1], made[2]);
  auto health = http.Get("/healthz", {{"X-Request-Id", "probe-1"}});
  ASSERT_TRUE(health);
  EXPECT_EQ(health->get_header_value("X-Request-Id"), "probe-1");

  // gRPC: the id in initial metadata, for calls that succeed and calls that are refused.
  const auto server_id = [](const grpc::ClientContext& c) {
    for (const auto* md : {&c.GetServerInitialMetadata(), &c.GetServerTrailingMetadata()}) {
      auto it = md->find("x-request-id");
      if (it != md->end()) return std::string(it->second.data(), it->second.size());
    }
    return std::string();
  };
  v1::MatchHashRequest req;
  req.set_pdq(pdq_hash(photos[2]).hash.to_hex());
  v1::MatchResponse resp;
  for (const std::string& key : {matcher_key, std::string("imp_wrong")}) {
    auto c = ctx(key);
    c->AddMetadata("x-request-id", "grpc-call-" + key.substr(0, 6));
    const grpc::Status st = match->MatchHash(c.get(), req, &resp);
    EXPECT_EQ(st.ok(), key == matcher_key) << st.error_message();
    EXPECT_EQ(server_id(*c), "grpc-call-" + key.substr(0, 6));
    EXPECT_EQ(logged("grpc-call-" + key.substr(0, 6)), 1);
  }
  auto c = ctx(matcher_key);
  ASSERT_TRUE(match->MatchHash(c.get(), req, &resp).ok());
  EXPECT_TRUE(is_new_id(server_id(*c))) << server_id(*c);
  EXPECT_EQ(logged(server_id(*c)), 1);

  // Each usage event carries the request id of the call that recorded it.
  std::map<std::string, std::string> work_of_request;
  for (const v1::UsageEvent& e : list_usage()) work_of_request[e.request_id()] = e.work_id();
  EXPECT_EQ(work_of_request["upload-7f3a"], "art3");
  EXPECT_EQ(work_of_request["grpc-call-" + matcher_key.substr(0, 6)], "art2");
  EXPECT_EQ(work_of_request[server_id(*c)], "art2");
  EXPECT_EQ(work_of_request.size(), 3u);
}

// Issue 25: the server describes its HTTP API as OpenAPI 3, and what it answers fits the
// description: matches (a PDQ copy, a partial copy, nothing), errors, the creators' check.
TEST_F(ServerTest, HttpAnswersFitTheServedOpenApiDocument) {
  start();
  httplib::Client http("127.0.0.1", srv->http_port());
  auto doc = http.Get("/api/v1/openapi.json");
  ASSERT_TRUE(doc);
  ASSERT_EQ(doc->status, 200);
  const nlohmann::json d = nlohmann::json::parse(doc->body);
  EXPECT_EQ(d["openapi"], "3.0.3");
  const httplib::Headers key = {{"Authorization", "Bearer " + matcher_key}};
  const std::string copy = bytes_of(test::encode(photos[3], ".jpg", 70));
  const cv::Mat whole = test::mat_of(photos[0]);
  const std::string crop =
      bytes_of(test::encode(test::image_of(whole(cv::Rect(40, 30, 300, 220)).clone()), ".jpg", 90));
  const std::string unrelated = bytes_of(test::encode(test::synthetic_photo(400, 300, 9), ".jpg"));
  bool saw_region = false;
  for (const std::string* body : {&copy, &crop, &unrelated}) {
    auto r = http.Post("/api/v1/match?purpose=commercial&licensee=Acme&name=up.jpg", key, *body,
                       "image/jpeg");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/match", "post", r), "") << r->body;
    const auto j = nlohmann::json::parse(r->body);
    for (const auto& m : j["matches"]) saw_region |= m.contains("region");
    // What the document does not name fails: the check bites.
    nlohmann::json extra = j;
    extra["surprise"] = 1;
    EXPECT_NE(schema_mismatch(d, d["paths"]["/api/v1/match"]["post"]["responses"]["200"]["content"]
                                   ["application/json"]["schema"],
                              extra, "body"),
              "");
  }
  EXPECT_TRUE(saw_region) << "the crop was not found as a partial copy";
  for (const auto& [target, headers] :
       {std::pair{std::string("/api/v1/match?purpose=bogus"), key},
        std::pair{std::string("/api/v1/match"), httplib::Headers{}},
        std::pair{std::string("/api/v1/match"),
                  httplib::Headers{{"Authorization", "Bearer " + registrar_key}}}}) {
    auto r = http.Post(target, headers, copy, "image/jpeg");
    ASSERT_TRUE(r);
    EXPECT_GE(r->status, 400);
    EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/match", "post", r), "") << r->body;
  }
  for (const std::string* body : {&copy, &unrelated}) {
    auto r = http.Post("/api/v1/check", *body, "image/jpeg");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/check", "post", r), "") << r->body;
  }
  auto thumb = http.Get("/api/v1/thumbnail?id=art0");  // no key
  EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/thumbnail", "get", thumb), "");
  EXPECT_EQ(thumb->status, 401);
  auto ready = http.Get("/readyz");
  EXPECT_EQ(openapi_mismatch(srv->http_port(), "/readyz", "get", ready), "");
}

// format=proto: /api/v1/match answers with what MatchImage answers for the same bytes and
// context, in protobuf's JSON mapping, which the proto's own parser reads back; the default
// form is unchanged and an unknown format is refused before the body is read.
TEST_F(ServerTest, HttpProtoFormatIsTheGrpcAnswerInProtobufsJsonMapping) {
  start();
  httplib::Client http("127.0.0.1", srv->http_port());
  const httplib::Headers key = {{"Authorization", "Bearer " + matcher_key}};
  const cv::Mat whole = test::mat_of(photos[0]);
  const std::vector<std::string> bodies = {
      bytes_of(test::encode(photos[3], ".jpg", 70)),
      bytes_of(test::encode(test::image_of(whole(cv::Rect(40, 30, 300, 220)).clone()), ".jpg", 90)),
      bytes_of(test::encode(test::synthetic_photo(400, 300, 9), ".jpg"))};
  int matched = 0;
  for (const std::string& body : bodies) {
    auto r =
        http.Post("/api/v1/match?purpose=commercial&licensee=Acme&reference=post-42&format=proto",
                  key, body, "image/jpeg");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(openapi_mismatch(srv->http_port(), "/api/v1/match", "post", r), "") << r->body;
    EXPECT_EQ(r->body.find("\"work_id\""), std::string::npos) << "not the proto's JSON names";
    v1::MatchResponse from_http;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r->body, &from_http).ok()) << r->body;
    v1::MatchResponse from_grpc;
    ASSERT_TRUE(match_image(matcher_key, body, &from_grpc, v1::COMMERCIAL, "Acme").ok());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_http, from_grpc))
        << from_http.DebugString() << "\nagainst\n"
        << from_grpc.DebugString();
    matched += from_http.matches_size() > 0;
  }
  EXPECT_EQ(matched, 2);  // the copy and the crop
  auto bad = http.Post("/api/v1/match?format=xml", key, bodies[0], "image/jpeg");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  const auto j = nlohmann::json::parse(bad->body);
  EXPECT_EQ(j["field"], "format");
  auto plain = http.Post("/api/v1/match?format=imprint", key, bodies[0], "image/jpeg");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 200);
  EXPECT_NE(plain->body.find("\"work_id\""), std::string::npos);
}

// Issue 25: many works on one stream, each answered in order with its own result or error, a bad
// one not stopping the rest; retries on the stream are as safe as RegisterWork's.
TEST_F(ServerTest, RegisterWorksStreamAnswersEachWorkInOrder) {
  start();
  std::vector<v1::RegisterWorkRequest> reqs(6);
  reqs[0].mutable_work()->set_work_id("s0");
  reqs[0].set_image(bytes_of(test::encode(test::synthetic_photo(320, 240, 81), ".png")));
  reqs[1].mutable_work()->set_work_id("s1");
  v1::PdqFingerprint* f = reqs[1].mutable_fingerprints()->add_pdq();
  f->set_hash(pdq_hash(test::synthetic_photo(320, 240, 82)).hash.to_hex());
  reqs[2].mutable_work()->set_work_id("  ");  // blank: refused
  reqs[2].set_image(reqs[0].image());
  reqs[3] = reqs[0];  // the same work again: a retry, answered with the stored work
  reqs[4].mutable_work()->set_work_id("theirs");
  reqs[4].mutable_work()->set_owner("Zed");  // not an owner the registrar key acts for
  reqs[4].set_image(reqs[0].image());
  reqs[5].mutable_work()->set_work_id("s2");
  reqs[5].set_image(bytes_of(test::encode(test::synthetic_photo(320, 240, 83), ".png")));
  for (auto& r : reqs) {
    if (r.work().owner().empty()) r.mutable_work()->set_owner("Bo");
  }
  auto c = ctx(registrar_key);
  auto stream = cat->RegisterWorks(c.get());
  for (const auto& r : reqs) ASSERT_TRUE(stream->Write(r));
  ASSERT_TRUE(stream->WritesDone());
  std::vector<v1::RegisterWorksResponse> answers;
  v1::RegisterWorksResponse a;
  while (stream->Read(&a)) answers.push_back(a);
  const grpc::Status st = stream->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(answers.size(), reqs.size());
  for (size_t i = 0; i < answers.size(); ++i) EXPECT_EQ(answers[i].index(), int64_t(i));
  const std::vector<grpc::StatusCode> want = {
      grpc::StatusCode::OK, grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT,
      grpc::StatusCode::OK, grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::OK};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(answers[i].error_code(), int(want[i])) << i << ": " << answers[i].error_message();
    EXPECT_EQ(answers[i].has_result(), want[i] == grpc::StatusCode::OK) << i;
  }
  EXPECT_NE(answers[2].error_message().find("work_id"), std::string::npos);
  EXPECT_EQ(answers[0].result().work().work_id(), "s0");
  EXPECT_EQ(answers[3].result().work().registered_at(), answers[0].result().work().registered_at());
  EXPECT_EQ(answers[1].result().pdq().quality(), 100);
  for (const char* id : {"s0", "s1", "s2"}) EXPECT_TRUE(catalog->get_work(id).ok()) << id;
  EXPECT_FALSE(catalog->get_work("theirs").ok());
  // Registered while serving: the next match finds them.
  v1::MatchResponse r;
  ASSERT_TRUE(match_image(matcher_key, bytes_of(test::encode(test::synthetic_photo(320, 240, 83), ".jpg")), &r).ok());
  ASSERT_GE(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).work_id(), "s2");
  // Only registrars and admins may stream registrations.
  auto mc = ctx(matcher_key);
  auto refused = cat->RegisterWorks(mc.get());
  refused->Write(reqs[5]);
  refused->WritesDone();
  while (refused->Read(&a)) {
  }
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// Issue 25: a retried call changes nothing twice (a registration answers with the stored work, a
// match records its use once), and listings come a page at a time with page tokens.
TEST_F(ServerTest, RetriedCallsCountOnceAndListingsComeInPages) {
  start();
  v1::RegisterWorkRequest reg;
  reg.mutable_work()->set_work_id("retry");
  reg.mutable_work()->set_owner("Bo");
  reg.mutable_work()->set_title("Retry");
  (*reg.mutable_work()->mutable_metadata())["catalogue"] = "GX-1182";
  reg.set_image(bytes_of(test::encode(test::synthetic_photo(320, 240, 78), ".png")));
  v1::RegisterWorkResponse first, again;
  ASSERT_TRUE(cat->RegisterWork(ctx(registrar_key).get(), reg, &first).ok());
  EXPECT_EQ(first.work().metadata().at("catalogue"), "GX-1182");
  {  // the work's own fields come back from GetWork and with its matches
    v1::GetWorkRequest g;
    g.set_work_id("retry");
    v1::Work got;
    ASSERT_TRUE(cat->GetWork(ctx(registrar_key).get(), g, &got).ok());
    EXPECT_EQ(got.metadata().at("catalogue"), "GX-1182");
    v1::RegisterWorkRequest crowded = reg;
    crowded.mutable_work()->set_work_id("crowded");
    for (int i = 0; i < 65; ++i) (*crowded.mutable_work()->mutable_metadata())["k" + std::to_string(i)] = "v";
    const grpc::Status refused = cat->RegisterWork(ctx(registrar_key).get(), crowded, &again);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(refused.error_message().find("metadata: 66 entries, over the limit of 64"), std::string::npos)
        << refused.error_message();
  }
  grpc::Status st = cat->RegisterWork(ctx(registrar_key).get(), reg, &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(again.work().work_id(), "retry");
  EXPECT_EQ(again.work().registered_at(), first.work().registered_at());
  EXPECT_EQ(again.pdq().hash(), first.pdq().hash());
  // Another title or other bytes under the taken id: refused, saying what to set.
  v1::RegisterWorkRequest other = reg;
  other.mutable_work()->set_title("Other");
  st = cat->RegisterWork(ctx(registrar_key).get(), other, &again);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(st.error_message().find("set replace"), std::string::npos) << st.error_message();
  EXPECT_EQ(st.error_message().find("--replace"), std::string::npos) << st.error_message();
  other = reg;
  other.set_image(bytes_of(test::encode(test::synthetic_photo(320, 240, 79), ".png")));
  EXPECT_EQ(cat->RegisterWork(ctx(registrar_key).get(), other, &again).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(catalog->get_work("retry")->title, "Retry");
  // By hashes: the same hashes and qualities are a retry, another quality is not.
  v1::RegisterWorkRequest by_hash;
  by_hash.mutable_work()->set_work_id("hashed");
  by_hash.mutable_work()->set_owner("Bo");
  v1::PdqFingerprint* f = by_hash.mutable_fingerprints()->add_pdq();
  f->set_hash(first.pdq().hash());
  f->set_quality(90);
  ASSERT_TRUE(cat->RegisterWork(ctx(registrar_key).get(), by_hash, &again).ok());
  ASSERT_TRUE(cat->RegisterWork(ctx(registrar_key).get(), by_hash, &again).ok());
  EXPECT_EQ(again.pdq().quality(), 90);
  f->set_quality(80);
  EXPECT_EQ(cat->RegisterWork(ctx(registrar_key).get(), by_hash, &again).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  // A match retried with the same reference, or the same idempotency key, is one use of the
  // work; the same upload asked about for another purpose is another use.
  v1::MatchImageRequest mr;
  mr.set_image(bytes_of(test::encode(photos[2], ".jpg", 70)));
  mr.mutable_context()->set_purpose(v1::AI_TRAINING);
  mr.mutable_context()->set_reference("post-77");
  v1::MatchResponse r;
  auto ask = [&] {
    ASSERT_TRUE(match->MatchImage(ctx(matcher_key).get(), mr, &r).ok());
    ASSERT_EQ(r.decision(), "flag");
  };
  ask();
  ask();
  ask();
  mr.mutable_context()->set_idempotency_key("upload-9");
  ask();
  ask();
  mr.mutable_context()->clear_idempotency_key();
  mr.mutable_context()->set_purpose(v1::COMMERCIAL);
  ask();
  ask();
  const std::vector<v1::UsageEvent> events = list_usage();
  ASSERT_EQ(events.size(), 3u);
  std::set<std::string> ids;
  for (const v1::UsageEvent& e : events) {
    EXPECT_EQ(e.work_id(), "art2");
    EXPECT_EQ(e.reference(), "post-77");
    EXPECT_FALSE(e.event_id().empty());
    ids.insert(e.event_id());
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(events[2].purpose(), "commercial");
  // Without a reference or a key every call is its own use.
  mr.mutable_context()->clear_reference();
  ask();
  ask();
  EXPECT_EQ(list_usage().size(), 5u);
  // Over HTTP the key is the Idempotency-Key header.
  httplib::Client http("127.0.0.1", srv->http_port());
  for (int i = 0; i < 2; ++i) {
    auto h = http.Post("/api/v1/match?purpose=ai-training",
                       {{"Authorization", "Bearer " + matcher_key}, {"Idempotency-Key", "http-1"}},
                       mr.image(), "image/jpeg");
    ASSERT_TRUE(h);
    ASSERT_EQ(h->status, 200) << h->body;
  }
  EXPECT_EQ(list_usage().size(), 6u);

  // ListUsage a page of one at a time, newest first, through the page tokens: the listing
  // reversed. Filters: decision and time range.
  std::vector<std::string> forward, paged;
  for (const v1::UsageEvent& e : list_usage()) forward.push_back(e.event_id());
  v1::ListUsageRequest lr;
  lr.set_limit(1);
  lr.set_newest_first(true);
  for (int page = 0; page < 8; ++page) {
    const std::vector<v1::UsageEvent> got = list_usage(lr);
    if (got.empty()) break;
    ASSERT_EQ(got.size(), 1u);
    paged.push_back(got[0].event_id());
    lr.set_page_token(got[0].page_token());
  }
  EXPECT_EQ(paged, std::vector<std::string>(forward.rbegin(), forward.rend()));
  v1::ListUsageRequest only;
  only.set_decision("allow");
  EXPECT_TRUE(list_usage(only).empty());
  only.set_decision("flag");
  only.set_until("2999-01-01");
  EXPECT_EQ(list_usage(only).size(), 6u);
  only.set_since("2999-01-01");
  EXPECT_TRUE(list_usage(only).empty());
  for (auto bad : {+[](v1::ListUsageRequest* q) { q->set_decision("deny"); },
                   +[](v1::ListUsageRequest* q) { q->set_page_token("w1.3"); },
                   +[](v1::ListUsageRequest* q) { q->set_until("tomorrow"); }}) {
    v1::ListUsageRequest q;
    bad(&q);
    list_usage(q, &st);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  }

  // ListWorks two at a time, oldest first then newest first, through the page tokens.
  std::vector<std::string> all_works;
  for (const v1::Work& w : list_works({})) all_works.push_back(w.work_id());
  ASSERT_EQ(all_works.size(), 6u);  // art0-3, retry, hashed
  for (bool newest : {false, true}) {
    std::vector<std::string> pages;
    v1::ListWorksRequest wr;
    wr.set_limit(2);
    wr.set_newest_first(newest);
    for (int page = 0; page < 6; ++page) {
      const std::vector<v1::Work> got = list_works(wr);
      if (got.empty()) break;
      EXPECT_LE(got.size(), 2u);
      for (const v1::Work& w : got) pages.push_back(w.work_id());
      wr.set_page_token(got.back().page_token());
    }
    EXPECT_EQ(pages, newest ? std::vector<std::string>(all_works.rbegin(), all_works.rend())
                            : all_works);
  }
  v1::ListWorksRequest bad_token;
  bad_token.set_page_token("u1.5.5");
  list_works(bad_token, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // The work's own fields come with its matches too.
  ASSERT_TRUE(match_image(matcher_key,
                          bytes_of(test::encode(test::synthetic_photo(320, 240, 78), ".jpg")), &r)
                  .ok());
  ASSERT_GE(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).work_id(), "retry");
  EXPECT_EQ(r.matches(0).metadata().at("catalogue"), "GX-1182");
}

// Issue 21 item 1: no thumbnail without a key (when keys are on) or a link from a result the
// caller was just shown, and the picture is the one stored at registration, never a file the
// work's source names.
TEST_F(ServerTest, ThumbnailsOnlyForWorksJustShownNeverFromTheSourcePath) {
  test::write_file(dir.file("secret.png"), test::encode(test::synthetic_photo(300, 200, 31337), ".png"));
  start();
  // A registrar points a work's source at a file the server can read.
  v1::RegisterWorkRequest reg;
  reg.mutable_work()->set_work_id("snoop");
  reg.mutable_work()->set_owner("Ana");
  reg.mutable_work()->set_source(dir.file("secret.png"));
  reg.mutable_fingerprints()->add_pdq()->set_hash(pdq_hash(test::synthetic_photo(64, 64, 5)).hash.to_hex());
  v1::RegisterWorkResponse rr;
  ASSERT_TRUE(cat->RegisterWork(ctx(registrar_key).get(), reg, &rr).ok());

  httplib::Client http("127.0.0.1", srv->http_port());
  for (const char* id : {"snoop", "art3"}) {
    auto anon = http.Get((std::string("/api/v1/thumbnail?id=") + id).c_str());
    ASSERT_TRUE(anon);
    EXPECT_EQ(anon->status, 401) << id;
    EXPECT_NE(anon->get_header_value("Content-Type"), "image/jpeg") << id;
  }
  auto keyed = http.Get("/api/v1/thumbnail?id=snoop", {{"Authorization", "Bearer " + admin_key}});
  ASSERT_TRUE(keyed);
  EXPECT_EQ(keyed->status, 404);  // no picture was stored; the source path is never read

  // A creator checking a copy of art3 is shown its thumbnail by a link that names no id.
  auto check = http.Post("/api/v1/check", bytes_of(test::encode(photos[3], ".jpg", 70)), "image/jpeg");
  ASSERT_TRUE(check);
  const auto cj = nlohmann::json::parse(check->body);
  ASSERT_EQ(cj["verdict"], "copy") << cj.dump();
  ASSERT_TRUE(cj["matches"][0].contains("thumbnail")) << cj.dump();
  const std::string link = cj["matches"][0]["thumbnail"];
  EXPECT_EQ(link.find("art3"), std::string::npos) << link;
  auto t = http.Get(link.c_str());
  ASSERT_TRUE(t);
  ASSERT_EQ(t->status, 200) << link;
  EXPECT_EQ(t->get_header_value("Content-Type"), "image/jpeg");
  Result<Image> thumb = decode_image(std::span(reinterpret_cast<const uint8_t*>(t->body.data()), t->body.size()));
  ASSERT_TRUE(thumb.ok());
  EXPECT_LE(std::max(thumb->width, thumb->height), 200);
  // With a registrar's key, the stored picture of a work by id.
  auto by_id = http.Get("/api/v1/thumbnail?id=art3", {{"Authorization", "Bearer " + registrar_key}});
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->status, 200);
  auto made_up = http.Get("/api/v1/thumbnail?t=00000000000000000000000000000000");
  ASSERT_TRUE(made_up);
  EXPECT_EQ(made_up->status, 404);
}

// Issue 21 item 4: every field is checked before any work, and the answer names the field and
// its limit.
TEST_F(ServerTest, EveryFieldIsCheckedBeforeWorkAndNamedWithItsLimit) {
  start();
  auto expect_invalid = [](const grpc::Status& st, const std::vector<std::string>& words) {
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << words[0] << ": " << st.error_message();
    for (const std::string& w : words) {
      EXPECT_NE(st.error_message().find(w), std::string::npos) << w << " in: " << st.error_message();
    }
  };
  const std::string hash = pdq_hash(photos[2]).hash.to_hex();
  auto match_hash = [&](const std::function<void(v1::MatchHashRequest&)>& edit) {
    v1::MatchHashRequest req;
    req.set_pdq(hash);
    edit(req);
    v1::MatchResponse r;
    return match->MatchHash(ctx(matcher_key).get(), req, &r);
  };
  expect_invalid(match_hash([](auto& r) { r.mutable_context()->set_purpose(v1::Purpose(99)); }), {"purpose"});
  expect_invalid(match_hash([](auto& r) { r.mutable_context()->set_purpose(v1::Purpose(-1)); }), {"purpose"});
  expect_invalid(match_hash([](auto& r) { r.set_quality(-1); }), {"quality", "0..100"});
  expect_invalid(match_hash([](auto& r) { r.set_quality(500); }), {"quality", "0..100"});
  expect_invalid(match_hash([](auto& r) { r.mutable_context()->set_top_k(-5); }), {"top_k", "100"});
  expect_invalid(match_hash([](auto& r) { r.mutable_context()->set_min_score(std::nan("")); }), {"min_score"});
  expect_invalid(match_hash([](auto& r) { r.mutable_context()->set_min_score(1.5); }), {"min_score", "0..1"});
  expect_invalid(match_hash([](auto& r) { r.mutable_context()->set_reference(std::string(5 << 20, 'r')); }),
                 {"reference", "1024"});
  expect_invalid(match_hash([](auto& r) { r.mutable_context()->set_licensee(std::string(300, 'l')); }),
                 {"licensee", "256"});
  v1::MatchResponse unused;
  EXPECT_TRUE(match_hash([](auto&) {}).ok());

  v1::GetWorkRequest get;
  get.set_work_id("  ");
  v1::Work w;
  expect_invalid(cat->GetWork(ctx(registrar_key).get(), get, &w), {"work_id"});
  v1::RemoveWorkRequest rm;
  v1::RemoveWorkResponse rmr;
  expect_invalid(cat->RemoveWork(ctx(registrar_key).get(), rm, &rmr), {"work_id"});
  {
    v1::ListWorksRequest lr;
    lr.set_limit(-1);
    auto c = ctx(registrar_key);
    auto reader = cat->ListWorks(c.get(), lr);
    while (reader->Read(&w)) {
    }
    expect_invalid(reader->Finish(), {"limit"});
  }

  auto register_work = [&](const std::function<void(v1::RegisterWorkRequest&)>& edit) {
    v1::RegisterWorkRequest reg;
    reg.mutable_work()->set_work_id("checked");
    reg.mutable_work()->set_owner("Ana");
    reg.mutable_fingerprints()->add_pdq()->set_hash(pdq_hash(test::synthetic_photo(200, 150, 4711)).hash.to_hex());
    edit(reg);
    v1::RegisterWorkResponse rr;
    return cat->RegisterWork(ctx(registrar_key).get(), reg, &rr);
  };
  expect_invalid(register_work([](auto& r) { r.mutable_work()->set_work_id(" "); }), {"work_id"});
  expect_invalid(register_work([](auto& r) {
                   r.mutable_work()->mutable_licence()->mutable_commercial()->set_permission(v1::Permission(42));
                 }),
                 {"commercial", "permission"});
  expect_invalid(register_work([](auto& r) { r.mutable_work()->set_title(std::string(5000, 't')); }),
                 {"title", "4096"});
  expect_invalid(register_work([](auto& r) { r.mutable_work()->set_source(std::string(9000, 's')); }),
                 {"source", "8192"});
  expect_invalid(register_work([](auto& r) {
                   v1::PurposeTerms* t = r.mutable_work()->mutable_licence()->mutable_ai_training();
                   t->set_permission(v1::LICENSED);
                   for (int i = 0; i < 100'000; ++i) t->add_licensees("l" + std::to_string(i));
                 }),
                 {"licensees", "1000"});
  expect_invalid(register_work([](auto& r) {
                   for (int i = 0; i < 2000; ++i) *r.mutable_fingerprints()->add_pdq() = r.fingerprints().pdq(0);
                 }),
                 {"pdq", "100"});
  EXPECT_FALSE(catalog->get_work("checked").ok());

  // A registered hash without a quality is usable, as MatchHash takes it.
  const PdqHash fresh = pdq_hash(test::synthetic_photo(320, 240, 999)).hash;
  ASSERT_TRUE(register_work([&](auto& r) { r.mutable_fingerprints()->mutable_pdq(0)->set_hash(fresh.to_hex()); }).ok());
  v1::MatchHashRequest mh;
  mh.set_pdq(fresh.to_hex());
  v1::MatchResponse found;
  ASSERT_TRUE(match->MatchHash(ctx(matcher_key).get(), mh, &found).ok());
  ASSERT_EQ(found.matches_size(), 1);
  EXPECT_EQ(found.matches(0).work_id(), "checked");
}

// Issue 21 item 6: a registrar key acts only for the owners its line names.
TEST_F(ServerTest, RegistrarKeyReachesOnlyItsOwnersWorks) {
  const std::string studio_key = ApiKeys::generate_key();
  {
    std::ofstream keys(dir.file("keys"), std::ios::app);
    keys << ApiKeys::line_for("studio", Role::kRegistrar, studio_key) << " Bo\n";
  }
  start();
  v1::RemoveWorkRequest rm;
  rm.set_work_id("art0");  // Ana's
  v1::RemoveWorkResponse rmr;
  EXPECT_EQ(cat->RemoveWork(ctx(studio_key).get(), rm, &rmr).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(catalog->get_work("art0").ok());

  auto reg = [&](const std::string& id, const std::string& owner, bool replace) {
    v1::RegisterWorkRequest r;
    r.mutable_work()->set_work_id(id);
    r.mutable_work()->set_owner(owner);
    r.set_replace(replace);
    r.mutable_fingerprints()->add_pdq()->set_hash(pdq_hash(test::synthetic_photo(100, 80, 1 + id.size())).hash.to_hex());
    v1::RegisterWorkResponse rr;
    grpc::Status st = cat->RegisterWork(ctx(studio_key).get(), r, &rr);
    return std::make_pair(st, rr.work().owner());
  };
  EXPECT_EQ(reg("art0", "Bo", true).first.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(catalog->get_work("art0")->owner, "Ana");
  EXPECT_EQ(reg("anas", "Ana", false).first.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Its own owner's works: registered (the owner filled in when left out), replaced, removed.
  auto made = reg("bos", "", false);
  ASSERT_TRUE(made.first.ok()) << made.first.error_message();
  EXPECT_EQ(made.second, "Bo");
  EXPECT_TRUE(reg("bos", "Bo", true).first.ok());
  rm.set_work_id("bos");
  EXPECT_TRUE(cat->RemoveWork(ctx(studio_key).get(), rm, &rmr).ok());
  // An admin is not scoped.
  rm.set_work_id("art0");
  EXPECT_TRUE(cat->RemoveWork(ctx(admin_key).get(), rm, &rmr).ok());
}

// Sends `total` bytes of body in 64 KiB chunks with Transfer-Encoding: chunked; returns how many
// the server took before it shut the door (a send failed or timed out).
int64_t send_chunked(int port, const std::string& path, const std::string& key, int64_t total) {
  const int fd = connect_loopback(port);
  if (fd < 0) return -1;
  std::string head = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                     "Transfer-Encoding: chunked\r\n";
  if (!key.empty()) head += "Authorization: Bearer " + key + "\r\n";
  head += "\r\n";
  send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  const std::string chunk = "10000\r\n" + std::string(65536, 'x') + "\r\n";
  int64_t sent = 0;
  while (sent < total) {
    const ssize_t n = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += n;
  }
  close(fd);
  return sent;
}

// Issue 21 item 3: a body without a length is counted as it arrives and refused past
// --max-message-bytes, not buffered whole first.
TEST_F(ServerTest, ChunkedBodyOverTheLimitIsRefusedAsItArrives) {
  server::ServerOptions o;
  o.max_message_bytes = 1 << 20;
  start(o);
  const int64_t total = int64_t(256) << 20;
  for (const char* path : {"/api/v1/match", "/api/v1/check"}) {
    const int64_t sent = send_chunked(srv->http_port(), path, matcher_key, total);
    // The socket buffers on both sides hold a few MiB; the server read little past 1 MiB.
    EXPECT_LT(sent, int64_t(64) << 20) << path;
  }
  // Unauthenticated, the body is not read at all.
  EXPECT_LT(send_chunked(srv->http_port(), "/api/v1/match", "", total), int64_t(64) << 20);
  httplib::Client http("127.0.0.1", srv->http_port());
  auto m = http.Post("/api/v1/match", {{"Authorization", "Bearer " + matcher_key}},
                     bytes_of(test::encode(photos[0], ".jpg")), "image/jpeg");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200) << m->body;
}

// Issue 21 item 7: a client that stops reading ListWorks does not hold the catalog: other calls
// go on.
TEST_F(ServerTest, StalledListWorksDoesNotHoldUpOtherCalls) {
  std::vector<WorkInput> many;
  for (int i = 0; i < 3000; ++i) {
    WorkInput in;
    in.work.id = "bulk-" + std::to_string(i);
    in.work.title = std::string(4000, 'a' + i % 26);
    in.work.media = "image";
    PdqHash h;
    for (int b = 0; b < 256; b += 1 + (i + b) % 7) h.set_bit((b * 37 + i) % 256);
    in.fingerprints.push_back(WorkFingerprint::pdq(h, 100));
    many.push_back(std::move(in));
  }
  for (const Result<Work>& r : catalog->register_works(many)) ASSERT_TRUE(r.ok()) << r.status().to_string();
  // Listed a page at a time: every work once, in order, a limit across pages kept.
  int64_t listed = 0, limited = 0;
  std::string last;
  ASSERT_TRUE(catalog->list_works({}, [&](const Work& w) {
    if (++listed == 3004) last = w.id;
    return true;
  }).ok());
  EXPECT_EQ(listed, 3004);
  EXPECT_EQ(last, "bulk-2999");
  ASSERT_TRUE(catalog->list_works({"", 300}, [&](const Work&) { return ++limited > 0; }).ok());
  EXPECT_EQ(limited, 300);
  start();
  auto lc = ctx(registrar_key);
  v1::ListWorksRequest lr;
  auto reader = cat->ListWorks(lc.get(), lr);  // 12 MB of works, never read
  v1::Work first;
  ASSERT_TRUE(reader->Read(&first));  // the server is writing
  v1::GetWorkRequest get;
  get.set_work_id("art1");
  v1::Work w;
  auto gc = ctx(registrar_key);
  gc->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10 * kSlowdown));
  const grpc::Status st = cat->GetWork(gc.get(), get, &w);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(w.work_id(), "art1");
  lc->TryCancel();
}

// Issue 21 item 5: an answer the caller cancelled is not a use: no usage event is recorded.
TEST_F(ServerTest, CancelledMatchRecordsNoUsage) {
  const Image big = test::synthetic_photo(4000, 3000, 8);
  WorkInput in;
  in.work.id = "big";
  in.work.owner = "Ana";
  in.work.media = "image";
  in.fingerprints.push_back(WorkFingerprint::pdq(pdq_hash(big).hash, 100));
  ASSERT_TRUE(catalog->register_works(std::vector{in})[0].ok());
  start();
  const std::string bytes = bytes_of(test::encode(big, ".png"));
  auto c = ctx(matcher_key);
  grpc::Status result;
  std::thread caller([&] {
    v1::MatchImageRequest req;
    req.set_image(bytes);
    req.mutable_context()->set_purpose(v1::AI_TRAINING);
    v1::MatchResponse r;
    result = match->MatchImage(c.get(), req, &r);
  });
  // Cancel once the server is working on it, then wait until it has finished.
  httplib::Client http("127.0.0.1", srv->http_port());
  auto in_flight = [&](int n) {
    auto m = http.Get("/metrics");
    return m && m->body.find("imprint_calls_in_flight " + std::to_string(n) + "\n") != std::string::npos;
  };
  bool working = false;
  for (int i = 0; i < 2000 && !(working = in_flight(1)); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(working);
  c->TryCancel();
  caller.join();
  EXPECT_EQ(result.error_code(), grpc::StatusCode::CANCELLED);
  bool done = false;
  for (int i = 0; i < 2000 && !(done = in_flight(0)); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(done);
  EXPECT_TRUE(list_usage().empty());
  // The same upload, not cancelled, is a use.
  v1::MatchResponse r;
  ASSERT_TRUE(match_image(matcher_key, bytes, &r, v1::AI_TRAINING).ok());
  ASSERT_EQ(r.decision(), "flag");
  EXPECT_EQ(list_usage().size(), 1u);
}

// The value of a counter or gauge in /metrics; -1 when it is not there.
double metric(int http_port, const std::string& name) {
  httplib::Client http("127.0.0.1", http_port);
  auto m = http.Get("/metrics");
  if (!m) return -1;
  const size_t at = m->body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(m->body.substr(at + name.size() + 2));
}

v1::MatchVideoRequest every_frame_of(const std::string& video) {
  v1::MatchVideoRequest req;
  req.set_video(bytes_of(test::read_all(test::shared_dir() + "/vpdq-reference/videos/" + video)));
  // A tiny interval samples every frame, as a hostile caller would ask.
  req.set_seconds_per_hash(1e-9);
  req.mutable_context()->set_purpose(v1::AI_TRAINING);
  return req;
}

TEST_F(ServerTest, MatchVideoStopsAtItsDeadlineWithinAFrameAndFreesItsSlot) {
  server::ServerOptions o;
  o.call_deadline_ms = 1;  // far less than hashing hundreds of frames takes (over a second)
  o.max_concurrent_calls = 1;
  start(o);
  const v1::MatchVideoRequest req = every_frame_of("chair-orig-22-sd-bar.mp4");  // 22 s at 30 fps
  v1::MatchVideoResponse resp;
  const grpc::Status st = match->MatchVideo(ctx(matcher_key).get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  EXPECT_NE(st.error_message().find("server's limit of 1 ms"), std::string::npos)
      << st.error_message();
  // The reply came when the work stopped (synchronous handlers): it stopped long before the end.
  const double hashed = metric(srv->http_port(), "imprint_video_frames_hashed_total");
  EXPECT_GE(hashed, 0);
  EXPECT_LT(hashed, 100);
  // Its one slot is free again: the next call is served, not refused as busy.
  ASSERT_TRUE(wait_for_calls_in_flight(0));
  v1::MatchHashRequest h;
  h.set_pdq(std::string(64, '0'));
  v1::MatchResponse r;
  const grpc::Status next = match->MatchHash(ctx(matcher_key).get(), h, &r);
  EXPECT_TRUE(next.ok()) << next.error_message();
  EXPECT_TRUE(list_usage().empty());
}

TEST_F(ServerTest, MatchVideoRefusesMoreFramesThanItsBudget) {
  server::ServerOptions o;
  o.max_video_frames = 50;
  start(o);
  v1::MatchVideoRequest req = every_frame_of("chair-19-sd-bar.mp4");  // 564 frames
  v1::MatchVideoResponse resp;
  const grpc::Status st = match->MatchVideo(ctx(matcher_key).get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_NE(st.error_message().find("more than 50 frames to hash"), std::string::npos)
      << st.error_message();
  EXPECT_EQ(metric(srv->http_port(), "imprint_video_frames_hashed_total"), 50);
  // One a second fits the budget (19 frames).
  req.set_seconds_per_hash(1);
  const grpc::Status fits = match->MatchVideo(ctx(matcher_key).get(), req, &resp);
  ASSERT_TRUE(fits.ok()) << fits.error_message();
  EXPECT_EQ(resp.frames(), 19);
  EXPECT_EQ(metric(srv->http_port(), "imprint_video_frames_hashed_total"), 50 + 19);
}

// Issue 21 item 11: DNS rebinding. A page on an attacker's name that resolves to this server
// sends that name as its Host, and is refused before any route runs.
TEST_F(ServerTest, HttpAnswersOnlyHostsItServes) {
  server::ServerOptions o;
  o.allowed_hosts = {"imprint.example.org"};
  start(o);
  httplib::Client http("127.0.0.1", srv->http_port());
  auto status_for = [&](const std::string& host) {
    auto r = http.Get("/healthz", {{"Host", host}});
    return r ? r->status : -1;
  };
  EXPECT_EQ(status_for("127.0.0.1:" + std::to_string(srv->http_port())), 200);
  EXPECT_EQ(status_for("localhost:8080"), 200);
  EXPECT_EQ(status_for("LocalHost"), 200);
  EXPECT_EQ(status_for("[::1]:8080"), 200);
  EXPECT_EQ(status_for("10.1.2.3"), 200);  // an address is its own origin: no rebinding
  EXPECT_EQ(status_for("Imprint.Example.org:443"), 200);
  EXPECT_EQ(status_for("attacker.example"), 421);
  EXPECT_EQ(status_for("imprint.example.org.attacker.example"), 421);
  EXPECT_EQ(status_for("localhost.attacker.example"), 421);
  // httplib decodes "%00" in header values and hands them on as C strings: the check reads the
  // whole value, so the name after the NUL counts.
  EXPECT_EQ(status_for("127.0.0.1%00.attacker.example"), 421);
  EXPECT_EQ(status_for("localhost%00"), 421);
  EXPECT_EQ(status_for("[not-an-address]"), 421);
  auto refused = http.Post("/api/v1/match", {{"Host", "attacker.example"},
                                             {"Authorization", "Bearer " + matcher_key}},
                           "bytes", "image/png");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 421);
  const auto j = nlohmann::json::parse(refused->body);
  EXPECT_EQ(j["code"], "MISDIRECTED_REQUEST");
  EXPECT_NE(j["message"].get<std::string>().find("Host 'attacker.example'"), std::string::npos)
      << refused->body;
  EXPECT_NE(j["message"].get<std::string>().find("--allowed-host"), std::string::npos);
  // The refused call never reached the match path.
  ASSERT_TRUE(wait_for_calls_in_flight(0));
  EXPECT_TRUE(list_usage().empty());
}

// Issue 21 item 11: with --tls-cert and --tls-key the HTTP side speaks HTTPS with the same
// certificate as gRPC; plain HTTP gets no answer there.
TEST_F(ServerTest, HttpServesHttpsWithTheTlsCertificate) {
  const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  ASSERT_EQ(test::run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=imprint "
                              "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                              key + " -out " + cert + " 2>/dev/null"),
            0);
  server::ServerOptions o;
  o.tls_cert = cert;
  o.tls_key = key;
  start(o);
  httplib::SSLClient https("127.0.0.1", srv->http_port());
  https.set_ca_cert_path(cert.c_str());
  https.enable_server_certificate_verification(true);
  auto ok = https.Get("/healthz");
  ASSERT_TRUE(ok) << httplib::to_string(ok.error());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "ok\n");
  httplib::Client plain("127.0.0.1", srv->http_port());
  plain.set_read_timeout(5, 0);
  auto clear = plain.Get("/healthz");
  EXPECT_FALSE(clear && clear->status == 200);

  // A certificate file that is not one is refused at start, naming the flags.
  std::ofstream(dir.file("bad.pem")) << "not a certificate\n";
  server::ServerOptions bad;
  bad.listen = "127.0.0.1:0";
  bad.http_listen = "127.0.0.1:0";
  bad.keys_file = dir.file("keys");
  bad.tls_cert = dir.file("bad.pem");
  bad.tls_key = key;
  auto refused = server::Server::start(*catalog, nullptr, bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--tls-cert"), std::string::npos)
      << refused.status().message();
}

TEST_F(ServerTest, PublicAddressWithoutTlsNeedsInsecure) {
  server::ServerOptions o;
  o.listen = "0.0.0.0:0";
  o.http_listen = "127.0.0.1:0";
  o.keys_file = dir.file("keys");
  auto refused = server::Server::start(*catalog, nullptr, o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("without TLS"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--insecure"), std::string::npos);
  o.listen = "127.0.0.1:0";
  o.http_listen = "0.0.0.0:0";
  EXPECT_FALSE(server::Server::start(*catalog, nullptr, o).ok());
  o.insecure = true;
  auto served = server::Server::start(*catalog, nullptr, o);
  ASSERT_TRUE(served.ok()) << served.status().to_string();
  EXPECT_GT((*served)->http_port(), 0);
}

TEST(RateLimiter, TokenBucketPerKeyWithTheWaitToTheNextToken) {
  using std::chrono::milliseconds;
  server::RateLimiter limit(2, 3);  // 2 a second, bursts of 3
  const auto t0 = server::RateLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limit.acquire("a", t0), 0) << i;
  EXPECT_NEAR(limit.acquire("a", t0), 0.5, 1e-9);  // the next token in half a second
  EXPECT_EQ(limit.acquire("b", t0), 0);             // another key has its own bucket
  EXPECT_NEAR(limit.acquire("a", t0 + milliseconds(250)), 0.25, 1e-9);
  EXPECT_EQ(limit.acquire("a", t0 + milliseconds(500)), 0);
  EXPECT_GT(limit.acquire("a", t0 + milliseconds(500)), 0);
  // A long pause refills up to the burst, no further.
  const auto later = t0 + std::chrono::seconds(100);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limit.acquire("a", later), 0) << i;
  EXPECT_GT(limit.acquire("a", later), 0);
  server::RateLimiter off(0, 0);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(off.acquire("a", t0), 0);
}

// Issue 21: per-key rate limits. A key over its limit is refused at once with the wait, over gRPC
// (RESOURCE_EXHAUSTED, retry-after) and HTTP (429, Retry-After); other keys go on.
TEST_F(ServerTest, KeyOverItsRateLimitIsToldWhenToRetry) {
  server::ServerOptions o;
  o.rate_limit = 0.001;  // one call, then the next token in 1000 s
  start(o);
  v1::MatchHashRequest req;
  req.set_pdq(std::string(64, '0'));
  v1::MatchResponse r;
  ASSERT_TRUE(match->MatchHash(ctx(matcher_key).get(), req, &r).ok());
  auto c = ctx(matcher_key);
  const grpc::Status limited = match->MatchHash(c.get(), req, &r);
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(limited.error_message().find("key 'platform' is over its rate limit"),
            std::string::npos)
      << limited.error_message();
  const auto& trailers = c->GetServerTrailingMetadata();
  auto retry = trailers.find("retry-after");
  ASSERT_NE(retry, trailers.end());
  // About 1000 s (less the moments since the first call), in whole seconds.
  const int grpc_wait = std::stoi(std::string(retry->second.data(), retry->second.size()));
  EXPECT_LE(grpc_wait, 1000);
  EXPECT_GE(grpc_wait, 900);
  // Another key has its own bucket.
  v1::GetWorkRequest g;
  g.set_work_id("art0");
  v1::Work w;
  EXPECT_TRUE(cat->GetWork(ctx(registrar_key).get(), g, &w).ok());
  // The same key over HTTP: 429 with Retry-After, and no work done.
  httplib::Client http("127.0.0.1", srv->http_port());
  auto h = http.Post("/api/v1/match", {{"Authorization", "Bearer " + matcher_key}},
                     bytes_of(test::encode(photos[0], ".png")), "image/png");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 429) << h->body;
  const int http_wait = std::stoi(h->get_header_value("Retry-After"));
  EXPECT_LE(http_wait, 1000);
  EXPECT_GE(http_wait, 900);
  EXPECT_NE(h->body.find("rate limit"), std::string::npos) << h->body;
  EXPECT_TRUE(list_usage().empty());
}

TEST(RateLimiter, TableOfCallersIsBoundedWithoutAFreeBurstForNewcomers) {
  using std::chrono::seconds;
  server::RateLimiter limit(1, 2, /*max_buckets=*/2);
  const auto t0 = server::RateLimiter::Clock::now();
  EXPECT_EQ(limit.acquire("a", t0), 0);
  EXPECT_EQ(limit.acquire("b", t0), 0);
  // Full, and neither a nor b has refilled: a third caller waits a token's time.
  EXPECT_NEAR(limit.acquire("c", t0), 1.0, 1e-9);
  EXPECT_EQ(limit.acquire("a", t0), 0);  // callers already known go on
  // Once a and b have refilled (gone quiet) their buckets make room.
  EXPECT_EQ(limit.acquire("c", t0 + seconds(10)), 0);
  EXPECT_EQ(limit.acquire("c", t0 + seconds(10)), 0);
  EXPECT_GT(limit.acquire("c", t0 + seconds(10)), 0);
}

TEST(RateLimiter, ClientAddressDropsThePortAndNamesAnIpv6ClientByItsSlash64) {
  EXPECT_EQ(server::client_address("ipv4:203.0.113.7:5123"), "203.0.113.7");
  EXPECT_EQ(server::client_address("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(server::client_address("ipv6:[2001:db8:1:2:aaaa::1]:5123"), "2001:db8:1:2::/64");
  EXPECT_EQ(server::client_address("ipv6:%5B2001:db8:1:2:bbbb::9%5D:77"), "2001:db8:1:2::/64");
  EXPECT_EQ(server::client_address("2001:db8:1:2:cccc::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(server::client_address("ipv6:[::ffff:198.51.100.4]:80"), "198.51.100.4");
  EXPECT_EQ(server::client_address("ipv6:[::1]:80"), "::/64");
  EXPECT_EQ(server::client_address("unix:/run/imprint.sock"), "unix:/run/imprint.sock");
}

// Issue 21: without a key file every caller is anonymous, and --rate-limit applies per client
// address (it used to apply to keys only, so an unkeyed server had no limit at all).
TEST(ServerRateLimit, WithoutKeysEachClientAddressHasItsOwnBucket) {
  test::TempDir dir;
  CatalogOptions co;
  co.dir = dir.file("cat");
  co.sync_commits = false;
  auto c = Catalog::open(co);
  ASSERT_TRUE(c.ok());
  server::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.http_listen = "127.0.0.1:0";
  o.rate_limit = 0.001;  // one call, then the next token in 1000 s
  o.access_log = [](const std::string&) {};
  auto s = server::Server::start(**c, nullptr, o);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  auto match = v1::MatchService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*s)->grpc_port()), grpc::InsecureChannelCredentials()));
  v1::MatchHashRequest req;
  req.set_pdq(std::string(64, '0'));
  v1::MatchResponse r;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(match->MatchHash(&ctx, req, &r).ok());
  }
  grpc::ClientContext ctx;
  const grpc::Status limited = match->MatchHash(&ctx, req, &r);
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(limited.error_message().find("address 127.0.0.1 is over its rate limit"),
            std::string::npos)
      << limited.error_message();
  EXPECT_TRUE(ctx.GetServerTrailingMetadata().count("retry-after"));
  // HTTP from 127.0.0.1 shares that address's bucket; 127.0.0.2 has its own.
  const std::string post =
      "POST /api/v1/match HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
      "Content-Length: 4\r\n\r\nnope";
  const std::string same = raw_http((*s)->http_port(), post);
  EXPECT_NE(same.find("HTTP/1.1 429"), std::string::npos) << same;
  EXPECT_NE(same.find("Retry-After: "), std::string::npos) << same;
  const std::string other = raw_http((*s)->http_port(), post, "127.0.0.2");
  ASSERT_FALSE(other.empty()) << "cannot connect from 127.0.0.2";
  EXPECT_NE(other.find("HTTP/1.1 400"), std::string::npos) << other;  // served: not an image
  const std::string other_again = raw_http((*s)->http_port(), post, "127.0.0.2");
  EXPECT_NE(other_again.find("HTTP/1.1 429"), std::string::npos) << other_again;
}

// Issue 21: the creators' page needs no key, so it is limited per client address
// (--public-rate-limit) and its callers cannot spend the keyed callers' limits or slots.
TEST_F(ServerTest, CreatorsPageIsRateLimitedPerClientAddress) {
  server::ServerOptions o;
  o.public_rate_limit = 0.001;
  o.public_rate_limit_burst = 1;
  start(o);
  const std::string png = bytes_of(test::encode(photos[2], ".png"));
  const std::string post =
      "POST /api/v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "image/png\r\nContent-Length: " +
      std::to_string(png.size()) + "\r\n\r\n" + png;
  const std::string first = raw_http(srv->http_port(), post);
  EXPECT_NE(first.find("HTTP/1.1 200"), std::string::npos) << first.substr(0, 300);
  EXPECT_NE(first.find("art2"), std::string::npos) << first.substr(0, 600);
  const std::string second = raw_http(srv->http_port(), post);
  EXPECT_NE(second.find("HTTP/1.1 429"), std::string::npos) << second.substr(0, 300);
  EXPECT_NE(second.find("Retry-After: "), std::string::npos) << second.substr(0, 300);
  EXPECT_NE(second.find("rate limit"), std::string::npos) << second.substr(0, 600);
  const std::string elsewhere = raw_http(srv->http_port(), post, "127.0.0.2");
  EXPECT_NE(elsewhere.find("HTTP/1.1 200"), std::string::npos) << elsewhere.substr(0, 300);
  // A keyed caller from the same address is not charged for the page's calls.
  httplib::Client http("127.0.0.1", srv->http_port());
  auto h =
      http.Post("/api/v1/match", {{"Authorization", "Bearer " + matcher_key}}, png, "image/png");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200) << h->body;
}

TEST(ServerStart, RefusesPublicAddressWithoutKeys) {
  test::TempDir dir;
  CatalogOptions co;
  co.dir = dir.file("cat");
  auto c = Catalog::open(co);
  ASSERT_TRUE(c.ok());
  server::ServerOptions o;
  o.listen = "0.0.0.0:0";
  o.http_listen = "";
  auto s = server::Server::start(**c, nullptr, o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("without --keys"), std::string::npos);
}

}  // namespace
}  // namespace imprint
