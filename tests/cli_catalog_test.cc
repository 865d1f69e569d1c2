// register / query / works / stats / import-hashes / export-hashes from the command line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "test_support.h"

namespace imprint {
namespace {
namespace fs = std::filesystem;

std::vector<nlohmann::json> json_lines(const std::string& s) {
  std::vector<nlohmann::json> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

class CliCatalog : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir.file("works"));
    fs::create_directories(dir.file("uploads"));
    for (int i = 0; i < 5; ++i) {
      const Image img = test::synthetic_photo(500, 375, 300 + i);
      test::write_file(dir.file("works/art" + std::to_string(i) + ".png"), test::encode(img, ".png"));
      test::write_file(dir.file("uploads/copy" + std::to_string(i) + ".jpg"), test::encode(img, ".jpg", 60));
    }
    test::write_file(dir.file("uploads/unrelated.jpg"), test::encode(test::synthetic_photo(500, 375, 999), ".jpg"));
    imprint = test::imprint_binary();
    cat = dir.file("catalog");
  }
  std::string run(const std::string& args, int* rc = nullptr) {
    std::string out;
    const int code = test::run_command(imprint + " " + args + " 2>" + dir.file("err.txt"), &out);
    if (rc) *rc = code;
    return out;
  }
  test::TempDir dir;
  std::string imprint, cat;
};

TEST_F(CliCatalog, RegisterThenQueryFlagsCopiesWithTheJsonContract) {
  int rc = 0;
  const auto reg = json_lines(run("register --catalog " + cat + " --owner Alice --licensee Acme " + dir.file("works"), &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(reg.size(), 5u);
  EXPECT_EQ(reg[0]["work_id"], "art0");
  EXPECT_EQ(reg[0]["owner"], "Alice");
  EXPECT_EQ(reg[0]["licence"]["ai-training"], "deny");
  EXPECT_EQ(reg[0]["licence"]["commercial"]["licensed"][0], "Acme");

  const auto q = json_lines(run("query --catalog " + cat + " --json --purpose ai-training " + dir.file("uploads"), &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(q.size(), 6u);
  for (const auto& r : q) {
    for (const char* key : {"path", "pdq", "quality", "decision", "matches"}) EXPECT_TRUE(r.contains(key)) << key;
    const std::string path = r["path"];
    if (path.find("unrelated") != std::string::npos) {
      EXPECT_TRUE(r["matches"].empty());
      EXPECT_EQ(r["decision"], "none");
      continue;
    }
    ASSERT_EQ(r["matches"].size(), 1u) << path;
    const auto& m = r["matches"][0];
    for (const char* key : {"work_id", "title", "owner", "distance", "score", "transform", "decision",
                            "flagged", "licence"}) {
      EXPECT_TRUE(m.contains(key)) << key;
    }
    EXPECT_EQ("art" + path.substr(path.size() - 5, 1), m["work_id"]);
    EXPECT_EQ(m["decision"], "flag");
    EXPECT_EQ(m["flagged"], true);
    EXPECT_EQ(m["transform"], "original");
  }
  // Licensed party, commercial purpose: allowed.
  const auto allowed = json_lines(run("query --catalog " + cat + " --json --purpose commercial --licensee Acme " +
                                      dir.file("uploads/copy2.jpg")));
  ASSERT_EQ(allowed.size(), 1u);
  EXPECT_EQ(allowed[0]["decision"], "allow");
  // --min-score 0 --top-k 3 lists the nearest whatever their score.
  const auto nearest = json_lines(run("query --catalog " + cat + " --json --min-score 0 --top-k 3 " +
                                      dir.file("uploads/unrelated.jpg")));
  ASSERT_EQ(nearest.size(), 1u);
  EXPECT_EQ(nearest[0]["matches"].size(), 3u);
  // A hash given directly is a query too.
  const std::string h = reg[1]["pdq"];
  const auto by_hash = json_lines(run("query --catalog " + cat + " --json " + h));
  ASSERT_EQ(by_hash.size(), 1u);
  ASSERT_FALSE(by_hash[0]["matches"].empty());
  EXPECT_EQ(by_hash[0]["matches"][0]["work_id"], "art1");
}

TEST_F(CliCatalog, DuplicatesWorksStatsAndEnvironmentCatalog) {
  int rc = 0;
  run("register --catalog " + cat + " " + dir.file("works"), &rc);
  ASSERT_EQ(rc, 0);
  run("register --catalog " + cat + " " + dir.file("works/art0.png"), &rc);
  EXPECT_EQ(rc, 1);  // duplicate id
  const std::vector<uint8_t> err = test::read_all(dir.file("err.txt"));
  EXPECT_NE(std::string(err.begin(), err.end()).find("already registered"), std::string::npos);
  run("register --catalog " + cat + " --replace --id art0 --title New --meta catalogue=GX-7 " +
          "--meta note=a=b " + dir.file("works/art1.png"),
      &rc);
  EXPECT_EQ(rc, 0);
  const auto shown = nlohmann::json::parse(run("works show --catalog " + cat + " art0"));
  EXPECT_EQ(shown["title"], "New");
  EXPECT_EQ(shown["metadata"], (nlohmann::json{{"catalogue", "GX-7"}, {"note", "a=b"}}));
  run("register --catalog " + cat + " --id art9 --meta novalue " + dir.file("works/art1.png"), &rc);
  EXPECT_EQ(rc, 2);

  std::string out;
  ASSERT_EQ(test::run_command("IMPRINT_CATALOG=" + cat + " " + imprint + " stats --json", &out), 0);
  const auto stats = nlohmann::json::parse(out);
  EXPECT_EQ(stats["works"], 5);
  EXPECT_EQ(stats["index"]["entries"], 5);
  // Holding 16 features a work: the same works, at most 16 features each, less memory.
  std::string some_out;
  ASSERT_EQ(test::run_command(
                "IMPRINT_CATALOG=" + cat + " " + imprint + " stats --json --searched-features 16",
                &some_out),
            0);
  const auto some = nlohmann::json::parse(some_out)["second_stage"];
  const auto all = stats["second_stage"];
  ASSERT_GT(all["works"].get<int>(), 0);
  EXPECT_EQ(some["works"], all["works"]);
  EXPECT_LE(some["features"].get<int>(), 16 * some["works"].get<int>());
  EXPECT_GT(some["features"].get<int>(), 8 * some["works"].get<int>());
  EXPECT_LT(some["features"].get<int>(), all["features"].get<int>() / 4);
  EXPECT_LT(some["memory_bytes"].get<int64_t>(), all["memory_bytes"].get<int64_t>());
  run("stats --catalog " + cat + " --searched-features -1", &rc);
  EXPECT_NE(rc, 0);

  run("works remove --catalog " + cat + " art3", &rc);
  EXPECT_EQ(rc, 0);
  const auto q = json_lines(run("query --catalog " + cat + " --json " + dir.file("uploads/copy3.jpg")));
  ASSERT_EQ(q.size(), 1u);  // answered, with nothing found
  EXPECT_TRUE(q[0]["matches"].empty());
  EXPECT_EQ(json_lines(run("works list --json --catalog " + cat)).size(), 4u);
  run("works remove --catalog " + cat + " art3", &rc);
  EXPECT_EQ(rc, 1);
  run("query --catalog " + dir.file("missing") + " " + dir.file("uploads/copy1.jpg"), &rc);
  EXPECT_EQ(rc, 2);
}

// --deny, --allow, --licensed with --licensee, and --policy (flags applied over the file): what
// register stores, and what query then decides for each purpose and party.
TEST_F(CliCatalog, LicenceFlagsAndPolicyFilesDecideEachPurpose) {
  int rc = 0;
  const auto flags = json_lines(run(
      "register --catalog " + cat + " --deny ai-training --allow any-use " +
          "--licensed commercial --licensee Acme --licensee 'Bo Ltd' " + dir.file("works/art0.png"),
      &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0]["licence"]["ai-training"], "deny");
  EXPECT_EQ(flags[0]["licence"]["any-use"], "allow");
  EXPECT_EQ(flags[0]["licence"]["commercial"]["licensed"], nlohmann::json({"Acme", "Bo Ltd"}));

  const std::string policy =
      R"({"ai-training": "allow", "commercial": "deny", "any-use": {"licensed": ["Zed"]}})";
  test::write_file(dir.file("policy.json"), std::vector<uint8_t>(policy.begin(), policy.end()));
  const auto from_file =
      json_lines(run("register --catalog " + cat + " --policy " + dir.file("policy.json") +
                         " --deny ai-training " + dir.file("works/art1.png"),
                     &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(from_file.size(), 1u);
  EXPECT_EQ(from_file[0]["licence"]["ai-training"], "deny");  // the flag over the file
  EXPECT_EQ(from_file[0]["licence"]["commercial"], "deny");
  EXPECT_EQ(from_file[0]["licence"]["any-use"]["licensed"], nlohmann::json({"Zed"}));

  auto decision = [&](const std::string& upload, const std::string& args) {
    const auto q =
        json_lines(run("query --catalog " + cat + " --json " + args + " " + dir.file(upload)));
    EXPECT_EQ(q.size(), 1u) << upload << " " << args;
    if (q.size() != 1 || q[0]["matches"].size() != 1) return std::string("no single match");
    return q[0]["matches"][0]["decision"].get<std::string>();
  };
  EXPECT_EQ(decision("uploads/copy0.jpg", "--purpose ai-training"), "flag");
  EXPECT_EQ(decision("uploads/copy0.jpg", "--purpose any-use"), "allow");
  EXPECT_EQ(decision("uploads/copy0.jpg", "--purpose commercial --licensee Acme"), "allow");
  EXPECT_EQ(decision("uploads/copy0.jpg", "--purpose commercial --licensee 'Bo Ltd'"), "allow");
  EXPECT_EQ(decision("uploads/copy0.jpg", "--purpose commercial --licensee Other"), "flag");
  EXPECT_EQ(decision("uploads/copy0.jpg", "--purpose commercial"), "flag");
  EXPECT_EQ(decision("uploads/copy1.jpg", "--purpose ai-training"), "flag");
  EXPECT_EQ(decision("uploads/copy1.jpg", "--purpose commercial --licensee Zed"), "flag");
  EXPECT_EQ(decision("uploads/copy1.jpg", "--purpose any-use --licensee Zed"), "allow");
  EXPECT_EQ(decision("uploads/copy1.jpg", "--purpose any-use"), "flag");

  // Mistakes are refused with their reason, and register nothing.
  auto refused = [&](const std::string& args, const std::string& reason) {
    run("register --catalog " + cat + " " + args + " " + dir.file("works/art2.png"), &rc);
    EXPECT_NE(rc, 0) << args;
    const std::vector<uint8_t> err = test::read_all(dir.file("err.txt"));
    EXPECT_NE(std::string(err.begin(), err.end()).find(reason), std::string::npos)
        << args << ": " << std::string(err.begin(), err.end());
  };
  refused("--licensed commercial", "--licensed needs at least one --licensee");
  refused("--deny painting", "painting");
  refused("--policy " + dir.file("missing.json"), "cannot read policy file");
  const std::string bad = R"({"ai-training": "maybe"})";
  test::write_file(dir.file("bad.json"), std::vector<uint8_t>(bad.begin(), bad.end()));
  refused("--policy " + dir.file("bad.json"), "bad.json");
  EXPECT_EQ(json_lines(run("works list --json --catalog " + cat)).size(), 2u);

  // A repeatable flag takes one value per occurrence: the paths after --licensee are works to
  // register, not more licensees (before, art3 and art4 were taken as two parties).
  const auto both = json_lines(run("register --catalog " + cat +
                                       " --licensed commercial --licensee Acme " +
                                       dir.file("works/art3.png") + " " + dir.file("works/art4.png"),
                                   &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(both.size(), 2u);
  for (const auto& w : both) {
    EXPECT_EQ(w["licence"]["commercial"]["licensed"], nlohmann::json({"Acme"}));
  }
  EXPECT_EQ(json_lines(run("works list --json --catalog " + cat)).size(), 4u);
}

// query --record stores flag and allow findings (not misses, not without --record); usage lists
// them by work, owner and time, as JSON and as CSV.
TEST_F(CliCatalog, QueryRecordAndUsageFiltersAndCsv) {
  int rc = 0;
  run("register --catalog " + cat + " --owner Alice " + dir.file("works/art0.png"), &rc);
  ASSERT_EQ(rc, 0);
  run("register --catalog " + cat + " --owner Bob --allow ai-training " +
          dir.file("works/art1.png"),
      &rc);
  ASSERT_EQ(rc, 0);
  run("query --catalog " + cat + " --purpose ai-training " + dir.file("uploads/copy0.jpg"), &rc);
  ASSERT_EQ(rc, 0);
  // Without --record, no records (usage has none to list, or no table yet).
  EXPECT_TRUE(json_lines(run("usage --json --catalog " + cat)).empty());

  run("query --catalog " + cat + " --record --purpose ai-training --reference post-7 " +
          dir.file("uploads/copy0.jpg") + " " + dir.file("uploads/copy1.jpg") + " " +
          dir.file("uploads/unrelated.jpg"),
      &rc);
  ASSERT_EQ(rc, 0);
  const auto all = json_lines(run("usage --json --catalog " + cat, &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(all.size(), 2u);  // the flag and the allow; the unrelated upload found nothing
  std::map<std::string, nlohmann::json> by_work;
  for (const auto& e : all) by_work[e["work_id"].get<std::string>()] = e;
  ASSERT_EQ(by_work.size(), 2u);
  EXPECT_EQ(by_work["art0"]["decision"], "flag");
  EXPECT_EQ(by_work["art0"]["owner"], "Alice");
  EXPECT_EQ(by_work["art1"]["decision"], "allow");
  EXPECT_EQ(by_work["art1"]["owner"], "Bob");
  for (const auto& e : all) {
    EXPECT_EQ(e["purpose"], "ai-training");
    EXPECT_EQ(e["caller"], "cli");
    EXPECT_EQ(e["reference"], "post-7");
    EXPECT_EQ(e["query_sha256"].get<std::string>().size(), 64u);
  }

  auto works_of = [&](const std::string& args) {
    std::set<std::string> ids;
    for (const auto& e : json_lines(run("usage --json --catalog " + cat + " " + args))) {
      ids.insert(e["work_id"].get<std::string>());
    }
    return ids;
  };
  EXPECT_EQ(works_of("--work art0"), std::set<std::string>{"art0"});
  EXPECT_EQ(works_of("--owner Bob"), std::set<std::string>{"art1"});
  EXPECT_EQ(works_of("--owner Nobody"), std::set<std::string>{});
  EXPECT_EQ(works_of("--since 2000-01-01"), (std::set<std::string>{"art0", "art1"}));
  EXPECT_EQ(works_of("--since 2999-01-01"), std::set<std::string>{});
  EXPECT_EQ(json_lines(run("usage --json --catalog " + cat + " --limit 1")).size(), 1u);
  run("usage --catalog " + cat + " --since yesterday", &rc);
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(works_of("--decision allow"), std::set<std::string>{"art1"});
  EXPECT_EQ(works_of("--decision flag"), std::set<std::string>{"art0"});
  EXPECT_EQ(works_of("--until 2000-01-01"), std::set<std::string>{});
  EXPECT_EQ(works_of("--until 2999-01-01"), (std::set<std::string>{"art0", "art1"}));

  // Every event has its own id; a listing read a page of one at a time, newest first, through
  // the cursors is the whole listing reversed (both events were recorded in the same
  // millisecond or nearly: the cursor orders them by time and then by storage).
  std::vector<std::string> forward, paged;
  for (const auto& e : all) forward.push_back(e["event_id"].get<std::string>());
  ASSERT_EQ(forward.size(), 2u);
  EXPECT_FALSE(forward[0].empty());
  EXPECT_NE(forward[0], forward[1]);
  std::string after;
  for (int page = 0; page < 4; ++page) {
    const auto got = json_lines(run("usage --json --newest-first --limit 1 --catalog " + cat +
                                    (after.empty() ? "" : " --after " + after), &rc));
    ASSERT_EQ(rc, 0);
    if (got.empty()) break;
    ASSERT_EQ(got.size(), 1u);
    paged.push_back(got[0]["event_id"].get<std::string>());
    after = got[0]["cursor"].get<std::string>();
  }
  EXPECT_EQ(paged, std::vector<std::string>(forward.rbegin(), forward.rend()));
  run("usage --catalog " + cat + " --after w1.5", &rc);
  EXPECT_EQ(rc, 1);  // not a usage cursor

  // CSV: a header, then one row per event with the same fields.
  const std::string csv = run("usage --csv --catalog " + cat + " --work art1", &rc);
  ASSERT_EQ(rc, 0);
  std::stringstream ss(csv);
  std::string header, row, extra;
  ASSERT_TRUE(std::getline(ss, header));
  EXPECT_EQ(header,
            "time,work_id,owner,decision,purpose,caller,distance,query_sha256,reference,event_id,"
            "request_id");
  ASSERT_TRUE(std::getline(ss, row));
  EXPECT_FALSE(std::getline(ss, extra)) << extra;
  std::vector<std::string> cells;
  std::stringstream rs(row);
  for (std::string c; std::getline(rs, c, ',');) cells.push_back(c);
  ASSERT_GE(cells.size(), 10u) << row;  // the request id, last, is empty: the CLI has none
  EXPECT_EQ(cells[0], by_work["art1"]["time"]);
  EXPECT_EQ(cells[1], "art1");
  EXPECT_EQ(cells[2], "Bob");
  EXPECT_EQ(cells[3], "allow");
  EXPECT_EQ(cells[4], "ai-training");
  EXPECT_EQ(cells[5], "cli");
  EXPECT_EQ(cells[6], std::to_string(by_work["art1"]["distance"].get<int>()));
  EXPECT_EQ(cells[7], by_work["art1"]["query_sha256"]);
  EXPECT_EQ(cells[8], "post-7");
  EXPECT_EQ(cells[9], by_work["art1"]["event_id"]);
}

TEST_F(CliCatalog, ImportAndExportHashLists) {
  int rc = 0;
  const auto reg = json_lines(run("register --catalog " + cat + " " + dir.file("works"), &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(reg.size(), 5u);
  ASSERT_EQ(reg[0]["work_id"], "art0");
  const std::string plain = run("export-hashes --catalog " + cat);
  std::stringstream ss(plain);
  std::string first;
  std::getline(ss, first);
  // HASH,QUALITY,ID: art0's own hash and quality, as register reported them.
  EXPECT_EQ(first, reg[0]["pdq"].get<std::string>() + "," +
                       std::to_string(reg[0]["quality"].get<int>()) + ",art0");
  // Lists in three forms import into a new catalog.
  const std::string te = run("export-hashes --catalog " + cat + " --format threatexchange");
  test::write_file(dir.file("plain.txt"), std::vector<uint8_t>(plain.begin(), plain.end()));
  test::write_file(dir.file("te.txt"), std::vector<uint8_t>(te.begin(), te.end()));
  const std::string csv = "signal_type,signal_value,id\npdq," + first.substr(0, 64) + ",from-csv\nmd5,abc,skipped\n";
  test::write_file(dir.file("hma.csv"), std::vector<uint8_t>(csv.begin(), csv.end()));
  const std::string cat2 = dir.file("cat2");
  const auto res = nlohmann::json::parse(run("import-hashes --catalog " + cat2 + " --owner Lists " +
                                             dir.file("plain.txt") + " " + dir.file("te.txt") + " " +
                                             dir.file("hma.csv"), &rc));
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(res["imported"], 11);  // 5 + 5 + 1
  EXPECT_EQ(res["skipped"], 1);   // the md5 row
  const auto q = json_lines(run("query --catalog " + cat2 + " --json --top-k 20 " + dir.file("uploads/copy0.jpg")));
  ASSERT_EQ(q.size(), 1u);
  std::set<std::string> ids;
  for (const auto& m : q[0]["matches"]) ids.insert(m["work_id"].get<std::string>());
  EXPECT_TRUE(ids.count("art0"));
  EXPECT_TRUE(ids.count("te:1"));
  EXPECT_TRUE(ids.count("from-csv"));
  // A bad line is reported and the rest still import.
  const std::string bad = first + "\nnothex,90,art9\n";
  test::write_file(dir.file("bad.txt"), std::vector<uint8_t>(bad.begin(), bad.end()));
  const auto partial = nlohmann::json::parse(run("import-hashes --catalog " + dir.file("cat3") + " " + dir.file("bad.txt"), &rc));
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(partial["imported"], 1);
  EXPECT_EQ(partial["failed"], 1);
  const std::vector<uint8_t> bad_err = test::read_all(dir.file("err.txt"));
  EXPECT_NE(std::string(bad_err.begin(), bad_err.end()).find("bad.txt:2:"), std::string::npos)
      << std::string(bad_err.begin(), bad_err.end());
  // The good line is in the catalog, as art0 with its hash, and matches art0's copy.
  const auto imported = json_lines(run("works list --json --catalog " + dir.file("cat3")));
  ASSERT_EQ(imported.size(), 1u);
  EXPECT_EQ(imported[0]["work_id"], "art0");
  const auto found = json_lines(
      run("query --catalog " + dir.file("cat3") + " --json " + dir.file("uploads/copy0.jpg")));
  ASSERT_EQ(found.size(), 1u);
  ASSERT_EQ(found[0]["matches"].size(), 1u);
  EXPECT_EQ(found[0]["matches"][0]["work_id"], "art0");
  EXPECT_EQ(found[0]["decision"], "flag");
  // A list whose first line fits no layout is refused whole, naming the line.
  const std::string unknown = "nothex,art9\n" + first + "\n";
  test::write_file(dir.file("unknown.txt"), std::vector<uint8_t>(unknown.begin(), unknown.end()));
  const auto refused = nlohmann::json::parse(run("import-hashes --catalog " + dir.file("cat4") + " " + dir.file("unknown.txt"), &rc));
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(refused["imported"], 0);
  const std::vector<uint8_t> err = test::read_all(dir.file("err.txt"));
  EXPECT_NE(std::string(err.begin(), err.end()).find("unknown.txt:1: unrecognised hash list layout"), std::string::npos);
}

TEST_F(CliCatalog, CorruptJpegsBetweenValidOnesOnOneThreadChangeNothing) {
  // Truncated JPEGs (cut inside the Huffman tables, and right after the header) placed before and
  // between valid files: on one thread, register and query must treat every valid file as they do
  // alone. A thread's decoder used to keep the first error and fail every later JPEG.
  const std::vector<uint8_t> first = test::encode(test::synthetic_photo(640, 480, 77), ".jpg");
  fs::create_directories(dir.file("mixed_works"));
  fs::create_directories(dir.file("mixed_uploads"));
  for (int i = 0; i < 5; ++i) {
    const std::string n = std::to_string(i);
    fs::copy_file(dir.file("works/art" + n + ".png"), dir.file("mixed_works/art" + n + ".png"));
    fs::copy_file(dir.file("uploads/copy" + n + ".jpg"), dir.file("mixed_uploads/copy" + n + ".jpg"));
    const size_t cut = i % 2 ? 200 : 400;
    const std::vector<uint8_t> bad(first.begin(), first.begin() + std::ptrdiff_t(cut));
    test::write_file(dir.file("mixed_works/art" + n + "_bad.jpg"), bad);  // sorts after artN.png
    test::write_file(dir.file("mixed_uploads/copy" + n + "_bad.jpg"), bad);
  }
  // The registered works as JPEGs too, each after a corrupt one.
  for (int i = 0; i < 3; ++i) {
    const Image img = test::synthetic_photo(480, 360, 700 + i);
    test::write_file(dir.file("mixed_works/jpg" + std::to_string(i) + ".jpg"), test::encode(img, ".jpg", 92));
    test::write_file(dir.file("mixed_uploads/jpgcopy" + std::to_string(i) + ".jpg"), test::encode(img, ".jpg", 55));
  }
  test::write_file(dir.file("mixed_works/a_first_bad.jpg"), std::vector<uint8_t>(first.begin(), first.begin() + 400));
  test::write_file(dir.file("mixed_uploads/a_first_bad.jpg"), std::vector<uint8_t>(first.begin(), first.begin() + 400));

  int rc = 0;
  const auto reg = json_lines(run("register --threads 1 --catalog " + cat + " " + dir.file("mixed_works"), &rc));
  EXPECT_EQ(rc, 1);  // the corrupt files failed...
  std::set<std::string> ids;
  for (const auto& r : reg) ids.insert(r["work_id"].get<std::string>());
  // ...and every valid one registered.
  EXPECT_EQ(ids, (std::set<std::string>{"art0", "art1", "art2", "art3", "art4", "jpg0", "jpg1", "jpg2"}));
  const std::vector<uint8_t> err = test::read_all(dir.file("err.txt"));
  const std::string err_text(err.begin(), err.end());
  EXPECT_NE(err_text.find("8 registered, 6 failed"), std::string::npos) << err_text;

  for (const std::string mode : {"exact", "fast"}) {
    SCOPED_TRACE(mode);
    const auto q = json_lines(run("query --threads 1 --mode " + mode + " --json --catalog " + cat + " " +
                                  dir.file("mixed_uploads"), &rc));
    EXPECT_EQ(rc, 1);  // the corrupt uploads are errors
    ASSERT_EQ(q.size(), 8u);
    for (const auto& r : q) {
      const std::string path = r["path"];
      ASSERT_FALSE(r["matches"].empty()) << path;
      EXPECT_EQ(r["decision"], "flag") << path;
      const std::string stem = fs::path(path).stem().string();
      const std::string want = stem.rfind("copy", 0) == 0 ? "art" + stem.substr(4) : "jpg" + stem.substr(7);
      EXPECT_EQ(r["matches"][0]["work_id"], want) << path;
    }
  }
}

}  // namespace
}  // namespace imprint
