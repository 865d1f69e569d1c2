#include "request_checks.h"

#include <cmath>

#include "catalog.h"

namespace imprint::server {
namespace {

grpc::Status invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

grpc::Status check_terms(const char* purpose, const v1::PurposeTerms& t) {
  const std::string field = std::string("licence.") + purpose;
  if (!v1::Permission_IsValid(t.permission())) {
    return invalid(field + ".permission: unknown value " + std::to_string(t.permission()) +
                   " (expected DENY, ALLOW or LICENSED)");
  }
  if (t.licensees_size() > FieldLimits::kLicensees) {
    return invalid(field + ".licensees: " + std::to_string(t.licensees_size()) + " names, over the limit of " +
                   std::to_string(FieldLimits::kLicensees));
  }
  for (const std::string& l : t.licensees()) {
    if (l.empty()) return invalid(field + ".licensees: a name is empty");
    grpc::Status st = check_text((field + ".licensees").c_str(), l, FieldLimits::kLicensee);
    if (!st.ok()) return st;
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status check_text(const char* field, const std::string& value, size_t max_bytes) {
  const Status st = check_text_field(field, value, max_bytes);
  return st.ok() ? grpc::Status::OK : invalid(st.message());
}

grpc::Status check_work_id(const char* field, const std::string& id) {
  const Status st = imprint::check_work_id(id);
  return st.ok() ? grpc::Status::OK : invalid(std::string(field) + ": " + st.message());
}

grpc::Status check_limit(const char* field, int64_t limit) {
  if (limit < 0) return invalid(std::string(field) + ": " + std::to_string(limit) + " (0 for no limit, or a count)");
  return grpc::Status::OK;
}

grpc::Status check_quality(const char* field, int quality) {
  if (quality < 0 || quality > 100) {
    return invalid(std::string(field) + ": " + std::to_string(quality) + " (must be 0..100)");
  }
  return grpc::Status::OK;
}

grpc::Status check_match_context(const v1::MatchContext& ctx) {
  if (!v1::Purpose_IsValid(ctx.purpose())) {
    return invalid("purpose: unknown value " + std::to_string(ctx.purpose()) +
                   " (expected AI_TRAINING, COMMERCIAL or ANY_USE)");
  }
  if (ctx.top_k() < 0 || ctx.top_k() > FieldLimits::kTopK) {
    return invalid("top_k: " + std::to_string(ctx.top_k()) + " (must be 0..100; 0 for 10)");
  }
  if (ctx.has_min_score() && !(ctx.min_score() >= 0 && ctx.min_score() <= 1)) {
    return invalid("min_score: " + std::to_string(ctx.min_score()) + " (must be 0..1)");
  }
  grpc::Status st = check_text("licensee", ctx.licensee(), FieldLimits::kLicensee);
  if (st.ok()) st = check_text("reference", ctx.reference(), FieldLimits::kReference);
  if (st.ok()) st = check_text("idempotency_key", ctx.idempotency_key(), FieldLimits::kIdempotencyKey);
  return st;
}

grpc::Status check_work(const v1::Work& w) {
  grpc::Status st = check_work_id("work_id", w.work_id());
  if (!st.ok()) return st;
  // The catalog's own check of the fields, on them as registration will store them.
  Work fields;
  fields.title = w.title();
  fields.owner = w.owner();
  fields.source = w.source();
  fields.media = w.media().empty() ? "image" : w.media();
  fields.metadata.insert(w.metadata().begin(), w.metadata().end());
  const Status checked = check_work_fields(fields);
  if (!checked.ok()) return invalid(checked.message());
  if (st.ok()) st = check_terms("ai_training", w.licence().ai_training());
  if (st.ok()) st = check_terms("commercial", w.licence().commercial());
  if (st.ok()) st = check_terms("any_use", w.licence().any_use());
  return st;
}

}  // namespace imprint::server
