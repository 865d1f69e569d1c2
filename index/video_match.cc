// Video matching (video_match.h): offset voting into segments, vPDQ percentages from the stored
// frames, decisions; and stills against video frames.
#include "video_match.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "catalog_impl.h"
#include "match_json.h"
#include "video_index.h"

namespace imprint {
namespace {

// A time mapping work_t = speed * query_t + offset and the distinct query frames that support it.
struct Mapping {
  double speed = 1.0;
  double offset = 0;
  int support = 0;
};

// The densest window of offsets (width 2 * tol) at `speed`, counting distinct active query
// frames. `count` is scratch, one slot per query frame, all zero on entry and on return.
Mapping densest_offset(std::span<const FramePair> pairs, const std::vector<uint8_t>& active,
                       double speed, double tol, std::vector<int>& count) {
  std::vector<std::pair<double, int>> d;
  d.reserve(pairs.size());
  for (const FramePair& p : pairs) {
    if (active[size_t(p.query_frame)]) d.emplace_back(p.t_work - speed * p.t_query, p.query_frame);
  }
  std::sort(d.begin(), d.end());
  Mapping best{speed, 0, 0};
  int distinct = 0;
  size_t lo = 0;
  for (size_t hi = 0; hi < d.size(); ++hi) {
    if (count[size_t(d[hi].second)]++ == 0) ++distinct;
    while (d[hi].first - d[lo].first > 2 * tol) {
      if (--count[size_t(d[lo].second)] == 0) --distinct;
      ++lo;
    }
    if (distinct > best.support) best = {speed, (d[lo].first + d[hi].first) / 2, distinct};
  }
  for (size_t i = lo; i < d.size(); ++i) --count[size_t(d[i].second)];
  return best;
}

// For each active query frame, its pair nearest the mapping within tol: the smallest Hamming
// distance (the work frame nearest in time looks most alike), then the smallest residual.
std::vector<const FramePair*> inliers_of(std::span<const FramePair> pairs,
                                         const std::vector<uint8_t>& active, const Mapping& m,
                                         double tol) {
  std::map<int, const FramePair*> best;
  for (const FramePair& p : pairs) {
    if (!active[size_t(p.query_frame)]) continue;
    const double r = std::abs(p.t_work - (m.speed * p.t_query + m.offset));
    if (r > tol) continue;
    auto [it, fresh] = best.try_emplace(p.query_frame, &p);
    if (fresh) continue;
    const FramePair* b = it->second;
    const double rb = std::abs(b->t_work - (m.speed * b->t_query + m.offset));
    if (p.distance < b->distance || (p.distance == b->distance && r < rb)) it->second = &p;
  }
  std::vector<const FramePair*> out;
  out.reserve(best.size());
  for (const auto& [qf, p] : best) out.push_back(p);
  std::sort(out.begin(), out.end(),
            [](const FramePair* a, const FramePair* b) { return a->t_query < b->t_query; });
  return out;
}

// Refits the mapping to its inliers: the median offset at speed 1 (robust to the odd neighbour
// frame), least squares otherwise.
Mapping refit(const Mapping& m, const std::vector<const FramePair*>& in) {
  Mapping out = m;
  out.support = int(in.size());
  if (in.empty()) return out;
  if (m.speed == 1.0) {
    std::vector<double> off;
    for (const FramePair* p : in) off.push_back(p->t_work - p->t_query);
    std::nth_element(off.begin(), off.begin() + off.size() / 2, off.end());
    out.offset = off[off.size() / 2];
    return out;
  }
  double mq = 0, mw = 0;
  for (const FramePair* p : in) {
    mq += p->t_query;
    mw += p->t_work;
  }
  mq /= double(in.size());
  mw /= double(in.size());
  double sqq = 0, sqw = 0;
  for (const FramePair* p : in) {
    sqq += (p->t_query - mq) * (p->t_query - mq);
    sqw += (p->t_query - mq) * (p->t_work - mw);
  }
  if (sqq > 0) out.speed = sqw / sqq;
  out.offset = mw - out.speed * mq;
  return out;
}

double round_ms(double s) { return std::round(s * 1000.0) / 1000.0; }

}  // namespace

double sampling_interval(std::span<const double> times) {
  std::vector<double> gaps;
  for (size_t i = 1; i < times.size(); ++i) {
    if (times[i] > times[i - 1]) gaps.push_back(times[i] - times[i - 1]);
  }
  if (gaps.empty()) return 1.0;
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  return gaps[gaps.size() / 2];
}

std::vector<VideoSegment> align_segments(std::span<const FramePair> pairs, double query_interval,
                                         double work_interval, const VideoMatchOptions& o) {
  std::vector<VideoSegment> segments;
  if (pairs.empty()) return segments;
  // Nearest-frame pairs sit within half a sampling interval of the true offset; 0.75 also takes
  // in the neighbouring frame of slow scenes, so two sampling grids out of phase still vote for
  // one window. The floor covers every-frame sampling across a frame-rate change.
  const double tol = std::max(0.75 * std::max(query_interval, work_interval), 0.1);
  int frames = 0;
  for (const FramePair& p : pairs) frames = std::max(frames, p.query_frame + 1);
  std::vector<uint8_t> active(size_t(frames), 0);
  for (const FramePair& p : pairs) active[size_t(p.query_frame)] = 1;
  std::vector<int> count(size_t(frames), 0);

  // Speeds other than 1 are searched once, on all pairs; later mappings try that speed and 1.
  // A 1% grid: its error drifts 0.75 s (one tolerance) over 150 s of copy, and the least squares
  // refit recovers the rest. Capped so a pathological query costs bounded time.
  std::vector<double> speeds = {1.0};
  if (o.allow_speed_change && pairs.size() <= 20000) {
    for (double ls = std::log(o.min_speed); ls <= std::log(o.max_speed) + 1e-9; ls += 0.01) {
      if (std::abs(std::exp(ls) - 1.0) > 0.005) speeds.push_back(std::exp(ls));
    }
  }
  for (int round = 0; round < o.max_segments * 4 && int(segments.size()) < o.max_segments;
       ++round) {
    Mapping best = densest_offset(pairs, active, 1.0, tol, count);
    Mapping other{1.0, 0, 0};
    for (size_t i = 1; i < speeds.size(); ++i) {
      const Mapping m = densest_offset(pairs, active, speeds[i], tol, count);
      if (m.support > other.support) other = m;
    }
    // Short stretches fit many speeds about equally; another speed must beat 1 clearly.
    if (other.support >= best.support * 6 / 5 + 2) best = other;
    if (best.support < o.min_segment_frames) break;
    if (round == 0 && best.speed != 1.0) speeds = {1.0, best.speed};
    if (round == 0 && best.speed == 1.0) speeds = {1.0};

    std::vector<const FramePair*> in = inliers_of(pairs, active, best, tol);
    for (int k = 0; k < 2; ++k) {
      const Mapping fitted = refit(best, in);
      if (fitted.speed < o.min_speed || fitted.speed > o.max_speed) break;
      std::vector<const FramePair*> again = inliers_of(pairs, active, fitted, tol);
      if (again.size() < in.size()) break;
      best = fitted;
      in = std::move(again);
    }
    best = refit(best, in);
    for (const FramePair* p : in) active[size_t(p->query_frame)] = 0;

    // Cut where the query has no aligned frame for max_gap_s.
    size_t start = 0;
    for (size_t i = 1; i <= in.size(); ++i) {
      if (i < in.size() && in[i]->t_query - in[i - 1]->t_query <= o.max_gap_s) continue;
      const int n = int(i - start);
      if (n >= o.min_segment_frames) {
        VideoSegment s;
        s.query_start = round_ms(in[start]->t_query);
        s.query_end = round_ms(in[i - 1]->t_query);
        s.work_start = round_ms(std::max(0.0, best.speed * in[start]->t_query + best.offset));
        s.work_end = round_ms(std::max(0.0, best.speed * in[i - 1]->t_query + best.offset));
        s.frames = n;
        s.speed = std::round(best.speed * 1000.0) / 1000.0;
        segments.push_back(s);
      }
      start = i;
    }
  }
  std::sort(segments.begin(), segments.end(), [](const VideoSegment& a, const VideoSegment& b) {
    return a.query_start < b.query_start;
  });
  if (int(segments.size()) > o.max_segments) segments.resize(size_t(o.max_segments));
  return segments;
}

VpdqMatch vpdq_match_views(std::span<const FrameHash> query,
                           std::span<const FrameHash> query_cropped,
                           std::span<const FrameHash> work, std::span<const FrameHash> work_cropped,
                           int distance, int quality_threshold) {
  if (query_cropped.empty() && work_cropped.empty()) {
    return vpdq_match(query, work, distance, quality_threshold);
  }
  // Each frame's usable views; frames with none are left out, as the reference leaves out weak
  // frames.
  auto views_of = [&](std::span<const FrameHash> frames, std::span<const FrameHash> cropped) {
    std::vector<std::vector<PdqHash>> views(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
      if (frames[i].quality >= quality_threshold) views[i].push_back(frames[i].hash);
    }
    for (const FrameHash& c : cropped) {
      if (c.frame < 0 || size_t(c.frame) >= frames.size() || c.quality < quality_threshold)
        continue;
      views[size_t(c.frame)].push_back(c.hash);
    }
    std::erase_if(views, [](const std::vector<PdqHash>& v) { return v.empty(); });
    return views;
  };
  const std::vector<std::vector<PdqHash>> q = views_of(query, query_cropped);
  const std::vector<std::vector<PdqHash>> t = views_of(work, work_cropped);
  if (q.empty() || t.empty()) return {};
  auto covered_pct = [distance](const std::vector<std::vector<PdqHash>>& from,
                                const std::vector<std::vector<PdqHash>>& to) {
    std::vector<PdqHash> all;
    for (const std::vector<PdqHash>& v : to) all.insert(all.end(), v.begin(), v.end());
    size_t hits = 0;
    for (const std::vector<PdqHash>& v : from) {
      hits += std::any_of(v.begin(), v.end(), [&](const PdqHash& a) {
        return std::any_of(all.begin(), all.end(),
                           [&](const PdqHash& b) { return a.distance(b) <= distance; });
      });
    }
    return double(hits) * 100.0 / double(from.size());
  };
  return {covered_pct(q, t), covered_pct(t, q)};
}

namespace {

// The licence side of an explanation, as explain_match (matcher.cc) fills it for images.
void explain_terms(const Work& work, const MatchOptions& o, MatchExplanation* x) {
  x->purpose = o.purpose;
  const PurposeTerms& terms = work.licence.terms(o.purpose);
  x->permission = terms.permission;
  x->licensee_named = terms.permission == Permission::kLicensed && terms.names(o.licensee);
}

// A video query's candidate: which rule made it a copy (is_video_copy's order), or how far it was.
MatchExplanation explain_video(const VideoCandidate& c, const VideoMatchOptions& vo,
                               const MatchOptions& o) {
  MatchExplanation x;
  explain_terms(c.work, o, &x);
  if (c.method == "sha256") {
    x.measure = "same-bytes";
    x.evidence = Evidence::kCopy;
    return x;
  }
  const double pct = std::max(c.query_match_pct, c.work_match_pct);
  double longest = -1;
  for (const VideoSegment& s : c.segments) {
    if (s.frames >= vo.copy_min_frames) longest = std::max(longest, s.query_end - s.query_start);
  }
  if (pct < vo.copy_min_pct && longest >= vo.copy_min_seconds) {
    x.measure = "aligned-seconds";
    x.value = std::round(longest * 1000) / 1000;
    x.match_line = vo.copy_min_seconds;
    x.review_line = 0;
    x.evidence = Evidence::kCopy;
    return x;
  }
  x.measure = "vpdq-percent";
  x.value = pct;
  x.match_line = vo.copy_min_pct;
  x.review_line = 0;  // any frame matched: a near miss
  x.evidence = pct >= vo.copy_min_pct ? Evidence::kCopy
               : c.matched_frames > 0 ? Evidence::kNearMiss
                                      : Evidence::kNone;
  return x;
}

}  // namespace

bool is_video_copy(const VideoCandidate& c, const VideoMatchOptions& o) {
  if (c.method == "sha256") return true;
  if (std::max(c.query_match_pct, c.work_match_pct) >= o.copy_min_pct) return true;
  return std::any_of(c.segments.begin(), c.segments.end(), [&](const VideoSegment& s) {
    return s.frames >= o.copy_min_frames && s.query_end - s.query_start >= o.copy_min_seconds;
  });
}

namespace {

struct StoredVideo {
  std::vector<FrameHash> frames;
  std::vector<FrameHash> cropped;  // `frame` indexes `frames` (the frame of the same instant)
  double duration_s = 0;
};

// A work's frames (every stored one, as vPDQ counts them), their bar-cropped hashes and its
// duration, from the database.
Result<StoredVideo> read_work_frames(const Catalog::Impl& m, int64_t work_pk) {
  std::lock_guard<std::mutex> lk(m.rdb_mu);
  Result<detail::Statement> s = const_cast<detail::Database&>(m.rdb).prepare(
      "SELECT kind, data, quality, t_ms FROM fingerprints WHERE work_pk = ? AND kind IN (?, ?, ?) "
      "ORDER BY pk");
  if (!s.ok()) return s.status();
  s->bind(1, work_pk)
      .bind(2, std::string(kVideoFrameKind))
      .bind(3, std::string(kVideoInfoKind))
      .bind(4, std::string(kVideoFrameCropKind));
  StoredVideo v;
  std::unordered_map<int64_t, int64_t> frame_at_ms;  // t_ms -> index into v.frames
  std::vector<std::pair<int64_t, FrameHash>> crops;  // (t_ms, hash): matched to frames below
  Status st;
  while (s->step(&st)) {
    if (s->text(0) == kVideoInfoKind) {
      const std::string json(reinterpret_cast<const char*>(s->blob_data(1)),
                             size_t(s->blob_size(1)));
      const nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
      if (j.is_object() && j.contains("duration") && j["duration"].is_number()) {
        v.duration_s = j["duration"].get<double>();
      }
      continue;
    }
    if (s->blob_size(1) != 32) continue;
    FrameHash f;
    f.frame = int64_t(v.frames.size());
    f.t = double(s->int64(3)) / 1000.0;
    f.hash = PdqHash::from_bytes(s->blob_data(1));
    f.quality = int(s->int64(2));
    if (s->text(0) == kVideoFrameCropKind) {
      crops.emplace_back(s->int64(3), f);
      continue;
    }
    frame_at_ms.try_emplace(s->int64(3), f.frame);
    v.frames.push_back(f);
  }
  IMPRINT_RETURN_IF_ERROR(st);
  for (auto& [t_ms, f] : crops) {
    auto it = frame_at_ms.find(t_ms);
    if (it == frame_at_ms.end()) continue;
    f.frame = it->second;
    v.cropped.push_back(f);
  }
  return v;
}

void set_overall_decision(VideoQueryResult* r) {
  r->decision = MatchDecision::kNone;
  for (const VideoCandidate& c : r->matches) {
    if (decision_severity(c.decision) > decision_severity(r->decision)) r->decision = c.decision;
  }
}

}  // namespace

std::vector<VideoCandidate> Catalog::match_video_frames(std::span<const FrameHash> frames,
                                                        std::span<const FrameHash> cropped,
                                                        const std::optional<Sha256>& sha256,
                                                        Dihedral transform, const MatchOptions& o,
                                                        const VideoMatchOptions& vo,
                                                        bool* weak) const {
  const Impl& m = *impl_;
  std::vector<VideoCandidate> out;

  // Search each distinct usable hash once: static shots repeat a hash many times.
  std::map<std::array<uint64_t, 4>, size_t> slot_of;
  std::vector<PdqHash> distinct;
  std::vector<std::vector<int>> frames_of;
  auto add_hash = [&](const FrameHash& f, int query_frame) {
    if (f.quality < kPdqMinUsefulQuality) return;
    auto [it, fresh] = slot_of.try_emplace(f.hash.words(), distinct.size());
    if (fresh) {
      distinct.push_back(f.hash);
      frames_of.emplace_back();
    }
    std::vector<int>& of = frames_of[it->second];
    if (of.empty() || of.back() != query_frame) of.push_back(query_frame);
  };
  for (size_t i = 0; i < frames.size(); ++i) add_hash(frames[i], int(i));
  for (const FrameHash& f : cropped) {
    if (f.frame >= 0 && size_t(f.frame) < frames.size()) add_hash(f, int(f.frame));
  }
  *weak = distinct.empty();

  std::vector<std::vector<FrameHit>> hits;
  if (!distinct.empty()) {
    std::shared_lock<std::shared_mutex> lk(m.index_mu);
    if (m.video) hits = m.video->search(distinct, std::clamp(o.match_distance, 0, 256));
  }
  std::unordered_map<int64_t, std::vector<FramePair>> pairs_by_work;
  for (size_t u = 0; u < hits.size(); ++u) {
    std::vector<FrameHit>& h = hits[u];
    const size_t cap = size_t(std::max(1, vo.max_hits_per_frame));
    if (h.size() > cap) {
      std::nth_element(
          h.begin(), h.begin() + cap, h.end(),
          [](const FrameHit& a, const FrameHit& b) { return a.distance < b.distance; });
      h.resize(cap);
    }
    for (const FrameHit& hit : h) {
      std::vector<FramePair>& pairs = pairs_by_work[hit.work_pk];
      for (int qf : frames_of[u]) {
        pairs.push_back({qf, frames[size_t(qf)].t, double(hit.t_ms) / 1000.0, hit.distance});
      }
    }
  }

  // Works with the same bytes.
  std::vector<int64_t> same_bytes;
  if (sha256) {
    std::lock_guard<std::mutex> lk(m.rdb_mu);
    Result<detail::Statement*> cached =
        m.cached_read("SELECT pk FROM works WHERE sha256 = ? AND media = 'video'");
    if (cached.ok()) {
      CachedRead s(*cached);
      s->bind_blob(1, *sha256);
      Status st;
      while (s->step(&st)) same_bytes.push_back(s->int64(0));
    }
  }

  // Candidates: most matching query frames first.
  std::vector<std::pair<int, int64_t>> ranked;  // (matched query frames, work pk)
  for (auto& [work, pairs] : pairs_by_work) {
    std::vector<int> qfs;
    for (const FramePair& p : pairs) qfs.push_back(p.query_frame);
    std::sort(qfs.begin(), qfs.end());
    ranked.emplace_back(int(std::unique(qfs.begin(), qfs.end()) - qfs.begin()), work);
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  const size_t evaluate = size_t(std::max({vo.candidate_works, o.top_k, 1}));
  if (ranked.size() > evaluate) ranked.resize(evaluate);
  for (int64_t pk : same_bytes) {
    if (std::none_of(ranked.begin(), ranked.end(), [&](const auto& e) { return e.second == pk; })) {
      ranked.emplace_back(0, pk);
    }
  }

  std::vector<double> query_times;
  for (const FrameHash& f : frames) query_times.push_back(f.t);
  const double query_interval = sampling_interval(query_times);
  for (const auto& [matched, work_pk] : ranked) {
    Result<Work> w = get_work_by_pk(work_pk);
    if (!w.ok() || w->media != "video") continue;  // removed since the search
    Result<StoredVideo> stored = read_work_frames(m, work_pk);
    if (!stored.ok()) continue;
    VideoCandidate c;
    c.work = std::move(*w);
    const bool exact = std::find(same_bytes.begin(), same_bytes.end(), work_pk) != same_bytes.end();
    c.method = exact ? "sha256" : "vpdq";
    c.transform = transform;
    c.matched_frames = matched;
    c.work_duration_s = stored->duration_s;
    const VpdqMatch v = vpdq_match_views(frames, cropped, stored->frames, stored->cropped,
                                         o.match_distance, kPdqMinUsefulQuality);
    c.query_match_pct = std::round(v.query_match_pct * 100) / 100;
    c.work_match_pct = std::round(v.target_match_pct * 100) / 100;
    c.score = exact ? 1.0 : std::max(v.query_match_pct, v.target_match_pct) / 100.0;
    auto it = pairs_by_work.find(work_pk);
    if (it != pairs_by_work.end()) {
      for (const FramePair& p : it->second) {
        c.distance = c.distance < 0 ? p.distance : std::min(c.distance, p.distance);
      }
      std::vector<double> work_times;
      for (const FrameHash& f : stored->frames) work_times.push_back(f.t);
      c.segments = align_segments(it->second, query_interval, sampling_interval(work_times), vo);
    }
    if (exact) c.distance = 0;
    if (o.min_score > 0 && c.score < o.min_score && !exact) continue;
    c.why = explain_video(c, vo, o);
    c.decision = licence_decision(c.why.evidence, c.work.licence, o.purpose, o.licensee);
    out.push_back(std::move(c));
  }
  return out;
}

VideoQueryResult Catalog::match_video(const VideoQuery& query, const MatchOptions& o,
                                      const VideoMatchOptions& vo) const {
  VideoQueryResult r;
  r.matches = match_video_frames(query.fingerprint.frames, query.cropped, query.sha256,
                                 Dihedral::kOriginal, o, vo, &r.weak);
  // A mirrored re-upload: when the video as it is copies nothing, its mirror image may.
  const bool copied = std::any_of(r.matches.begin(), r.matches.end(),
                                  [&](const VideoCandidate& c) { return is_video_copy(c, vo); });
  if (!copied && !query.mirrored.empty()) {
    bool weak = false;
    for (VideoCandidate& c : match_video_frames(query.mirrored, {}, std::nullopt, Dihedral::kFlipY,
                                                o, vo, &weak)) {
      if (!is_video_copy(c, vo)) continue;
      std::erase_if(r.matches, [&](const VideoCandidate& d) { return d.work.id == c.work.id; });
      r.matches.push_back(std::move(c));
    }
  }
  auto aligned = [](const VideoCandidate& c) {
    int n = 0;
    for (const VideoSegment& s : c.segments) n += s.frames;
    return n;
  };
  std::stable_sort(r.matches.begin(), r.matches.end(),
                   [&](const VideoCandidate& a, const VideoCandidate& b) {
                     const bool ca = is_video_copy(a, vo), cb = is_video_copy(b, vo);
                     if (ca != cb) return ca;
                     if (aligned(a) != aligned(b)) return aligned(a) > aligned(b);
                     return a.score > b.score;
                   });
  if (int(r.matches.size()) > std::max(0, o.top_k)) r.matches.resize(size_t(std::max(0, o.top_k)));
  set_overall_decision(&r);
  return r;
}

std::vector<VideoQueryResult> Catalog::match_stills_in_videos(
    std::span<const ImageFingerprint> stills, const MatchOptions& o) const {
  const Impl& m = *impl_;
  std::vector<VideoQueryResult> out(stills.size());
  const double min_score =
      o.min_score >= 0 ? o.min_score : review_line(o);
  const int radius = std::clamp(o.match_distance + o.review_band, 0, 256);
  for (size_t i = 0; i < stills.size(); ++i) {
    const ImageFingerprint& q = stills[i];
    VideoQueryResult& r = out[i];
    r.weak = q.pdq.quality < kPdqMinUsefulQuality;
    std::vector<PdqHash> hashes;
    if (q.has_dihedral) {
      hashes.assign(q.dihedral.begin(), q.dihedral.end());
    } else {
      hashes.push_back(q.pdq.hash);
    }
    struct Best {
      int distance = 1 << 30;
      Dihedral transform = Dihedral::kOriginal;
      int64_t t_ms = 0;
    };
    std::map<int64_t, Best> best;  // work pk -> nearest frame
    {
      std::shared_lock<std::shared_mutex> lk(m.index_mu);
      if (!m.video) continue;
      const auto found = m.video->search(hashes, radius);
      for (size_t h = 0; h < found.size(); ++h) {
        for (const FrameHit& f : found[h]) {
          Best& b = best[f.work_pk];
          // Ties keep the original orientation, then the earliest frame.
          if (f.distance < b.distance ||
              (f.distance == b.distance && Dihedral(h) == b.transform && f.t_ms < b.t_ms)) {
            b = {f.distance, Dihedral(h), f.t_ms};
          }
        }
      }
    }
    std::vector<std::pair<int64_t, Best>> ranked(best.begin(), best.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.second.distance != b.second.distance ? a.second.distance < b.second.distance
                                                    : a.first < b.first;
    });
    for (const auto& [work_pk, b] : ranked) {
      if (int(r.matches.size()) >= o.top_k) break;
      const double score = score_for_distance(b.distance);
      if (score < min_score) continue;
      Result<Work> w = get_work_by_pk(work_pk);
      if (!w.ok()) continue;
      VideoCandidate c;
      c.work = std::move(*w);
      c.method = "video-frame";
      c.distance = b.distance;
      c.score = score;
      c.transform = b.transform;
      c.work_time_s = double(b.t_ms) / 1000.0;
      c.matched_frames = 1;
      explain_terms(c.work, o, &c.why);
      c.why.measure = "pdq-distance";
      c.why.value = b.distance;
      c.why.match_line = o.match_distance;
      c.why.review_line = o.match_distance + o.review_band;
      c.why.weak_query = r.weak;
      c.why.evidence = r.weak                                           ? Evidence::kNone
                       : b.distance <= o.match_distance                 ? Evidence::kCopy
                       : b.distance <= o.match_distance + o.review_band ? Evidence::kNearMiss
                                                                        : Evidence::kNone;
      c.decision = licence_decision(c.why.evidence, c.work.licence, o.purpose, o.licensee);
      r.matches.push_back(std::move(c));
    }
    set_overall_decision(&r);
  }
  return out;
}

nlohmann::json video_candidate_to_json(const VideoCandidate& c) {
  Candidate image_form;
  image_form.work = c.work;
  image_form.distance = c.distance;
  image_form.score = c.score;
  image_form.transform = c.transform;
  image_form.method = c.method;
  image_form.decision = c.decision;
  image_form.why = c.why;
  nlohmann::json j = candidate_to_json(image_form);
  j["media"] = "video";
  if (c.method == "video-frame") {
    j["work_time"] = std::round(c.work_time_s * 1000) / 1000;
    return j;
  }
  j["query_match_pct"] = c.query_match_pct;
  j["work_match_pct"] = c.work_match_pct;
  j["matched_frames"] = c.matched_frames;
  j["work_duration"] = c.work_duration_s;
  nlohmann::json segments = nlohmann::json::array();
  for (const VideoSegment& s : c.segments) {
    segments.push_back({{"query_start", s.query_start},
                        {"query_end", s.query_end},
                        {"work_start", s.work_start},
                        {"work_end", s.work_end},
                        {"frames", s.frames},
                        {"speed", s.speed}});
  }
  j["segments"] = segments;
  return j;
}

nlohmann::json video_result_to_json(const std::string& label, const VideoQuery& q,
                                    const VideoQueryResult& r) {
  nlohmann::json matches = nlohmann::json::array();
  for (const VideoCandidate& c : r.matches) matches.push_back(video_candidate_to_json(c));
  const VideoFingerprint& fp = q.fingerprint;
  nlohmann::json j = {{"path", label},
                      {"media", "video"},
                      {"fps", fp.fps},
                      {"duration", fp.duration_s},
                      {"frames", fp.frames.size()},
                      {"partial", fp.partial},
                      {"weak", r.weak},
                      {"decision", decision_name(r.decision)},
                      {"matches", matches}};
  if (fp.partial) j["partial_reason"] = fp.partial_reason;
  return j;
}

}  // namespace imprint
