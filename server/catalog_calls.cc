// The catalog calls' work, shared by gRPC's CatalogService (grpc_services.cc) and the HTTP
// routes under /api/v1/works and /api/v1/usage (http_front.cc): each front authenticates, admits
// and charges the call its own way, then asks this for the same checks, registration, answers and
// pages, so a work registered or listed either way is the same work.
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "hash_list.h"
#include "request_checks.h"
#include "server_impl.h"
#include "video_index.h"
#include "video_ingest.h"

namespace imprint::server {

using grpc::StatusCode;

std::string work_page_token(int64_t pk) { return "w1." + std::to_string(pk); }

std::optional<int64_t> parse_work_page_token(const std::string& token) {
  if (token.size() < 4 || token.size() > 22 || token.rfind("w1.", 0) != 0) return std::nullopt;
  int64_t pk = 0;
  for (size_t i = 3; i < token.size(); ++i) {
    if (token[i] < '0' || token[i] > '9') return std::nullopt;
    pk = pk * 10 + (token[i] - '0');
  }
  if (pk <= 0) return std::nullopt;
  return pk;
}

grpc::Status CatalogCalls::register_work(const Caller& caller, const v1::RegisterWorkRequest& req,
                                         const std::function<grpc::Status()>& still_wanted,
                                         v1::RegisterWorkResponse* resp) {
  WorkInput in;
  grpc::Status checked = input_of(caller, req, still_wanted, &in);
  if (!checked.ok()) return checked;
  std::vector<Result<Work>> done = s_.catalog.register_works(std::vector{in}, req.replace());
  return answer(in, std::move(done[0]), resp);
}

grpc::Status CatalogCalls::get_work(const v1::GetWorkRequest& req, v1::Work* resp) {
  grpc::Status checked = check_work_id("work_id", req.work_id());
  if (!checked.ok()) return checked;
  Result<Work> w = s_.catalog.get_work(req.work_id());
  if (!w.ok()) return to_grpc(w.status());
  to_proto(*w, resp);
  return grpc::Status::OK;
}

grpc::Status CatalogCalls::list_works(const v1::ListWorksRequest& req,
                                      const std::function<bool(const v1::Work&)>& each) {
  grpc::Status checked = check_limit("limit", req.limit());
  if (checked.ok()) checked = check_text("owner", req.owner(), FieldLimits::kOwner);
  if (!checked.ok()) return checked;
  WorkFilter f;
  f.owner = req.owner();
  f.limit = req.limit() > 0 ? req.limit() : -1;
  f.newest_first = req.newest_first();
  if (!req.page_token().empty()) {
    std::optional<int64_t> pk = parse_work_page_token(req.page_token());
    if (!pk) {
      return grpc::Status(StatusCode::INVALID_ARGUMENT, "page_token: not a token ListWorks gave");
    }
    f.after_pk = *pk;
  }
  bool stopped = false;
  Status s = s_.catalog.list_works(f, [&](const Work& w) {
    v1::Work out;
    to_proto(w, &out);
    out.set_page_token(work_page_token(w.pk));
    if (!each(out)) {
      stopped = true;
      return false;
    }
    return true;
  });
  if (stopped) return grpc::Status(StatusCode::CANCELLED, "the caller went away");
  return to_grpc(s);
}

grpc::Status CatalogCalls::remove_work(const Caller& caller, const v1::RemoveWorkRequest& req) {
  grpc::Status checked = check_work_id("work_id", req.work_id());
  if (checked.ok()) checked = may_touch(caller, std::nullopt, req.work_id());
  if (!checked.ok()) return checked;
  return to_grpc(s_.catalog.remove_work(req.work_id()));
}

grpc::Status CatalogCalls::list_usage(const v1::ListUsageRequest& req,
                                      const std::function<bool(const v1::UsageEvent&)>& each) {
  grpc::Status checked = check_limit("limit", req.limit());
  if (checked.ok()) checked = check_text("work_id", req.work_id(), FieldLimits::kWorkId);
  if (checked.ok()) checked = check_text("owner", req.owner(), FieldLimits::kOwner);
  if (!checked.ok()) return checked;
  if (!s_.usage) return grpc::Status(StatusCode::FAILED_PRECONDITION, "usage records are off");
  s_.usage->flush();  // events this server recorded a moment ago are listed too
  UsageFilter f;
  f.work_id = req.work_id();
  f.owner = req.owner();
  f.limit = req.limit() > 0 ? req.limit() : -1;
  f.newest_first = req.newest_first();
  f.after = req.page_token();
  for (auto [field, text, out] : {std::tuple{"since", &req.since(), &f.since_ms},
                                  std::tuple{"until", &req.until(), &f.until_ms}}) {
    if (text->empty()) continue;
    Result<int64_t> t = parse_time(*text);
    if (!t.ok()) return to_grpc(t.status().with_context(field));
    *out = *t;
  }
  if (req.decision() == "flag") {
    f.decision = MatchDecision::kFlag;
  } else if (req.decision() == "allow") {
    f.decision = MatchDecision::kAllow;
  } else if (!req.decision().empty()) {
    return grpc::Status(StatusCode::INVALID_ARGUMENT,
                        "decision: must be flag, allow or empty (both)");
  }
  Status s = s_.usage->list(f, [&](const UsageEvent& e) {
    v1::UsageEvent out;
    to_proto(e, &out);
    return each(out);
  });
  return to_grpc(s);
}

// A registration request as the catalog's input: every field checked, the caller's right to
// the owner (and to the work it replaces) checked, the image fingerprinted or the hashes read.
// Hashing a video asks `still_wanted` for every packet and frame.
grpc::Status CatalogCalls::input_of(const Caller& caller, const v1::RegisterWorkRequest& req,
                                    const std::function<grpc::Status()>& still_wanted,
                                    WorkInput* out) {
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
                            " hashes, over the limit of " +
                            std::to_string(FieldLimits::kPdqPerWork));
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
      if (!d.ok())
        return grpc::Status(StatusCode::INVALID_ARGUMENT, "fingerprints." + d.status().message());
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
grpc::Status CatalogCalls::video_input_of(const v1::RegisterWorkRequest& req,
                                          const std::function<grpc::Status()>& still_wanted,
                                          WorkInput* out) {
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
grpc::Status CatalogCalls::frames_input_of(const v1::VideoFrameHashes& v, WorkInput* out) {
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
grpc::Status CatalogCalls::answer(const WorkInput& in, Result<Work> done,
                                  v1::RegisterWorkResponse* resp) {
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
      const nlohmann::json j = nlohmann::json::parse(f.data.begin(), f.data.end(), nullptr, false);
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
grpc::Status CatalogCalls::may_touch(const Caller& caller, const std::optional<std::string>& owner,
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

}  // namespace imprint::server
