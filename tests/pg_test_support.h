// PostgreSQL catalogs in tests. The ctest fixture PostgresCluster.Start runs a throwaway cluster
// (scripts/pg-cluster.sh) and IMPRINT_TEST_PG_STATE names its state file; a test takes a fresh
// database of its own in it, or starts a cluster of its own when it must stop and start one.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "database.h"

namespace imprint::test {

// The URI of database `db` in the cluster whose URI is `base` (the catalog's own database).
inline std::string postgres_uri_with_database(const std::string& base, const std::string& db) {
  const size_t slash = base.find('/', base.find("://") + 3);
  const size_t query = base.find('?', slash);
  return base.substr(0, slash + 1) + db + (query == std::string::npos ? "" : base.substr(query));
}

// A new, empty database; "" (and a test failure) when no cluster runs.
inline std::string fresh_postgres_database(std::string base = "") {
  if (base.empty()) {
    const char* state = std::getenv("IMPRINT_TEST_PG_STATE");
    if (!state) {
      ADD_FAILURE() << "IMPRINT_TEST_PG_STATE is not set: run this suite through ctest, which "
                       "starts the PostgreSQL cluster (PostgresCluster.Start)";
      return "";
    }
    std::ifstream f(std::string(state) + ".uri");
    std::getline(f, base);
    if (base.empty()) {
      ADD_FAILURE() << "no PostgreSQL cluster: " << state << ".uri is missing";
      return "";
    }
  }
  std::random_device rd;
  const std::string name = "t_" + std::to_string(rd()) + "_" + std::to_string(rd());
  Result<detail::Database> admin = detail::Database::connect(base);
  if (!admin.ok()) {
    ADD_FAILURE() << admin.status().to_string();
    return "";
  }
  Status s = admin->exec("CREATE DATABASE " + name);
  if (!s.ok()) {
    ADD_FAILURE() << s.to_string();
    return "";
  }
  return postgres_uri_with_database(base, name);
}

}  // namespace imprint::test
