// `imprint hash` and `imprint compare` end to end, as a user runs them.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "engine.h"
#include "test_support.h"

namespace imprint {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

TEST(CliHash, DirectoryWithBadFilesReportsEachAndHashesTheRest) {
  test::TempDir dir;
  const fs::path d = dir.path() / "corpus";
  fs::create_directories(d / "sub");
  for (int i = 0; i < 6; ++i) {
    test::write_file((d / ("p" + std::to_string(i) + ".jpg")).string(),
                     test::encode(test::synthetic_photo(300, 200, i), ".jpg"));
  }
  test::write_file((d / "sub" / "x.png").string(), test::encode(test::synthetic_photo(90, 90, 9), ".png"));
  test::write_file((d / "empty.jpg").string(), {});
  const std::string text = "not an image";
  test::write_file((d / "notes.jpg").string(), std::vector<uint8_t>(text.begin(), text.end()));
  std::vector<uint8_t> cut = test::encode(test::synthetic_photo(300, 200, 99), ".jpg");
  cut.resize(cut.size() / 3);
  test::write_file((d / "truncated.jpg").string(), cut);
  fs::create_directory_symlink(d, d / "sub" / "loop");  // a directory loop of symlinks
  test::write_file((d / "readme.txt").string(), {'h', 'i'});  // not an image extension: skipped

  std::string out;
  const std::string err_file = dir.file("stderr.txt");
  const int rc = test::run_command(test::imprint_binary() + " hash --threads 2 " + d.string() +
                                       " 2>" + err_file, &out);
  EXPECT_EQ(rc, 1);  // some inputs failed
  const auto lines = lines_of(out);
  ASSERT_EQ(lines.size(), 7u);  // six photos + sub/x.png, in sorted path order
  for (int i = 0; i < 6; ++i) {
    EXPECT_NE(lines[i].find("/p" + std::to_string(i) + ".jpg"), std::string::npos) << lines[i];
  }
  EXPECT_NE(lines[6].find("sub/x.png"), std::string::npos);
  // Each line is hash,quality,path and equals the library's answer.
  Result<ImageFingerprint> p0 = fingerprint_file((d / "p0.jpg").string(), HashOptions{});
  ASSERT_TRUE(p0.ok());
  EXPECT_EQ(lines[0], p0->pdq.hash.to_hex() + "," + std::to_string(p0->pdq.quality) + "," +
                          (d / "p0.jpg").string());

  const std::vector<uint8_t> err_bytes = test::read_all(err_file);
  const std::string err(err_bytes.begin(), err_bytes.end());
  EXPECT_NE(err.find("empty.jpg: empty input"), std::string::npos) << err;
  EXPECT_NE(err.find("notes.jpg: not an image"), std::string::npos) << err;
  EXPECT_NE(err.find("truncated.jpg: truncated JPEG"), std::string::npos) << err;
  EXPECT_NE(err.find("symlink loop"), std::string::npos) << err;
}

TEST(CliHash, OrderIsInputOrderAcrossThreadsAndStdinListsWork) {
  test::TempDir dir;
  std::string list;
  for (int i = 0; i < 40; ++i) {
    const std::string p = dir.file("img" + std::to_string(39 - i) + ".png");
    test::write_file(p, test::encode(test::synthetic_photo(64 + i, 80, i), ".png"));
    list += p + "\n";
  }
  test::write_file(dir.file("list.txt"), std::vector<uint8_t>(list.begin(), list.end()));
  std::string one, many;
  ASSERT_EQ(test::run_command(test::imprint_binary() + " hash --threads 1 - < " + dir.file("list.txt"), &one), 0);
  ASSERT_EQ(test::run_command(test::imprint_binary() + " hash --threads 4 - < " + dir.file("list.txt"), &many), 0);
  EXPECT_EQ(one, many);
  const auto lines = lines_of(many);
  ASSERT_EQ(lines.size(), 40u);
  EXPECT_NE(lines[0].find("img39.png"), std::string::npos);
  EXPECT_NE(lines[39].find("img0.png"), std::string::npos);
}

TEST(CliHash, JsonAndDihedralOutput) {
  test::TempDir dir;
  const std::string p = dir.file("a.jpg");
  test::write_file(p, test::encode(test::synthetic_photo(200, 150, 1), ".jpg"));
  std::string out;
  ASSERT_EQ(test::run_command(test::imprint_binary() + " hash --json --dihedral " + p, &out), 0);
  EXPECT_NE(out.find("\"pdq\":"), std::string::npos);
  EXPECT_NE(out.find("\"rot90\":"), std::string::npos);
  EXPECT_NE(out.find("\"sha256\":"), std::string::npos);
  std::string csv;
  ASSERT_EQ(test::run_command(test::imprint_binary() + " hash --dihedral " + p, &csv), 0);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), ','), 9);  // 8 hashes, quality, path
}

TEST(CliCompare, DistanceAndMatchVerdict) {
  test::TempDir dir;
  const Image img = test::synthetic_photo(400, 300, 3);
  test::write_file(dir.file("a.png"), test::encode(img, ".png"));
  test::write_file(dir.file("b.jpg"), test::encode(img, ".jpg", 40));
  test::write_file(dir.file("c.png"), test::encode(test::synthetic_photo(400, 300, 4), ".png"));
  std::string out;
  ASSERT_EQ(test::run_command(test::imprint_binary() + " compare " + dir.file("a.png") + " " + dir.file("b.jpg"), &out), 0);
  EXPECT_NE(out.find(": match"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(test::run_command(test::imprint_binary() + " compare " + dir.file("a.png") + " " + dir.file("c.png"), &out), 0);
  EXPECT_NE(out.find("no match"), std::string::npos) << out;
  out.clear();
  const std::string h = std::string(64, 'F');
  ASSERT_EQ(test::run_command(test::imprint_binary() + " compare --json " + h + " " + std::string(64, '0'), &out), 0);
  EXPECT_NE(out.find("\"distance\":256"), std::string::npos) << out;
  EXPECT_NE(test::run_command(test::imprint_binary() + " compare nope.jpg " + h + " 2>/dev/null"), 0);
}

TEST(CliHash, ValidFilesAfterATruncatedJpegOnOneThreadHashAsAlone) {
  // A JPEG cut at 400 bytes (inside its Huffman tables) and one cut at 200 used to leave the
  // thread's decoder failing every later JPEG with the first file's error.
  test::TempDir dir;
  const std::vector<uint8_t> first = test::encode(test::synthetic_photo(640, 480, 41), ".jpg");
  test::write_file(dir.file("a_trunc400.jpg"), std::vector<uint8_t>(first.begin(), first.begin() + 400));
  std::vector<std::string> valid;
  for (int i = 0; i < 5; ++i) {
    const std::string name = "b" + std::to_string(i) + ".jpg";
    test::write_file(dir.file(name), test::encode(test::synthetic_photo(400, 300, 50 + i), ".jpg"));
    valid.push_back(name);
    if (i == 2) {
      test::write_file(dir.file("b2_trunc200.jpg"), std::vector<uint8_t>(first.begin(), first.begin() + 200));
    }
  }
  for (const std::string mode : {"exact", "fast"}) {
    SCOPED_TRACE(mode);
    std::string out;
    const int rc = test::run_command(test::imprint_binary() + " hash --threads 1 --mode " + mode +
                                         " " + dir.path().string() + " 2>/dev/null", &out);
    EXPECT_EQ(rc, 1);  // the two truncated files failed
    const auto lines = lines_of(out);
    ASSERT_EQ(lines.size(), valid.size());
    for (size_t i = 0; i < valid.size(); ++i) {
      // The same line as hashing that file alone in a fresh process.
      std::string alone;
      ASSERT_EQ(test::run_command(test::imprint_binary() + " hash --mode " + mode + " " +
                                      dir.file(valid[i]), &alone), 0);
      EXPECT_EQ(lines[i] + "\n", alone);
    }
  }
}

}  // namespace
}  // namespace imprint
