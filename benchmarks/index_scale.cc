// Index structures at catalog scale: build time, memory, load time, 8-dihedral radius-31 query
// latency and throughput, and recall against exact search, for our flat scan and multi-index
// hashing and for FAISS's flat and multi-hash binary indexes, all in the same run on one core.
// Then a real catalog: registering, reopening and rebuilding a million works. With
// --feature-works N, a catalog of N works with the second stage's fingerprints too (local
// features and crop hashes): its open with features.index current, behind (caught up) and
// missing (rebuilt), and the feature index's memory and file per work.
//
//   build/benchmarks/index_scale [--sizes 100000,1000000,10000000] [--queries 500]
//                                [--catalog-works 1000000] [--kinds flat,mih,faiss-flat,faiss-mih]
//                                [--feature-works 20000]
#include <malloc.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "catalog.h"
#include "catalog_impl.h"
#include "fingerprint_index.h"
#include "local_features.h"
#include "measure.h"
#include "photo_corpus.h"
#include "synthetic_hashes.h"
#include "synthetic_works.h"

namespace imprint::bench {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A catalog that looks like real photo hashes: most hashes come in clusters (series, edits,
// near-duplicates: members 4-60 bits from a centre, cluster sizes from 1 to ~100), the rest are
// singletons.
std::vector<PdqHash> catalog_hashes(size_t n, std::mt19937_64& rng) {
  std::vector<PdqHash> out;
  out.reserve(n);
  std::geometric_distribution<int> cluster_size(0.05);
  while (out.size() < n) {
    const PdqHash centre = balanced_hash(rng);
    out.push_back(centre);
    const int members = std::min<int>(cluster_size(rng), int(n - out.size()));
    for (int i = 0; i < members; ++i) out.push_back(perturb_balanced(centre, 4 + int(rng() % 57), rng));
  }
  return out;
}

struct QuerySet {
  std::vector<std::array<PdqHash, 8>> queries;  // [0] is planted near a catalog hash
  std::vector<int64_t> planted;                 // its label
};

QuerySet make_queries(const std::vector<PdqHash>& cat, size_t nq, std::mt19937_64& rng) {
  QuerySet q;
  for (size_t i = 0; i < nq; ++i) {
    const size_t target = rng() % cat.size();
    std::array<PdqHash, 8> h;
    h[0] = perturb_balanced(cat[target], int(rng() % 32), rng);  // planted at distance 0..31
    for (int k = 1; k < 8; ++k) h[k] = balanced_hash(rng);  // the other dihedral variants
    q.queries.push_back(h);
    q.planted.push_back(int64_t(target) + 1);
  }
  return q;
}

void run_size(size_t n, size_t nq, const std::vector<IndexKind>& kinds) {
  std::mt19937_64 rng(n);
  const auto t_gen = Clock::now();
  const std::vector<PdqHash> hashes = catalog_hashes(n, rng);
  std::vector<int64_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = int64_t(i) + 1;
  const QuerySet qs = make_queries(hashes, nq, rng);
  std::fprintf(stderr, "n=%zu: generated in %.1f s\n", n, since(t_gen));

  // Ground truth: our flat scan (checked against brute force by tests/index_structures_test).
  std::vector<std::set<int64_t>> truth(nq);
  {
    auto flat = make_index(IndexKind::kFlat);
    flat->add(hashes, labels);
    for (size_t i = 0; i < nq; ++i) {
      for (const auto& v : flat->search_radius(qs.queries[i], kPdqMatchDistance)) {
        for (const Neighbor& nb : v) truth[i].insert(nb.label);
      }
    }
  }

  for (IndexKind kind : kinds) {
    if (kind == IndexKind::kFaissMih && n > 1'000'000) {
      std::printf("| %zu | faiss-mih | not run: its std::unordered_map buckets need ~%.0f GB here |  |  |  |  |  |  |\n",
                  n, double(n) * 16 * 48 / 1e9);
      continue;
    }
    const long rss0 = resident_kb();
    auto t = Clock::now();
    auto index = make_index(kind);
    index->add(hashes, labels);
    if (kind == IndexKind::kMih) index->add({}, {});  // (adds already rebuilt the tables)
    const double build_s = since(t);
    const long rss1 = resident_kb();
    const double bytes_per = double(index->memory_bytes()) / double(n);

    // Load time: write the index file as a catalog does, then read it back into a new structure.
    IndexFileContents c;
    c.catalog_id = "bench";
    index->for_each([&](const PdqHash& h, int64_t l) {
      c.hashes.push_back(h);
      c.fp_pks.push_back(l);
      c.work_pks.push_back(l);
    });
    const std::string path = (std::filesystem::temp_directory_path() / "imprint-bench.index").string();
    (void)write_index_file(path, c);
    c = {};
    t = Clock::now();
    {
      Result<IndexFileContents> back = read_index_file(path);
      auto reloaded = make_index(kind);
      reloaded->add(back->hashes, back->fp_pks);
    }
    const double load_s = since(t);
    std::filesystem::remove(path);

    // Latency, one 8-hash query at a time; slow structures get fewer queries.
    const size_t nlat = (kind == IndexKind::kFlat || kind == IndexKind::kFaissFlat) && n >= 1'000'000
                            ? std::min<size_t>(nq, n >= 10'000'000 ? 20 : 60)
                            : nq;
    std::vector<double> lat;
    size_t found = 0, expected = 0, planted_found = 0;
    for (size_t i = 0; i < nlat; ++i) {
      t = Clock::now();
      const auto r = index->search_radius(qs.queries[i], kPdqMatchDistance);
      lat.push_back(since(t) * 1e3);
      std::set<int64_t> got;
      for (const auto& v : r) {
        for (const Neighbor& nb : v) got.insert(nb.label);
      }
      for (int64_t l : truth[i]) found += got.count(l);
      expected += truth[i].size();
      planted_found += got.count(qs.planted[i]);
    }
    // Throughput: the queries as one batch.
    std::vector<PdqHash> batch;
    for (size_t i = 0; i < nlat; ++i) batch.insert(batch.end(), qs.queries[i].begin(), qs.queries[i].end());
    t = Clock::now();
    (void)index->search_radius(batch, kPdqMatchDistance);
    const double qps = double(nlat) / since(t);
    std::printf("| %zu | %s | %.2f | %.0f (RSS %+.0f) | %.2f | %.3f | %.3f | %.1f | %.2f%% | %.2f%% |\n", n,
                index_kind_name(kind), build_s, bytes_per, double(rss1 - rss0) * 1024 / double(n), load_s,
                percentile(lat, 0.5), percentile(lat, 0.99), qps,
                expected ? 100.0 * double(found) / double(expected) : 100.0,
                100.0 * double(planted_found) / double(nlat));
    std::fflush(stdout);
  }
}

void run_catalog(size_t works) {
  const std::string dir = (std::filesystem::temp_directory_path() / "imprint-bench-catalog").string();
  std::filesystem::remove_all(dir);
  std::mt19937_64 rng(99);
  const std::vector<PdqHash> hashes = catalog_hashes(works, rng);
  CatalogOptions o;
  o.dir = dir;
  auto t = Clock::now();
  {
    auto c = Catalog::open(o);
    for (size_t start = 0; start < works; start += 20000) {
      std::vector<WorkInput> batch;
      for (size_t i = start; i < std::min(works, start + 20000); ++i) {
        WorkInput in;
        in.work.id = "w" + std::to_string(i);
        in.fingerprints.push_back(WorkFingerprint::pdq(hashes[i], 100));
        batch.push_back(std::move(in));
      }
      for (const auto& r : (*c)->register_works(batch)) {
        if (!r.ok()) std::abort();
      }
    }
  }
  const double reg_s = since(t);
  t = Clock::now();
  std::string origin;
  {
    auto c = Catalog::open(o);
    origin = (*c)->index_origin();
  }
  const double load_s = since(t);
  std::filesystem::remove(dir + "/pdq.index");
  t = Clock::now();
  std::string origin2;
  {
    auto c = Catalog::open(o);
    origin2 = (*c)->index_origin();
  }
  const double rebuild_s = since(t);
  std::printf("\n# Catalog of %zu works\n\n", works);
  std::printf("| step | seconds |\n|---|---|\n");
  std::printf("| register %zu works (batches of 20,000, fsync per commit), then save pdq.index | %.1f |\n", works, reg_s);
  std::printf("| open with pdq.index present (%s) | %.2f |\n", origin.c_str(), load_s);
  std::printf("| open with pdq.index deleted (%s from SQLite) | %.2f |\n", origin2.c_str(), rebuild_s);
  std::filesystem::remove_all(dir);
}

void run_feature_catalog(size_t works) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / "imprint-bench-feature-catalog").string();
  std::filesystem::remove_all(dir);
  const std::vector<LocalFeatures> sources = feature_sources(200);
  std::mt19937_64 rng(21);
  CatalogOptions o;
  o.dir = dir;
  o.sync_commits = false;
  const size_t late = std::max<size_t>(1, works / 20);  // registered after the file is copied
  auto register_range = [&](Catalog& c, size_t from, size_t to) {
    for (size_t start = from; start < to; start += 1000) {
      std::vector<WorkInput> batch;
      for (size_t i = start; i < std::min(to, start + 1000); ++i) {
        batch.push_back(feature_work(i, sources, rng));
      }
      for (const auto& r : c.register_works(batch)) {
        if (!r.ok()) {
          std::fprintf(stderr, "register: %s\n", r.status().to_string().c_str());
          std::exit(1);
        }
      }
    }
  };
  auto t = Clock::now();
  {
    auto c = Catalog::open(o);
    register_range(**c, 0, works - late);
  }
  const double reg_s = since(t);
  std::filesystem::copy_file(dir + "/features.index", dir + "/behind.index");
  {
    auto c = Catalog::open(o);
    register_range(**c, works - late, works);
  }
  struct Open {
    double s = 0;
    std::string origin;
    size_t feature_works = 0;
    double memory_per_work = 0, rss_per_work = 0;
  };
  auto open = [&] {
    Open r;
    malloc_trim(0);  // what the last catalog freed goes back first, so growth is this one's
    const long rss0 = resident_kb();
    const auto t0 = Clock::now();
    auto c = Catalog::open(o);
    r.s = since(t0);
    r.origin = (*c)->feature_index_origin();
    const CatalogStats st = *(*c)->stats();
    r.feature_works = st.feature_works;
    r.memory_per_work = double(st.feature_memory_bytes) / double(works);
    malloc_trim(0);
    r.rss_per_work = double(resident_kb() - rss0) * 1024 / double(works);
    return r;
  };
  const Open loaded = open();
  const double file_per_work =
      double(std::filesystem::file_size(dir + "/features.index")) / double(works);
  std::filesystem::copy_file(dir + "/behind.index", dir + "/features.index",
                             std::filesystem::copy_options::overwrite_existing);
  const Open caught_up = open();
  std::filesystem::remove(dir + "/features.index");
  const Open rebuilt = open();
  std::printf("\n# Catalog of %zu works with the second stage\n\n", works);
  std::printf(
      "Each work: a PDQ hash, 4 crop hashes and the local features of a real wallpaper cut "
      "(every descriptor 40 bits from its source); %zu of them registered after a copy of "
      "features.index was kept, which the caught-up open starts from.\n\n",
      late);
  std::printf(
      "| step | seconds | origin | works in the feature index | feature index memory per work | "
      "RSS growth per work |\n|---|---|---|---|---|---|\n");
  std::printf(
      "| register %zu works (batches of 1,000), close (saves the index files) | %.1f | | | | |\n",
      works - late, reg_s);
  for (const auto& [what, r] : {std::pair{"open, features.index current", &loaded},
                                std::pair{"open, features.index behind", &caught_up},
                                std::pair{"open, features.index deleted", &rebuilt}}) {
    std::printf("| %s | %.2f | %s | %zu | %.1f KB | %.1f KB |\n", what, r->s, r->origin.c_str(),
                r->feature_works, r->memory_per_work / 1024, r->rss_per_work / 1024);
  }
  std::printf("\nfeatures.index: %.1f KB per work.\n", file_per_work / 1024);
  std::filesystem::remove_all(dir);
}

// A PostgreSQL replica's open at scale (--replica-uri URI --replica-works N [--replica-features
// M]): N works (a PDQ hash each; the first M also with 4 crop hashes and local features) in an
// empty database; opened reading every row, then from a snapshot that is current and one that
// is 5% behind, each against the full read in the same run.
void run_replica_open(const std::string& uri, size_t works, size_t feature_works) {
  const std::string snap =
      (std::filesystem::temp_directory_path() / "imprint-bench-replica-snapshot").string();
  std::filesystem::remove_all(snap);
  const std::vector<LocalFeatures> sources =
      feature_works > 0 ? feature_sources(200) : std::vector<LocalFeatures>{};
  std::mt19937_64 rng(31);
  const std::vector<PdqHash> hashes = catalog_hashes(works, rng);
  auto options = [&](const std::string& snapshot) {
    CatalogOptions o;
    o.dir = uri;
    o.snapshot_dir = snapshot;
    o.snapshot_interval_s = 86'400;  // saves only when asked
    return o;
  };
  const size_t late = std::max<size_t>(1, works / 20);
  auto register_range = [&](Catalog& c, size_t from, size_t to) {
    for (size_t start = from; start < to; start += 10'000) {
      std::vector<WorkInput> batch;
      for (size_t i = start; i < std::min(to, start + 10'000); ++i) {
        WorkInput in;
        if (i < feature_works) {
          in = feature_work(i, sources, rng);  // its PDQ hash first, replaced below
          in.fingerprints[0] = WorkFingerprint::pdq(hashes[i], 100);
        } else {
          in.work.id = "w" + std::to_string(i);
          in.fingerprints.push_back(WorkFingerprint::pdq(hashes[i], 100));
        }
        batch.push_back(std::move(in));
      }
      for (const auto& r : c.register_works(batch)) {
        if (!r.ok()) {
          std::fprintf(stderr, "register: %s\n", r.status().to_string().c_str());
          std::exit(1);
        }
      }
    }
  };
  auto open = [&](const std::string& snapshot, std::string* origin) {
    const auto t = Clock::now();
    Result<std::unique_ptr<Catalog>> c = Catalog::open(options(snapshot));
    const double s = since(t);
    if (!c.ok()) {
      std::fprintf(stderr, "open: %s\n", c.status().to_string().c_str());
      std::exit(1);
    }
    if (origin) *origin = (*c)->snapshot_origin();
    return std::make_pair(s, std::move(*c));
  };
  auto t = Clock::now();
  {
    auto [s, c] = open("", nullptr);
    register_range(*c, 0, works - late);
  }
  const double reg_s = since(t);
  double save_s = 0;
  uint64_t snapshot_bytes = 0;
  {
    auto [s, c] = open(snap, nullptr);
    t = Clock::now();
    if (!c->save_index().ok()) std::exit(1);
    save_s = since(t);
    for (const auto& e : std::filesystem::directory_iterator(snap)) snapshot_bytes += e.file_size();
  }
  std::string origin_current, origin_behind;
  const double full_before = open("", nullptr).first;
  const double current = open(snap, &origin_current).first;
  {
    auto [s, c] = open("", nullptr);
    register_range(*c, works - late, works);
  }
  const double full_after = open("", nullptr).first;
  const double behind = open(snap, &origin_behind).first;
  std::printf("\n# A PostgreSQL replica's open, %zu works (%zu with local features)\n\n", works,
              std::min(works, feature_works));
  std::printf("| step | seconds | ratio to reading every row |\n|---|---|---|\n");
  std::printf("| register %zu works (batches of 10,000) | %.1f | |\n", works - late, reg_s);
  std::printf("| open reading every row | %.2f | 1 |\n", full_before);
  std::printf("| write the snapshot (save_index, %.1f MB) | %.2f | |\n",
              double(snapshot_bytes) / 1e6, save_s);
  std::printf("| open from the current snapshot (%s) | %.2f | %.3f |\n", origin_current.c_str(),
              current, current / full_before);
  std::printf("| register %zu more works | | |\n", late);
  std::printf("| open reading every row | %.2f | 1 |\n", full_after);
  std::printf("| open from the snapshot, %zu works behind (%s) | %.2f | %.3f |\n", late,
              origin_behind.c_str(), behind, behind / full_after);
  std::filesystem::remove_all(snap);
}

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  using namespace imprint::bench;
  std::vector<size_t> sizes = {100'000, 1'000'000, 10'000'000};
  size_t nq = 500, catalog_works = 1'000'000, feature_works = 0;
  std::string replica_uri;
  size_t replica_works = 1'000'000, replica_features = 0;
  std::vector<imprint::IndexKind> kinds = {imprint::IndexKind::kFlat, imprint::IndexKind::kMih,
                                           imprint::IndexKind::kFaissFlat, imprint::IndexKind::kFaissMih};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--sizes")) {
      sizes.clear();
      std::stringstream ss(argv[i + 1]);
      std::string part;
      while (std::getline(ss, part, ',')) sizes.push_back(std::stoul(part));
    }
    if (!std::strcmp(argv[i], "--queries")) nq = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--catalog-works")) catalog_works = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--feature-works")) feature_works = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--replica-uri")) replica_uri = argv[i + 1];
    if (!std::strcmp(argv[i], "--replica-works")) replica_works = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--replica-features")) replica_features = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--kinds")) {
      kinds.clear();
      std::stringstream ss(argv[i + 1]);
      std::string part;
      while (std::getline(ss, part, ',')) kinds.push_back(*imprint::parse_index_kind(part));
    }
  }
  omp_set_num_threads(1);  // one core for every structure, FAISS included
  std::printf("# PDQ index structures at scale, one core\n\nMachine: %s\n", machine_description().c_str());
  std::printf("Catalog hashes: balanced 256-bit, mostly in clusters (members 4-60 bits from a centre). "
              "Queries: %zu, each the 8 dihedral hashes of an image, one planted 0-31 bits from a "
              "catalog hash; radius 31.\n\n", nq);
  std::printf("| hashes | structure | build s | bytes/hash | load s | p50 ms | p99 ms | queries/s | recall vs exact | planted found |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (size_t n : sizes) run_size(n, nq, kinds);
  if (catalog_works > 0) run_catalog(catalog_works);
  if (feature_works > 0) run_feature_catalog(feature_works);
  if (!replica_uri.empty()) run_replica_open(replica_uri, replica_works, replica_features);
  return 0;
}
