// Durability: `imprint register` killed with SIGKILL mid-run loses no acknowledged work, leaves no
// half-registered work, and the catalog reopens consistent with its index caught up.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "catalog.h"
#include "test_support.h"

namespace imprint {
namespace {
namespace fs = std::filesystem;

TEST(CatalogCrash, SurvivesKillDuringRegister) {
  test::TempDir dir;
  const std::string images = dir.file("images");
  fs::create_directories(images);
  std::vector<std::string> names;
  for (int i = 0; i < 150; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img%03d", i);
    names.push_back(name);
    test::write_file(images + "/" + name + ".png", test::encode(test::synthetic_photo(96, 72, 7000 + i), ".png"));
  }
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string cat = dir.file("cat" + std::to_string(round));
    const std::set<std::string> acked = test::register_and_kill(cat, images, 10 + 35 * round);
    ASSERT_GE(acked.size(), size_t(10 + 35 * round));
    // Killed near the chosen point: at most a pipe's worth and a batch past it.
    EXPECT_LE(acked.size(), size_t(10 + 35 * round + 25));

    CatalogOptions o;
    o.dir = cat;
    Result<std::unique_ptr<Catalog>> c = Catalog::open(o);  // the dead writer's lock is gone
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_NE((*c)->index_origin(), "loaded");  // it never saved: caught up or rebuilt

    // Every acknowledged work is there, and matches its own image through the index.
    std::vector<ImageFingerprint> queries;
    std::vector<std::string> ids(acked.begin(), acked.end());
    for (const std::string& id : ids) {
      ASSERT_TRUE((*c)->get_work(id).ok()) << id;
      HashOptions ho;
      ho.dihedral = true;
      queries.push_back(*fingerprint_file(images + "/" + id + ".png", ho));
    }
    const auto results = (*c)->match(queries, MatchOptions{});
    for (size_t i = 0; i < ids.size(); ++i) {
      ASSERT_FALSE(results[i].matches.empty()) << ids[i];
      EXPECT_EQ(results[i].matches[0].work.id, ids[i]);
    }
    // No half-registered work: each has exactly its one fingerprint.
    int64_t works = 0, fingerprints = 0;
    ASSERT_TRUE((*c)->list_works({}, [&](const Work& w) {
      EXPECT_EQ(w.owner, "crash-test");
      ++works;
      return true;
    }).ok());
    ASSERT_TRUE((*c)->list_fingerprints("pdq", [&](const Work&, const WorkFingerprint& f) {
      EXPECT_EQ(f.data.size(), 32u);
      ++fingerprints;
      return true;
    }).ok());
    EXPECT_EQ(works, fingerprints);
    EXPECT_GE(works, int64_t(acked.size()));
    EXPECT_LE(works, int64_t(acked.size()) + 3);  // at most the batch in flight committed unacknowledged

    // The run resumes: registering everything again adds the rest and refuses the duplicates.
    c->reset();
    std::string out;
    test::run_command(test::imprint_binary() + " register --catalog " + cat + " " + images + " 2>/dev/null", &out);
    CatalogOptions ro;
    ro.dir = cat;
    ro.read_only = true;
    auto again = Catalog::open(ro);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ((*again)->stats()->works, 150);
  }
}

}  // namespace
}  // namespace imprint
