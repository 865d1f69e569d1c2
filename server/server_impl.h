// Internal: the state shared by the gRPC services, the HTTP side and the server's life cycle.
#pragma once

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "api_keys.h"
#include "imprint/v1/imprint.grpc.pb.h"
#include "metrics.h"
#include "rate_limit.h"
#include "server.h"
#include "thumbnail_grants.h"
#include "video_ingest.h"
#include "video_match.h"

namespace imprint::server {

grpc::StatusCode grpc_code(StatusCode c);
const char* grpc_code_name(grpc::StatusCode c);
grpc::Status to_grpc(const Status& s);

// A request's id, as the caller sent it in `x-request-id` (gRPC metadata or HTTP header) when it
// is 1 to 128 printable ASCII characters without spaces, else a new one: 32 random hex digits.
// Answered in the response's `x-request-id` and written in the access log line.
std::string request_id_or_new(std::string_view sent);
inline constexpr size_t kMaxRequestIdBytes = 128;

// The refusal of a key whose role does not cover a call, in the same words over gRPC and HTTP:
// "key 'NAME' has role ROLE; CALL needs ROLE".
std::string role_refusal(const Caller& who, const std::string& call, Role need);

// A call as the gate sees it, whatever carried it (gRPC metadata, HTTP headers).
struct CallInfo {
  const char* method = "";  // for metrics and the access log: "MatchImage", "http.match"
  std::string call;  // the call in a role refusal's words: "MatchImage", "POST /api/v1/match"
  Role need = Role::kMatcher;
  std::optional<std::string> authorization;  // the credentials sent ("Bearer KEY"), if any
  std::string missing_credentials;           // the refusal's words when none were sent
  std::string request_id;                    // the caller's usable id or a new one
  std::string peer;                          // gRPC's peer, or the HTTP client's address
  // A public route (the creators' page's check): no key is asked for, whatever the key file
  // says, and the caller is charged by address to the public page's limit (public_rate).
  bool open_to_all = false;
};

// Why the gate refused a call before running it, where the transport says it its own way (both
// are RESOURCE_EXHAUSTED over gRPC; HTTP answers 503 and 429, each with Retry-After).
enum class Refusal { kNone, kBusy, kRateLimited };

struct GateResult {
  grpc::Status status;
  Refusal refusal = Refusal::kNone;
  int64_t retry_after_s = 0;  // kBusy, kRateLimited: whole seconds to wait
};

// The one gate every call of either front passes: admission (a --max-concurrent-calls slot, held
// while the call runs), authentication and role, the caller's rate-limit charge, then the call;
// metrics and the access-log line whatever happens.
class CallGate {
 public:
  CallGate(Server::Impl& server) : server_(server) {}
  // A gRPC call: its credentials and request id from the metadata; the id is sent back as
  // initial metadata and a rate-limit refusal carries retry-after as trailing metadata.
  grpc::Status run(grpc::ServerContext* ctx, const char* method, Role need,
                   const std::function<grpc::Status(const Caller&)>& fn);
  GateResult run(const CallInfo& call, const std::function<grpc::Status(const Caller&)>& fn);

 private:
  Server::Impl& server_;
};

// Streams register here so a watchdog can cancel the ones that go silent.
class StreamWatch {
 public:
  void touch(grpc::ServerContext* ctx);
  void forget(grpc::ServerContext* ctx);
  // Cancels streams idle longer than `idle`; returns how many.
  int cancel_idle(std::chrono::milliseconds idle);

  // Watches a stream from its creation (touched now) until the handler returns (forgotten).
  class Watched {
   public:
    Watched(StreamWatch& w, grpc::ServerContext* ctx) : w_(w), ctx_(ctx) { w_.touch(ctx_); }
    ~Watched() { w_.forget(ctx_); }
    Watched(const Watched&) = delete;
    Watched& operator=(const Watched&) = delete;

   private:
    StreamWatch& w_;
    grpc::ServerContext* ctx_;
  };

 private:
  std::mutex mu_;
  std::map<grpc::ServerContext*, std::chrono::steady_clock::time_point> last_;
};

// The key file's keys, replaced whole when the file is reloaded (Server::reload_keys, SIGHUP)
// while calls read them: each read takes a snapshot that lives as long as the expression
// (`keys->authenticate(...)`), so a call never sees half a file.
class KeyRing {
 public:
  // Whether keys are on at all; fixed at start (a reload cannot turn them off).
  explicit operator bool() const { return on_; }
  std::shared_ptr<const ApiKeys> operator->() const {
    std::lock_guard<std::mutex> lk(mu_);
    return current_;
  }
  void set(ApiKeys keys) {
    auto next = std::make_shared<const ApiKeys>(std::move(keys));
    std::lock_guard<std::mutex> lk(mu_);
    current_ = std::move(next);
    on_ = true;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const ApiKeys> current_;
  std::atomic<bool> on_{false};
};

struct MatchRequestParts {
  std::string image;                // bytes, or empty for a hash query
  std::optional<PdqHash> hash;
  int quality = 100;
  const v1::MatchContext* context = nullptr;
  std::string request_id;  // kept in the usage events
  // Asked after matching and before any usage is recorded: an answer nobody will receive (the
  // caller cancelled, a deadline passed) is not a use. Unset: always wanted.
  std::function<grpc::Status()> still_wanted;
};

class Server::Impl {
 public:
  Catalog& catalog;
  UsageLog* usage = nullptr;
  ServerOptions options;
  KeyRing keys;
  Metrics metrics;
  StreamWatch streams;
  ThumbnailGrants thumbnails;
  std::atomic<int> in_flight{0};
  RateLimiter rate{options.rate_limit, options.rate_limit_burst};                       // API calls
  RateLimiter public_rate{options.public_rate_limit, options.public_rate_limit_burst};  // the page

  std::unique_ptr<v1::CatalogService::Service> catalog_service;
  std::unique_ptr<v1::MatchService::Service> match_service;
  std::unique_ptr<grpc::Service> reflection_v1_service;  // reflection_v1.cc
  // After the services, so it is destroyed before them: gRPC requires a registered service to
  // outlive its server.
  std::unique_ptr<grpc::Server> grpc_server;
  int grpc_port = 0;

  std::unique_ptr<httplib::Server> http;
  std::thread http_thread;
  int http_port = 0;

  std::thread watchdog;
  std::atomic<bool> stopping{false};

  Impl(Catalog& c, UsageLog* u, const ServerOptions& o) : catalog(c), usage(u), options(o) {}

  // Matching shared by gRPC and HTTP: fingerprint, match, record usage. `caller` names the party
  // in usage records.
  // `record` is false for the creators' page: a creator checking their own art is not a use.
  grpc::Status match(const MatchRequestParts& req, const std::string& caller,
                     v1::MatchResponse* out, ImageFingerprint* fp_out = nullptr,
                     QueryResult* result_out = nullptr, bool record = true);
  // `query_out` and `result_out` (may be null) receive the hashed upload and its matches, for the
  // HTTP front's JSON.
  grpc::Status match_video(const v1::MatchVideoRequest& req, const std::string& caller,
                           const std::string& request_id, v1::MatchVideoResponse* out, VideoQuery* query_out = nullptr,
                           VideoQueryResult* result_out = nullptr,
                           const std::function<grpc::Status()>& still_wanted = {});
  // An uploaded video hashed as the catalog hashes one (frames, bar-cropped and mirrored
  // hashes) within the server's limits (max_pixels, max_video_seconds, max_video_frames), one
  // thread; `still_wanted` is asked for every packet and frame.
  grpc::Status hash_upload_video(std::span<const uint8_t> bytes, double seconds_per_hash,
                                 const std::function<grpc::Status()>& still_wanted,
                                 HashedVideo* out);
  MatchOptions match_options(const v1::MatchContext* ctx) const;
  // DEADLINE_EXCEEDED once a call that started at `start` has run past call_deadline_ms, else
  // OK: what every front asks while a call works.
  grpc::Status within_deadline(std::chrono::steady_clock::time_point start) const;
  void log_access(const std::string& line);
  void update_gauges();
  // Readiness (ServerOptions::ready_max_lag_ms): the catalog caught up and not shutting down.
  // update_readiness() tells gRPC health when it changes; the watchdog calls it.
  bool ready() const { return !stopping && catalog.ready(options.ready_max_lag_ms); }
  void update_readiness();
  std::atomic<int> serving{-1};  // what gRPC health last heard: -1 nothing yet, 0 or 1
  // Charges one API call to the caller's --rate-limit bucket: its key's, or without a key file
  // its network address's (client_address(peer)). OK, or RESOURCE_EXHAUSTED naming the wait,
  // with *retry_after_s the whole seconds to wait.
  grpc::Status charge(const Caller& caller, std::string_view peer, int64_t* retry_after_s);
  // The same for a call of the creators' page (no key by design): --public-rate-limit, by address.
  grpc::Status charge_public(std::string_view peer, int64_t* retry_after_s);
};

// One of the --max-concurrent-calls slots, held for as long as this lives: whatever way a call
// ends (an early return, an exception), its slot is given back. A slot that was not admitted
// (the server is full) is given back too.
class CallSlot {
 public:
  explicit CallSlot(Server::Impl& s)
      : in_flight_(s.in_flight), admitted_(++s.in_flight <= s.options.max_concurrent_calls) {}
  ~CallSlot() { --in_flight_; }
  CallSlot(const CallSlot&) = delete;
  CallSlot& operator=(const CallSlot&) = delete;
  bool admitted() const { return admitted_; }

 private:
  std::atomic<int>& in_flight_;
  bool admitted_;
};

// The catalog calls' work (catalog_calls.cc), shared by gRPC's CatalogService and the HTTP
// routes: each front authenticates, admits and charges a call its own way, then asks this.
class CatalogCalls {
 public:
  explicit CatalogCalls(Server::Impl& s) : s_(s) {}
  // RegisterWork: checked, fingerprinted (`still_wanted` asked while a video is hashed),
  // registered, answered.
  grpc::Status register_work(const Caller& caller, const v1::RegisterWorkRequest& req,
                             const std::function<grpc::Status()>& still_wanted,
                             v1::RegisterWorkResponse* resp);
  // A registration request as the catalog's input: every field checked, the caller's right to
  // the owner (and to the work it replaces) checked, the image fingerprinted or the hashes read.
  // Hashing a video asks `still_wanted` for every packet and frame.
  grpc::Status input_of(const Caller& caller, const v1::RegisterWorkRequest& req,
                        const std::function<grpc::Status()>& still_wanted, WorkInput* out);
  // The answer to a registration the catalog did (or refused); a retry of one that succeeded is
  // answered as the first was.
  grpc::Status answer(const WorkInput& in, Result<Work> done, v1::RegisterWorkResponse* resp);
  grpc::Status get_work(const v1::GetWorkRequest& req, v1::Work* resp);
  // Each work of the page (with its page token) to `each` in order; `each` false stops the
  // listing (CANCELLED).
  grpc::Status list_works(const v1::ListWorksRequest& req,
                          const std::function<bool(const v1::Work&)>& each);
  grpc::Status remove_work(const Caller& caller, const v1::RemoveWorkRequest& req);
  // Each usage event of the page (with its page token) to `each`, in order.
  grpc::Status list_usage(const v1::ListUsageRequest& req,
                          const std::function<bool(const v1::UsageEvent&)>& each);

 private:
  grpc::Status video_input_of(const v1::RegisterWorkRequest& req,
                              const std::function<grpc::Status()>& still_wanted, WorkInput* out);
  grpc::Status frames_input_of(const v1::VideoFrameHashes& v, WorkInput* out);
  grpc::Status may_touch(const Caller& caller, const std::optional<std::string>& owner,
                         const std::string& existing_id) const;

  Server::Impl& s_;
};

// ListWorks' page tokens: "w1.<row id>" of the last work a page gave.
std::string work_page_token(int64_t pk);
std::optional<int64_t> parse_work_page_token(const std::string& token);

std::unique_ptr<v1::CatalogService::Service> make_catalog_service(Server::Impl& server);
std::unique_ptr<v1::MatchService::Service> make_match_service(Server::Impl& server);
// grpc.reflection.v1, answered by the v1alpha service grpc++ provides (reflection_v1.cc).
std::unique_ptr<grpc::Service> make_reflection_v1_service(Server::Impl& server);
Status start_http(Server::Impl& server);

// Conversions between catalog types and protos (proto_convert.cc).
void to_proto(const Work& w, v1::Work* out);
void to_proto(const LicencePolicy& p, v1::LicencePolicy* out);
Result<LicencePolicy> from_proto(const v1::LicencePolicy& p);
void to_proto(const ImageFingerprint& q, const QueryResult& r, v1::MatchResponse* out);
void to_proto(const VideoQuery& q, const VideoQueryResult& r, v1::MatchVideoResponse* out);
void to_proto(const UsageEvent& e, v1::UsageEvent* out);
Purpose purpose_from_proto(v1::Purpose p);

}  // namespace imprint::server
