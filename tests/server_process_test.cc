// `imprint serve` as a process: one writer per catalog, usage records that survive kill -9,
// and a clean SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace imprint {
namespace {

// Starts `imprint serve` on a port of the kernel's choosing (--listen 127.0.0.1:0), with its
// output in `log`. Extra arguments follow.
pid_t start_serve(const std::string& catalog, const std::string& log,
                  std::vector<std::string> extra = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    dup2(fileno(f), 2);
    dup2(fileno(f), 1);  // never hold the test runner's output pipe open
    const std::string bin = test::imprint_binary();
    std::vector<std::string> args = {"imprint",  "serve",       "--catalog", catalog,
                                     "--listen", "127.0.0.1:0", "--http",    ""};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// The port the server bound, from the banner it prints once both listeners are up ("gRPC on
// 127.0.0.1:PORT"); 0 when it exited first or said nothing within a minute.
int bound_port(pid_t pid, const std::string& log) {
  const std::string mark = "gRPC on 127.0.0.1:";
  for (int i = 0; i < 6000; ++i) {
    const std::vector<uint8_t> b = test::read_all(log);
    const std::string text(b.begin(), b.end());
    const size_t at = text.find(mark);
    if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
      return std::atoi(text.c_str() + at + mark.size());
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

// Kills a child server when the test ends, however it ends.
struct ChildGuard {
  pid_t* pid;
  ~ChildGuard() {
    if (*pid > 0) {
      kill(*pid, SIGKILL);
      waitpid(*pid, nullptr, 0);
    }
  }
};

std::string match_json(int port, const std::string& image, int* rc) {
  std::string out;
  *rc = test::run_command(test::imprint_binary() + " client --server 127.0.0.1:" + std::to_string(port) +
                              " match --purpose ai-training --reference post-9 " + image + " 2>/dev/null",
                          &out);
  return out;
}

// What the usage journals of a catalog hold (each writing process keeps one).
std::string journals_of(const std::string& catalog) {
  std::string all;
  for (const auto& e : std::filesystem::directory_iterator(catalog)) {
    if (e.path().extension() == ".journal") {
      const std::vector<uint8_t> b = test::read_all(e.path().string());
      all.append(b.begin(), b.end());
    }
  }
  return all;
}

std::vector<nlohmann::json> usage_events(const std::string& catalog) {
  std::string out;
  EXPECT_EQ(test::run_command(test::imprint_binary() + " usage --json --catalog " + catalog, &out),
            0);
  std::vector<nlohmann::json> events;
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line)) events.push_back(nlohmann::json::parse(line));
  return events;
}

TEST(ServeProcess, UsageSurvivesKillAndSigtermIsClean) {
  test::TempDir dir;
  const Image art = test::synthetic_photo(400, 300, 4242);
  test::write_file(dir.file("art.png"), test::encode(art, ".png"));
  test::write_file(dir.file("copy.jpg"), test::encode(art, ".jpg", 70));
  const std::string cat = dir.file("cat");
  ASSERT_EQ(test::run_command(test::imprint_binary() + " register --catalog " + cat + " --owner Ana " +
                              dir.file("art.png") + " >/dev/null 2>&1"),
            0);
  // Events wait an hour to be committed: the kill below comes while the acknowledged match is in
  // the journal only, whatever the machine's speed.
  pid_t serve = start_serve(cat, dir.file("serve1.log"), {"--usage-commit-ms", "3600000"});
  ChildGuard guard{&serve};
  const int port = bound_port(serve, dir.file("serve1.log"));
  ASSERT_GT(port, 0) << "server never started";
  int rc = 1;
  const std::string out = match_json(port, dir.file("copy.jpg"), &rc);
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["decision"], "flag");
  EXPECT_EQ(j["matches"][0]["work_id"], "art");

  // A second writer on the same catalog is refused with a clear reason.
  std::string second;
  EXPECT_EQ(test::run_command(test::imprint_binary() + " serve --catalog " + cat +
                                  " --listen 127.0.0.1:0 --http '' 2>&1",
                              &second),
            2);
  EXPECT_NE(second.find("open for writing by another process"), std::string::npos) << second;

  // The match was acknowledged: its event is in the journal and not yet in the database...
  EXPECT_NE(journals_of(cat).find("\"post-9\""), std::string::npos);
  EXPECT_TRUE(usage_events(cat).empty());
  // ...so after SIGKILL only the journal's replay by the next writer can save it.
  kill(serve, SIGKILL);
  waitpid(serve, nullptr, 0);
  serve = -1;
  ASSERT_NE(journals_of(cat).find("\"post-9\""), std::string::npos);
  serve = start_serve(cat, dir.file("serve2.log"));
  ASSERT_GT(bound_port(serve, dir.file("serve2.log")), 0) << "server never restarted";
  kill(serve, SIGTERM);
  int status = 0;
  waitpid(serve, &status, 0);
  serve = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::vector<uint8_t> log = test::read_all(dir.file("serve2.log"));
  EXPECT_NE(std::string(log.begin(), log.end()).find("stopped cleanly"), std::string::npos);

  const std::vector<nlohmann::json> events = usage_events(cat);
  ASSERT_EQ(events.size(), 1u);  // replayed exactly once
  EXPECT_EQ(events[0]["work_id"], "art");
  EXPECT_EQ(events[0]["decision"], "flag");
  EXPECT_EQ(events[0]["reference"], "post-9");
  EXPECT_EQ(events[0]["caller"], "anonymous");
  EXPECT_EQ(journals_of(cat), "");  // replayed and removed
}

// Issue 21 items 6 and 13: the key file holds who may do what, so only its owner reads it; and a
// registrar key names the owners it acts for.
// Waits until `log` contains `text` (a minute at most).
bool log_says(const std::string& log, const std::string& text) {
  for (int i = 0; i < 6000; ++i) {
    const std::vector<uint8_t> b = test::read_all(log);
    if (std::string(b.begin(), b.end()).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Issue 21 item 13: keys are revoked without a restart. SIGHUP reloads the key file; the key of
// a removed line is refused from then on, and a file that no longer loads keeps the old keys.
TEST(ServeProcess, SighupReloadsTheKeyFileAndARemovedKeyIsRefused) {
  test::TempDir dir;
  const Image art = test::synthetic_photo(400, 300, 4243);
  test::write_file(dir.file("art.png"), test::encode(art, ".png"));
  const std::string cat = dir.file("cat");
  ASSERT_EQ(test::run_command(test::imprint_binary() + " register --catalog " + cat +
                              " --owner Ana " + dir.file("art.png") + " >/dev/null 2>&1"),
            0);
  const std::string keys = dir.file("keys");
  std::string keep, gone;
  ASSERT_EQ(test::run_command(test::imprint_binary() + " keys add --keys " + keys +
                                  " --name keep --role matcher",
                              &keep),
            0);
  ASSERT_EQ(test::run_command(test::imprint_binary() + " keys add --keys " + keys +
                                  " --name gone --role matcher",
                              &gone),
            0);
  keep.pop_back();  // the newline
  gone.pop_back();
  const std::string log = dir.file("serve.log");
  pid_t serve = start_serve(cat, log, {"--keys", keys});
  ChildGuard guard{&serve};
  const int port = bound_port(serve, log);
  ASSERT_GT(port, 0) << "server never started";
  auto match_with = [&](const std::string& key, std::string* out) {
    out->clear();
    return test::run_command(test::imprint_binary() + " client --server 127.0.0.1:" +
                                 std::to_string(port) + " --key " + key + " match " +
                                 dir.file("art.png") + " 2>&1",
                             out);
  };
  std::string out;
  ASSERT_EQ(match_with(keep, &out), 0) << out;
  ASSERT_EQ(match_with(gone, &out), 0) << out;

  // The operator deletes gone's line and sends SIGHUP.
  const std::vector<uint8_t> text = test::read_all(keys);
  std::stringstream lines(std::string(text.begin(), text.end()));
  std::string kept, line;
  while (std::getline(lines, line)) {
    if (line.rfind("gone ", 0) != 0) kept += line + "\n";
  }
  test::write_file(keys, std::vector<uint8_t>(kept.begin(), kept.end()));
  kill(serve, SIGHUP);
  ASSERT_TRUE(log_says(log, "keys reloaded")) << "no reload in the log";
  EXPECT_NE(match_with(gone, &out), 0) << out;
  EXPECT_NE(out.find("unknown API key"), std::string::npos) << out;
  EXPECT_EQ(match_with(keep, &out), 0) << out;

  // A key file that does not load is reported and changes nothing.
  test::write_file(keys, std::vector<uint8_t>{'n', 'o', 't', ' ', 'k', 'e', 'y', 's', '\n'});
  kill(serve, SIGHUP);
  ASSERT_TRUE(log_says(log, "keys not reloaded")) << "no refusal in the log";
  EXPECT_EQ(match_with(keep, &out), 0) << out;
  EXPECT_NE(match_with(gone, &out), 0) << out;

  kill(serve, SIGTERM);
  int status = 0;
  waitpid(serve, &status, 0);
  serve = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// `imprint client register` sends a video file as a video work, and a trimmed copy sent to
// `imprint client match` is flagged as that work.
TEST(ServeProcess, ClientRegistersAVideoAndItsCopyIsFlagged) {
  test::TempDir dir;
  const std::string cat = dir.file("cat");
  pid_t serve = start_serve(cat, dir.file("serve.log"));
  ChildGuard guard{&serve};
  const int port = bound_port(serve, dir.file("serve.log"));
  ASSERT_GT(port, 0) << "server never started";
  const std::string client =
      test::imprint_binary() + " client --server 127.0.0.1:" + std::to_string(port) + " ";
  const std::string videos = test::shared_dir() + "/vpdq-reference/videos/";
  std::string out;
  ASSERT_EQ(test::run_command(client + "register --id chair --owner Vera " + videos +
                                  "chair-orig-22-sd-bar.mp4 2>&1",
                              &out),
            0)
      << out;
  const auto reg = nlohmann::json::parse(out);
  EXPECT_EQ(reg["work_id"], "chair");
  EXPECT_EQ(reg["media"], "video");
  EXPECT_EQ(reg["frames"], 23);
  EXPECT_EQ(reg["partial"], false);
  out.clear();
  ASSERT_EQ(
      test::run_command(
          client + "match --purpose ai-training " + videos + "chair-19-sd-bar.mp4 2>&1", &out),
      0)
      << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["decision"], "flag") << out;
  ASSERT_FALSE(j["matches"].empty()) << out;
  EXPECT_EQ(j["matches"][0]["work_id"], "chair");
}

// --no-second-stage: PDQ and identical bytes only. A re-encoded copy is flagged either way; a
// crop PDQ cannot see is flagged by the default server's second stage and not by this one.
TEST(ServeProcess, WithoutTheSecondStageOnlyWhatPdqSeesIsFlagged) {
  test::TempDir dir;
  const std::string cat = dir.file("cat");
  const Image photo = test::synthetic_photo(640, 480, 41);
  const std::string work = dir.file("work.png"), copy = dir.file("copy.jpg"),
                    crop = dir.file("crop.jpg");
  test::write_file(work, test::encode(photo, ".png"));
  test::write_file(copy, test::encode(photo, ".jpg", 80));
  test::write_file(
      crop, test::encode(test::image_of(test::mat_of(photo)(cv::Rect(200, 150, 440, 330)).clone()),
                         ".jpg", 85));
  std::string out;
  ASSERT_EQ(test::run_command(
                test::imprint_binary() + " register --catalog " + cat + " --id w " + work + " 2>&1",
                &out),
            0)
      << out;
  for (const bool second_stage : {true, false}) {
    SCOPED_TRACE(second_stage ? "default" : "--no-second-stage");
    const std::string log = dir.file(second_stage ? "on.log" : "off.log");
    pid_t serve = start_serve(
        cat, log,
        second_stage ? std::vector<std::string>{} : std::vector<std::string>{"--no-second-stage"});
    ChildGuard guard{&serve};
    const int port = bound_port(serve, log);
    ASSERT_GT(port, 0) << "server never started";
    int rc = 0;
    const auto copied = nlohmann::json::parse(match_json(port, copy, &rc));
    ASSERT_EQ(rc, 0);
    EXPECT_EQ(copied["decision"], "flag");
    const auto cropped = nlohmann::json::parse(match_json(port, crop, &rc));
    ASSERT_EQ(rc, 0);
    EXPECT_EQ(cropped["decision"], second_stage ? "flag" : "none") << cropped.dump();
    kill(serve, SIGTERM);
    waitpid(serve, nullptr, 0);
    serve = -1;
  }
}

// --replica-snapshot belongs to PostgreSQL replicas; a directory catalog refuses it clearly
// (its index files live in it already).
TEST(ServeProcess, ReplicaSnapshotIsForPostgresCatalogs) {
  test::TempDir dir;
  std::string out;
  EXPECT_EQ(test::run_command(test::imprint_binary() + " serve --catalog " + dir.file("cat") +
                                  " --replica-snapshot " + dir.file("snap") +
                                  " --listen 127.0.0.1:0 --http '' 2>&1",
                              &out),
            2);
  EXPECT_NE(out.find("--replica-snapshot is for PostgreSQL catalogs"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("snap")));
}

TEST(ServeProcess, KeysAddWritesAPrivateKeyFileWithTheOwners) {
  test::TempDir dir;
  const std::string keys = dir.file("keys");
  std::string key;
  ASSERT_EQ(test::run_command(test::imprint_binary() + " keys add --keys " + keys +
                                  " --name studio --role registrar --owner Bo --owner 'Ana Lopez'",
                              &key),
            0);
  struct stat st {};
  ASSERT_EQ(::stat(keys.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::vector<uint8_t> text = test::read_all(keys);
  const std::string line(text.begin(), text.end());
  EXPECT_NE(line.find("studio registrar "), std::string::npos) << line;
  EXPECT_NE(line.find(" Bo, Ana Lopez\n"), std::string::npos) << line;
  EXPECT_EQ(line.find(key.substr(0, key.size() - 1)), std::string::npos);  // only its hash
}

}  // namespace
}  // namespace imprint
