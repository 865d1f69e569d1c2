// The scanner as a library (tools/scan, imprint_scan), without the imprint binary: sources and
// the units planned from them, a shard's members read into samples, the report directory's
// journal and what resume keeps of a torn one, and whole scans run in process: sharded and
// merged equal to one run, resumed after a lost unit equal to one run, resumed when complete
// adding nothing. tests/scan_test drives the same through `imprint scan` end to end.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "catalog.h"
#include "scan_journal.h"
#include "scan_pipeline.h"
#include "scan_report.h"
#include "scan_sources.h"
#include "tar_writer.h"
#include "test_support.h"

namespace imprint::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text(const std::string& path) {
  const std::vector<uint8_t> b = test::read_all(path);
  return std::string(b.begin(), b.end());
}

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<ScanUnit> planned(const std::vector<ScanSource>& sources, size_t unit_size) {
  std::vector<ScanUnit> units;
  plan_units(sources, unit_size, [&](ScanUnit&& u) {
    units.push_back(std::move(u));
    return true;
  });
  return units;
}

TEST(ScanSources, EachArgumentIsRecognisedAndAMissingOneStopsTheJob) {
  test::TempDir dir;
  fs::create_directories(dir.file("pics"));
  test::write_file(dir.file("pics/a.png"), test::encode(test::synthetic_photo(64, 48, 1), ".png"));
  test::write_file(dir.file("list.txt"), bytes_of("pics/a.png\n"));
  test::write_tar(dir.file("shard.tar"), {{"k/000.jpg", bytes_of("x"), ""}});
  test::write_tar(dir.file("shard.tar.gz"), {{"k/000.jpg", bytes_of("x"), ""}}, true);
  Result<std::vector<ScanSource>> s =
      classify_sources({dir.file("pics"), dir.file("list.txt"), dir.file("shard.tar"),
                        dir.file("shard.tar.gz"), dir.file("pics/a.png")});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_EQ(s->size(), 5u);
  EXPECT_EQ((*s)[0].kind, SourceKind::kDirectory);
  EXPECT_EQ((*s)[1].kind, SourceKind::kList);
  EXPECT_EQ((*s)[2].kind, SourceKind::kTar);
  EXPECT_EQ((*s)[3].kind, SourceKind::kTar);
  EXPECT_EQ((*s)[4].kind, SourceKind::kFile);
  Result<std::vector<ScanSource>> missing = classify_sources({dir.file("pics"), dir.file("gone")});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("gone"), std::string::npos)
      << missing.status().message();
}

// Units are numbered across the sources in command-line order, a directory is cut in walk
// (sorted) order, each shard is one unit, and the planner stops when asked.
TEST(ScanSources, UnitsAreCutInOrderAndNumberedAcrossSources) {
  test::TempDir dir;
  fs::create_directories(dir.file("pics/sub"));
  const std::vector<std::string> names = {"pics/a.jpg", "pics/b.png", "pics/c.webp",
                                          "pics/sub/d.jpg", "pics/sub/e.gif"};
  for (const std::string& n : names) test::write_file(dir.file(n), bytes_of("not decoded here"));
  test::write_file(dir.file("pics/notes.txt"), bytes_of("not an image"));
  test::write_file(dir.file("list.txt"), bytes_of("pics/b.png\n" + dir.file("pics/a.jpg") + "\n"));
  test::write_tar(dir.file("shard.tar"), {{"k/000.jpg", bytes_of("x"), ""}});
  Result<std::vector<ScanSource>> s =
      classify_sources({dir.file("pics"), dir.file("shard.tar"), dir.file("list.txt")});
  ASSERT_TRUE(s.ok());
  const std::vector<ScanUnit> units = planned(*s, 2);
  ASSERT_EQ(units.size(), 5u);  // 5 images in 3 units, the shard, the list
  for (size_t i = 0; i < units.size(); ++i) EXPECT_EQ(units[i].index, i);
  std::vector<std::string> walked;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(units[i].kind, SourceKind::kDirectory);
    EXPECT_EQ(units[i].chunk, i);
    EXPECT_EQ(units[i].name, dir.file("pics") + "#" + std::to_string(i));
    EXPECT_LE(units[i].paths.size(), 2u);
    for (const InputPath& p : units[i].paths) walked.push_back(p.path);
  }
  std::vector<std::string> expected;
  for (const std::string& n : names) expected.push_back(dir.file(n));
  EXPECT_EQ(walked, expected);  // sorted, recursive, images only
  EXPECT_EQ(units[3].kind, SourceKind::kTar);
  EXPECT_EQ(units[3].tar_path, dir.file("shard.tar"));
  EXPECT_EQ(units[4].kind, SourceKind::kList);
  ASSERT_EQ(units[4].paths.size(), 2u);
  EXPECT_EQ(units[4].paths[0].path, dir.file("pics/b.png"));  // relative to the list's folder
  EXPECT_EQ(units[4].paths[1].path, dir.file("pics/a.jpg"));
  // The same sources plan the same units (shards of one scan agree on every number).
  const std::vector<ScanUnit> again = planned(*s, 2);
  ASSERT_EQ(again.size(), units.size());
  for (size_t i = 0; i < units.size(); ++i) EXPECT_EQ(again[i].name, units[i].name);
  size_t emitted = 0;
  plan_units(*s, 2, [&](ScanUnit&&) { return ++emitted < 2; });
  EXPECT_EQ(emitted, 2u);
}

// A WebDataset shard: members grouped by key, the sidecars' url and caption, and every bad
// member an item with its reason instead of a stop.
TEST(ScanSources, ShardMembersBecomeSamplesWithTheirSidecarsAndReasons) {
  test::TempDir dir;
  const std::vector<uint8_t> jpeg = test::encode(test::synthetic_photo(80, 60, 3), ".jpg");
  test::write_tar(dir.file("shard.tar"),
                  {{"s/000.jpg", jpeg, ""},
                   {"s/000.json", bytes_of(R"({"url": "https://example.org/0.jpg"})"), ""},
                   {"s/000.txt", bytes_of("a caption"), ""},
                   {"s/001.cls", bytes_of("7"), ""},
                   {"s/002.png", std::vector<uint8_t>(5000, 7), ""},
                   {"s/003.jpg", {}, "/etc/passwd"}});
  Result<std::vector<ScanSource>> s = classify_sources({dir.file("shard.tar")});
  ASSERT_TRUE(s.ok());
  const std::vector<ScanUnit> units = planned(*s, 1000);
  ASSERT_EQ(units.size(), 1u);
  std::vector<Sample> samples;
  ReadLimits limits;
  limits.max_member_bytes = 4096;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> bytes{0};
  const UnitReadResult r = read_unit(
      units[0], limits, [&](Sample&& x) { samples.push_back(std::move(x)); }, stop, &bytes);
  EXPECT_TRUE(r.open_error.ok());
  EXPECT_FALSE(r.aborted);
  EXPECT_TRUE(r.unit_errors.empty());
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(r.items, 4u);
  EXPECT_GT(bytes.load(), 0);
  EXPECT_EQ(samples[0].key, "s/000");
  EXPECT_TRUE(samples[0].error.ok());
  EXPECT_EQ(samples[0].bytes, jpeg);
  EXPECT_EQ(samples[0].url, "https://example.org/0.jpg");
  EXPECT_EQ(samples[0].caption, "a caption");
  EXPECT_EQ(error_reason(samples[1].error), "not an image");  // s/001: a class label only
  EXPECT_EQ(error_reason(samples[2].error), "over the byte limit");
  EXPECT_TRUE(samples[2].bytes.empty());  // skipped unread
  EXPECT_FALSE(samples[3].error.ok());    // a link is never followed
  for (size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(samples[i].index, i);

  // Cut inside s/002.png: what came before is read, the damage is the unit's error.
  const auto blocks = [](size_t n) { return 512 + (n + 511) / 512 * 512; };  // header + data
  const size_t cut_at = blocks(jpeg.size()) + blocks(36) + blocks(9) + blocks(1) + 512 + 100;
  const std::vector<uint8_t> whole = test::read_all(dir.file("shard.tar"));
  ASSERT_LT(cut_at, whole.size());
  test::write_file(dir.file("cut.tar"),
                   std::vector<uint8_t>(whole.begin(), whole.begin() + cut_at));
  Result<std::vector<ScanSource>> cut = classify_sources({dir.file("cut.tar")});
  ASSERT_TRUE(cut.ok());
  samples.clear();
  const UnitReadResult rc = read_unit(
      planned(*cut, 1000)[0], limits, [&](Sample&& x) { samples.push_back(std::move(x)); }, stop,
      nullptr);
  EXPECT_FALSE(rc.unit_errors.empty());
  ASSERT_GE(samples.size(), 2u);
  EXPECT_EQ(samples[0].bytes, jpeg);
  EXPECT_EQ(error_reason(samples[1].error), "not an image");
}

// The journal commits units durably; resume drops a torn line and the data written after the
// last whole one, refuses another scan's directory, and a fresh open refuses a used one.
TEST(ScanJournal, ResumeKeepsExactlyTheCommittedUnits) {
  test::TempDir dir;
  const std::string out = dir.file("report");
  const json scan = {{"identity", {{"sources", {"a"}}, {"shard", 0}}}};
  {
    Result<std::unique_ptr<ReportDir>> r = ReportDir::open(out, scan, false);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_TRUE((*r)->commit_unit("{\"unit\":0}\n", "", {{"unit", 0}, {"name", "u0"}}).ok());
    ASSERT_TRUE(
        (*r)->commit_unit("{\"unit\":1}\n", "{\"e\":1}\n", {{"unit", 1}, {"name", "u1"}}).ok());
    // A second writer of the same report is refused while this one holds it.
    Result<std::unique_ptr<ReportDir>> second = ReportDir::open(out, scan, true);
    EXPECT_FALSE(second.ok());
  }
  const std::string findings = read_text(out + "/findings.jsonl");
  const std::string errors = read_text(out + "/errors.jsonl");
  EXPECT_EQ(findings, "{\"unit\":0}\n{\"unit\":1}\n");
  // Killed while committing unit 2: its findings written, its journal line torn.
  {
    std::ofstream(out + "/findings.jsonl", std::ios::app) << "{\"unit\":2}\n";
    std::ofstream(out + "/journal.jsonl", std::ios::app) << "{\"unit\":2,\"na";
  }
  Result<JournalContents> torn = read_journal(out);
  ASSERT_TRUE(torn.ok());
  EXPECT_EQ(torn->units.size(), 2u);
  EXPECT_EQ(torn->commit_order, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(torn->findings_end, int64_t(findings.size()));
  EXPECT_EQ(torn->errors_end, int64_t(errors.size()));
  {
    Result<std::unique_ptr<ReportDir>> r = ReportDir::open(out, scan, true);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_TRUE((*r)->resumed());
    EXPECT_EQ((*r)->journal().units.size(), 2u);
    EXPECT_EQ(read_text(out + "/findings.jsonl"), findings);  // unit 2's line dropped
    ASSERT_TRUE((*r)->commit_unit("{\"unit\":2}\n", "", {{"unit", 2}, {"name", "u2"}}).ok());
  }
  Result<JournalContents> done = read_journal(out);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->commit_order, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(read_text(out + "/findings.jsonl"), findings + "{\"unit\":2}\n");
  // Another scan's identity is refused on resume; a used directory is refused without it.
  json other = scan;
  other["identity"]["sources"] = {"b"};
  EXPECT_FALSE(ReportDir::open(out, other, true).ok());
  EXPECT_FALSE(ReportDir::open(out, scan, false).ok());
  // An empty directory starts fresh even with resume.
  fs::create_directories(dir.file("empty"));
  Result<std::unique_ptr<ReportDir>> fresh = ReportDir::open(dir.file("empty"), scan, true);
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE((*fresh)->resumed());
}

TEST(ScanJournal, AtomicWritesReplaceWholeFiles) {
  test::TempDir dir;
  const std::string path = dir.file("summary.json");
  ASSERT_TRUE(write_file_atomic(path, "first").ok());
  ASSERT_TRUE(write_file_atomic(path, "second, longer").ok());
  EXPECT_EQ(read_text(path), "second, longer");
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename(), "summary.json");  // no temporary left behind
  }
  EXPECT_FALSE(write_file_atomic(dir.file("no/such/dir/x"), "x").ok());
}

// Whole scans in process: a catalog of three works, a folder holding two edited copies among
// unrelated pictures, cut into units of two.
class ScanRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CatalogOptions co;
    co.dir = dir.file("cat");
    co.sync_commits = false;
    Result<std::unique_ptr<Catalog>> c = Catalog::open(co);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    std::vector<WorkInput> inputs;
    for (int i = 0; i < 3; ++i) {
      works.push_back(test::synthetic_photo(320, 240, 700 + i));
      Result<WorkInput> in = work_input_from_image(test::encode(works[i], ".png"));
      ASSERT_TRUE(in.ok());
      in->work.id = "w" + std::to_string(i);
      in->work.owner = "Ana";
      inputs.push_back(std::move(*in));
    }
    for (const auto& r : (*c)->register_works(inputs)) ASSERT_TRUE(r.ok());
    fs::create_directories(dir.file("corpus"));
    // Units of two in walk order: (a, b), (c, d), (e, f); copies in the first and the last.
    test::write_file(dir.file("corpus/a.jpg"), test::encode(works[0], ".jpg", 70));
    test::write_file(dir.file("corpus/e.jpg"), test::encode(works[2], ".jpg", 60));
    for (const char* n : {"b.jpg", "c.jpg", "d.jpg"}) {
      test::write_file(dir.file(std::string("corpus/") + n),
                       test::encode(test::synthetic_photo(300, 200, 900 + n[0]), ".jpg"));
    }
    test::write_file(dir.file("corpus/f.jpg"), bytes_of("not a jpeg"));
  }

  ScanOptions options(const std::string& report) const {
    ScanOptions o;
    o.catalog_dir = dir.file("cat");
    o.report_dir = dir.file(report);
    o.sources = {dir.file("corpus")};
    o.threads = 2;
    o.unit_size = 2;
    o.batch = 2;
    o.progress = ProgressMode::kNone;
    o.handle_signals = false;
    return o;
  }

  test::TempDir dir;
  std::vector<Image> works;
};

TEST_F(ScanRunTest, ShardsMergedEqualOneRun) {
  ASSERT_EQ(run_scan(options("whole")), 0);
  const std::string findings = read_text(dir.file("whole/findings.jsonl"));
  std::set<std::string> hit;
  size_t lines = 0;
  for (size_t at = 0, end; (end = findings.find('\n', at)) != std::string::npos; at = end + 1) {
    const json j = json::parse(findings.substr(at, end - at));
    hit.insert(j["work_id"].get<std::string>());
    EXPECT_EQ(j["decision"], "flag") << j.dump();
    ++lines;
  }
  EXPECT_EQ(lines, 2u);
  EXPECT_EQ(hit, (std::set<std::string>{"w0", "w2"}));
  const json summary = json::parse(read_text(dir.file("whole/summary.json")));
  EXPECT_EQ(summary["complete"], true);
  EXPECT_EQ(summary["totals"]["items"], 6);
  EXPECT_EQ(summary["totals"]["flagged"], 2);
  EXPECT_EQ(summary["totals"]["bad_items"], 1);

  for (size_t i = 0; i < 2; ++i) {
    ScanOptions o = options("shard" + std::to_string(i));
    o.shard_index = i;
    o.shard_count = 2;
    ASSERT_EQ(run_scan(o), 0);
  }
  bool complete = false;
  ASSERT_TRUE(
      merge_reports(dir.file("merged"), {dir.file("shard1"), dir.file("shard0")}, &complete).ok());
  EXPECT_TRUE(complete);
  EXPECT_EQ(read_text(dir.file("merged/findings.jsonl")), findings);
  EXPECT_EQ(read_text(dir.file("merged/errors.jsonl")), read_text(dir.file("whole/errors.jsonl")));
  const json merged = json::parse(read_text(dir.file("merged/summary.json")));
  EXPECT_EQ(merged["totals"], summary["totals"]);
  // One shard alone is not the whole scan.
  ASSERT_TRUE(merge_reports(dir.file("half"), {dir.file("shard0")}, &complete).ok());
  EXPECT_FALSE(complete);
  // Shards of another scan do not merge with these.
  ScanOptions other = options("other");
  other.purpose = Purpose::kCommercial;
  other.shard_count = 2;
  ASSERT_EQ(run_scan(other), 0);
  EXPECT_FALSE(
      merge_reports(dir.file("mixed"), {dir.file("shard1"), dir.file("other")}, &complete).ok());
}

TEST_F(ScanRunTest, ResumeRedoesALostUnitOnceAndAddsNothingWhenComplete) {
  ASSERT_EQ(run_scan(options("r")), 0);
  const std::string findings = read_text(dir.file("r/findings.jsonl"));
  const std::string errors = read_text(dir.file("r/errors.jsonl"));
  const std::string journal = read_text(dir.file("r/journal.jsonl"));
  ASSERT_NE(errors.find("f.jpg"), std::string::npos);
  // Resuming a finished scan scans nothing again.
  ScanOptions o = options("r");
  o.resume = true;
  ASSERT_EQ(run_scan(o), 0);
  EXPECT_EQ(read_text(dir.file("r/findings.jsonl")), findings);
  // As if killed before the last unit (e.jpg, a copy, and f.jpg, not a picture) was journaled,
  // after its findings and errors were written: the journal ends one unit early, the data do not.
  std::vector<std::string> lines;
  for (size_t at = 0, end; (end = journal.find('\n', at)) != std::string::npos; at = end + 1) {
    lines.push_back(journal.substr(at, end - at));
  }
  std::string kept;
  int dropped = 0;
  for (const std::string& l : lines) {
    const json j = json::parse(l);
    if (j.contains("unit") && j["unit"] == 2) {
      ++dropped;
      continue;
    }
    if (j.contains("run")) continue;  // the runs that finished
    kept += l + "\n";
  }
  ASSERT_EQ(dropped, 1);
  test::write_file(dir.file("r/journal.jsonl"), bytes_of(kept));
  ASSERT_EQ(run_scan(o), 0);
  EXPECT_EQ(read_text(dir.file("r/findings.jsonl")), findings);  // e.jpg's finding once
  EXPECT_EQ(read_text(dir.file("r/errors.jsonl")), errors);      // f.jpg's error once
  const json summary = json::parse(read_text(dir.file("r/summary.json")));
  EXPECT_EQ(summary["complete"], true);
  EXPECT_EQ(summary["totals"]["items"], 6);
  EXPECT_EQ(summary["totals"]["flagged"], 2);
}

TEST_F(ScanRunTest, AScanThatCannotRunSaysWhy) {
  ScanOptions o = options("bad");
  o.sources = {dir.file("missing")};
  Status why;
  EXPECT_EQ(run_scan(o, &why), 2);
  EXPECT_NE(why.message().find("missing"), std::string::npos) << why.message();
  o = options("bad2");
  o.catalog_dir = dir.file("no-catalog");
  EXPECT_EQ(run_scan(o, &why), 2);
  EXPECT_FALSE(why.ok());
}

}  // namespace
}  // namespace imprint::cli
