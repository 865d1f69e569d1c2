// The imprint.v1 CatalogService and MatchService on the synchronous gRPC API.
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "image_query.h"
#include "match_json.h"
#include "request_checks.h"
#include "server_impl.h"
#include "video_index.h"
#include "video_ingest.h"
#include "video_match.h"

namespace imprint::server {
namespace {

using grpc::ServerContext;
using grpc::StatusCode;

grpc::Status check_deadline(const Server::Impl& s, std::chrono::steady_clock::time_point start,
                            ServerContext* ctx) {
  if (ctx->IsCancelled()) return grpc::Status(StatusCode::CANCELLED, "the caller cancelled");
  return s.within_deadline(start);
}

class CatalogServiceImpl final : public v1::CatalogService::Service {
 public:
  explicit CatalogServiceImpl(Server::Impl& s) : s_(s), gate_(s), calls_(s) {}

  grpc::Status RegisterWork(ServerContext* ctx, const v1::RegisterWorkRequest* req,
                            v1::RegisterWorkResponse* resp) override {
    return gate_.run(ctx, "RegisterWork", Role::kRegistrar, [&](const Caller& caller) {
      const auto start = std::chrono::steady_clock::now();
      return calls_.register_work(
          caller, *req, [&] { return check_deadline(s_, start, ctx); }, resp);
    });
  }

  // Many works on one stream: each request is checked and fingerprinted as RegisterWork does,
  // then registered in batches (one transaction each, up to kBatchWorks works or kBatchBytes of
  // uploaded bytes), and answered per request in order, with its index in the stream and its own
  // result or error; one bad work does not stop the others.
  grpc::Status RegisterWorks(
      ServerContext* ctx,
      grpc::ServerReaderWriter<v1::RegisterWorksResponse, v1::RegisterWorkRequest>* stream) override {
    return gate_.run(ctx, "RegisterWorks", Role::kRegistrar, [&](const Caller& caller) {
      const StreamWatch::Watched watched(s_.streams, ctx);
      constexpr size_t kBatchWorks = 64;
      constexpr size_t kBatchBytes = 64u << 20;
      struct Item {
        int64_t index = 0;
        bool replace = false;
        WorkInput in;
        grpc::Status status;  // not OK: refused before registration
        std::optional<Result<Work>> done;  // the catalog's answer, once registered
      };
      std::vector<Item> batch;
      size_t batch_bytes = 0;
      int64_t n = 0;
      bool writing = true;
      // Registers what the batch holds (replacements and the rest in one transaction each) and
      // answers each item in stream order.
      auto flush = [&] {
        for (bool replace : {false, true}) {
          std::vector<WorkInput> inputs;
          std::vector<Item*> of;
          for (Item& item : batch) {
            if (item.status.ok() && item.replace == replace) {
              inputs.push_back(item.in);
              of.push_back(&item);
            }
          }
          if (inputs.empty()) continue;
          std::vector<Result<Work>> done = s_.catalog.register_works(inputs, replace);
          for (size_t k = 0; k < of.size(); ++k) of[k]->done = std::move(done[k]);
        }
        for (Item& item : batch) {
          v1::RegisterWorksResponse out;
          out.set_index(item.index);
          grpc::Status st = item.status;
          if (st.ok() && item.done)
            st = calls_.answer(item.in, std::move(*item.done), out.mutable_result());
          if (!st.ok()) {
            out.clear_result();
            out.set_error_code(int(st.error_code()));
            out.set_error_message(st.error_message());
          }
          if (writing && !stream->Write(out)) writing = false;
        }
        batch.clear();
        batch_bytes = 0;
      };
      v1::RegisterWorkRequest req;
      while (writing && stream->Read(&req)) {
        s_.streams.touch(ctx);
        if (++n > s_.options.max_stream_messages) {
          flush();
          return grpc::Status(StatusCode::RESOURCE_EXHAUSTED,
                              "stream longer than " + std::to_string(s_.options.max_stream_messages) +
                                  " messages; open a new one");
        }
        Item item;
        item.index = n - 1;
        item.replace = req.replace();
        int64_t retry_after_s = 0;
        item.status = s_.charge(caller, ctx->peer(), &retry_after_s);  // each message is a call
        const auto start = std::chrono::steady_clock::now();
        if (item.status.ok()) {
          item.status = calls_.input_of(
              caller, req, [&] { return check_deadline(s_, start, ctx); }, &item.in);
        }
        batch_bytes +=
            req.image().size() + req.video().size() + size_t(req.video_frames().frames_size()) * 64;
        batch.push_back(std::move(item));
        if (batch.size() >= kBatchWorks || batch_bytes >= kBatchBytes) flush();
      }
      flush();
      if (ctx->IsCancelled()) return grpc::Status(StatusCode::CANCELLED, "stream cancelled (idle or by the caller)");
      return grpc::Status::OK;
    });
  }

  grpc::Status GetWork(ServerContext* ctx, const v1::GetWorkRequest* req, v1::Work* resp) override {
    return gate_.run(ctx, "GetWork", Role::kRegistrar,
                     [&](const Caller&) { return calls_.get_work(*req, resp); });
  }

  grpc::Status ListWorks(ServerContext* ctx, const v1::ListWorksRequest* req,
                         grpc::ServerWriter<v1::Work>* writer) override {
    return gate_.run(ctx, "ListWorks", Role::kRegistrar, [&](const Caller&) {
      return calls_.list_works(
          *req, [&](const v1::Work& w) { return !ctx->IsCancelled() && writer->Write(w); });
    });
  }

  grpc::Status RemoveWork(ServerContext* ctx, const v1::RemoveWorkRequest* req,
                          v1::RemoveWorkResponse*) override {
    return gate_.run(ctx, "RemoveWork", Role::kRegistrar,
                     [&](const Caller& caller) { return calls_.remove_work(caller, *req); });
  }

  grpc::Status ListUsage(ServerContext* ctx, const v1::ListUsageRequest* req,
                         grpc::ServerWriter<v1::UsageEvent>* writer) override {
    return gate_.run(ctx, "ListUsage", Role::kAdmin, [&](const Caller&) {
      return calls_.list_usage(
          *req, [&](const v1::UsageEvent& e) { return !ctx->IsCancelled() && writer->Write(e); });
    });
  }

 private:
  Server::Impl& s_;
  CallGate gate_;
  CatalogCalls calls_;
};

class MatchServiceImpl final : public v1::MatchService::Service {
 public:
  explicit MatchServiceImpl(Server::Impl& s) : s_(s), gate_(s) {}

  grpc::Status MatchImage(ServerContext* ctx, const v1::MatchImageRequest* req,
                          v1::MatchResponse* resp) override {
    return gate_.run(ctx, "MatchImage", Role::kMatcher, [&](const Caller& caller) {
      grpc::Status checked = check_match_context(req->context());
      if (!checked.ok()) return checked;
      const auto start = std::chrono::steady_clock::now();
      MatchRequestParts parts;
      parts.image = req->image();
      parts.context = &req->context();
      parts.request_id = caller.request_id;
      parts.still_wanted = [&] { return check_deadline(s_, start, ctx); };
      grpc::Status st = s_.match(parts, caller.name, resp);
      if (!st.ok()) return st;
      return check_deadline(s_, start, ctx);
    });
  }

  grpc::Status MatchVideo(ServerContext* ctx, const v1::MatchVideoRequest* req,
                          v1::MatchVideoResponse* resp) override {
    return gate_.run(ctx, "MatchVideo", Role::kMatcher, [&](const Caller& caller) {
      grpc::Status checked = check_match_context(req->context());
      if (!checked.ok()) return checked;
      const auto start = std::chrono::steady_clock::now();
      grpc::Status st =
          s_.match_video(*req, caller.name, caller.request_id, resp, nullptr, nullptr, [&] { return check_deadline(s_, start, ctx); });
      if (!st.ok()) return st;
      return check_deadline(s_, start, ctx);
    });
  }

  grpc::Status MatchHash(ServerContext* ctx, const v1::MatchHashRequest* req,
                         v1::MatchResponse* resp) override {
    return gate_.run(ctx, "MatchHash", Role::kMatcher, [&](const Caller& caller) {
      grpc::Status checked = check_match_context(req->context());
      if (checked.ok()) checked = check_quality("quality", req->quality());
      if (!checked.ok()) return checked;
      Result<PdqHash> h = PdqHash::from_hex(req->pdq());
      if (!h.ok()) return to_grpc(h.status());
      MatchRequestParts parts;
      parts.hash = *h;
      parts.quality = req->quality() == 0 ? 100 : req->quality();
      parts.context = &req->context();
      parts.request_id = caller.request_id;
      const auto start = std::chrono::steady_clock::now();
      parts.still_wanted = [&] { return check_deadline(s_, start, ctx); };
      return s_.match(parts, caller.name, resp);
    });
  }

  grpc::Status MatchStream(ServerContext* ctx,
                           grpc::ServerReaderWriter<v1::MatchStreamResponse, v1::MatchStreamRequest>* stream)
      override {
    return gate_.run(ctx, "MatchStream", Role::kMatcher, [&](const Caller& caller) {
      const StreamWatch::Watched watched(s_.streams, ctx);
      v1::MatchStreamRequest req;
      int64_t n = 0;
      while (stream->Read(&req)) {
        s_.streams.touch(ctx);
        if (++n > s_.options.max_stream_messages) {
          return grpc::Status(StatusCode::RESOURCE_EXHAUSTED,
                              "stream longer than " + std::to_string(s_.options.max_stream_messages) +
                                  " messages; open a new one");
        }
        v1::MatchStreamResponse resp;
        resp.set_id(req.id());
        MatchRequestParts parts;
        parts.context = &req.context();
        parts.request_id = caller.request_id;
        parts.still_wanted = [ctx] {
          return ctx->IsCancelled() ? grpc::Status(StatusCode::CANCELLED, "the caller cancelled")
                                    : grpc::Status::OK;
        };
        grpc::Status st = check_match_context(req.context());
        if (st.ok() && req.has_hash()) {
          st = check_quality("hash.quality", req.hash().quality());
          Result<PdqHash> h = PdqHash::from_hex(req.hash().hash());
          if (st.ok() && !h.ok()) st = to_grpc(h.status());
          if (st.ok()) {
            parts.hash = *h;
            parts.quality = req.hash().quality() == 0 ? 100 : req.hash().quality();
          }
        } else if (st.ok() && req.has_image()) {
          parts.image = req.image();
        } else if (st.ok()) {
          st = grpc::Status(StatusCode::INVALID_ARGUMENT, "give an image or a hash");
        }
        int64_t retry_after_s = 0;
        if (st.ok()) st = s_.charge(caller, ctx->peer(), &retry_after_s);  // each message is a call
        if (st.ok()) st = s_.match(parts, caller.name, resp.mutable_result());
        if (!st.ok()) {
          resp.clear_result();
          resp.set_error_code(int(st.error_code()));
          resp.set_error_message(st.error_message());
        }
        if (!stream->Write(resp)) break;
      }
      if (ctx->IsCancelled()) return grpc::Status(StatusCode::CANCELLED, "stream cancelled (idle or by the caller)");
      return grpc::Status::OK;
    });
  }

 private:
  Server::Impl& s_;
  CallGate gate_;
};

}  // namespace

namespace {

// Who recorded a use, when, of which upload; and the idempotency key: the caller's, else its
// reference with the purpose and licensee asked about (a post id names one upload: recording
// the same question about it twice would count one use twice; another purpose or licensee is
// another use).
UsageContext usage_context(const MatchOptions& mo, const std::string& caller,
                           const std::string& request_id, std::string query_sha256,
                           const v1::MatchContext* ctx) {
  UsageContext uc;
  uc.purpose = mo.purpose;
  uc.caller = caller;
  uc.time_ms = usage_time_now_ms();
  uc.query_sha256 = std::move(query_sha256);
  uc.request_id = request_id;
  if (ctx) {
    uc.reference = ctx->reference();
    if (!ctx->idempotency_key().empty()) {
      uc.idempotency_key = "key\n" + ctx->idempotency_key();
    } else if (!ctx->reference().empty()) {
      uc.idempotency_key = "reference\n" + ctx->reference() + "\n" + purpose_name(mo.purpose) +
                           "\n" + mo.licensee;
    }
  }
  return uc;
}

}  // namespace

grpc::Status Server::Impl::match(const MatchRequestParts& req, const std::string& caller,
                                 v1::MatchResponse* out, ImageFingerprint* fp_out,
                                 QueryResult* result_out, bool record) {
  if (!req.hash && req.image.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty image");
  }
  const v1::MatchContext* ctx = req.context;
  // The one query path (index/image_query.h): hashed with the 8 rotations and mirrors; uploads
  // PDQ does not settle go to the second stage (crops, screenshots, collages).
  ImageQueryOptions qo;
  qo.match = match_options(ctx);
  qo.hash.mode = options.hash_mode;
  qo.hash.decode.max_pixels = options.max_pixels;
  qo.threads = 1;
  const ImageQueryInput input =
      req.hash ? ImageQueryInput::of_hash(*req.hash, req.quality)
               : ImageQueryInput::of_bytes(std::span(
                     reinterpret_cast<const uint8_t*>(req.image.data()), req.image.size()));
  std::vector<ImageQueryOutcome> outcomes = query_images(catalog, std::span(&input, 1), qo);
  if (!outcomes[0].fingerprint.ok()) {
    return to_grpc(outcomes[0].fingerprint.status().with_context("image"));
  }
  const ImageFingerprint& fp = *outcomes[0].fingerprint;
  const MatchOptions& mo = qo.match;
  const QueryResult& r = outcomes[0].result;
  if (req.still_wanted) {
    grpc::Status wanted = req.still_wanted();
    if (!wanted.ok()) return wanted;
  }
  if (record && usage && options.record_usage) {
    std::vector<UsageEvent> events;
    const UsageContext uc =
        usage_context(mo, caller, req.request_id, usage_digest_hex(fp.sha256), ctx);
    append_usage_events(std::span<const Candidate>(r.matches), uc, &events);
    Status s = usage->record(events);
    if (!s.ok()) return to_grpc(s.with_context("recording usage"));
  }
  to_proto(fp, r, out);
  if (fp_out) *fp_out = fp;
  if (result_out) *result_out = r;
  return grpc::Status::OK;
}

MatchOptions Server::Impl::match_options(const v1::MatchContext* ctx) const {
  MatchOptions mo;
  if (ctx) {
    mo.purpose = purpose_from_proto(ctx->purpose());
    mo.licensee = ctx->licensee();
    if (ctx->top_k() > 0) mo.top_k = std::min(ctx->top_k(), 100);
    if (ctx->has_min_score()) mo.min_score = std::clamp(ctx->min_score(), 0.0, 1.0);
  }
  return mo;
}

grpc::Status Server::Impl::hash_upload_video(std::span<const uint8_t> bytes, double sph,
                                             const std::function<grpc::Status()>& still_wanted,
                                             HashedVideo* out) {
  if (bytes.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty video");
  if (!(sph >= 0) || sph > 3600) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "seconds_per_hash must be between 0 (one a second) and 3600");
  }
  VideoOptions vo;
  vo.seconds_per_hash = sph == 0 ? 1.0 : sph;
  vo.max_pixels = options.max_pixels;
  vo.max_seconds = options.max_video_seconds;
  vo.threads = 1;  // concurrent calls keep the cores busy
  // The frames this call may cost. Sampled frames before max_seconds number at most
  // max_seconds * fps / frame_mod + 1, and frame_mod = (int)(sph * fps) is at least half of
  // sph * fps when it is 1 or more (every frame otherwise, fewer than max_seconds / sph), so an
  // honest stream never reaches twice max_seconds / sph; only the server's cap bites.
  const double derived = std::ceil(2 * options.max_video_seconds / vo.seconds_per_hash) + 1;
  vo.max_sampled_frames =
      derived < double(options.max_video_frames) ? int64_t(derived) : options.max_video_frames;
  // The caller's deadline and cancellation, asked for every packet and frame: a call nobody
  // waits for stops within a frame's work and gives its slot back.
  if (still_wanted) vo.keep_going = [&still_wanted] { return still_wanted().ok(); };
  uint64_t hashed = 0;
  Result<HashedVideo> v =
      hash_video_bytes_for_catalog(bytes, "video", vo, [&hashed](double, double) { ++hashed; });
  metrics.add_to_counter("imprint_video_frames_hashed_total",
                         "Video frames hashed for MatchVideo and video uploads.", hashed);
  if (!v.ok()) {
    if (still_wanted) {
      grpc::Status wanted = still_wanted();
      if (!wanted.ok()) return wanted;
    }
    return to_grpc(v.status());
  }
  *out = std::move(*v);
  return grpc::Status::OK;
}

grpc::Status Server::Impl::match_video(const v1::MatchVideoRequest& req, const std::string& caller,
                                       const std::string& request_id, v1::MatchVideoResponse* out,
                                       VideoQuery* query_out, VideoQueryResult* result_out,
                                       const std::function<grpc::Status()>& still_wanted) {
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(req.video().data()),
                                       req.video().size());
  HashedVideo v;
  grpc::Status hashed = hash_upload_video(bytes, req.seconds_per_hash(), still_wanted, &v);
  if (!hashed.ok()) return hashed;
  VideoQuery q = video_query_of(std::move(v), sha256_of(bytes));
  const MatchOptions mo = match_options(&req.context());
  const VideoQueryResult r = catalog.match_video(q, mo, VideoMatchOptions{});
  if (still_wanted) {
    grpc::Status wanted = still_wanted();
    if (!wanted.ok()) return wanted;
  }
  if (usage && options.record_usage) {
    std::vector<UsageEvent> events;
    const UsageContext uc = usage_context(mo, caller, request_id, to_hex(*q.sha256), &req.context());
    append_usage_events(std::span<const VideoCandidate>(r.matches), uc, &events);
    Status s = usage->record(events);
    if (!s.ok()) return to_grpc(s.with_context("recording usage"));
  }
  to_proto(q, r, out);
  if (query_out) *query_out = std::move(q);
  if (result_out) *result_out = r;
  return grpc::Status::OK;
}

std::unique_ptr<v1::CatalogService::Service> make_catalog_service(Server::Impl& server) {
  return std::make_unique<CatalogServiceImpl>(server);
}

std::unique_ptr<v1::MatchService::Service> make_match_service(Server::Impl& server) {
  return std::make_unique<MatchServiceImpl>(server);
}

}  // namespace imprint::server
