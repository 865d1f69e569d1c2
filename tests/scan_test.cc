// imprint scan and imprint report merge, end to end through the real binary: folders, lists and
// WebDataset tar shards (written here with libarchive) with planted edited copies of registered
// works; hostile members; shard + merge equal to one run; kill -9 and resume; --save-catalog;
// video members and files matched against video works with the copied seconds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "catalog.h"
#include "scan_lines.h"
#include "tar_writer.h"
#include "test_support.h"
#include "text.h"
#include "video_ingest.h"

namespace imprint {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

using test::Member;
using test::write_tar;

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

Image mirrored(const Image& in) {
  Image out = in;
  cv::Mat src(in.height, in.width, CV_8UC3, const_cast<uint8_t*>(in.pixels.data()));
  cv::Mat dst(out.height, out.width, CV_8UC3, out.pixels.data());
  cv::flip(src, dst, 1);
  return out;
}

// The part of `in` inside [x, x + w) x [y, y + h), scaled up by `f`.
Image cropped(const Image& in, int x, int y, int w, int h, double f) {
  cv::Mat src(in.height, in.width, CV_8UC3, const_cast<uint8_t*>(in.pixels.data()));
  cv::Mat part;
  cv::resize(src(cv::Rect(x, y, w, h)), part, cv::Size(), f, f, cv::INTER_CUBIC);
  Image out(part.cols, part.rows, 3);
  part.copyTo(cv::Mat(part.rows, part.cols, CV_8UC3, out.pixels.data()));
  return out;
}

Image resized(const Image& in, double f) {
  const int w = int(in.width * f), h = int(in.height * f);
  Image out(w, h, 3);
  cv::Mat src(in.height, in.width, CV_8UC3, const_cast<uint8_t*>(in.pixels.data()));
  cv::Mat dst(h, w, CV_8UC3, out.pixels.data());
  cv::resize(src, dst, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  return out;
}

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

// A valid PNG signature and IHDR declaring 30000 x 30000 pixels: a decompression bomb's header.
std::vector<uint8_t> png_bomb() {
  static const uint8_t kIhdr[17] = {'I', 'H',  'D',  'R', 0, 0, 0x75, 0x30, 0,
                                    0,   0x75, 0x30, 8,   2, 0, 0,    0};
  std::string b("\x89PNG\r\n\x1a\n\0\0\0\x0d", 12);
  b.append(reinterpret_cast<const char*>(kIhdr), sizeof kIhdr);
  const uint32_t crc = crc32(kIhdr, sizeof kIhdr);
  for (int s = 24; s >= 0; s -= 8) b.push_back(char(crc >> s));
  return bytes_of(b);
}

std::vector<json> read_lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) out.push_back(json::parse(line));
  return out;
}

json read_json(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f);
}

std::string slurp(const std::string& path) {
  const std::vector<uint8_t> b = test::read_all(path);
  return std::string(b.begin(), b.end());
}

// Where a finding or error came from, one string: "shard:member" or the path.
std::string where(const json& j) {
  return j.contains("shard") ? j["shard"].get<std::string>() + ":" + j["member"].get<std::string>()
                             : j["path"].get<std::string>();
}

class ScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("works"));
    catalog_ = dir_.file("catalog");
    CatalogOptions o;
    o.dir = catalog_;
    auto c = Catalog::open(o);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    std::vector<WorkInput> inputs;
    for (int i = 0; i < 4; ++i) {
      works_.push_back(test::synthetic_photo(480, 360, 100 + i));
      const std::string path = dir_.file("works/w" + std::to_string(i) + ".jpg");
      test::write_file(path, test::encode(works_[i], ".jpg", 95));
      Result<WorkInput> in = work_input_from_image(test::read_all(path));
      ASSERT_TRUE(in.ok());
      in->work.id = "w" + std::to_string(i);
      in->work.title = "Work " + std::to_string(i);
      in->work.owner = i < 2 ? "Studio A" : "Studio B";
      in->work.source = path;
      if (i == 3) {  // w3's owner permits AI training: a match, but not flagged
        PurposeTerms allow;
        allow.permission = Permission::kAllow;
        in->work.licence.set(Purpose::kAiTraining, allow);
      }
      inputs.push_back(std::move(*in));
    }
    for (const auto& r : (*c)->register_works(inputs))
      ASSERT_TRUE(r.ok()) << r.status().to_string();
  }

  std::vector<uint8_t> jpeg(const Image& im, int q = 85) { return test::encode(im, ".jpg", q); }
  std::vector<uint8_t> unrelated(int seed, int w = 320, int h = 240) {
    return jpeg(test::synthetic_photo(w, h, 5000 + seed));
  }

  // Runs `imprint scan` with progress off; returns its exit status (stderr kept in *log).
  int scan(const std::string& args, std::string* log = nullptr) {
    const std::string err = dir_.file("scan-stderr.txt");
    const int rc = test::run_command(test::imprint_binary() + " scan --progress none --catalog " +
                                     catalog_ + " " + args + " 2>" + err);
    if (log) *log = slurp(err);
    return rc;
  }

  test::TempDir dir_;
  std::string catalog_;
  std::vector<Image> works_;
};

TEST_F(ScanTest, FindsPlantedCopiesInFoldersListsAndTarShards) {
  const std::string corpus = dir_.file("corpus");
  fs::create_directories(corpus + "/f/a");
  fs::create_directories(corpus + "/f/b");
  fs::create_directories(corpus + "/elsewhere");
  test::write_file(corpus + "/f/a/copy_w0_small.jpg", jpeg(resized(works_[0], 0.5), 80));
  test::write_file(corpus + "/f/b/unrelated_1.png",
                   test::encode(test::synthetic_photo(300, 200, 1), ".png"));
  test::write_file(corpus + "/f/b/unrelated_2.jpg", unrelated(2));
  test::write_file(corpus + "/f/unrelated_3.jpg", unrelated(3));
  test::write_file(corpus + "/f/notes.txt", bytes_of("not scanned: no image extension"));
  test::write_file(corpus + "/elsewhere/copy_w1_q50.jpg", jpeg(works_[1], 50));
  test::write_file(corpus + "/elsewhere/unrelated_4.jpg", unrelated(4));
  std::ofstream(corpus + "/list.txt") << "elsewhere/copy_w1_q50.jpg\n"
                                      << corpus + "/elsewhere/unrelated_4.jpg\n"
                                      << "\nelsewhere/missing.jpg\n";
  const std::string tar = corpus + "/shard-000.tar", tgz = corpus + "/shard-001.tar.gz";
  // Members in directory order, as plain `tar` writes them: a sample's sidecar need not be next
  // to its image.
  write_tar(tar, {{"000000.jpg", jpeg(mirrored(works_[2])), ""},
                  {"000001.jpg", unrelated(5), ""},
                  {"000000.json",
                   bytes_of(R"({"url": "https://example.com/cat.jpg", "caption": "a cat"})"), ""},
                  {"000001.txt", bytes_of("a dog\n"), ""},
                  {"000002.png", test::encode(works_[3], ".png"), ""},
                  {"000002.json", bytes_of(R"({"source_url": "http://x.org/3"})"), ""}});
  write_tar(tgz,
            {{"000000.json", bytes_of(R"({"URL": "https://y.org/1", "text": "rainy day"})"), ""},
             {"000000.jpg", jpeg(resized(works_[1], 0.7), 70), ""}},
            /*gzip=*/true);

  const std::string report = dir_.file("report");
  std::string log;
  ASSERT_EQ(
      scan("--report " + report + " " + corpus + "/f " + corpus + "/list.txt " + tar + " " + tgz,
           &log),
      0)
      << log;

  std::map<std::string, std::pair<std::string, std::string>> got;  // where -> (work, decision)
  std::map<std::string, json> by_where;
  for (const json& f : read_lines(report + "/findings.jsonl")) {
    got[where(f)] = {f["work_id"], f["decision"]};
    by_where[where(f)] = f;
    EXPECT_TRUE(fs::exists(report + "/" + f["thumb"].get<std::string>())) << f.dump();
  }
  const std::map<std::string, std::pair<std::string, std::string>> want = {
      {corpus + "/f/a/copy_w0_small.jpg", {"w0", "flag"}},
      {corpus + "/elsewhere/copy_w1_q50.jpg", {"w1", "flag"}},
      {tar + ":000000.jpg", {"w2", "flag"}},
      {tar + ":000002.png", {"w3", "allow"}},
      {tgz + ":000000.jpg", {"w1", "flag"}},
  };
  EXPECT_EQ(got, want);

  // Sidecars: URL and caption under each of their accepted names; .txt captions.
  const json& cat = by_where[tar + ":000000.jpg"];
  EXPECT_EQ(cat["url"], "https://example.com/cat.jpg");
  EXPECT_EQ(cat["caption"], "a cat");
  EXPECT_EQ(cat["key"], "000000");
  EXPECT_EQ(cat["shard"], tar);
  EXPECT_EQ(cat["transform"], "flip-y");  // found through its mirror image
  EXPECT_EQ(cat["owner"], "Studio B");
  EXPECT_EQ(cat["licence"]["ai-training"], "deny");
  EXPECT_LE(cat["distance"].get<int>(), 31);
  EXPECT_EQ(by_where[tgz + ":000000.jpg"]["url"], "https://y.org/1");
  EXPECT_EQ(by_where[tgz + ":000000.jpg"]["caption"], "rainy day");
  EXPECT_EQ(by_where[tar + ":000002.png"]["url"], "http://x.org/3");

  const std::vector<json> errors = read_lines(report + "/errors.jsonl");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["reason"], "missing");
  EXPECT_EQ(errors[0]["path"], corpus + "/elsewhere/missing.jpg");

  const json s = read_json(report + "/summary.json");
  EXPECT_TRUE(s["complete"].get<bool>());
  EXPECT_EQ(s["totals"]["items"], 11);  // 4 in the folder, 3 listed, 3 + 1 in the shards
  EXPECT_EQ(s["totals"]["scanned"], 10);
  EXPECT_EQ(s["totals"]["matched"], 5);
  EXPECT_EQ(s["totals"]["flagged"], 4);
  EXPECT_EQ(s["totals"]["bad_items"], 1);
  EXPECT_EQ(s["totals"]["errors_by_reason"]["missing"], 1);
  EXPECT_EQ(s["totals"]["other_members"], 0);
  EXPECT_EQ(s["scan"]["purpose"], "ai-training");
  EXPECT_FALSE(s["catalog"]["catalog_id"].get<std::string>().empty());
  std::map<std::string, int> flagged_by_owner;
  for (const json& o : s["by_owner"]) flagged_by_owner[o["owner"]] = o["flagged"];
  EXPECT_EQ(flagged_by_owner, (std::map<std::string, int>{{"Studio A", 3}, {"Studio B", 1}}));
  std::map<std::string, int> matched_by_work;
  for (const json& w : s["by_work"]) matched_by_work[w["work_id"]] = w["matched"];
  EXPECT_EQ(matched_by_work,
            (std::map<std::string, int>{{"w0", 1}, {"w1", 2}, {"w2", 1}, {"w3", 1}}));

  // The page: self-contained, grouped by owner and work, both images inline.
  const std::string html = slurp(report + "/report.html");
  EXPECT_NE(html.find("Studio A"), std::string::npos);
  EXPECT_NE(html.find("Work 2 (w2)"), std::string::npos);
  EXPECT_NE(html.find("<details class=\"owner\""), std::string::npos);
  EXPECT_NE(html.find("src=\"data:image/jpeg;base64,"), std::string::npos);
  EXPECT_NE(html.find("href=\"data:image/jpeg;base64,"), std::string::npos);  // a work's thumbnail
  EXPECT_EQ(html.find("src=\"thumbs/"), std::string::npos);  // nothing loaded from outside
  EXPECT_NE(html.find("https://example.com/cat.jpg"), std::string::npos);
  EXPECT_NE(html.find("Permitted: copies the licence allows for this purpose (1)"),
            std::string::npos);
  EXPECT_NE(html.find("Flagged: copies of registered works the licence does not permit for this "
                      "purpose (4)"),
            std::string::npos);
}

// report.html is opened by people who did not write the corpus: captions, URLs, member names,
// titles and owners are the corpus's or the registrant's words and must reach the page as text.
TEST_F(ScanTest, ReportHtmlShowsHostileCaptionsUrlsAndNamesAsText) {
  {
    CatalogOptions o;
    o.dir = catalog_;
    auto c = Catalog::open(o);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    works_.push_back(test::synthetic_photo(480, 360, 104));
    Result<WorkInput> in = work_input_from_image(jpeg(works_[4], 95));
    ASSERT_TRUE(in.ok());
    in->work.id = "w4";
    in->work.title = "<script>alert('title')</script>";
    in->work.owner = "Evil \"Owner\" <b>&amp;</b>";
    ASSERT_TRUE((*c)->register_works(std::vector{*in})[0].ok());
  }
  const std::string tar = dir_.file("hostile.tar");
  write_tar(
      tar,
      {{"000000.jpg", jpeg(works_[0]), ""},
       {"000000.json",
        bytes_of(R"j({"url": "javascript:alert(1)", "caption": "<script>alert(1)</script>"})j"),
        ""},
       {"000001.jpg", jpeg(works_[1]), ""},
       {"000001.json",
        bytes_of(
            R"j({"url": "https://e.com/\"onmouseover=\"alert(2)", "caption": "\"quoted\" & 'single'"})j"),
        ""},
       {"000002.jpg", jpeg(works_[2]), ""},
       {"000002.json", bytes_of(R"j({"url": "https://e.com/<img src=x onerror=alert(3)>"})j"), ""},
       {"x<img src=y onerror=alert(4)>.jpg", jpeg(works_[4]), ""}});
  const std::string report = dir_.file("report");
  std::string log;
  ASSERT_EQ(scan("--report " + report + " " + tar, &log), 0) << log;
  ASSERT_EQ(read_lines(report + "/findings.jsonl").size(), 4u);
  const std::string html = slurp(report + "/report.html");
  std::string lower = html;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  // No markup of theirs: the page has no scripts, no images but inline ones, no script links.
  EXPECT_EQ(lower.find("<script"), std::string::npos);
  EXPECT_EQ(lower.find("<img src=x"), std::string::npos);
  EXPECT_EQ(lower.find("<img src=y"), std::string::npos);
  EXPECT_EQ(lower.find("<b>&amp;"), std::string::npos);
  EXPECT_EQ(lower.find("href=\"javascript:"), std::string::npos);
  EXPECT_EQ(lower.find("onmouseover=\""), std::string::npos);
  // Their words, escaped.
  for (const char* shown : {"&lt;script&gt;alert(1)&lt;/script&gt;", "javascript:alert(1)",
                            "https://e.com/&quot;onmouseover=&quot;alert(2)",
                            "&quot;quoted&quot; &amp; &#39;single&#39;",
                            "https://e.com/&lt;img src=x onerror=alert(3)&gt;",
                            "x&lt;img src=y onerror=alert(4)&gt;.jpg",
                            "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; (w4)",
                            "Evil &quot;Owner&quot; &lt;b&gt;&amp;amp;&lt;/b&gt;"}) {
    EXPECT_NE(html.find(shown), std::string::npos) << shown;
  }
  // Only web addresses become links; the javascript: one is text.
  EXPECT_NE(html.find("<div>javascript:alert(1)</div>"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"https://e.com/&quot;onmouseover=&quot;alert(2)\">"),
            std::string::npos);
}

TEST_F(ScanTest, CountsHostileMembersWithReasonsAndCarriesOn) {
  std::vector<uint8_t> good = jpeg(works_[0]);
  std::vector<uint8_t> truncated(good.begin(), good.begin() + long(good.size() / 2));
  std::vector<uint8_t> noise(5000);
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = uint8_t(i * 7919 % 251);
  const std::string hostile = dir_.file("hostile.tar");
  write_tar(hostile, {{"a/000.jpg", unrelated(1), ""},
                      {"a/001.jpg", truncated, ""},
                      {"a/002.jpg", noise, ""},
                      {"a/003.png", png_bomb(), ""},
                      {"a/004.jpg", std::vector<uint8_t>(400000, 0xff), ""},
                      {"a/005.jpg", {}, "../../etc/passwd"},
                      {"a/006.cls", bytes_of("7"), ""},
                      {"a/007.jpg", {}, ""},
                      {"a/008.jpg", jpeg(resized(works_[0], 0.6)), ""}});
  // A shard cut off in the middle of its second member's data: the first member is scanned.
  const std::string cut = dir_.file("cut.tar");
  const std::vector<uint8_t> first = jpeg(works_[1]);
  write_tar(cut,
            {{"000.jpg", first, ""}, {"001.jpg", unrelated(2), ""}, {"002.jpg", unrelated(3), ""}});
  const size_t cut_at = 512 + (first.size() + 511) / 512 * 512 + 512 + 100;
  fs::resize_file(cut, cut_at);

  const std::string report = dir_.file("report");
  std::string log;
  ASSERT_EQ(scan("--max-bytes 300000 --report " + report + " " + hostile + " " + cut, &log), 0)
      << log;

  std::set<std::string> found;
  for (const json& f : read_lines(report + "/findings.jsonl"))
    found.insert(where(f) + "=" + f["work_id"].get<std::string>());
  EXPECT_EQ(found, (std::set<std::string>{hostile + ":a/008.jpg=w0", cut + ":000.jpg=w1"}));

  std::map<std::string, std::string> reason_of;
  for (const json& e : read_lines(report + "/errors.jsonl")) {
    reason_of[e["item"].is_null() ? e["unit"].get<std::string>() : where(e)] = e["reason"];
    EXPECT_FALSE(e["message"].get<std::string>().empty());
  }
  const std::map<std::string, std::string> want = {
      {hostile + ":a/001.jpg", "truncated"},
      {hostile + ":a/002.jpg", "not an image"},
      {hostile + ":a/003.png", "over the pixel limit"},
      {hostile + ":a/004.jpg", "over the byte limit"},
      {hostile + ":a/005.jpg", "not a regular file"},
      {hostile + ":a/006.cls", "not an image"},
      {hostile + ":a/007.jpg", "empty"},
      {cut + ":001.jpg", "truncated"},
      {cut, "corrupt archive"},
  };
  EXPECT_EQ(reason_of, want);

  const json t = read_json(report + "/summary.json")["totals"];
  EXPECT_EQ(t["items"], 11);
  EXPECT_EQ(t["scanned"], 3);
  EXPECT_EQ(t["bad_items"], 8);
  EXPECT_EQ(t["damaged_units"], 1);
  EXPECT_EQ(t["errors_by_reason"], (json{{"truncated", 2},
                                         {"not an image", 2},
                                         {"over the pixel limit", 1},
                                         {"over the byte limit", 1},
                                         {"not a regular file", 1},
                                         {"empty", 1},
                                         {"corrupt archive", 1}}));
}

TEST_F(ScanTest, CorruptJpegsAlternatingWithCopiesOnOneThreadHideNoCopy) {
  // The bug report's shard: corrupt JPEGs (cut inside the Huffman tables, after 200 bytes, in
  // the entropy data) alternating with copies of registered works, scanned on one thread. A
  // decoder left broken by the first member used to report every later sample as corrupt.
  const std::vector<uint8_t> other = jpeg(test::synthetic_photo(640, 480, 4242), 90);
  const std::vector<std::vector<uint8_t>> bad = {
      {other.begin(), other.begin() + 400},
      {other.begin(), other.begin() + 200},
      {other.begin(), other.begin() + long(other.size() / 2)}};
  std::vector<Member> members;
  int copies = 0;
  for (int i = 0; i < 24; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "s/%03d.jpg", 2 * i);
    members.push_back({name, bad[size_t(i) % bad.size()], ""});
    std::snprintf(name, sizeof name, "s/%03d.jpg", 2 * i + 1);
    members.push_back({name, jpeg(resized(works_[size_t(i) % 3], 0.7 + 0.01 * i), 80), ""});
    ++copies;
  }
  const std::string shard = dir_.file("alternating.tar");
  write_tar(shard, members);
  for (const std::string mode : {"--no-second-stage", ""}) {
    SCOPED_TRACE(mode);
    const std::string report = dir_.file("report-alt" + mode);
    std::string log;
    ASSERT_EQ(scan("--threads 1 " + mode + " --report " + report + " " + shard, &log), 0) << log;
    const json t = read_json(report + "/summary.json")["totals"];
    EXPECT_EQ(t["items"], 48);
    EXPECT_EQ(t["scanned"], copies);
    EXPECT_EQ(t["bad_items"], 24);
    EXPECT_EQ(t["matched"], copies);
    EXPECT_EQ(t["flagged"], copies);
    std::set<std::string> found;
    for (const json& f : read_lines(report + "/findings.jsonl")) {
      const int k = std::stoi(f["member"].get<std::string>().substr(2, 3));
      EXPECT_EQ(k % 2, 1) << f.dump();
      EXPECT_EQ(f["work_id"], "w" + std::to_string((k / 2) % 3)) << f.dump();
      found.insert(f["member"].get<std::string>());
    }
    EXPECT_EQ(int(found.size()), copies);
    for (const json& e : read_lines(report + "/errors.jsonl")) {
      const int k = std::stoi(e["member"].get<std::string>().substr(2, 3));
      EXPECT_EQ(k % 2, 0) << e.dump();  // only the corrupt members are errors
    }
  }
}

TEST_F(ScanTest, ListsTheFirstErrorsOfAUnitAndCountsThemAll) {
  // A shard of junk: every bad item is counted, the first ones (by position, whatever the thread
  // timing) are listed, and one line says how many more there were.
  std::vector<Member> junk;
  for (int i = 0; i < 40; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03d.jpg", i);
    junk.push_back({name, bytes_of("junk " + std::to_string(i)), ""});
  }
  junk.push_back({"040.jpg", jpeg(works_[2]), ""});
  const std::string tar = dir_.file("junk.tar");
  write_tar(tar, junk);
  const std::string report = dir_.file("report");
  ASSERT_EQ(scan("--max-error-lines 10 --report " + report + " " + tar), 0);
  const std::vector<json> errors = read_lines(report + "/errors.jsonl");
  ASSERT_EQ(errors.size(), 11u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(errors[i]["item"], i);
  EXPECT_EQ(errors[10]["reason"], "unlisted");
  EXPECT_NE(errors[10]["message"].get<std::string>().find("30 more"), std::string::npos);
  const json s = read_json(report + "/summary.json");
  EXPECT_EQ(s["totals"]["bad_items"], 40);
  EXPECT_EQ(s["totals"]["errors_by_reason"]["not an image"], 40);
  EXPECT_EQ(s["totals"]["flagged"], 1);
}

// A corpus big enough that a scan takes a moment: `shards` tars of `per` samples (JSON sidecars),
// each with one planted copy, plus a folder of loose files.
struct Corpus {
  std::vector<std::string> sources;
  std::set<std::string> planted;  // where=work
};

Corpus make_corpus(ScanTest* t, const test::TempDir& dir, const std::vector<Image>& works,
                   int shards, int per, int loose, int side) {
  Corpus c;
  std::vector<std::vector<uint8_t>> pool;  // unrelated images, reused under different keys
  for (int i = 0; i < 24; ++i) {
    pool.push_back(test::encode(test::synthetic_photo(side, side * 3 / 4, 9000 + i), ".jpg", 85));
  }
  for (int s = 0; s < shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "shard-%03d.tar", s);
    const std::string path = dir.file(name);
    std::vector<Member> m;
    for (int i = 0; i < per; ++i) {
      char key[32];
      std::snprintf(key, sizeof key, "%05d", s * 1000 + i);
      const bool copy = i == (s * 7) % per;
      const int w = s % int(works.size());
      m.push_back({std::string(key) + ".jpg",
                   copy ? test::encode(resized(works[w], 0.8), ".jpg", 75)
                        : pool[size_t(s * per + i) % pool.size()],
                   ""});
      m.push_back({std::string(key) + ".json",
                   bytes_of("{\"url\": \"https://corpus.example/" + std::string(key) + "\"}"), ""});
      if (copy) c.planted.insert(path + ":" + key + ".jpg=w" + std::to_string(w));
    }
    write_tar(path, m);
    c.sources.push_back(path);
  }
  if (loose > 0) {
    const std::string folder = dir.file("loose");
    fs::create_directories(folder);
    for (int i = 0; i < loose; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "img%03d.jpg", i);
      const bool copy = i % 9 == 4;
      test::write_file(folder + "/" + name,
                       copy ? test::encode(mirrored(works[size_t(i) % works.size()]), ".jpg", 80)
                            : pool[size_t(i) % pool.size()]);
      if (copy) c.planted.insert(folder + "/" + name + "=w" + std::to_string(i % works.size()));
    }
    c.sources.push_back(folder);
  }
  (void)t;
  return c;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += " " + x;
  return s;
}

std::set<std::string> finding_set(const std::string& report) {
  std::set<std::string> s;
  for (const json& f : read_lines(report + "/findings.jsonl"))
    s.insert(where(f) + "=" + f["work_id"].get<std::string>());
  return s;
}

TEST_F(ScanTest, ShardedRunsMergeToExactlyTheUnshardedReport) {
  const Corpus c = make_corpus(this, dir_, works_, 4, 6, 25, 200);
  const std::string src = join(c.sources) + " --unit-size 10";  // 4 shard units + 3 folder units
  const std::string whole = dir_.file("whole");
  // Three readers and three workers here, the defaults in the shards: the report must not depend
  // on how many units were read at once or which worker finished first.
  ASSERT_EQ(scan("--readers 3 --threads 3 --batch 4 --report " + whole + src), 0);
  EXPECT_EQ(finding_set(whole), c.planted);

  std::vector<std::string> parts;
  for (int i = 0; i < 3; ++i) {
    parts.push_back(dir_.file("part" + std::to_string(i)));
    std::string log;
    ASSERT_EQ(scan("--shard " + std::to_string(i) + "/3 --report " + parts.back() + src, &log), 0)
        << log;
    EXPECT_LT(finding_set(parts.back()).size(), c.planted.size());
  }
  const std::string merged = dir_.file("merged");
  std::string out;
  ASSERT_EQ(test::run_command(
                test::imprint_binary() + " report merge " + merged + join(parts) + " 2>&1", &out),
            0)
      << out;

  // Byte for byte: the same lines in the same (unit) order.
  EXPECT_EQ(slurp(merged + "/findings.jsonl"), slurp(whole + "/findings.jsonl"));
  EXPECT_EQ(slurp(merged + "/errors.jsonl"), slurp(whole + "/errors.jsonl"));
  const json a = read_json(whole + "/summary.json"), b = read_json(merged + "/summary.json");
  for (const char* k : {"totals", "by_owner", "by_work", "complete"}) EXPECT_EQ(a[k], b[k]) << k;
  EXPECT_EQ(b["shards_covered"], json({0, 1, 2}));
  for (const json& f : read_lines(merged + "/findings.jsonl")) {
    EXPECT_TRUE(fs::exists(merged + "/" + f["thumb"].get<std::string>()));
  }
  EXPECT_NE(slurp(merged + "/report.html").find("Complete"), std::string::npos);

  // Two of three shards: merged, but said to be incomplete (exit 1).
  const std::string partial = dir_.file("partial");
  EXPECT_EQ(test::run_command(test::imprint_binary() + " report merge " + partial + " " + parts[0] +
                              " " + parts[2] + " 2>/dev/null"),
            1);
  EXPECT_EQ(read_json(partial + "/summary.json")["shards_covered"], json({0, 2}));
  EXPECT_NE(slurp(partial + "/report.html").find("covers 2 of 3 shards"), std::string::npos);
  // A shard twice, or a report of another scan, is refused.
  EXPECT_EQ(test::run_command(test::imprint_binary() + " report merge " + dir_.file("dup") + " " +
                              parts[0] + " " + parts[0] + " 2>/dev/null"),
            2);
  EXPECT_EQ(test::run_command(test::imprint_binary() + " report merge " + dir_.file("mixed") + " " +
                              parts[0] + " " + whole + " 2>/dev/null"),
            2);
  EXPECT_EQ(scan("--shard 3/3 --report " + dir_.file("bad") + src), 2);
  // A shard report that a scan is still writing (it holds LOCK) is not merged.
  const int lock = ::open((parts[1] + "/LOCK").c_str(), O_RDONLY);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(flock(lock, LOCK_EX), 0);
  EXPECT_EQ(test::run_command(test::imprint_binary() + " report merge " + dir_.file("busy") +
                              join(parts) + " 2>/dev/null"),
            2);
  close(lock);
}

// Starts `imprint scan` and sends `sig` once its journal records `after_units` units. Returns the
// wait status.
int scan_and_signal(const std::string& catalog, const std::string& report,
                    const std::vector<std::string>& sources, size_t after_units, int sig,
                    bool* signalled) {
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* devnull = std::fopen("/dev/null", "w");
    dup2(fileno(devnull), 2);
    // PDQ only: these tests are about the journal, and 480 samples through the second stage
    // would take minutes.
    std::vector<std::string> args = {"imprint",   "scan",    "--progress", "none",
                                     "--threads", "1",       "--no-second-stage",
                                     "--catalog", catalog,   "--report",   report,
                                     "--resume"};
    args.insert(args.end(), sources.begin(), sources.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(test::imprint_binary().c_str(), argv.data());
    _exit(127);
  }
  *signalled = false;
  int status = 0;
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;  // finished first
    size_t units = 0;
    std::ifstream j(report + "/journal.jsonl");
    std::string line;
    while (std::getline(j, line)) units += line.find("\"unit\"") != std::string::npos;
    if (units >= after_units) {
      kill(pid, sig);
      *signalled = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  waitpid(pid, &status, 0);
  return status;
}

TEST_F(ScanTest, ResumesAfterKillNineWithNoFindingLostOrRepeated) {
  const Corpus c = make_corpus(this, dir_, works_, 16, 30, 0, 480);
  const std::string reference = dir_.file("reference");
  ASSERT_EQ(scan("--threads 1 --no-second-stage --report " + reference + join(c.sources)), 0);
  ASSERT_EQ(finding_set(reference), c.planted);
  const std::string want = slurp(reference + "/findings.jsonl");

  for (size_t after : {size_t{1}, size_t{5}, size_t{10}}) {
    SCOPED_TRACE("killed after " + std::to_string(after) + " units");
    const std::string report = dir_.file("killed-" + std::to_string(after));
    bool signalled = false;
    const int status = scan_and_signal(catalog_, report, c.sources, after, SIGKILL, &signalled);
    ASSERT_TRUE(signalled) << "the scan finished before it could be killed";
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    // Killed mid-scan: some units are journaled, not all.
    size_t journaled = 0;
    {
      std::ifstream j(report + "/journal.jsonl");
      std::string line;
      while (std::getline(j, line)) journaled += line.find("\"unit\"") != std::string::npos;
    }
    EXPECT_GE(journaled, after);
    EXPECT_LT(journaled, c.sources.size());

    std::string log;
    ASSERT_EQ(scan("--threads 1 --no-second-stage --resume --report " + report + join(c.sources), &log), 0) << log;
    EXPECT_NE(log.find("resuming"), std::string::npos);
    EXPECT_EQ(slurp(report + "/findings.jsonl"), want);  // no loss, no repeat, same order
    const json s = read_json(report + "/summary.json");
    EXPECT_TRUE(s["complete"].get<bool>());
    EXPECT_EQ(s["totals"]["items"], 16 * 30);
    EXPECT_EQ(s["totals"]["matched"], 16);
    EXPECT_EQ(s["totals"]["flagged"], 12);  // the 4 copies of w3 are licensed for training
  }

  // Ctrl-C: the scan stops cleanly (exit 130), says it is incomplete, and resumes.
  const std::string report = dir_.file("interrupted");
  bool signalled = false;
  const int status = scan_and_signal(catalog_, report, c.sources, 3, SIGINT, &signalled);
  ASSERT_TRUE(signalled);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_FALSE(read_json(report + "/summary.json")["complete"].get<bool>());
  EXPECT_NE(slurp(report + "/report.html").find("Incomplete"), std::string::npos);
  ASSERT_EQ(scan("--threads 1 --no-second-stage --resume --report " + report + join(c.sources)), 0);
  EXPECT_EQ(slurp(report + "/findings.jsonl"), want);
  EXPECT_TRUE(read_json(report + "/summary.json")["complete"].get<bool>());
}

TEST_F(ScanTest, ResumeDropsACommitTornByACrash) {
  // The window kill -9 rarely hits, made on purpose: findings written past the journal's last
  // record and half a journal line, as a crash in the middle of committing a unit leaves them.
  const Corpus c = make_corpus(this, dir_, works_, 5, 8, 0, 200);
  const std::string report = dir_.file("report");
  ASSERT_EQ(scan("--report " + report + join(c.sources)), 0);
  const std::string want = slurp(report + "/findings.jsonl");

  std::vector<std::string> lines;
  {
    std::ifstream j(report + "/journal.jsonl");
    std::string line;
    while (std::getline(j, line)) {
      if (line.find("\"unit\"") != std::string::npos) lines.push_back(line);
    }
  }
  ASSERT_EQ(lines.size(), 5u);
  std::ofstream j(report + "/journal.jsonl", std::ios::trunc);
  for (size_t i = 0; i < 3; ++i) j << lines[i] << "\n";
  j << lines[3].substr(0, lines[3].size() / 2);  // torn: no newline
  j.close();
  std::ofstream(report + "/findings.jsonl", std::ios::app)
      << "{\"half a line";  // and a torn finding

  std::string log;
  ASSERT_EQ(scan("--resume --report " + report + join(c.sources), &log), 0) << log;
  EXPECT_EQ(slurp(report + "/findings.jsonl"), want);
  EXPECT_EQ(read_lines(report + "/journal.jsonl").size(), 5u + 1u);  // 5 units, the new run
}

TEST_F(ScanTest, RefusesToOverwriteOrToResumeAnotherScan) {
  const std::string img = dir_.file("one.jpg");
  test::write_file(img, jpeg(works_[0]));
  const std::string report = dir_.file("report");
  ASSERT_EQ(scan("--report " + report + " " + img), 0);
  std::string log;
  EXPECT_EQ(scan("--report " + report + " " + img, &log), 2);
  EXPECT_NE(log.find("not empty"), std::string::npos) << log;
  EXPECT_EQ(scan("--resume --purpose commercial --report " + report + " " + img, &log), 2);
  EXPECT_NE(log.find("purpose"), std::string::npos) << log;
  EXPECT_EQ(scan("--report " + dir_.file("r2") + " " + dir_.file("nope.tar"), &log), 2);
  EXPECT_NE(log.find("no such file"), std::string::npos) << log;
  // The input changed under a resumed report: refused, not silently mixed.
  const std::string folder = dir_.file("folder");
  fs::create_directories(folder);
  for (int i = 0; i < 3; ++i)
    test::write_file(folder + "/" + std::to_string(i) + ".jpg", unrelated(i));
  const std::string r3 = dir_.file("r3");
  ASSERT_EQ(scan("--report " + r3 + " " + folder), 0);
  test::write_file(folder + "/3.jpg", unrelated(3));
  EXPECT_EQ(scan("--resume --report " + r3 + " " + folder, &log), 2);
  EXPECT_NE(log.find("input changed"), std::string::npos) << log;
}

// Issue 21 item 13: a tar shard is recognised on --resume by its size, modification time and the
// digest of its first and last 64 KiB, not by name and size alone.
TEST_F(ScanTest, ResumeRecognisesATarShardByContentAndTimeNotNameAndSize) {
  const std::string tar = dir_.file("shard.tar");
  std::vector<Member> m;
  for (int i = 0; i < 3; ++i) m.push_back({"m" + std::to_string(i) + ".jpg", unrelated(i), ""});
  write_tar(tar, m);
  struct stat original {};
  ASSERT_EQ(::stat(tar.c_str(), &original), 0);
  const std::vector<uint8_t> bytes = test::read_all(tar);
  auto rewrite = [&](const std::vector<uint8_t>& b, const timespec& mtime) {
    test::write_file(tar, b);
    const timespec times[2] = {mtime, mtime};
    ASSERT_EQ(::utimensat(AT_FDCWD, tar.c_str(), times, 0), 0);
  };
  const std::string report = dir_.file("report");
  ASSERT_EQ(scan("--report " + report + " " + tar), 0);
  std::string log;
  // The same bytes and time (rewritten): resumed, nothing left to do.
  rewrite(bytes, original.st_mtim);
  EXPECT_EQ(scan("--resume --report " + report + " " + tar, &log), 0) << log;
  // Same name, size and time, other bytes (a shard re-packed in place): refused.
  std::vector<uint8_t> changed = bytes;
  changed[512 + 200] ^= 0x55;  // inside the first member's data
  rewrite(changed, original.st_mtim);
  EXPECT_EQ(scan("--resume --report " + report + " " + tar, &log), 2) << log;
  EXPECT_NE(log.find("input changed"), std::string::npos) << log;
  EXPECT_NE(log.find("content differs"), std::string::npos) << log;
  // The same bytes with another time: refused too, saying so.
  timespec later = original.st_mtim;
  later.tv_sec += 3600;
  rewrite(bytes, later);
  EXPECT_EQ(scan("--resume --report " + report + " " + tar, &log), 2) << log;
  EXPECT_NE(log.find("modification time differs"), std::string::npos) << log;
}

TEST_F(ScanTest, SaveCatalogLetsCreatorsQueryTheCorpusLater) {
  const std::string tar = dir_.file("corpus.tar");
  std::vector<Member> m;
  for (int i = 0; i < 5; ++i) {
    const std::string key = "s" + std::to_string(i);
    m.push_back({key + ".jpg", i == 2 ? jpeg(resized(works_[3], 0.9)) : unrelated(i), ""});
    m.push_back(
        {key + ".json",
         bytes_of("{\"url\": \"https://c.example/" + key + "\", \"caption\": \"c" + key + "\"}"),
         ""});
  }
  write_tar(tar, m);
  const std::string saved = dir_.file("corpus-catalog");
  ASSERT_EQ(scan("--save-catalog " + saved + " --report " + dir_.file("r1") + " " + tar), 0);

  // A creator (w3's owner) asks the corpus catalog whether their work is in it.
  const std::string mine = dir_.file("my-art");
  fs::create_directories(mine);
  test::write_file(mine + "/w3.jpg", jpeg(works_[3], 95));
  std::string out;
  ASSERT_EQ(test::run_command(
                test::imprint_binary() + " query --json --catalog " + saved + " " + mine, &out),
            0);
  const json q = json::parse(out);
  ASSERT_EQ(q["matches"].size(), 1u) << out;
  EXPECT_EQ(q["matches"][0]["work_id"], tar + "/s2");

  CatalogOptions ro;
  ro.dir = saved;
  ro.read_only = true;
  {
    auto c = Catalog::open(ro);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)->stats()->works, 5);
    auto w = (*c)->get_work(tar + "/s2");
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->source, "https://c.example/s2");
    EXPECT_EQ(w->title, "cs2");
  }
  // Scanning again into the same catalog (a redone unit after a crash does this) adds nothing.
  ASSERT_EQ(scan("--save-catalog " + saved + " --report " + dir_.file("r2") + " " + tar), 0);
  auto c = Catalog::open(ro);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->stats()->works, 5);
  EXPECT_EQ(scan("--save-catalog " + catalog_ + " --report " + dir_.file("r3") + " " + tar), 2);
}

// Issue 21 item 13: member names are the corpus's, not ours. Saved ids are valid UTF-8 without
// control characters and at most 512 bytes, and names that had to change stay distinct.
TEST_F(ScanTest, SaveCatalogGivesEveryMemberASafeDistinctId) {
  // A deep folder, so that the shard's path and a long member name pass 512 bytes together.
  const std::string deep = dir_.file(std::string(200, 'd')) + "/" + std::string(200, 'e');
  fs::create_directories(deep);
  const std::string tar = deep + "/shard.tar";
  const std::vector<std::string> names = {"ok.jpg", "bad\xff\xfe.jpg", "bad\xff\xfd.jpg",
                                          "ctl\x01\x1b[31m.jpg", std::string(95, 'k') + ".jpg",
                                          std::string(94, 'k') + "j.jpg"};
  std::vector<Member> m;
  for (size_t i = 0; i < names.size(); ++i) m.push_back({names[i], unrelated(int(i)), ""});
  write_tar(tar, m);
  const std::string saved = dir_.file("saved");
  std::string log;
  ASSERT_EQ(scan("--save-catalog " + saved + " --report " + dir_.file("r") + " " + tar, &log), 0)
      << log;
  CatalogOptions ro;
  ro.dir = saved;
  ro.read_only = true;
  auto c = Catalog::open(ro);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  std::set<std::string> ids;
  ASSERT_TRUE((*c)->list_works({}, [&](const Work& w) {
    ids.insert(w.id);
    return true;
  }).ok());
  ASSERT_EQ(ids.size(), names.size());  // none merged, none lost
  for (const std::string& id : ids) {
    EXPECT_TRUE(is_valid_utf8(id)) << id;
    EXPECT_LE(id.size(), 512u) << id;
    EXPECT_EQ(std::count_if(id.begin(), id.end(),
                            [](char ch) { return (unsigned char)ch < 0x20 || ch == 0x7f; }),
              0)
        << id;
  }
  EXPECT_EQ(ids.count(tar + "/ok"), 1u);  // a name that is fine is kept as it is
  EXPECT_EQ(cli::safe_work_id("a\x01" "b").substr(0, 4), "a_b~");
  EXPECT_EQ(cli::safe_work_id("plain/name"), "plain/name");
  EXPECT_EQ(cli::safe_work_id(std::string(600, 'x')).size(), 512u);
}

// Videos in a corpus: members of a shard and files in a folder are hashed one frame a second and
// matched against the catalog's video works; a finding says which seconds copy which, and a
// damaged video is a bad item like a damaged image.
TEST_F(ScanTest, FindsCopiedVideosInShardsAndFoldersWithTheCopiedSeconds) {
  const std::string videos = test::shared_dir() + "/vpdq-reference/videos/";
  {
    CatalogOptions o;
    o.dir = catalog_;
    auto c = Catalog::open(o);
    ASSERT_TRUE(c.ok());
    VideoOptions vo;
    vo.seconds_per_hash = 0;  // every frame: dense alignment for one-a-second queries
    Result<HashedVideo> v = hash_video_for_catalog(videos + "chair-orig-22-sd-bar.mp4", vo);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    WorkInput in = work_input_from_video(*v, 0);
    in.work.id = "chair";
    in.work.owner = "Studio V";
    for (const auto& r : (*c)->register_works(std::vector{in})) {
      ASSERT_TRUE(r.ok()) << r.status().to_string();
    }
  }
  const std::string tar = dir_.file("videos.tar");
  write_tar(tar, {{"clip1.mp4", test::read_all(videos + "chair-19-sd-bar.mp4"), ""},
                  {"clip1.json", bytes_of("{\"url\": \"https://v.example/1\"}"), ""},
                  {"clip2.mp4", test::read_all(videos + "pattern-sd-grey-bar.mp4"), ""},
                  {"clip3.webm", bytes_of("this is not a video at all"), ""},
                  {"still.jpg", jpeg(resized(works_[0], 0.8)), ""}});
  const std::string folder = dir_.file("folder");
  fs::create_directories(folder);
  fs::copy_file(videos + "chair-22-sd-grey-bar.mp4", folder + "/grey.mp4");
  const std::string report = dir_.file("report");
  std::string log;
  ASSERT_EQ(scan("--report " + report + " " + tar + " " + folder, &log), 0) << log;

  std::map<std::string, json> by_where;
  for (const json& f : read_lines(report + "/findings.jsonl")) by_where[where(f)] = f;
  ASSERT_EQ(by_where.size(), 3u) << slurp(report + "/findings.jsonl");
  const json& clip = by_where[tar + ":clip1.mp4"];
  EXPECT_EQ(clip["media"], "video");
  EXPECT_EQ(clip["work_id"], "chair");
  EXPECT_EQ(clip["owner"], "Studio V");
  EXPECT_EQ(clip["decision"], "flag");
  EXPECT_EQ(clip["url"], "https://v.example/1");
  EXPECT_GT(clip["query_match_pct"].get<double>(), 50.0);
  ASSERT_FALSE(clip["segments"].empty());
  // chair-19 is the work from 3.7 s on.
  const json& seg = clip["segments"][0];
  EXPECT_NEAR(seg["work_start"].get<double>() - seg["query_start"].get<double>(), 3.7, 1.0) << seg;
  ASSERT_TRUE(clip["thumb"].is_string());  // a frame of the video, for the report
  EXPECT_TRUE(fs::exists(report + "/" + clip["thumb"].get<std::string>()));
  const json& grey = by_where[folder + "/grey.mp4"];
  EXPECT_EQ(grey["media"], "video");
  EXPECT_EQ(grey["work_id"], "chair");
  EXPECT_FALSE(grey["segments"].empty());
  EXPECT_EQ(by_where[tar + ":still.jpg"]["work_id"], "w0");  // images alongside still match

  const std::vector<json> errors = read_lines(report + "/errors.jsonl");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["member"], "clip3.webm");
  EXPECT_EQ(errors[0]["reason"], "not a video");
  const json summary = read_json(report + "/summary.json");
  EXPECT_EQ(summary["totals"]["scanned"], 4);
  EXPECT_EQ(summary["totals"]["bad_items"], 1);
}

// Shards compressed with gzip, bzip2, xz or zstd are read (libarchive decodes them itself; the
// filters that would run an outside program on a shard are not enabled).
TEST_F(ScanTest, ReadsShardsCompressedByEveryInProcessFilter) {
  const std::vector<std::pair<std::string, int>> filters = {{"gz", ARCHIVE_FILTER_GZIP},
                                                            {"bz2", ARCHIVE_FILTER_BZIP2},
                                                            {"xz", ARCHIVE_FILTER_XZ},
                                                            {"zst", ARCHIVE_FILTER_ZSTD}};
  std::string shards;
  for (size_t i = 0; i < filters.size(); ++i) {
    const std::string path = dir_.file("shard-" + std::to_string(i) + ".tar." + filters[i].first);
    write_tar(path,
              {{"copy.jpg", jpeg(resized(works_[i % 3], 0.7), 75), ""},
               {"other.jpg", unrelated(int(i)), ""}},
              false, filters[i].second);
    shards += " " + path;
  }
  std::string log;
  ASSERT_EQ(scan("--no-second-stage --report " + dir_.file("r") + shards, &log), 0) << log;
  const std::vector<json> found = read_lines(dir_.file("r") + "/findings.jsonl");
  ASSERT_EQ(found.size(), filters.size()) << log;
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(found[i]["member"], "copy.jpg");
    EXPECT_EQ(found[i]["work_id"], "w" + std::to_string(i % 3)) << found[i];
  }
  EXPECT_EQ(read_json(dir_.file("r") + "/summary.json")["totals"]["items"], 2 * filters.size());
}

// The second stage runs by default: samples PDQ does not settle go through local features, as
// `imprint query` runs them, so a crop PDQ misses is found, with its region; --no-second-stage
// stays PDQ-only.
TEST_F(ScanTest, SecondStageFindsCropsThatPdqMisses) {
  const std::string tar = dir_.file("crops.tar");
  // Half of w1's area, off-centre, shown larger: far outside PDQ's reach.
  write_tar(tar, {{"crop.jpg", jpeg(cropped(works_[1], 40, 30, 340, 255, 1.5), 90), ""},
                  {"other1.jpg", unrelated(1, 640, 480), ""},
                  {"other2.jpg", unrelated(2, 640, 480), ""}});
  ASSERT_EQ(scan("--no-second-stage --report " + dir_.file("pdq") + " " + tar), 0);
  EXPECT_TRUE(read_lines(dir_.file("pdq") + "/findings.jsonl").empty());
  EXPECT_EQ(read_json(dir_.file("pdq") + "/summary.json")["scan"]["second_stage"], false);

  std::string log;
  ASSERT_EQ(scan("--report " + dir_.file("both") + " " + tar, &log), 0) << log;
  const std::vector<json> found = read_lines(dir_.file("both") + "/findings.jsonl");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["member"], "crop.jpg");
  EXPECT_EQ(found[0]["work_id"], "w1");
  EXPECT_EQ(found[0]["method"], "local-features");
  EXPECT_EQ(found[0]["decision"], "flag");
  EXPECT_TRUE(found[0]["matches"][0].contains("region")) << found[0];
  const json summary = read_json(dir_.file("both") + "/summary.json");
  EXPECT_EQ(summary["totals"]["flagged"], 1);
  EXPECT_EQ(summary["totals"]["matched"], 1);
  EXPECT_EQ(summary["scan"]["second_stage"], true);
}

// One answer everywhere: for the same bytes, every finding of the scan (its decision and each
// listed match: work, method, distance, score, decision, region) is what `imprint query --json`
// answers with the same hashing, purpose and top-k; and a sample the query finds nothing for is
// no finding. Copies found by PDQ, by local features, mirrored, licensed, and unrelated samples.
TEST_F(ScanTest, FindingsEqualTheQueryAnswersForTheSameBytes) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> samples = {
      {"resized.jpg", jpeg(resized(works_[0], 0.6), 70)},
      {"crop.jpg", jpeg(cropped(works_[1], 40, 30, 340, 255, 1.5), 90)},
      {"crop_small.jpg", jpeg(cropped(works_[2], 100, 60, 300, 240, 1.0), 85)},
      {"mirror.jpg", jpeg(mirrored(works_[2]), 80)},
      {"licensed.jpg", jpeg(works_[3], 60)},
      {"other1.jpg", unrelated(1, 640, 480)},
      {"other2.jpg", unrelated(2, 400, 300)},
      {"other3.jpg", unrelated(3, 300, 500)}};
  const std::string files = dir_.file("parity");
  fs::create_directories(files);
  std::vector<Member> members;
  std::string paths;
  for (const auto& [name, bytes] : samples) {
    members.push_back({name, bytes, ""});
    test::write_file(files + "/" + name, bytes);
    paths += " " + files + "/" + name;
  }
  const std::string tar = dir_.file("parity.tar");
  write_tar(tar, members);
  for (const std::string mode : {"fast", "exact"}) {
    SCOPED_TRACE(mode);
    const std::string report = dir_.file("parity-" + mode);
    std::string log;
    ASSERT_EQ(scan("--threads 2 --mode " + mode + " --report " + report + " " + tar, &log), 0)
        << log;
    std::map<std::string, json> findings;
    for (const json& f : read_lines(report + "/findings.jsonl")) findings[f["member"]] = f;

    std::string out;
    ASSERT_EQ(test::run_command(test::imprint_binary() + " query --json --purpose ai-training " +
                                    "--top-k 5 --mode " + mode + " --catalog " + catalog_ + paths,
                                &out),
              0);
    std::istringstream lines(out);
    std::string line;
    int answered = 0, flagged = 0;
    while (std::getline(lines, line)) {
      const json q = json::parse(line);
      const std::string name = fs::path(q["path"].get<std::string>()).filename().string();
      SCOPED_TRACE(name);
      ++answered;
      flagged += q["decision"] == "flag";
      if (q["matches"].empty()) {
        EXPECT_EQ(findings.count(name), 0u) << findings[name];
        continue;
      }
      ASSERT_EQ(findings.count(name), 1u) << q;
      const json& f = findings[name];
      EXPECT_EQ(f["decision"], q["decision"]);
      EXPECT_EQ(f["pdq"], q["pdq"]);
      EXPECT_EQ(f["matches"], q["matches"]);
    }
    EXPECT_EQ(answered, int(samples.size()));
    // The copies w0..w2 are flagged (w3's licence allows training), by PDQ and by the second
    // stage, so the comparison covers both.
    EXPECT_GE(flagged, 3) << out;
    std::set<std::string> methods;
    for (const auto& [name, f] : findings) methods.insert(f["method"].get<std::string>());
    EXPECT_TRUE(methods.count("pdq")) << out;
    EXPECT_TRUE(methods.count("local-features")) << out;
  }
}

}  // namespace
}  // namespace imprint
