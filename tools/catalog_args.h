// Options shared by the commands that use a catalog: where it is, and licence flags.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "catalog.h"

namespace imprint::cli {

struct CatalogArgs {
  std::string dir;  // --catalog, default $IMPRINT_CATALOG
  std::string index = "auto";
  int searched_features = 0;  // --searched-features: FeatureIndexOptions::searched_per_work
  bool second_stage = true;   // serve --no-second-stage: CatalogOptions::second_stage
  // serve only: CatalogOptions::snapshot_dir and snapshot_interval_s (PostgreSQL replicas).
  std::string snapshot_dir;
  int snapshot_interval_s = 600;
};
void add_catalog_option(CLI::App* cmd, CatalogArgs& a);
// Opens the catalog or prints the reason to stderr and returns null.
std::unique_ptr<Catalog> open_catalog(const CatalogArgs& a, bool read_only, const char* command);

struct LicenceArgs {
  std::vector<std::string> deny, allow, licensed, licensees;
  std::string policy_file;
};
void add_licence_options(CLI::App* cmd, LicenceArgs& a);
// Policy file first (if any), then --deny/--allow/--licensed flags on top; defaults deny all.
// --licensee without --licensed licenses commercial use to the named parties.
Result<LicencePolicy> licence_from_args(const LicenceArgs& a);

}  // namespace imprint::cli
