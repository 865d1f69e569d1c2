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

// Runs `imprint register` on `images` and SIGKILLs it after `kill_after` acknowledgement lines.
// Returns the ids it acknowledged (complete JSON lines on its stdout).
//
// The child cannot finish first, however slow the test is: its stdout is a pipe shrunk to one
// page (4 KiB, about 9 of its ~450-byte lines), which the test stops reading at the kill point,
// so the child blocks within a batch and a pipe's worth of the chosen line.
std::set<std::string> register_and_kill(const std::string& catalog, const std::string& images,
                                        int kill_after) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const int pipe_bytes = fcntl(fds[1], F_SETPIPE_SZ, 4096);
  EXPECT_GE(pipe_bytes, 4096);
  EXPECT_LE(pipe_bytes, 8192);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    FILE* devnull = std::fopen("/dev/null", "w");
    dup2(fileno(devnull), 2);
    const std::string bin = test::imprint_binary();
    execl(bin.c_str(), "imprint", "register", "--catalog", catalog.c_str(), "--batch", "3",
          "--threads", "1", "--owner", "crash-test", images.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  FILE* out = fdopen(fds[0], "r");
  std::set<std::string> acked;
  char* line = nullptr;
  size_t cap = 0;
  bool killed = false;
  while (getline(&line, &cap, out) > 0) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("work_id")) continue;  // a torn last line
    acked.insert(j["work_id"].get<std::string>());
    if (!killed && int(acked.size()) >= kill_after) {
      kill(pid, SIGKILL);
      killed = true;
    }
  }
  free(line);
  fclose(out);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(killed) << "the child finished before it could be killed";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  return acked;
}

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
    const std::set<std::string> acked = register_and_kill(cat, images, 10 + 35 * round);
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
