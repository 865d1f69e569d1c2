// The imprint.v1 CatalogService and MatchService on the synchronous gRPC API.
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "hash_list.h"
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
  if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(s.options.call_deadline_ms)) {
    return grpc::Status(StatusCode::DEADLINE_EXCEEDED,
                        "the call took longer than the server's limit of " +
                            std::to_string(s.options.call_deadline_ms) + " ms");
  }
  return grpc::Status::OK;
}

// ListWorks' page tokens: "w1.<row id>" of the last work a page gave.
std::string work_page_token(int64_t pk) { return "w1." + std::to_string(pk); }

std::optional<int64_t> parse_work_page_token(const std::string& token) {
  if (token.rfind("w1.", 0) != 0 || token.size() < 4 || token.size() > 21) return std::nullopt;
  int64_t pk = 0;
  for (size_t i = 3; i < token.size(); ++i) {
    if (token[i] < '0' || token[i] > '9') return std::nullopt;
    pk = pk * 10 + (token[i] - '0');
  }
  if (pk <= 0) return std::nullopt;
  return pk;
}

class CatalogServiceImpl final : public v1::CatalogService::Service {
 public:
  explicit CatalogServiceImpl(Server::Impl& s) : s_(s), gate_(s) {}

  grpc::Status RegisterWork(ServerContext* ctx, const v1::RegisterWorkRequest* req,
                            v1::RegisterWorkResponse* resp) override {
    return gate_.run(ctx, "RegisterWork", Role::kRegistrar,
                     [&](const Caller& caller) -> grpc::Status {
                       const auto start = std::chrono::steady_clock::now();
                       WorkInput in;
                       grpc::Status checked = input_of(
                           caller, *req, [&] { return check_deadline(s_, start, ctx); }, &in);
                       if (!checked.ok()) return checked;
                       std::vector<Result<Work>> done =
                           s_.catalog.register_works(std::vector{in}, req->replace());
                       return answer(in, std::move(done[0]), resp);
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
          if (st.ok() && item.done) st = answer(item.in, std::move(*item.done), out.mutable_result());
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
          item.status = input_of(
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
    return gate_.run(ctx, "GetWork", Role::kRegistrar, [&](const Caller&) {
      grpc::Status checked = check_work_id("work_id", req->work_id());
      if (!checked.ok()) return checked;
      Result<Work> w = s_.catalog.get_work(req->work_id());
      if (!w.ok()) return to_grpc(w.status());
      to_proto(*w, resp);
      return grpc::Status::OK;
    });
  }

  grpc::Status ListWorks(ServerContext* ctx, const v1::ListWorksRequest* req,
                         grpc::ServerWriter<v1::Work>* writer) override {
    return gate_.run(ctx, "ListWorks", Role::kRegistrar, [&](const Caller&) {
      grpc::Status checked = check_limit("limit", req->limit());
      if (checked.ok()) checked = check_text("owner", req->owner(), FieldLimits::kOwner);
      if (!checked.ok()) return checked;
      WorkFilter f;
      f.owner = req->owner();
      f.limit = req->limit() > 0 ? req->limit() : -1;
      f.newest_first = req->newest_first();
      if (!req->page_token().empty()) {
        std::optional<int64_t> pk = parse_work_page_token(req->page_token());
        if (!pk) {
          return grpc::Status(StatusCode::INVALID_ARGUMENT,
                              "page_token: not a token ListWorks gave");
        }
        f.after_pk = *pk;
      }
      bool cancelled = false;
      Status s = s_.catalog.list_works(f, [&](const Work& w) {
        v1::Work out;
        to_proto(w, &out);
        out.set_page_token(work_page_token(w.pk));
        if (ctx->IsCancelled() || !writer->Write(out)) {
          cancelled = true;
          return false;
        }
        return true;
      });
      if (cancelled) return grpc::Status(StatusCode::CANCELLED, "the caller went away");
      return to_grpc(s);
    });
  }

  grpc::Status RemoveWork(ServerContext* ctx, const v1::RemoveWorkRequest* req,
                          v1::RemoveWorkResponse*) override {
    return gate_.run(ctx, "RemoveWork", Role::kRegistrar, [&](const Caller& caller) {
      grpc::Status checked = check_work_id("work_id", req->work_id());
      if (checked.ok()) checked = may_touch(caller, std::nullopt, req->work_id());
      if (!checked.ok()) return checked;
      return to_grpc(s_.catalog.remove_work(req->work_id()));
    });
  }

  grpc::Status ListUsage(ServerContext* ctx, const v1::ListUsageRequest* req,
                         grpc::ServerWriter<v1::UsageEvent>* writer) override {
    return gate_.run(ctx, "ListUsage", Role::kAdmin, [&](const Caller&) {
      grpc::Status checked = check_limit("limit", req->limit());
      if (checked.ok()) checked = check_text("work_id", req->work_id(), FieldLimits::kWorkId);
      if (checked.ok()) checked = check_text("owner", req->owner(), FieldLimits::kOwner);
      if (!checked.ok()) return checked;
      if (!s_.usage) return grpc::Status(StatusCode::FAILED_PRECONDITION, "usage records are off");
      s_.usage->flush();  // events this server recorded a moment ago are listed too
      UsageFilter f;
      f.work_id = req->work_id();
      f.owner = req->owner();
      f.limit = req->limit() > 0 ? req->limit() : -1;
      f.newest_first = req->newest_first();
      f.after = req->page_token();
      for (auto [field, text, out] : {std::tuple{"since", &req->since(), &f.since_ms},
                                      std::tuple{"until", &req->until(), &f.until_ms}}) {
        if (text->empty()) continue;
        Result<int64_t> t = parse_time(*text);
        if (!t.ok()) return to_grpc(t.status().with_context(field));
        *out = *t;
      }
      if (req->decision() == "flag") {
        f.decision = MatchDecision::kFlag;
      } else if (req->decision() == "allow") {
        f.decision = MatchDecision::kAllow;
      } else if (!req->decision().empty()) {
        return grpc::Status(StatusCode::INVALID_ARGUMENT,
                            "decision: must be flag, allow or empty (both)");
      }
      Status s = s_.usage->list(f, [&](const UsageEvent& e) {
        v1::UsageEvent out;
        to_proto(e, &out);
        return !ctx->IsCancelled() && writer->Write(out);
      });
      return to_grpc(s);
    });
  }

 private:
  // A registration request as the catalog's input: every field checked, the caller's right to
  // the owner (and to the work it replaces) checked, the image fingerprinted or the hashes read.
  // Hashing a video asks `still_wanted` for every packet and frame.
  grpc::Status input_of(const Caller& caller, const v1::RegisterWorkRequest& req,
                        const std::function<grpc::Status()>& still_wanted, WorkInput* out) {
    grpc::Status checked = check_work(req.work());
    if (!checked.ok()) return checked;
    std::string owner = req.work().owner();
    if (owner.empty() && caller.role == Role::kRegistrar && caller.owners.size() == 1) {
      owner = caller.owners[0];  // a key for one owner registers that owner's works
    }
    checked = may_touch(caller, owner, req.replace() ? req.work().work_id() : "");
    if (!checked.ok()) return checked;
    if (req.has_fingerprints() && req.fingerprints().pdq_size() > FieldLimits::kPdqPerWork) {
      return grpc::Status(StatusCode::INVALID_ARGUMENT,
                          "fingerprints.pdq: " + std::to_string(req.fingerprints().pdq_size()) +
                              " hashes, over the limit of " + std::to_string(FieldLimits::kPdqPerWork));
    }
    WorkInput in;
    if (req.has_image()) {
      DecodeOptions d;
      d.max_pixels = s_.options.max_pixels;
      Result<WorkInput> made = work_input_from_image(
          std::span(reinterpret_cast<const uint8_t*>(req.image().data()), req.image().size()), d);
      if (!made.ok()) return to_grpc(made.status().with_context("image"));
      in = std::move(*made);
    } else if (req.has_fingerprints()) {
      for (const v1::PdqFingerprint& f : req.fingerprints().pdq()) {
        Result<PdqHash> h = PdqHash::from_hex(f.hash());
        if (!h.ok()) return to_grpc(h.status());
        checked = check_quality("fingerprints.pdq.quality", f.quality());
        if (!checked.ok()) return checked;
        // Unset is 100, as MatchHash takes it: a hash list's entries are usable.
        in.fingerprints.push_back(WorkFingerprint::pdq(*h, f.quality() == 0 ? 100 : f.quality()));
      }
      if (in.fingerprints.empty()) {
        return grpc::Status(StatusCode::INVALID_ARGUMENT, "fingerprints holds no PDQ hash");
      }
      const std::string& sha = req.fingerprints().sha256();
      if (!sha.empty()) {
        Result<Sha256> d = sha256_from_hex(sha);
        if (!d.ok()) return grpc::Status(StatusCode::INVALID_ARGUMENT, "fingerprints." + d.status().message());
        in.work.sha256 = *d;
      }
    } else if (req.has_video() || req.has_video_frames()) {
      if (!req.work().media().empty() && req.work().media() != "video") {
        return grpc::Status(StatusCode::INVALID_ARGUMENT,
                            "work.media: '" + req.work().media() +
                                "' given with video content (leave it empty or say video)");
      }
      grpc::Status made = req.has_video() ? video_input_of(req, still_wanted, &in)
                                          : frames_input_of(req.video_frames(), &in);
      if (!made.ok()) return made;
    } else {
      return grpc::Status(StatusCode::INVALID_ARGUMENT,
                          "give an image, fingerprints, a video or video_frames");
    }
    const v1::Work& w = req.work();
    in.work.id = w.work_id();
    in.work.title = w.title().empty() ? w.work_id() : w.title();
    in.work.owner = owner;
    in.work.source = w.source();
    if (in.work.media != "video") in.work.media = w.media().empty() ? "image" : w.media();
    in.work.metadata.insert(w.metadata().begin(), w.metadata().end());
    Result<LicencePolicy> lic = from_proto(w.licence());
    if (!lic.ok()) return to_grpc(lic.status());
    in.work.licence = *lic;
    *out = std::move(in);
    return grpc::Status::OK;
  }

  // A video upload as a work: hashed as `imprint register` hashes a file, refused when it is
  // longer than the server hashes (registering its first minutes would lose the rest without a
  // word); a damaged stream registers the part that decodes, and the answer says so.
  grpc::Status video_input_of(const v1::RegisterWorkRequest& req,
                              const std::function<grpc::Status()>& still_wanted, WorkInput* out) {
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(req.video().data()),
                                         req.video().size());
    HashedVideo v;
    grpc::Status hashed = s_.hash_upload_video(bytes, req.seconds_per_hash(), still_wanted, &v);
    if (!hashed.ok()) return hashed;
    const VideoFingerprint& fp = v.fingerprint;
    const double sph = req.seconds_per_hash() == 0 ? 1.0 : req.seconds_per_hash();
    const double limit = s_.options.max_video_seconds;
    if (fp.duration_s > limit ||
        (fp.partial && !fp.frames.empty() && fp.frames.back().t + 2 * sph >= limit)) {
      return grpc::Status(StatusCode::RESOURCE_EXHAUSTED,
                          "video: " + std::to_string(int64_t(fp.duration_s)) +
                              " s, longer than the server's " + "max_video_seconds (" +
                              std::to_string(int64_t(s_.options.max_video_seconds)) +
                              " s); register it from its frame hashes (video_frames, " +
                              "`imprint hash --format vpdq`)");
    }
    if (fp.frames.empty()) {
      return grpc::Status(StatusCode::INVALID_ARGUMENT, "video: no frame could be hashed");
    }
    *out = work_input_from_video(v, sph);
    out->work.sha256 = sha256_of(bytes);
    return grpc::Status::OK;
  }

  // A video work from its vPDQ frame hashes: every field checked, frames in stream order.
  grpc::Status frames_input_of(const v1::VideoFrameHashes& v, WorkInput* out) {
    auto invalid = [](const std::string& m) {
      return grpc::Status(StatusCode::INVALID_ARGUMENT, "video_frames." + m);
    };
    if (v.frames_size() == 0) return invalid("frames: no frame given");
    if (v.frames_size() > s_.options.max_video_frames) {
      return grpc::Status(StatusCode::RESOURCE_EXHAUSTED,
                          "video_frames.frames: " + std::to_string(v.frames_size()) +
                              " frames, over the server's limit of " +
                              std::to_string(s_.options.max_video_frames));
    }
    std::vector<FrameHash> frames;
    frames.reserve(size_t(v.frames_size()));
    for (int i = 0; i < v.frames_size(); ++i) {
      const v1::VideoFrameHash& f = v.frames(i);
      const std::string at = "frames[" + std::to_string(i) + "].";
      Result<PdqHash> h = PdqHash::from_hex(f.hash());
      if (!h.ok()) return invalid(at + "hash: " + h.status().message());
      if (f.quality() < 0 || f.quality() > 100) {
        return invalid(at + "quality: " + std::to_string(f.quality()) + " (must be 0..100)");
      }
      if (!(f.seconds() >= 0 && f.seconds() <= 1e7)) {
        return invalid(at + "seconds: must be a time between 0 and 10,000,000");
      }
      if (f.frame() < 0 || (i > 0 && f.frame() <= frames.back().frame)) {
        return invalid(at + "frame: " + std::to_string(f.frame()) +
                       " (frame numbers start at 0 and increase along the list)");
      }
      if (i > 0 && f.seconds() < frames.back().t) {
        return invalid(at + "seconds: earlier than the frame before it");
      }
      FrameHash fh;
      fh.frame = f.frame();
      fh.t = f.seconds();
      fh.hash = *h;
      fh.quality = f.quality();
      frames.push_back(fh);
    }
    *out = work_input_from_frame_hashes(video_fingerprint_from_frames(std::move(frames)));
    if (!v.sha256().empty()) {
      Result<Sha256> d = sha256_from_hex(v.sha256());
      if (!d.ok()) return invalid(d.status().message());
      out->work.sha256 = *d;
    }
    return grpc::Status::OK;
  }

  // The answer to a registration the catalog did (or refused): a retry of a registration that
  // succeeded (its answer lost on the way) is answered as the first one was; other content under
  // a taken id is refused.
  grpc::Status answer(const WorkInput& in, Result<Work> done, v1::RegisterWorkResponse* resp) {
    if (!done.ok() && done.status().code() == imprint::StatusCode::kAlreadyExists) {
      Result<bool> same = s_.catalog.holds_registration(in);
      if (same.ok() && *same) {
        done = s_.catalog.get_work(in.work.id);
      } else if (same.ok() || same.status().code() == imprint::StatusCode::kNotFound) {
        return grpc::Status(StatusCode::ALREADY_EXISTS,
                            "work_id: '" + in.work.id +
                                "' is registered with other fields or content; set replace to "
                                "replace it");
      } else {
        return to_grpc(same.status());
      }
    }
    if (!done.ok()) return to_grpc(done.status());
    to_proto(*done, resp->mutable_work());
    int frames = 0;
    for (const WorkFingerprint& f : in.fingerprints) {
      if (f.kind == "pdq" && !resp->has_pdq()) {
        resp->mutable_pdq()->set_hash(PdqHash::from_bytes(f.data.data()).to_hex());
        resp->mutable_pdq()->set_quality(f.quality);
      }
      frames += f.kind == kVideoFrameKind;
      if (f.kind == kVideoInfoKind) {
        const nlohmann::json j =
            nlohmann::json::parse(f.data.begin(), f.data.end(), nullptr, false);
        if (j.is_object() && j.value("partial", false)) {
          resp->set_partial(true);
          resp->set_partial_reason(j.value("partial_reason", ""));
        }
      }
    }
    resp->set_frames(frames);
    return grpc::Status::OK;
  }

  // A registrar key acts only for its owners: for the owner a work is being given (`owner`) and
  // for the current owner of the work `existing_id` names, if there is one (a replacement or a
  // removal). The check and the write are not one transaction; a work that changes owner
  // between them was changed by an admin or by a key for both owners.
  grpc::Status may_touch(const Caller& caller, const std::optional<std::string>& owner,
                         const std::string& existing_id) const {
    if (caller.role == Role::kAdmin) return grpc::Status::OK;
    auto refuse = [&](const std::string& whose) {
      return grpc::Status(StatusCode::PERMISSION_DENIED,
                          "key '" + caller.name + "' may not act for owner '" + whose + "'");
    };
    if (owner && !caller.acts_for(*owner)) return refuse(*owner);
    if (!existing_id.empty()) {
      Result<Work> w = s_.catalog.get_work(existing_id);
      if (w.ok() && !caller.acts_for(w->owner)) return refuse(w->owner);
    }
    return grpc::Status::OK;
  }

  Server::Impl& s_;
  CallGate gate_;
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
  VideoQuery q;
  q.fingerprint = std::move(v.fingerprint);
  q.cropped = std::move(v.cropped);
  q.mirrored = std::move(v.mirrored);
  q.sha256 = sha256_of(bytes);
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
