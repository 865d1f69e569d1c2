// Conversions between catalog types and the imprint.v1 protos.
#include "match_json.h"
#include "server_impl.h"

namespace imprint::server {

static void terms_to_proto(const PurposeTerms& t, v1::PurposeTerms* out) {
  switch (t.permission) {
    case Permission::kDeny: out->set_permission(v1::DENY); break;
    case Permission::kAllow: out->set_permission(v1::ALLOW); break;
    case Permission::kLicensed: out->set_permission(v1::LICENSED); break;
  }
  for (const std::string& l : t.licensees) out->add_licensees(l);
}

void to_proto(const LicencePolicy& p, v1::LicencePolicy* out) {
  terms_to_proto(p.terms(Purpose::kAiTraining), out->mutable_ai_training());
  terms_to_proto(p.terms(Purpose::kCommercial), out->mutable_commercial());
  terms_to_proto(p.terms(Purpose::kAnyUse), out->mutable_any_use());
}

Result<LicencePolicy> from_proto(const v1::LicencePolicy& p) {
  LicencePolicy out;
  const std::pair<Purpose, const v1::PurposeTerms*> all[] = {
      {Purpose::kAiTraining, &p.ai_training()}, {Purpose::kCommercial, &p.commercial()},
      {Purpose::kAnyUse, &p.any_use()}};
  for (const auto& [purpose, t] : all) {
    PurposeTerms terms;
    switch (t->permission()) {
      case v1::ALLOW: terms.permission = Permission::kAllow; break;
      case v1::LICENSED: terms.permission = Permission::kLicensed; break;
      default: terms.permission = Permission::kDeny; break;
    }
    for (const std::string& l : t->licensees()) {
      if (l.empty()) return invalid_argument("licensee names must not be empty");
      terms.licensees.push_back(l);
    }
    if (terms.permission == Permission::kLicensed && terms.licensees.empty()) {
      return invalid_argument(std::string(purpose_name(purpose)) + ": LICENSED needs licensees");
    }
    out.set(purpose, terms);
  }
  return out;
}

void to_proto(const Work& w, v1::Work* out) {
  out->set_work_id(w.id);
  out->set_title(w.title);
  out->set_owner(w.owner);
  out->set_media(w.media);
  out->set_source(w.source);
  out->set_registered_at(iso8601_utc(w.registered_at_ms));
  if (w.sha256) out->set_sha256(to_hex(*w.sha256));
  out->set_width(w.width);
  out->set_height(w.height);
  to_proto(w.licence, out->mutable_licence());
  out->mutable_metadata()->insert(w.metadata.begin(), w.metadata.end());
}

namespace {

// The fields every match has, image or video.
void match_basics(const Work& w, int distance, double score, Dihedral transform,
                  const std::string& method, MatchDecision decision, v1::Match* m) {
  m->set_work_id(w.id);
  m->set_title(w.title);
  m->set_owner(w.owner);
  m->set_distance(distance);
  m->set_score(score);
  m->set_transform(dihedral_name(transform));
  m->set_method(method);
  m->set_decision(decision_name(decision));
  m->set_flagged(decision == MatchDecision::kFlag);
  to_proto(w.licence, m->mutable_licence());
  m->mutable_metadata()->insert(w.metadata.begin(), w.metadata.end());
}

}  // namespace

namespace {

void explanation_to_proto(const MatchExplanation& why, v1::Explanation* x) {
  x->set_evidence(evidence_name(why.evidence));
  x->set_measure(why.measure);
  x->set_value(why.value);
  x->set_match_line(why.match_line);
  x->set_review_line(why.review_line);
  x->set_weak_query(why.weak_query);
  x->set_purpose(purpose_name(why.purpose));
  x->set_permission(permission_name(why.permission));
  x->set_licensee_named(why.licensee_named);
}

}  // namespace

void to_proto(const VideoQuery& q, const VideoQueryResult& r, v1::MatchVideoResponse* out) {
  const VideoFingerprint& fp = q.fingerprint;
  out->set_fps(fp.fps);
  out->set_duration(fp.duration_s);
  out->set_frames(int(fp.frames.size()));
  out->set_partial(fp.partial);
  out->set_partial_reason(fp.partial_reason);
  out->set_weak(r.weak);
  out->set_decision(decision_name(r.decision));
  for (const VideoCandidate& c : r.matches) {
    v1::VideoMatch* vm = out->add_matches();
    match_basics(c.work, c.distance, c.score, c.transform, c.method, c.decision,
                 vm->mutable_match());
    explanation_to_proto(c.why, vm->mutable_match()->mutable_explanation());
    vm->set_query_match_pct(c.query_match_pct);
    vm->set_work_match_pct(c.work_match_pct);
    vm->set_matched_frames(c.matched_frames);
    vm->set_work_duration(c.work_duration_s);
    for (const VideoSegment& seg : c.segments) {
      v1::VideoSegment* p = vm->add_segments();
      p->set_query_start(seg.query_start);
      p->set_query_end(seg.query_end);
      p->set_work_start(seg.work_start);
      p->set_work_end(seg.work_end);
      p->set_frames(seg.frames);
      p->set_speed(seg.speed);
    }
  }
}

void to_proto(const ImageFingerprint& q, const QueryResult& r, v1::MatchResponse* out) {
  out->set_pdq(q.pdq.hash.to_hex());
  out->set_quality(q.pdq.quality);
  out->set_weak(r.weak);
  out->set_decision(decision_name(r.decision));
  for (const Candidate& c : r.matches) {
    v1::Match* m = out->add_matches();
    match_basics(c.work, c.distance, c.score, c.transform, c.method, c.decision, m);
    explanation_to_proto(c.why, m->mutable_explanation());
    if (c.region) {
      auto box = [](const PixelBox& b, v1::Box* out) {
        out->set_x(b.x);
        out->set_y(b.y);
        out->set_width(b.width);
        out->set_height(b.height);
      };
      box(c.region->query_box, m->mutable_region()->mutable_query_box());
      box(c.region->work_box, m->mutable_region()->mutable_work_box());
    }
  }
}

void to_proto(const UsageEvent& e, v1::UsageEvent* out) {
  out->set_work_id(e.work_id);
  out->set_owner(e.owner);
  out->set_decision(decision_name(e.decision));
  out->set_purpose(purpose_name(e.purpose));
  out->set_caller(e.caller);
  out->set_time(iso8601_utc(e.time_ms));
  out->set_query_sha256(e.query_sha256);
  out->set_reference(e.reference);
  out->set_distance(e.distance);
  out->set_event_id(e.event_id);
  out->set_request_id(e.request_id);
  out->set_page_token(e.cursor);
}

Purpose purpose_from_proto(v1::Purpose p) {
  switch (p) {
    case v1::AI_TRAINING: return Purpose::kAiTraining;
    case v1::COMMERCIAL: return Purpose::kCommercial;
    default: return Purpose::kAnyUse;
  }
}

}  // namespace imprint::server
