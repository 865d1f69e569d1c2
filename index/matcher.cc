// Catalog::match: dihedral PDQ search, best hit per work, exact-byte copies, scores and decisions.
#include <algorithm>
#include <cstring>
#include <map>

#include "catalog_impl.h"

namespace imprint {
namespace {

struct Hit {
  int distance = 1 << 30;
  Dihedral transform = Dihedral::kOriginal;
  bool exact_bytes = false;
};

bool sha_present(const Sha256& s) {
  return std::any_of(s.begin(), s.end(), [](uint8_t b) { return b != 0; });
}

}  // namespace

MatchExplanation explain_match(const Candidate& c, bool weak, const MatchOptions& o) {
  MatchExplanation x;
  x.purpose = o.purpose;
  const PurposeTerms& terms = c.work.licence.terms(o.purpose);
  x.permission = terms.permission;
  x.licensee_named = terms.permission == Permission::kLicensed && terms.names(o.licensee);
  if (is_second_stage_method(c.method)) {
    // The same lines as PDQ's in score space: a match at 0.5, the review band below it. The
    // evidence is geometric (or a region's own hash), so a weak whole-image hash does not
    // silence it.
    x.measure = "score";
    x.value = c.score;
    x.match_line = 0.5;
    x.review_line = review_line(o);
    x.evidence = c.score >= x.match_line    ? Evidence::kCopy
                 : c.score >= x.review_line ? Evidence::kNearMiss
                                            : Evidence::kNone;
  } else if (c.method == "sha256") {
    x.measure = "same-bytes";
    x.evidence = Evidence::kCopy;
  } else {
    x.measure = "pdq-distance";
    x.value = c.distance;
    x.match_line = o.match_distance;
    x.review_line = o.match_distance + o.review_band;
    x.weak_query = weak;
    // A weak query's PDQ matches are reported, never acted on.
    x.evidence = weak                             ? Evidence::kNone
                 : c.distance <= o.match_distance ? Evidence::kCopy
                 : c.distance <= x.review_line    ? Evidence::kNearMiss
                                                  : Evidence::kNone;
  }
  return x;
}

void decide(Candidate& c, bool weak, const MatchOptions& o) {
  c.why = explain_match(c, weak, o);
  c.decision = licence_decision(c.why.evidence, c.work.licence, o.purpose, o.licensee);
}

double review_line(const MatchOptions& o) {
  return score_for_distance(o.match_distance + o.review_band);
}

double score_for_distance(int d) {
  constexpr double t = kPdqMatchDistance;
  if (d <= 0) return 1.0;
  if (d <= kPdqMatchDistance) return 1.0 - 0.5 * d / t;
  if (d >= 64) return 0.0;
  return 0.5 * (64.0 - d) / (64.0 - t);
}

std::vector<QueryResult> Catalog::match(std::span<const ImageFingerprint> queries,
                                        const MatchOptions& o) const {
  return match(queries, o, QueryPixelSource());
}

std::vector<QueryResult> Catalog::match(std::span<const ImageFingerprint> queries,
                                        const MatchOptions& o,
                                        const QueryPixelSource& pixels) const {
  const Impl& m = *impl_;
  std::vector<QueryResult> out(queries.size());
  const double min_score =
      o.min_score >= 0 ? o.min_score : review_line(o);
  const bool nearest_mode = o.min_score == 0;
  const int radius = std::clamp(o.match_distance + o.review_band, 0, 256);

  for (size_t qi = 0; qi < queries.size(); ++qi) {
    const ImageFingerprint& q = queries[qi];
    QueryResult& r = out[qi];
    r.weak = q.pdq.quality < kPdqMinUsefulQuality;

    std::vector<PdqHash> hashes;
    if (q.has_dihedral) {
      hashes.assign(q.dihedral.begin(), q.dihedral.end());
    } else {
      hashes.push_back(q.pdq.hash);
    }
    std::map<int64_t, Hit> best;  // work pk -> best hit
    {
      std::shared_lock<std::shared_mutex> lk(m.index_mu);
      const auto found = nearest_mode ? m.pdq->search_knn(hashes, std::max(1, o.top_k) * 2)
                                      : m.pdq->search_near(hashes, o.match_distance, radius);
      for (size_t h = 0; h < found.size(); ++h) {
        for (const Neighbor& n : found[h]) {
          const int64_t work = m.work_of[size_t(n.label)];
          Hit& b = best[work];
          // Ties keep the earlier transform: the original before any rotation or flip.
          if (n.distance < b.distance) b = {n.distance, Dihedral(h), false};
        }
      }
    }
    if (sha_present(q.sha256)) {
      std::lock_guard<std::mutex> lk(m.rdb_mu);
      Result<detail::Statement*> cached = m.cached_read("SELECT pk FROM works WHERE sha256 = ?");
      if (cached.ok()) {
        CachedRead s(*cached);
        s->bind_blob(1, q.sha256);
        Status st;
        while (s->step(&st)) best[s->int64(0)] = {0, Dihedral::kOriginal, true};
      }
    }

    std::vector<std::pair<int64_t, Hit>> ranked(best.begin(), best.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      if (a.second.exact_bytes != b.second.exact_bytes) return a.second.exact_bytes;
      return a.second.distance != b.second.distance ? a.second.distance < b.second.distance
                                                    : a.first < b.first;
    });
    for (const auto& [work_pk, hit] : ranked) {
      if (int(r.matches.size()) >= o.top_k) break;
      const double score = hit.exact_bytes ? 1.0 : score_for_distance(hit.distance);
      if (score < min_score && !hit.exact_bytes) continue;
      Result<Work> w = get_work_by_pk(work_pk);
      if (!w.ok()) continue;  // removed between the search and now
      Candidate c;
      c.work = std::move(*w);
      c.distance = hit.distance;
      c.score = score;
      c.transform = hit.transform;
      c.method = hit.exact_bytes ? "sha256" : "pdq";
      decide(c, r.weak, o);
      if (decision_severity(c.decision) > decision_severity(r.decision)) r.decision = c.decision;
      r.matches.push_back(std::move(c));
    }
    // The second stage runs only where PDQ settled nothing: no exact copy, no usable match.
    const bool settled = std::any_of(ranked.begin(), ranked.end(), [&](const auto& e) {
      return e.second.exact_bytes || (!r.weak && e.second.distance <= o.match_distance);
    });
    if (pixels && m.features && !settled) {
      Result<Image> img = pixels(qi);
      if (img.ok()) {
        merge_local_matches(
            *this, m.second_stage(*img, o.match_distance, q.has_dihedral ? &q.dihedral : nullptr),
            o, min_score, &r);
      }
    }
  }
  return out;
}

}  // namespace imprint
