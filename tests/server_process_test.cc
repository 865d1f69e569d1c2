// `imprint serve` as a process: one writer per catalog, usage records that survive kill -9,
// and a clean SIGTERM.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "test_support.h"

namespace imprint {
namespace {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

pid_t start_serve(const std::string& catalog, int port, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    dup2(fileno(f), 2);
    dup2(fileno(f), 1);  // never hold the test runner's output pipe open
    const std::string bin = test::imprint_binary(), listen = "127.0.0.1:" + std::to_string(port);
    execl(bin.c_str(), "imprint", "serve", "--catalog", catalog.c_str(), "--listen", listen.c_str(),
          "--http", "", nullptr);
    _exit(127);
  }
  return pid;
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

TEST(ServeProcess, UsageSurvivesKillAndSigtermIsClean) {
  test::TempDir dir;
  const Image art = test::synthetic_photo(400, 300, 4242);
  test::write_file(dir.file("art.png"), test::encode(art, ".png"));
  test::write_file(dir.file("copy.jpg"), test::encode(art, ".jpg", 70));
  const std::string cat = dir.file("cat");
  ASSERT_EQ(test::run_command(test::imprint_binary() + " register --catalog " + cat + " --owner Ana " +
                              dir.file("art.png") + " >/dev/null 2>&1"),
            0);
  const int port = free_port();
  pid_t serve = start_serve(cat, port, dir.file("serve1.log"));
  ChildGuard guard{&serve};
  int rc = 1;
  std::string out;
  // Generous waits: CI machines can be slow to start a server under load.
  for (int i = 0; i < 600 && rc != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    out = match_json(port, dir.file("copy.jpg"), &rc);
  }
  ASSERT_EQ(rc, 0) << "server never answered";
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

  // The match was acknowledged, so its usage record must survive SIGKILL.
  kill(serve, SIGKILL);
  waitpid(serve, nullptr, 0);
  serve = -1;
  serve = start_serve(cat, port, dir.file("serve2.log"));  // the next writer replays the journal
  rc = 1;
  for (int i = 0; i < 600 && rc != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rc = test::run_command(test::imprint_binary() + " client --server 127.0.0.1:" + std::to_string(port) +
                           " match " + std::string(64, '0') + " >/dev/null 2>&1");
  }
  ASSERT_EQ(rc, 0);
  kill(serve, SIGTERM);
  int status = 0;
  waitpid(serve, &status, 0);
  serve = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::vector<uint8_t> log = test::read_all(dir.file("serve2.log"));
  EXPECT_NE(std::string(log.begin(), log.end()).find("stopped cleanly"), std::string::npos);

  out.clear();
  ASSERT_EQ(test::run_command(test::imprint_binary() + " usage --json --catalog " + cat, &out), 0);
  std::stringstream ss(out);
  std::string line;
  int events = 0;
  while (std::getline(ss, line)) {
    const auto e = nlohmann::json::parse(line);
    EXPECT_EQ(e["work_id"], "art");
    EXPECT_EQ(e["decision"], "flag");
    EXPECT_EQ(e["reference"], "post-9");
    EXPECT_EQ(e["caller"], "anonymous");
    ++events;
  }
  EXPECT_EQ(events, 1) << out;  // exactly once, whether it was committed before the kill or replayed
}

// Issue 21 items 6 and 13: the key file holds who may do what, so only its owner reads it; and a
// registrar key names the owners it acts for.
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
