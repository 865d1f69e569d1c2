// Two replicas of one PostgreSQL catalog (issue 28): works registered through one, one at a time,
// and how long until the other matches each, while matcher threads keep the other busy. Two rows
// in one run: the other replica polling only (the baseline) and woken by each commit's
// notification (the default). Prints p50, p99 and the worst propagation time of each, and the
// busy replica's matches per second.
//
//   build/benchmarks/replica_propagation --catalog postgresql://... [--works 200] [--matchers 2]
// The database must be empty (scripts/pg-cluster.sh start STATE makes a cluster).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include "catalog.h"
#include "measure.h"

namespace imprint::bench {
namespace {
using Clock = std::chrono::steady_clock;

PdqHash random_hash(std::mt19937_64& rng) {
  return PdqHash::from_words({rng(), rng(), rng(), rng()});
}

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  using namespace imprint;
  using namespace imprint::bench;
  std::string location;
  int works = 200, matchers = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--catalog"))
      location = argv[i + 1];
    else if (!std::strcmp(argv[i], "--works"))
      works = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--matchers"))
      matchers = std::atoi(argv[i + 1]);
  }
  if (!is_postgres_location(location)) {
    std::fprintf(stderr, "usage: replica_propagation --catalog postgresql://... [--works N]\n");
    return 2;
  }
  // One round per way of following: B polling only (every follow_interval_ms), then B woken by
  // A's commits (LISTEN/NOTIFY), in the same run on the same database.
  struct Round {
    const char* name;
    bool notify;
    std::vector<double> ms;
    double matches_per_s = 0;
  };
  std::vector<Round> rounds = {{"polling only (every 200 ms)", false, {}, 0},
                               {"woken by the commit (LISTEN/NOTIFY)", true, {}, 0}};
  std::mt19937_64 rng(11);
  for (size_t k = 0; k < rounds.size(); ++k) {
    Round& round = rounds[k];
    CatalogOptions o;
    o.dir = location;
    o.second_stage = false;
    auto a = Catalog::open(o);
    o.wake_on_commit = round.notify;
    auto b = Catalog::open(o);
    if (!a.ok() || !b.ok()) {
      std::fprintf(stderr, "%s\n", (a.ok() ? b.status() : a.status()).to_string().c_str());
      return 1;
    }
    std::atomic<bool> stop{false};
    std::atomic<int64_t> busy_matches{0};
    std::vector<std::thread> load;
    for (int t = 0; t < matchers; ++t) {
      load.emplace_back([&, t] {
        std::mt19937_64 r(100 + t);
        while (!stop) {
          ImageFingerprint q;
          q.pdq = {random_hash(r), 100};
          (void)(*b)->match(std::vector{q}, MatchOptions{});
          ++busy_matches;
        }
      });
    }
    const auto start = Clock::now();
    for (int i = 0; i < works; ++i) {
      WorkInput in;
      in.work.id = "p" + std::to_string(k) + "-" + std::to_string(i);
      const PdqHash h = random_hash(rng);
      in.fingerprints.push_back(WorkFingerprint::pdq(h, 100));
      if (!(*a)->register_works(std::vector{in})[0].ok()) return 1;
      const auto committed = Clock::now();  // acknowledged: committed, and matched on `a`
      ImageFingerprint q;
      q.pdq = {h, 100};
      while (true) {
        const auto r = (*b)->match(std::vector{q}, MatchOptions{});
        if (!r[0].matches.empty() && r[0].matches[0].work.id == in.work.id) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      round.ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - committed).count());
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    stop = true;
    for (auto& t : load) t.join();
    round.matches_per_s = double(busy_matches) / seconds;
  }
  std::printf("# Replica propagation (PostgreSQL catalog)\n\n");
  std::printf(
      "%d works registered one at a time on replica A per row; replica B busy with %d matcher "
      "threads meanwhile.\n\n",
      works, matchers);
  std::printf(
      "| replica B follows by | p50 ms | p99 ms | max ms | B's matches/s |\n"
      "|---|---|---|---|---|\n");
  for (const Round& r : rounds) {
    std::printf("| %s | %.1f | %.1f | %.1f | %.0f |\n", r.name, percentile(r.ms, 0.5),
                percentile(r.ms, 0.99), percentile(r.ms, 1.0), r.matches_per_s);
  }
  std::printf("\np50 ratio, notified / polling: %.3f\n",
              percentile(rounds[1].ms, 0.5) / percentile(rounds[0].ms, 0.5));
  return 0;
}
