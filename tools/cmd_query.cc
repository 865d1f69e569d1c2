// imprint query: does an image copy a registered work, and may it be used for this purpose?
#include <chrono>
#include <iomanip>
#include <iostream>

#include "catalog_args.h"
#include "commands.h"
#include "input_paths.h"
#include "match_json.h"
#include "usage_log.h"

namespace imprint::cli {
namespace {

struct QueryArgs {
  CatalogArgs catalog;
  std::vector<std::string> paths;
  bool json = false;
  int top_k = 10;
  double min_score = -1;
  std::string purpose = "any-use";
  std::string licensee;
  std::string mode = "exact";
  int threads = 0;
  int match_distance = kPdqMatchDistance;
  int review_band = MatchOptions{}.review_band;
  bool record = false;
  std::string reference;
};

bool is_hex_hash(const std::string& s) { return s.size() == 64 && PdqHash::from_hex(s).ok(); }

void print_human(const std::string& label, const QueryResult& r) {
  std::cout << label << ": ";
  if (r.matches.empty()) {
    std::cout << (r.weak ? "no match (weak hash: quality below 50)" : "no match") << '\n';
    return;
  }
  std::cout << decision_name(r.decision) << (r.weak ? " (weak hash: reported only)" : "") << '\n';
  for (const Candidate& c : r.matches) {
    std::cout << "  " << std::left << std::setw(7) << decision_name(c.decision) << c.work.id;
    if (!c.work.title.empty() && c.work.title != c.work.id) std::cout << " \"" << c.work.title << "\"";
    if (!c.work.owner.empty()) std::cout << " by " << c.work.owner;
    std::cout << "  distance " << c.distance << ", score " << std::fixed << std::setprecision(2)
              << c.score << std::defaultfloat << ", " << c.method;
    if (c.transform != Dihedral::kOriginal) std::cout << ", " << dihedral_name(c.transform);
    std::cout << "  [" << c.work.licence.summary() << "]\n";
  }
}

int run_query(const QueryArgs& a) {
  MatchOptions mo;
  Result<Purpose> purpose = parse_purpose(a.purpose);
  Result<HashMode> mode = parse_hash_mode(a.mode);
  for (const Status& s : {purpose.status(), mode.status()}) {
    if (!s.ok()) {
      std::cerr << "imprint query: " << s.message() << '\n';
      return 2;
    }
  }
  mo.purpose = *purpose;
  mo.licensee = a.licensee;
  mo.top_k = a.top_k;
  mo.min_score = a.min_score;
  mo.match_distance = a.match_distance;
  mo.review_band = a.review_band;
  std::unique_ptr<Catalog> catalog = open_catalog(a.catalog, true, "query");
  if (!catalog) return 2;
  std::unique_ptr<UsageLog> usage;
  if (a.record) {
    Result<std::unique_ptr<UsageLog>> u = UsageLog::open(a.catalog.dir, false);
    if (!u.ok()) {
      std::cerr << "imprint query: " << u.status().message() << '\n';
      return 2;
    }
    usage = std::move(*u);
  }

  HashOptions ho;
  ho.mode = *mode;
  ho.dihedral = true;
  const int threads = a.threads > 0 ? a.threads : default_thread_count();
  int failures = 0;
  std::vector<InputPath> batch;
  auto flush = [&] {
    std::vector<Result<ImageFingerprint>> fps(batch.size(), internal_error("not processed"));
    parallel_for(batch.size(), threads, [&](size_t i) {
      if (!batch[i].error.ok()) {
        fps[i] = batch[i].error;
      } else if (is_hex_hash(batch[i].path)) {
        // A precomputed hash: no dihedral variants to search, quality unknown (taken as usable).
        ImageFingerprint f;
        f.pdq = {*PdqHash::from_hex(batch[i].path), 100};
        fps[i] = f;
      } else {
        fps[i] = fingerprint_file(batch[i].path, ho);
      }
    });
    std::vector<ImageFingerprint> queries;
    std::vector<size_t> origin;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!fps[i].ok()) {
        ++failures;
        std::cerr << "imprint query: error: " << fps[i].status().message() << '\n';
        continue;
      }
      queries.push_back(*fps[i]);
      origin.push_back(i);
    }
    const std::vector<QueryResult> results = catalog->match(queries, mo);
    if (usage) {
      // Findings become usage records before they are printed, as the server does.
      std::vector<UsageEvent> events;
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      for (size_t k = 0; k < results.size(); ++k) {
        const bool has_sha = std::any_of(queries[k].sha256.begin(), queries[k].sha256.end(),
                                         [](uint8_t b) { return b != 0; });
        for (const Candidate& c : results[k].matches) {
          if (c.decision != MatchDecision::kFlag && c.decision != MatchDecision::kAllow) continue;
          events.push_back({c.work.id, c.work.owner, c.decision, mo.purpose, "cli", now,
                            has_sha ? to_hex(queries[k].sha256) : "",
                            a.reference.empty() ? batch[origin[k]].path : a.reference, c.distance});
        }
      }
      Status s = usage->record(events);
      if (!s.ok()) {
        std::cerr << "imprint query: cannot record usage: " << s.message() << '\n';
        ++failures;
      }
    }
    for (size_t k = 0; k < results.size(); ++k) {
      const std::string& label = batch[origin[k]].path;
      if (a.json) {
        std::cout << query_result_to_json(label, queries[k], results[k]).dump() << '\n';
      } else {
        print_human(label, results[k]);
      }
    }
    std::cout.flush();
    batch.clear();
  };
  const size_t batch_size = size_t(threads) * 64;
  expand_inputs(a.paths, [&](InputPath p) {
    batch.push_back(std::move(p));
    if (batch.size() >= batch_size) flush();
  });
  flush();
  return failures > 0 ? 1 : 0;
}

}  // namespace

void add_query_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<QueryArgs>();
  CLI::App* cmd = app.add_subcommand("query", "Match images (or 64-hex PDQ hashes) against a catalog");
  add_catalog_option(cmd, a->catalog);
  cmd->add_option("paths", a->paths,
                  "Image files, directories (recursed), 64-hex PDQ hashes; - reads from stdin")
      ->required();
  cmd->add_flag("--json", a->json, "One JSON object per query");
  cmd->add_option("--top-k", a->top_k, "Matches listed per query")->capture_default_str();
  cmd->add_option("--min-score", a->min_score,
                  "Lowest score listed (default: the review band's edge; 0 lists the nearest works)");
  cmd->add_option("--purpose", a->purpose, "ai-training, commercial or any-use")->capture_default_str();
  cmd->add_option("--licensee", a->licensee, "The party asking (matters for licensed works)");
  cmd->add_option("--mode", a->mode, "Hash mode: exact, fast, reference-cli")->capture_default_str();
  cmd->add_option("--threads", a->threads, "Hashing threads (0: one per core)");
  cmd->add_option("--match-distance", a->match_distance, "Distance at or below which a hash matches")
      ->capture_default_str();
  cmd->add_option("--review-band", a->review_band, "Distances above the match distance sent to review")
      ->capture_default_str();
  cmd->add_flag("--record", a->record, "Store flag/allow findings as usage records (imprint usage)");
  cmd->add_option("--reference", a->reference, "Your reference for the upload, kept in usage records (default: the path)");
  cmd->callback([a, &exit_code] { exit_code = run_query(*a); });
}

}  // namespace imprint::cli
