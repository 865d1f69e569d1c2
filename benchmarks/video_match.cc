// Video matching latency: a 1-minute query (60 frame hashes, one a second) against a catalog of
// registered video, on one core.
//
// Two parts, because the part that grows with the catalog is the frame index and the rest does
// not depend on the catalog's size:
//  1. The frame index at scale (index/video_index.h, through the same VideoFrameIndex the catalog
//     uses, mih as kAuto picks at this size), filled with synthetic frame hashes: the radius-31
//     search of the query's 60 hashes, then the candidate work's vPDQ percentages and segment
//     alignment (align_segments, vpdq_match) on its frames held in memory. Baseline in the same
//     run: our flat scan over the same frames.
//  2. A real catalog (SQLite, frames.index) with a smaller library registered through
//     register_works: Catalog::match_video end to end, which adds reading the candidate's frames
//     back from SQLite.
//
// Synthetic video: each video (20 to 120 minutes, one hash a second) is a run of scenes (mean
// 6 s); a scene starts from a fresh balanced hash and each next second flips 4 to 15 bits of the
// previous one, so neighbouring frames of a scene are near duplicates as in real footage. A copy
// query takes 60 consecutive seconds of a registered video and flips 8 to 23 bits of each frame
// (re-encoding, and samples falling between the registered ones); an unrelated query is a fresh
// synthetic minute.
//
//   build/benchmarks/video_match [--frames 1000000,3600000,10000000] [--queries 200]
//                                [--catalog-hours 100]
#include "video_match.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>

#include "catalog.h"
#include "measure.h"
#include "photo_corpus.h"
#include "synthetic_hashes.h"
#include "video_index.h"
#include "video_ingest.h"

namespace imprint::bench {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Appends `seconds` frames of synthetic footage.
void synth_video(int seconds, std::mt19937_64& rng, std::vector<PdqHash>* out) {
  std::geometric_distribution<int> scene_len(1.0 / 6);
  PdqHash cur = balanced_hash(rng);
  int left = 1 + scene_len(rng);
  for (int s = 0; s < seconds; ++s) {
    if (--left == 0) {
      cur = balanced_hash(rng);
      left = 1 + scene_len(rng);
    } else if (s > 0) {
      cur = flip_bits(cur, 4 + int(rng() % 12), rng);
    }
    out->push_back(cur);
  }
}

struct Library {
  std::vector<PdqHash> hashes;  // all frames, video after video
  std::vector<size_t> start;    // video v: frames [start[v], start[v + 1])
  size_t videos() const { return start.size() - 1; }
  size_t length(size_t v) const { return start[v + 1] - start[v]; }
};

Library make_library(size_t frames, std::mt19937_64& rng) {
  Library lib;
  lib.hashes.reserve(frames);
  while (lib.hashes.size() < frames) {
    lib.start.push_back(lib.hashes.size());
    const int minutes = 20 + int(rng() % 101);
    synth_video(std::min<int>(minutes * 60, int(frames - lib.hashes.size())), rng, &lib.hashes);
  }
  lib.start.push_back(lib.hashes.size());
  return lib;
}

struct Query {
  std::vector<FrameHash> frames;
  int64_t video = -1;  // the copied video, -1 for unrelated
  double offset = 0;   // where query second 0 falls in it
};

Query copy_query(const Library& lib, std::mt19937_64& rng) {
  Query q;
  size_t v;
  do {
    v = rng() % lib.videos();
  } while (lib.length(v) < 120);
  const size_t s = rng() % (lib.length(v) - 60);
  for (int k = 0; k < 60; ++k) {
    q.frames.push_back({k, double(k),
                        flip_bits(lib.hashes[lib.start[v] + s + size_t(k)], 8 + int(rng() % 16), rng),
                        100});
  }
  q.video = int64_t(v);
  q.offset = double(s);
  return q;
}

Query unrelated_query(std::mt19937_64& rng) {
  std::vector<PdqHash> h;
  synth_video(60, rng, &h);
  Query q;
  for (int k = 0; k < 60; ++k) q.frames.push_back({k, double(k), h[size_t(k)], 100});
  return q;
}

// What match_video does after the search, on frames in memory: pairs by work, the best 32 works
// by matching query frames, their vPDQ percentages and segments. Returns the best work's result.
struct Outcome {
  int64_t work = -1;
  double query_pct = 0;
  std::vector<VideoSegment> segments;
};

Outcome match_in_memory(const VideoFrameIndex& index, const Library& lib, const Query& q,
                        const VideoMatchOptions& vo) {
  std::vector<PdqHash> hashes;
  for (const FrameHash& f : q.frames) hashes.push_back(f.hash);
  const auto hits = index.search(hashes, kPdqMatchDistance);
  std::unordered_map<int64_t, std::vector<FramePair>> by_work;
  for (size_t i = 0; i < hits.size(); ++i) {
    for (const FrameHit& h : hits[i]) {
      by_work[h.work_pk].push_back({int(i), q.frames[i].t, double(h.t_ms) / 1000, h.distance});
    }
  }
  std::vector<std::pair<int, int64_t>> ranked;
  for (const auto& [w, pairs] : by_work) {
    std::set<int> qf;
    for (const FramePair& p : pairs) qf.insert(p.query_frame);
    ranked.emplace_back(int(qf.size()), w);
  }
  std::sort(ranked.rbegin(), ranked.rend());
  if (ranked.size() > size_t(vo.candidate_works)) ranked.resize(size_t(vo.candidate_works));
  Outcome best;
  size_t best_aligned = 0;
  for (const auto& [n, w] : ranked) {
    const size_t v = size_t(w - 1);
    std::vector<FrameHash> work;
    for (size_t k = 0; k < lib.length(v); ++k) {
      work.push_back({int64_t(k), double(k), lib.hashes[lib.start[v] + k], 100});
    }
    const VpdqMatch m = vpdq_match(q.frames, work, kPdqMatchDistance);
    std::vector<VideoSegment> segs = align_segments(by_work[w], 1.0, 1.0, vo);
    size_t aligned = 0;
    for (const VideoSegment& s : segs) aligned += size_t(s.frames);
    if (aligned > best_aligned || best.work < 0) {
      best_aligned = aligned;
      best = {w, m.query_match_pct, std::move(segs)};
    }
  }
  return best;
}

void run_index_scale(size_t n, size_t nq) {
  std::mt19937_64 rng(n);
  auto t = Clock::now();
  const Library lib = make_library(n, rng);
  std::fprintf(stderr, "%zu frames (%zu videos) generated in %.1f s\n", n, lib.videos(), since(t));

  // Labels are frame row ids (1-based), works are 1-based video numbers, t_ms the second.
  std::vector<int64_t> labels(n), works(n), t_ms(n);
  for (size_t v = 0; v < lib.videos(); ++v) {
    for (size_t k = lib.start[v]; k < lib.start[v + 1]; ++k) {
      labels[k] = int64_t(k) + 1;
      works[k] = int64_t(v) + 1;
      t_ms[k] = int64_t(k - lib.start[v]) * 1000;
    }
  }
  std::vector<Query> copies, unrelated;
  for (size_t i = 0; i < nq; ++i) copies.push_back(copy_query(lib, rng));
  for (size_t i = 0; i < nq; ++i) unrelated.push_back(unrelated_query(rng));
  const VideoMatchOptions vo;

  for (IndexKind kind : {IndexKind::kAuto, IndexKind::kFlat}) {
    const long rss0 = resident_kb();
    t = Clock::now();
    VideoFrameIndex index(kind, n);
    // Quarters: each add is over an eighth of what is indexed, so the mih tables are rebuilt
    // after each and no unindexed tail is left to scan (mih_index.cc).
    const size_t chunk = std::max<size_t>(1 << 20, n / 4);
    for (size_t i = 0; i < n; i += chunk) {
      const size_t m = std::min(chunk, n - i);
      index.add({lib.hashes.data() + i, m}, {labels.data() + i, m}, {works.data() + i, m},
                {t_ms.data() + i, m});
    }
    const double build_s = since(t);
    const double bytes = double(index.memory_bytes()) / double(n);
    const double rss_bytes = double(resident_kb() - rss0) * 1024 / double(n);
    // The flat scan takes seconds a query at this size: fewer queries.
    const size_t runs =
        kind == IndexKind::kFlat ? std::min<size_t>(nq, n >= 5'000'000 ? 10 : 30) : nq;
    std::vector<double> search_ms, total_ms, none_ms;
    size_t found = 0, aligned = 0;
    for (size_t i = 0; i < runs; ++i) {
      std::vector<PdqHash> hashes;
      for (const FrameHash& f : copies[i].frames) hashes.push_back(f.hash);
      t = Clock::now();
      (void)index.search(hashes, kPdqMatchDistance);
      search_ms.push_back(since(t) * 1e3);
      t = Clock::now();
      const Outcome o = match_in_memory(index, lib, copies[i], vo);
      total_ms.push_back(since(t) * 1e3);
      if (o.work == copies[i].video + 1) {
        ++found;
        if (o.segments.size() == 1 &&
            std::abs(o.segments[0].work_start - o.segments[0].query_start - copies[i].offset) <=
                1.0) {
          ++aligned;
        }
      }
      t = Clock::now();
      const Outcome u = match_in_memory(index, lib, unrelated[i], vo);
      none_ms.push_back(since(t) * 1e3);
      (void)u;
    }
    std::printf(
        "| %zu | %.0f | %s | %.1f | %.0f (RSS %.0f) | %.2f | %.2f | %.2f | %.2f | %.2f | %zu/%zu | "
        "%zu/%zu |\n",
        n, double(n) / 3600, index_kind_name(index.kind()), build_s, bytes, rss_bytes,
        percentile(search_ms, 0.5), percentile(search_ms, 0.99), percentile(total_ms, 0.5),
        percentile(total_ms, 0.99), percentile(none_ms, 0.5), found, runs, aligned, runs);
    std::fflush(stdout);
  }
}

#ifndef IMPRINT_VIDEO_MATCH_INDEX_ONLY
void run_catalog(int hours, size_t nq) {
  std::mt19937_64 rng(7);
  const std::string dir =
      (std::filesystem::temp_directory_path() / "imprint-video-match-bench").string();
  std::filesystem::remove_all(dir);
  CatalogOptions co;
  co.dir = dir;
  co.second_stage = false;
  auto catalog = Catalog::open(co);
  if (!catalog.ok()) {
    std::fprintf(stderr, "%s\n", catalog.status().to_string().c_str());
    return;
  }
  const Library lib = make_library(size_t(hours) * 3600, rng);
  auto t = Clock::now();
  for (size_t v = 0; v < lib.videos(); v += 16) {
    std::vector<WorkInput> inputs;
    for (size_t u = v; u < std::min(lib.videos(), v + 16); ++u) {
      HashedVideo hv;
      hv.fingerprint.fps = 30;
      hv.fingerprint.duration_s = double(lib.length(u));
      for (size_t k = 0; k < lib.length(u); ++k) {
        hv.fingerprint.frames.push_back(
            {int64_t(k) * 30, double(k), lib.hashes[lib.start[u] + k], 100});
      }
      WorkInput in = work_input_from_video(hv, 1.0);
      in.work.id = "video-" + std::to_string(u + 1);
      inputs.push_back(std::move(in));
    }
    for (const auto& r : (*catalog)->register_works(inputs)) {
      if (!r.ok()) std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
    }
  }
  const double register_s = since(t);
  catalog->reset();
  t = Clock::now();
  catalog = Catalog::open(co);
  const double open_s = since(t);
  std::vector<double> lat, none;
  size_t found = 0;
  for (size_t i = 0; i < nq; ++i) {
    const Query c = copy_query(lib, rng);
    VideoQuery q;
    q.fingerprint.frames = c.frames;
    t = Clock::now();
    const VideoQueryResult r = (*catalog)->match_video(q, MatchOptions{}, VideoMatchOptions{});
    lat.push_back(since(t) * 1e3);
    if (!r.matches.empty() && r.matches[0].work.id == "video-" + std::to_string(c.video + 1) &&
        r.matches[0].decision == MatchDecision::kFlag) {
      ++found;
    }
    VideoQuery u;
    u.fingerprint.frames = unrelated_query(rng).frames;
    t = Clock::now();
    (void)(*catalog)->match_video(u, MatchOptions{}, VideoMatchOptions{});
    none.push_back(since(t) * 1e3);
  }
  std::printf("| %d h (%zu frames, %zu videos) | %.1f | %.2f | %.2f | %.2f | %.2f | %zu/%zu |\n",
              hours, lib.hashes.size(), lib.videos(), register_s, open_s, percentile(lat, 0.5),
              percentile(lat, 0.99), percentile(none, 0.5), found, nq);
  catalog->reset();
  std::filesystem::remove_all(dir);
}
#endif

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  using namespace imprint::bench;
  std::vector<size_t> sizes = {1'000'000, 3'600'000, 10'000'000};
  size_t nq = 200;
  int catalog_hours = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--frames") {
      sizes.clear();
      std::stringstream ss(argv[i + 1]);
      std::string s;
      while (std::getline(ss, s, ',')) sizes.push_back(std::stoull(s));
    } else if (a == "--queries") {
      nq = std::stoull(argv[i + 1]);
    } else if (a == "--catalog-hours") {
      catalog_hours = std::stoi(argv[i + 1]);
    }
  }
  std::printf("# Video matching latency, one core\n\nMachine: %s\n\n",
              machine_description().c_str());
  std::printf(
      "A 1-minute query: 60 frame hashes (one a second), each 8-23 bits from the registered frame "
      "it "
      "copies; %zu copy queries and as many unrelated ones per row.\n\n",
      nq);
  std::printf("## Frame index at scale (synthetic frames, in memory)\n\n");
  std::printf(
      "| frames | hours at 1 fps | structure | build s | bytes/frame | search p50 ms | search p99 "
      "ms | "
      "match p50 ms | match p99 ms | unrelated p50 ms | copied work found | segment offset within "
      "1 s "
      "|\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  for (size_t n : sizes) run_index_scale(n, nq);
  std::printf(
      "\nsearch: VideoFrameIndex::search of the 60 hashes at radius 31. match: search, pairs by "
      "work, the 32 best works' vPDQ percentages (vpdq_match) and segments (align_segments) on "
      "frames in memory. bytes/frame: VideoFrameIndex::memory_bytes (RSS growth while building in "
      "brackets).\n\n");
#ifndef IMPRINT_VIDEO_MATCH_INDEX_ONLY
  std::printf("## A real catalog (SQLite, frames.index), Catalog::match_video end to end\n\n");
  std::printf(
      "| library | register s | reopen s | match p50 ms | match p99 ms | unrelated p50 ms | copies "
      "flagged |\n|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  run_catalog(catalog_hours, std::min<size_t>(nq, 100));
#else
  (void)catalog_hours;
#endif
  return 0;
}
