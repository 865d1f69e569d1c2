#include "catalog_args.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace imprint::cli {

void add_catalog_option(CLI::App* cmd, CatalogArgs& a) {
  if (const char* env = std::getenv("IMPRINT_CATALOG")) a.dir = env;
  cmd->add_option("--catalog", a.dir,
                  "Catalog: a directory, or a PostgreSQL database postgresql://USER@HOST/DB "
                  "(default: $IMPRINT_CATALOG)");
  cmd->add_option("--index", a.index, "In-memory index: auto, flat, mih, faiss-flat, faiss-mih")
      ->capture_default_str();
  cmd->add_option("--searched-features", a.searched_features,
                  "Second-stage features of each work held in memory and searched (0: all, ~380); "
                  "the rest are read from the catalog for the works verified. 100 holds a third "
                  "of the memory (benchmarks/results/searched_features.md). Every process of a "
                  "catalog should use the same: features.index is rebuilt for another")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
}

std::unique_ptr<Catalog> open_catalog(const CatalogArgs& a, bool read_only, const char* command) {
  CatalogOptions o;
  o.dir = a.dir;
  o.read_only = read_only;
  Result<IndexKind> kind = parse_index_kind(a.index);
  if (!kind.ok()) {
    std::cerr << "imprint " << command << ": " << kind.status().message() << '\n';
    return nullptr;
  }
  o.index = *kind;
  o.feature_index_options.searched_per_work = a.searched_features;
  o.second_stage = a.second_stage;
  o.snapshot_dir = a.snapshot_dir;
  o.snapshot_interval_s = a.snapshot_interval_s;
  // A rebuild of the feature index takes minutes at 100,000 works: say so, and how far it is.
  o.open_progress = [command](std::string_view stage, int64_t done, int64_t total) {
    if (total < 10000) return;
    if (stage == "catching up") {
      std::cerr << "imprint " << command << ": caught the feature index up: " << total
                << " works added\n";
    } else if (stage == "training") {
      std::cerr << "imprint " << command << ": training the feature index over " << total
                << " works\n";
    } else {
      std::cerr << "imprint " << command << ": rebuilding the feature index: " << done << "/"
                << total << " works read\n";
    }
  };
  Result<std::unique_ptr<Catalog>> c = Catalog::open(o);
  if (!c.ok()) {
    std::cerr << "imprint " << command << ": " << c.status().message() << '\n';
    return nullptr;
  }
  return std::move(*c);
}

void add_licence_options(CLI::App* cmd, LicenceArgs& a) {
  // Each occurrence takes one value (allow_extra_args(false)): `--licensee Acme a.jpg b.jpg`
  // registers a.jpg and b.jpg rather than taking them as two more licensees.
  cmd->add_option("--deny", a.deny, "Deny a purpose: ai-training, commercial, any-use (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--allow", a.allow, "Allow a purpose (repeatable)")->allow_extra_args(false);
  cmd->add_option("--licensed", a.licensed,
                  "Allow a purpose only for the --licensee parties (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--licensee", a.licensees, "A licensed party (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--policy", a.policy_file,
                  "Licence policy JSON: {\"ai-training\": \"deny\", \"commercial\": "
                  "{\"licensed\": [\"Acme\"]}, \"any-use\": \"allow\"}");
}

Result<LicencePolicy> licence_from_args(const LicenceArgs& a) {
  LicencePolicy p;
  if (!a.policy_file.empty()) {
    std::ifstream f(a.policy_file);
    if (!f) return not_found("cannot read policy file " + a.policy_file);
    std::stringstream ss;
    ss << f.rdbuf();
    Result<LicencePolicy> parsed = LicencePolicy::from_json(ss.str());
    if (!parsed.ok()) return parsed.status().with_context(a.policy_file);
    p = *parsed;
  }
  auto apply = [&](const std::vector<std::string>& names, Permission perm) -> Status {
    for (const std::string& n : names) {
      Result<Purpose> purpose = parse_purpose(n);
      if (!purpose.ok()) return purpose.status();
      PurposeTerms t;
      t.permission = perm;
      if (perm == Permission::kLicensed) t.licensees = a.licensees;
      p.set(*purpose, t);
    }
    return Status::Ok();
  };
  IMPRINT_RETURN_IF_ERROR(apply(a.deny, Permission::kDeny));
  IMPRINT_RETURN_IF_ERROR(apply(a.allow, Permission::kAllow));
  std::vector<std::string> licensed = a.licensed;
  if (licensed.empty() && !a.licensees.empty()) licensed.push_back("commercial");
  if (!licensed.empty() && a.licensees.empty()) {
    return invalid_argument("--licensed needs at least one --licensee");
  }
  IMPRINT_RETURN_IF_ERROR(apply(licensed, Permission::kLicensed));
  return p;
}

}  // namespace imprint::cli
