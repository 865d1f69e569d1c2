// What a caller may send: every field of every request is checked here before any work, and a
// refusal is INVALID_ARGUMENT naming the field and its limit (issue 21). The limits are generous
// for honest callers and small next to --max-message-bytes, so no one field can make the server
// store, index or echo megabytes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "catalog.h"
#include "imprint/v1/imprint.pb.h"

namespace imprint::server {

struct FieldLimits {
  // The catalog's own limits (index/catalog.h WorkLimits), for the requests that name a work or
  // an owner without registering one.
  static constexpr size_t kWorkId = WorkLimits::kId;
  static constexpr size_t kOwner = WorkLimits::kOwner;
  // Stored in every usage event: a post id or a URL, not a document.
  static constexpr size_t kReference = 1024;
  static constexpr size_t kLicensee = 256;
  static constexpr size_t kIdempotencyKey = 128;
  static constexpr size_t kUploadName = 1024;  // /api/v1/match?name=, echoed in the answer
  // A licence names its licensees; a thousand is a large syndication deal.
  static constexpr int kLicensees = 1000;
  // Precomputed PDQ hashes of one work: an image and its variants (a registrar's own crops,
  // rotations), not a video's frames (videos register with `imprint register`).
  static constexpr int kPdqPerWork = 100;
  static constexpr int kTopK = 100;
};

// `value` is valid UTF-8 of at most `max_bytes`.
grpc::Status check_text(const char* field, const std::string& value, size_t max_bytes);
// A work id: not blank, UTF-8, no control characters, at most FieldLimits::kWorkId bytes.
grpc::Status check_work_id(const char* field, const std::string& id);
// 0 means no limit; negative is an error.
grpc::Status check_limit(const char* field, int64_t limit);
grpc::Status check_quality(const char* field, int quality);
// Purpose is a known value, top_k 0..100, min_score 0..1 when set, licensee and reference text.
grpc::Status check_match_context(const v1::MatchContext& ctx);
// Id, title, owner, source, media and licence (known permissions, licensee names and count).
grpc::Status check_work(const v1::Work& w);

}  // namespace imprint::server
