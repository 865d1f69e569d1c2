// Hash lists from the field: each layout is recognised, imports whole, matches its own media and
// exports back as it came; hostile lists fail line by line, never silently.
//
// Lists are made in the test from the hashes Meta's reference gives for real images and videos
// (../shared/pdq-reference, ../shared/vpdq-reference), in the layouts ThreatExchange, HMA,
// python-threatexchange and the vpdq tools write; the vPDQ lists are read as they are.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <streambuf>

#include "hash_list.h"
#include "test_support.h"

namespace imprint {
namespace {
namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  const std::vector<uint8_t> b = test::read_all(path);
  return std::string(b.begin(), b.end());
}

void write_text(const std::string& path, const std::string& s) {
  test::write_file(path, std::vector<uint8_t>(s.begin(), s.end()));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string cell;
  while (std::getline(ss, cell, sep)) out.push_back(cell);
  return out;
}

// The reference hashes of distinct photos (pdq-reference/expected/full.csv), by image path.
struct ReferenceImage {
  std::string hash, quality, path;
};
std::vector<ReferenceImage> reference_photos() {
  std::vector<ReferenceImage> out;
  std::stringstream ss(slurp(test::shared_dir() + "/pdq-reference/expected/full.csv"));
  std::string line;
  while (std::getline(ss, line)) {
    const std::vector<std::string> c = split(line, ',');
    if (c.size() == 10 && (c[9].find("labelme-subset/") != std::string::npos ||
                           c[9] == "reg-test-input/dih/bridge-1-original.jpg")) {
      out.push_back({c[0], c[1], c[9]});
    }
  }
  return out;
}

struct Rows {
  std::vector<HashListRow> rows;
  Status status;
  std::optional<HashListLayout> layout;
  int entries = 0, skipped = 0, failed = 0;
};
Rows read_list(const std::string& text, std::optional<HashListColumns> columns = std::nullopt) {
  std::istringstream in(text);
  HashListReader reader(in, "list", columns);
  Rows r;
  HashListRow row;
  while (reader.next(&row)) {
    r.rows.push_back(row);
    if (row.outcome == HashListRow::Outcome::kEntry) ++r.entries;
    if (row.outcome == HashListRow::Outcome::kSkipped) ++r.skipped;
    if (row.outcome == HashListRow::Outcome::kFailed) ++r.failed;
  }
  r.status = reader.status();
  r.layout = reader.layout();
  return r;
}

const std::string kH1 = "acecf3355e3125c8e24e2f30e0d4ec4f8482b878b3c34cdbdf063278db275992";
const std::string kH2 = "8fb70f36e1c4181e82fde7d0f80138430e1e31f07b628e31ccbb687e87e1f307";

TEST(HashListReader, RecognisesEachLayoutByItsHeaderOrShape) {
  struct Case {
    std::string text;
    HashListLayout layout;
  };
  const std::vector<Case> cases = {
      {kH1 + "\n", HashListLayout::kBare},
      {kH1 + ",2880742865368386\n", HashListLayout::kHashId},
      {kH1 + ",87,photo.jpg\n", HashListLayout::kHashQualityId},
      {kH1 + ",2880742865368386,2020-07-31T18:47:52+0000,a b\n", HashListLayout::kTeCsv},
      {"0,100," + kH1 + ",0.000\n", HashListLayout::kVpdq},
      {"pdq " + kH1 + "\n", HashListLayout::kPytxSignals},
      {"collab,signal_type,signal_str,category,tags\nS,pdq," + kH1 + ",WORTH_INVESTIGATING,\n",
       HashListLayout::kPytxCsv},
      {"signal_type,signal_value,id\npdq," + kH1 + ",x\n", HashListLayout::kHeaderCsv},
  };
  for (const Case& c : cases) {
    const Rows r = read_list(c.text);
    ASSERT_TRUE(r.status.ok()) << c.text << r.status.message();
    ASSERT_TRUE(r.layout.has_value()) << c.text;
    EXPECT_EQ(hash_list_layout_name(*r.layout), std::string(hash_list_layout_name(c.layout)))
        << c.text;
    ASSERT_EQ(r.entries, 1) << c.text;
    EXPECT_EQ(r.rows[0].entry.hash.to_hex(), kH1) << c.text;
  }
  // The ThreatExchange id is an id, never a quality, whatever its digits.
  const Rows te =
      read_list(kH1 + ",2880742865368386,2020-07-31T18:47:52+0000,disputed media_type_photo\n" +
                kH2 + ",77,2020-07-31T18:47:52+0000,\n");
  ASSERT_EQ(te.entries, 2);
  EXPECT_EQ(te.rows[0].entry.id, "2880742865368386");
  EXPECT_EQ(te.rows[0].entry.quality, 100);
  EXPECT_EQ(te.rows[0].entry.tags, "disputed media_type_photo");
  EXPECT_EQ(te.rows[0].entry.timestamp, "2020-07-31T18:47:52+0000");
  EXPECT_EQ(te.rows[1].entry.id, "77");
  EXPECT_EQ(te.rows[1].entry.quality, 100);
  // vPDQ: frame and quality are read as such, the timestamp kept as written.
  const Rows v = read_list("30,68," + kH1 + ",1.000\n");
  EXPECT_EQ(v.rows[0].entry.frame, 30);
  EXPECT_EQ(v.rows[0].entry.quality, 68);
  EXPECT_EQ(v.rows[0].entry.timestamp, "1.000");
  // Bare lists get ids from the list's name and line.
  EXPECT_EQ(read_list("# comment\n\n" + kH1 + "\n").rows[0].entry.id, "list:3");
}

TEST(HashListReader, SkipsOtherSignalTypesAndFailsBadLinesOneByOne) {
  const Rows pytx = read_list("pdq " + kH1 + "\nvideo_md5 d41d8cd98f00b204e9800998ecf8427e\npdq " +
                              kH2 + "\nurl https://example.com/x\n");
  EXPECT_EQ(pytx.entries, 2);
  EXPECT_EQ(pytx.skipped, 2);
  EXPECT_EQ(pytx.failed, 0);
  const Rows csv = read_list("collab,signal_type,signal_str,category,tags\nS,pdq," + kH1 +
                             ",WORTH_INVESTIGATING,\nS,video_md5,d41d8cd98f00b204e9800998ecf8427e,"
                             "WORTH_INVESTIGATING,\n");
  EXPECT_EQ(csv.entries, 1);
  EXPECT_EQ(csv.skipped, 1);
  EXPECT_EQ(csv.rows[0].entry.collab, "S");
  EXPECT_EQ(csv.rows[0].entry.category, "WORTH_INVESTIGATING");

  // BOM, CRLF, a wrong cell count, a 63-digit hash, a quality out of range: each bad line fails
  // with its line number and the good ones still come through.
  const std::string hostile = "\xEF\xBB\xBF" + kH1 + ",90,a\r\n" + kH2 + ",b\r\n" + kH2.substr(1) +
                              ",90,c\r\n" + kH2 + ",101,d\r\n" + kH2 + ",90,e\r\n";
  const Rows h = read_list(hostile);
  ASSERT_TRUE(h.status.ok()) << h.status.message();
  EXPECT_EQ(*h.layout, HashListLayout::kHashQualityId);
  ASSERT_EQ(h.rows.size(), 5u);
  EXPECT_EQ(h.entries, 2);
  EXPECT_EQ(h.rows[0].entry.id, "a");
  EXPECT_EQ(h.rows[4].entry.id, "e");
  EXPECT_NE(h.rows[1].message.find("list:2: expected 3 cells"), std::string::npos)
      << h.rows[1].message;
  EXPECT_NE(h.rows[2].message.find("list:3: "), std::string::npos);
  EXPECT_NE(h.rows[2].message.find("63"), std::string::npos) << h.rows[2].message;
  EXPECT_NE(h.rows[3].message.find("list:4: quality 101"), std::string::npos) << h.rows[3].message;
  // A 63-digit hash on the first line still fixes the layout by its shape, then fails.
  const Rows short_first = read_list(kH1.substr(1) + "\n" + kH2 + "\n");
  EXPECT_EQ(*short_first.layout, HashListLayout::kBare);
  EXPECT_EQ(short_first.failed, 1);
  EXPECT_EQ(short_first.entries, 1);
}

TEST(HashListReader, AnUnrecognisedLayoutNamesItsLineAndTheLayoutsUnderstood) {
  const Rows r = read_list("# exported\nname,colour,size\nx,y,z\n");
  EXPECT_TRUE(r.rows.empty());
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("list:2: unrecognised hash list layout"), std::string::npos)
      << r.status.message();
  EXPECT_NE(r.status.message().find("FRAME,QUALITY,HASH,TIMESTAMP (vPDQ)"), std::string::npos);
  EXPECT_NE(r.status.message().find("--columns"), std::string::npos);
  // Numbers in the second column do not make an id a quality: five cells is no known shape.
  EXPECT_FALSE(read_list(kH1 + ",1,2,3,4\n").status.ok());
}

TEST(HashListReader, ColumnsOverrideDetection) {
  Result<HashListColumns> c = parse_hash_list_columns("hash=2,id=1,quality=-");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Rows r = read_list("name,pdq\nphoto-1," + kH1 + "\nphoto-2," + kH2 + "\n", *c);
  EXPECT_EQ(*r.layout, HashListLayout::kColumns);
  ASSERT_EQ(r.entries, 2);
  EXPECT_EQ(r.rows[0].entry.id, "photo-1");
  EXPECT_EQ(r.rows[1].entry.hash.to_hex(), kH2);
  EXPECT_FALSE(parse_hash_list_columns("id=1").ok());
  EXPECT_FALSE(parse_hash_list_columns("hash=0").ok());
  EXPECT_FALSE(parse_hash_list_columns("hash=1,colour=2").ok());
}

// Produces `lines` list lines on demand, so the test's own input never sits in memory.
class GeneratedList : public std::streambuf {
 public:
  explicit GeneratedList(int64_t lines) : left_(lines) {}

 protected:
  int_type underflow() override {
    if (left_ == 0) return traits_type::eof();
    --left_;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(left_ * 0x9e3779b97f4a7c15ULL));
    line_ = std::string(hex) + hex + hex + hex + "," + std::to_string(left_) +
            ",2020-07-31T18:47:52+0000,tag\n";
    setg(line_.data(), line_.data(), line_.data() + line_.size());
    return traits_type::to_int_type(line_[0]);
  }

 private:
  int64_t left_;
  std::string line_;
};

int64_t resident_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

TEST(HashListReader, StreamsALongListInFlatMemory) {
  // 1,000,000 lines, 110 MB of text: read through while the reader is alive, the process grows
  // by far less than the list (a reader that kept lines or entries would hold >100 MB).
  constexpr int64_t kLines = 1000000;
  GeneratedList gen(kLines);
  std::istream in(&gen);
  HashListReader reader(in, "long");
  const int64_t before = resident_kib();
  ASSERT_GT(before, 0);
  int64_t entries = 0;
  HashListRow row;
  while (reader.next(&row)) entries += row.outcome == HashListRow::Outcome::kEntry;
  const int64_t after = resident_kib();
  EXPECT_TRUE(reader.status().ok());
  EXPECT_EQ(entries, kLines);
  EXPECT_EQ(reader.lines_read(), kLines);
  EXPECT_LT(after - before, 8 * 1024) << "KiB grown while reading";
}

class HashListCli : public ::testing::Test {
 protected:
  void SetUp() override {
    imprint = test::imprint_binary();
    cat = dir.file("catalog");
    photos = reference_photos();
    ASSERT_EQ(photos.size(), 8u);
  }
  std::string run(const std::string& args, int* rc = nullptr) {
    std::string out;
    const int code = test::run_command(imprint + " " + args + " 2>" + dir.file("err.txt"), &out);
    if (rc) *rc = code;
    return out;
  }
  std::string err() { return slurp(dir.file("err.txt")); }
  nlohmann::json import(const std::string& files, int* rc, const std::string& catalog = "") {
    const std::string out =
        run("import-hashes --catalog " + (catalog.empty() ? cat : catalog) + " " + files, rc);
    return nlohmann::json::parse(out, nullptr, false);
  }
  // The ids of the works the image matches at distance 0.
  std::set<std::string> exact_matches(const std::string& image) {
    const std::string out = run("query --catalog " + cat + " --json --top-k 20 " +
                                test::shared_dir() + "/pdq-reference/images/" + image);
    const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
    std::set<std::string> ids;
    if (!j.is_object()) return ids;
    for (const auto& m : j["matches"]) {
      if (m["distance"] == 0) ids.insert(m["work_id"].get<std::string>());
    }
    return ids;
  }
  test::TempDir dir;
  std::string imprint, cat;
  std::vector<ReferenceImage> photos;
};

TEST_F(HashListCli, ThreatExchangeCsvImportsWholeMatchesItsImagesAndRoundTrips) {
  // HMA 1.0 / ThreatExchange export layout: hash,descriptor id,timestamp,space-separated tags.
  std::string list;
  for (size_t i = 0; i < photos.size(); ++i) {
    list += photos[i].hash + "," + std::to_string(2880742865368386 + i) +
            ",2020-07-31T18:47:52+0000,media_priority_pdq_samples disputed media_type_photo\n";
  }
  write_text(dir.file("pdq.csv"), list);
  int rc = 0;
  const nlohmann::json res = import(dir.file("pdq.csv"), &rc);
  EXPECT_EQ(rc, 0) << err();
  EXPECT_EQ(res, nlohmann::json::parse(R"({"imported":8,"skipped":0,"failed":0})"));
  for (size_t i = 0; i < photos.size(); ++i) {
    EXPECT_TRUE(exact_matches(photos[i].path).count(std::to_string(2880742865368386 + i)))
        << photos[i].path;
  }
  const nlohmann::json shown =
      nlohmann::json::parse(run("works show --catalog " + cat + " 2880742865368386"));
  EXPECT_EQ(shown["list"]["tags"], "media_priority_pdq_samples disputed media_type_photo");
  EXPECT_EQ(shown["list"]["layout"], "te-csv");
  EXPECT_EQ(run("export-hashes --catalog " + cat + " --format te-csv"), list);

  // Importing it again changes nothing and fails nothing; the same id with another hash fails.
  EXPECT_EQ(import(dir.file("pdq.csv"), &rc)["skipped"], 8);
  EXPECT_EQ(rc, 0);
  write_text(dir.file("clash.csv"),
             photos[1].hash + ",2880742865368386,2020-07-31T18:47:52+0000,\n" + photos[0].hash +
                 ",2880742865368386,2020-07-31T18:47:52+0000,\n");
  const nlohmann::json clash = import(dir.file("clash.csv"), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(clash["failed"], 1);
  EXPECT_EQ(clash["skipped"], 1);
  EXPECT_NE(err().find("2880742865368386"), std::string::npos);
}

TEST_F(HashListCli, PythonThreatExchangeCsvAndSignalFilesImportAndRoundTrip) {
  std::string csv = "collab,signal_type,signal_str,category,tags\n";
  std::string signals;
  for (const ReferenceImage& p : photos) {
    csv += "Sample Signals,pdq," + p.hash + ",WORTH_INVESTIGATING,\n";
    signals += "pdq " + p.hash + "\n";
  }
  write_text(dir.file("pdq_samples.csv"), csv);
  int rc = 0;
  EXPECT_EQ(import(dir.file("pdq_samples.csv"), &rc),
            nlohmann::json::parse(R"({"imported":8,"skipped":0,"failed":0})"));
  EXPECT_EQ(rc, 0) << err();
  EXPECT_EQ(exact_matches(photos[3].path).count("pdq_samples:5"), 1u);
  EXPECT_EQ(run("export-hashes --catalog " + cat + " --format pytx-csv"), csv);

  // A signal file with other signal types: those are skipped and counted, not failures.
  const std::string cat2 = dir.file("cat2");
  write_text(dir.file("signals.txt"),
             signals + "video_md5 d41d8cd98f00b204e9800998ecf8427e\n" + "raw_text some words\n");
  EXPECT_EQ(import(dir.file("signals.txt"), &rc, cat2),
            nlohmann::json::parse(R"({"imported":8,"skipped":2,"failed":0})"));
  EXPECT_EQ(rc, 0) << err();
  EXPECT_EQ(run("export-hashes --catalog " + cat2 + " --format pytx"), signals);
  EXPECT_EQ(run("export-hashes --catalog " + cat2 + " --format threatexchange"), signals);
}

TEST_F(HashListCli, ReferenceToolOutputAndBareListsImportWhole) {
  // pdq-photo-hasher's hash,quality,path output and the 1,350-hash haystack, as they are.
  const std::string cli_csv = test::shared_dir() + "/pdq-reference/expected/cli.csv";
  const std::string haystack = test::shared_dir() + "/pdq-reference/haystack.txt";
  int rc = 0;
  const nlohmann::json res = import(cli_csv + " " + haystack, &rc);
  EXPECT_EQ(rc, 0) << err();
  EXPECT_EQ(res, nlohmann::json::parse(R"({"imported":1399,"skipped":0,"failed":0})"));
  const nlohmann::json shown =
      nlohmann::json::parse(run("works show --catalog " + cat + " haystack:1350"));
  EXPECT_EQ(shown["work_id"], "haystack:1350");
  // The plain export is the reference tool's own layout: the list comes back line for line.
  const std::string plain = run("export-hashes --catalog " + cat + " --format plain");
  EXPECT_EQ(plain.substr(0, slurp(cli_csv).size()), slurp(cli_csv));
  // --columns reads a list with its columns in another order, and a header.
  const std::string cat2 = dir.file("cat2");
  std::string swapped = "name,pdq\n";
  for (const ReferenceImage& p : photos) swapped += p.path + "," + p.hash + "\n";
  write_text(dir.file("swapped.csv"), swapped);
  EXPECT_EQ(
      import("--columns hash=2,id=1,quality=- " + dir.file("swapped.csv"), &rc, cat2)["imported"],
      8);
  EXPECT_EQ(rc, 0) << err();
}

TEST_F(HashListCli, HostileListsFailLineByLineAndUnknownLayoutsNameTheLine) {
  std::string list = "\xEF\xBB\xBF";
  for (size_t i = 0; i < photos.size(); ++i) {
    list += photos[i].hash + "," + photos[i].quality + ",photo-" + std::to_string(i) + "\r\n";
  }
  list += photos[0].hash.substr(1) + ",100,short\r\n";  // 63 digits
  list += photos[0].hash + ",photo-x\r\n";              // two cells in a three-cell list
  list += photos[0].hash + "," + photos[0].quality + ",photo-0\r\n";  // listed twice
  write_text(dir.file("hostile.csv"), list);
  int rc = 0;
  const nlohmann::json res = import(dir.file("hostile.csv"), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(res, nlohmann::json::parse(R"({"imported":8,"skipped":1,"failed":2})"));
  EXPECT_NE(err().find("hostile.csv:9: "), std::string::npos) << err();
  EXPECT_NE(err().find("hostile.csv:10: expected 3 cells"), std::string::npos) << err();
  EXPECT_EQ(exact_matches(photos[0].path).count("photo-0"), 1u);

  write_text(dir.file("unknown.csv"), "when,who,what,where,why\n1,2,3,4,5\n");
  const nlohmann::json unknown = import(dir.file("unknown.csv"), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(unknown["failed"], 1);
  EXPECT_EQ(unknown["imported"], 0);
  EXPECT_NE(err().find("unknown.csv:1: unrecognised hash list layout"), std::string::npos) << err();

  // A long list streams through in batches: every line is a work.
  std::ofstream big(dir.file("big.txt"));
  for (int i = 0; i < 30000; ++i) {
    char h[17];
    std::snprintf(h, sizeof h, "%016llx",
                  static_cast<unsigned long long>((i + 1) * 0x9e3779b97f4a7c15ULL));
    big << h << h << h << h << '\n';
  }
  big.close();
  EXPECT_EQ(import(dir.file("big.txt"), &rc, dir.file("cat-big"))["imported"], 30000);
  EXPECT_EQ(rc, 0) << err();
}

std::string vpdq_dir() { return test::shared_dir() + "/vpdq-reference"; }

TEST_F(HashListCli, VpdqListsBecomeVideoWorksThatMatchTheirVideosAndExportFrameForFrame) {
  // Meta's vPDQ hashes of three sample videos, every frame, as the vpdq tools write them.
  const std::vector<std::string> names = {"doorknob-hd-no-bar", "pattern-longer-no-bar",
                                          "chair-19-sd-bar"};
  std::string files;
  for (const std::string& n : names)
    files += " " + vpdq_dir() + "/expected-every-frame/" + n + ".txt";
  int rc = 0;
  const nlohmann::json res = import(files, &rc);
  EXPECT_EQ(rc, 0) << err();
  EXPECT_EQ(res, nlohmann::json::parse(R"({"imported":3,"skipped":0,"failed":0})"));
  for (const std::string& n : names) {
    const nlohmann::json shown =
        nlohmann::json::parse(run("works show --catalog " + cat + " " + n));
    EXPECT_EQ(shown["media"], "video") << n;
    // Frame for frame: frame numbers, qualities, hashes and timestamps come back byte-equal.
    EXPECT_EQ(run("export-hashes --catalog " + cat + " --format vpdq --work " + n),
              slurp(vpdq_dir() + "/expected-every-frame/" + n + ".txt"))
        << n;
  }
  // Each video, queried from its file, finds the work made from its hash list, and so do edits
  // the reference matches (a shorter cut of the pattern clip, the chair at another length).
  const std::vector<std::pair<std::string, std::string>> queries = {
      {"doorknob-hd-no-bar", "doorknob-hd-no-bar"},
      {"pattern-longer-no-bar", "pattern-longer-no-bar"},
      {"chair-19-sd-bar", "chair-19-sd-bar"},
      {"pattern-hd-no-bar", "pattern-longer-no-bar"},
      {"chair-20-sd-bar", "chair-19-sd-bar"}};
  for (const auto& [video, work] : queries) {
    const std::string out =
        run("query --catalog " + cat + " --json " + vpdq_dir() + "/videos/" + video + ".mp4", &rc);
    const nlohmann::json q = nlohmann::json::parse(out, nullptr, false);
    ASSERT_TRUE(q.is_object()) << out << err();
    ASSERT_FALSE(q["matches"].empty()) << video << ": " << out;
    EXPECT_EQ(q["matches"][0]["work_id"], work) << out;
    EXPECT_EQ(q["decision"], "flag") << out;
  }
  // --out-dir writes every video work as NAME.txt.
  run("export-hashes --catalog " + cat + " --format vpdq --out-dir " + dir.file("out"), &rc);
  EXPECT_EQ(rc, 0) << err();
  EXPECT_EQ(slurp(dir.file("out/chair-19-sd-bar.txt")),
            slurp(vpdq_dir() + "/expected-every-frame/chair-19-sd-bar.txt"));
}

TEST_F(HashListCli, HashWritesMetasVpdqLayoutFrameForFrame) {
  int rc = 0;
  const std::string video = vpdq_dir() + "/videos/doorknob-hd-no-bar.mp4";
  EXPECT_EQ(run("hash --format vpdq --seconds-per-hash 0 " + video, &rc),
            slurp(vpdq_dir() + "/expected-every-frame/doorknob-hd-no-bar.txt"));
  EXPECT_EQ(rc, 0) << err();
  EXPECT_EQ(run("hash --format vpdq --seconds-per-hash 1 " + video, &rc),
            slurp(vpdq_dir() + "/expected-1s/doorknob-hd-no-bar.txt"));
  // A video registered from its file exports the same list.
  run("register --catalog " + cat + " --seconds-per-hash 1 --id door " + video, &rc);
  ASSERT_EQ(rc, 0) << err();
  EXPECT_EQ(run("export-hashes --catalog " + cat + " --format vpdq --work door"),
            slurp(vpdq_dir() + "/expected-1s/doorknob-hd-no-bar.txt"));
  run("hash --format vpdq " + test::shared_dir() + "/pdq-reference/images/" + photos[0].path, &rc);
  EXPECT_EQ(rc, 1);
}

}  // namespace
}  // namespace imprint
