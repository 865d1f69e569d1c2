// The catalog end to end through its library interface: registration, matching with licences,
// removal, and the index file's life cycle. Built twice: catalog_test on the directory form and
// catalog_pg_test (IMPRINT_TEST_POSTGRES) on a PostgreSQL database of its own per test; tests of
// the directory form's own files run in the first only.
#include "catalog.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "database.h"
#include "decode.h"
#include "local_features.h"
#include "pg_test_support.h"
#include "test_support.h"
#include "usage_log.h"

// A test about the directory form's own files (its journals, index files, SQLite's locking):
// a test of catalog_test only. In catalog_pg_test (this file on PostgreSQL) its body is compiled
// but never registered, so the suite lists and runs only what applies to it, skipping nothing.
#ifdef IMPRINT_TEST_POSTGRES
#define DIRECTORY_FORM_TEST(name)                       \
  class DirectoryFormOnly_##name : public CatalogTest { \
    [[maybe_unused]] void TestBody() override;          \
  };                                                    \
  void DirectoryFormOnly_##name::TestBody()
#else
#define DIRECTORY_FORM_TEST(name) TEST_F(CatalogTest, name)
#endif

namespace imprint {
namespace {
namespace fs = std::filesystem;

std::unique_ptr<Catalog> open_at(const std::string& dir, bool read_only = false,
                                 IndexKind kind = IndexKind::kAuto) {
  CatalogOptions o;
  o.dir = dir;
  o.read_only = read_only;
  o.index = kind;
  o.sync_commits = false;  // tests exercise logic; durability has its own test
  Result<std::unique_ptr<Catalog>> c = Catalog::open(o);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(*c) : nullptr;
}

WorkInput input_for(const std::vector<uint8_t>& bytes, const std::string& id,
                    const LicencePolicy& licence = {}) {
  Result<WorkInput> in = work_input_from_image(bytes);
  EXPECT_TRUE(in.ok()) << in.status().to_string();
  WorkInput w = *in;
  w.work.id = id;
  w.work.title = "Title of " + id;
  w.work.owner = "Owner " + id.substr(0, 1);
  w.work.licence = licence;
  return w;
}

using test::query_of;

ImageFingerprint hash_query(const PdqHash& h, int quality = 100) {
  ImageFingerprint f;
  f.pdq = {h, quality};
  return f;
}

PdqHash flip_bits(const PdqHash& h, int n) {
  auto w = h.words();
  for (int i = 0; i < n; ++i) w[(i * 37 % 256) >> 6] ^= uint64_t{1} << ((i * 37 % 256) & 63);
  return PdqHash::from_words(w);
}

Image rotate90(const Image& in) {
  Image out(in.height, in.width, 3);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      std::memcpy(out.row(y) + x * 3, in.row(in.height - 1 - x) + y * 3, 3);
    }
  }
  return out;
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 8; ++i) photos.push_back(test::synthetic_photo(480, 360, 100 + i));
#ifdef IMPRINT_TEST_POSTGRES
    where = test::fresh_postgres_database();
#else
    where = dir.file("cat");
#endif
    catalog = open_at(where);
    ASSERT_TRUE(catalog);
    std::vector<WorkInput> inputs;
    for (int i = 0; i < 8; ++i) inputs.push_back(input_for(test::encode(photos[i], ".png"), "w" + std::to_string(i)));
    const auto done = catalog->register_works(inputs);
    for (const auto& r : done) ASSERT_TRUE(r.ok()) << r.status().to_string();
  }

  test::TempDir dir;
  std::string where;  // the catalog: a directory, or a PostgreSQL URI
  std::vector<Image> photos;
  std::unique_ptr<Catalog> catalog;
};

TEST_F(CatalogTest, RecompressedCopyIsFlaggedAndUnrelatedIsNot) {
  const auto results = catalog->match(
      std::vector{query_of(test::encode(photos[3], ".jpg", 40)),
                  query_of(test::encode(test::synthetic_photo(480, 360, 999), ".jpg"))},
      MatchOptions{});
  ASSERT_EQ(results.size(), 2u);
  ASSERT_FALSE(results[0].matches.empty());
  const Candidate& c = results[0].matches[0];
  EXPECT_EQ(c.work.id, "w3");
  EXPECT_EQ(c.work.title, "Title of w3");
  EXPECT_EQ(c.method, "pdq");
  EXPECT_LE(c.distance, kPdqMatchDistance);
  EXPECT_GT(c.score, 0.5);
  EXPECT_EQ(c.decision, MatchDecision::kFlag);  // default licence denies every purpose
  EXPECT_EQ(results[0].decision, MatchDecision::kFlag);
  EXPECT_TRUE(results[1].matches.empty());
  EXPECT_EQ(results[1].decision, MatchDecision::kNone);
}

TEST_F(CatalogTest, RotatedAndMirroredCopiesMatchAndNameTheTransform) {
  const Image r90 = rotate90(photos[5]);
  Image mirror = photos[6];
  for (int y = 0; y < mirror.height; ++y) {
    for (int x = 0; x < mirror.width / 2; ++x) {
      for (int k = 0; k < 3; ++k) std::swap(mirror.row(y)[x * 3 + k], mirror.row(y)[(mirror.width - 1 - x) * 3 + k]);
    }
  }
  const auto results = catalog->match(
      std::vector{query_of(test::encode(r90, ".jpg", 85)), query_of(test::encode(mirror, ".jpg", 85))},
      MatchOptions{});
  ASSERT_FALSE(results[0].matches.empty());
  EXPECT_EQ(results[0].matches[0].work.id, "w5");
  const Dihedral t = results[0].matches[0].transform;
  EXPECT_TRUE(t == Dihedral::kRotate90 || t == Dihedral::kRotate270) << dihedral_name(t);
  ASSERT_FALSE(results[1].matches.empty());
  EXPECT_EQ(results[1].matches[0].work.id, "w6");
  EXPECT_EQ(results[1].matches[0].transform, Dihedral::kFlipY);
}

TEST_F(CatalogTest, LicenceDecidesFlagOrAllowPerPurposeAndLicensee) {
  LicencePolicy p;
  p.set(Purpose::kCommercial, {Permission::kLicensed, {"Acme"}});
  p.set(Purpose::kAnyUse, {Permission::kAllow, {}});
  const auto bytes = test::encode(test::synthetic_photo(400, 300, 555), ".png");
  ASSERT_TRUE(catalog->register_works(std::vector{input_for(bytes, "licensed", p)})[0].ok());
  const ImageFingerprint q = query_of(test::encode(test::synthetic_photo(400, 300, 555), ".jpg", 70));
  struct Case {
    Purpose purpose;
    std::string licensee;
    MatchDecision want;
  };
  for (const Case& c : {Case{Purpose::kCommercial, "Acme", MatchDecision::kAllow},
                        Case{Purpose::kCommercial, "Mallory", MatchDecision::kFlag},
                        Case{Purpose::kCommercial, "", MatchDecision::kFlag},
                        Case{Purpose::kAiTraining, "Acme", MatchDecision::kFlag},
                        Case{Purpose::kAnyUse, "", MatchDecision::kAllow}}) {
    MatchOptions o;
    o.purpose = c.purpose;
    o.licensee = c.licensee;
    const auto r = catalog->match(std::vector{q}, o);
    ASSERT_FALSE(r[0].matches.empty());
    EXPECT_EQ(r[0].matches[0].work.id, "licensed");
    EXPECT_EQ(r[0].matches[0].decision, c.want) << purpose_name(c.purpose) << " by " << c.licensee;
  }
}

TEST_F(CatalogTest, ReviewBandWeakQueriesAndNearestMode) {
  Result<Work> w = catalog->get_work("w2");
  ASSERT_TRUE(w.ok());
  Result<ImageFingerprint> fp = fingerprint_image(test::encode(photos[2], ".png"), HashOptions{});
  ASSERT_TRUE(fp.ok());
  const PdqHash h = fp->pdq.hash;
  const auto r = catalog->match(std::vector{hash_query(flip_bits(h, 20)), hash_query(flip_bits(h, 35)),
                                            hash_query(flip_bits(h, 45)), hash_query(flip_bits(h, 5), 30)},
                                MatchOptions{});
  ASSERT_EQ(r[0].matches.size(), 1u);
  EXPECT_EQ(r[0].matches[0].distance, 20);
  EXPECT_EQ(r[0].decision, MatchDecision::kFlag);
  ASSERT_EQ(r[1].matches.size(), 1u);
  EXPECT_EQ(r[1].matches[0].distance, 35);
  EXPECT_EQ(r[1].decision, MatchDecision::kReview);
  EXPECT_LT(r[1].matches[0].score, 0.5);
  EXPECT_TRUE(r[2].matches.empty());  // beyond the review band: not listed by default
  ASSERT_EQ(r[3].matches.size(), 1u);  // weak query: reported...
  EXPECT_TRUE(r[3].weak);
  EXPECT_EQ(r[3].matches[0].decision, MatchDecision::kNone);  // ...never flagged
  EXPECT_EQ(r[3].decision, MatchDecision::kNone);
  // Each decision's explanation: the distance against the match line (31) and the review band's
  // edge (39), and for the weak query the reason it was not acted on.
  const MatchExplanation& copy = r[0].matches[0].why;
  EXPECT_STREQ(copy.measure, "pdq-distance");
  EXPECT_EQ(copy.evidence, Evidence::kCopy);
  EXPECT_DOUBLE_EQ(copy.value, 20);
  EXPECT_DOUBLE_EQ(copy.match_line, kPdqMatchDistance);
  EXPECT_DOUBLE_EQ(copy.review_line, kPdqMatchDistance + MatchOptions{}.review_band);
  EXPECT_EQ(copy.permission, Permission::kDeny);
  EXPECT_EQ(r[1].matches[0].why.evidence, Evidence::kNearMiss);
  EXPECT_DOUBLE_EQ(r[1].matches[0].why.value, 35);
  EXPECT_TRUE(r[3].matches[0].why.weak_query);
  EXPECT_EQ(r[3].matches[0].why.evidence, Evidence::kNone);

  MatchOptions nearest;
  nearest.min_score = 0;
  nearest.top_k = 5;
  const auto n = catalog->match(std::vector{hash_query(flip_bits(h, 45))}, nearest);
  ASSERT_EQ(n[0].matches.size(), 5u);
  EXPECT_EQ(n[0].matches[0].work.id, "w2");
  EXPECT_EQ(n[0].matches[0].distance, 45);
  for (size_t i = 1; i < n[0].matches.size(); ++i) {
    EXPECT_LE(n[0].matches[i - 1].distance, n[0].matches[i].distance);
  }
}

TEST_F(CatalogTest, ExactByteCopiesOfTinyOrFlatImagesAreReported) {
  Image flat(3, 3, 3);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 77);
  const auto bytes = test::encode(flat, ".png");
  ASSERT_TRUE(catalog->register_works(std::vector{input_for(bytes, "tiny")})[0].ok());
  Image other(3, 3, 3);
  std::fill(other.pixels.begin(), other.pixels.end(), 78);
  HashOptions ho;
  ho.dihedral = true;
  const auto r = catalog->match(std::vector{*fingerprint_image(bytes, ho),
                                            *fingerprint_image(test::encode(other, ".png"), ho)},
                                MatchOptions{});
  ASSERT_EQ(r[0].matches.size(), 1u);
  EXPECT_EQ(r[0].matches[0].work.id, "tiny");
  EXPECT_EQ(r[0].matches[0].method, "sha256");
  EXPECT_EQ(r[0].matches[0].decision, MatchDecision::kFlag);
  EXPECT_TRUE(r[0].weak);
  // The same bytes are a copy whatever the weak hash says.
  EXPECT_STREQ(r[0].matches[0].why.measure, "same-bytes");
  EXPECT_EQ(r[0].matches[0].why.evidence, Evidence::kCopy);
  // A different flat image: weak hashes are not indexed, so nothing matches it.
  EXPECT_TRUE(r[1].matches.empty());
}

TEST_F(CatalogTest, DuplicateIdsFailUnlessReplaced) {
  const auto again = catalog->register_works(std::vector{input_for(test::encode(photos[7], ".png"), "w1")});
  ASSERT_FALSE(again[0].ok());
  EXPECT_EQ(again[0].status().code(), StatusCode::kAlreadyExists);
  // A batch with one duplicate registers the rest.
  const auto mixed = catalog->register_works(std::vector{
      input_for(test::encode(test::synthetic_photo(300, 300, 31), ".png"), "fresh"),
      input_for(test::encode(photos[0], ".png"), "w0")});
  EXPECT_TRUE(mixed[0].ok());
  EXPECT_FALSE(mixed[1].ok());
  // Replace w1 with a different picture: the old picture no longer matches w1.
  const auto replaced = catalog->register_works(
      std::vector{input_for(test::encode(test::synthetic_photo(300, 300, 77), ".png"), "w1")}, true);
  ASSERT_TRUE(replaced[0].ok());
  const auto r = catalog->match(std::vector{query_of(test::encode(photos[1], ".png"))}, MatchOptions{});
  EXPECT_TRUE(r[0].matches.empty());
  const auto r2 = catalog->match(
      std::vector{query_of(test::encode(test::synthetic_photo(300, 300, 77), ".jpg"))}, MatchOptions{});
  ASSERT_FALSE(r2[0].matches.empty());
  EXPECT_EQ(r2[0].matches[0].work.id, "w1");
}

// Issue 25: a work's own fields come back as registered, from lookups, listings and matches; a
// retry must carry the same; limits are checked.
TEST_F(CatalogTest, WorkMetadataIsKeptAndReturnedEverywhere) {
  const Image photo = test::synthetic_photo(320, 240, 91);
  WorkInput in = input_for(test::encode(photo, ".png"), "meta");
  in.work.metadata = {{"catalogue", "GX-1182"}, {"rights-url", "https://example.org/r/1182"},
                      {"note", "caf\xc3\xa9"}};
  ASSERT_TRUE(catalog->register_works(std::vector{in})[0].ok());
  EXPECT_EQ(catalog->get_work("meta")->metadata, in.work.metadata);
  bool listed = false;
  ASSERT_TRUE(catalog->list_works({}, [&](const Work& w) {
    if (w.id == "meta") listed = w.metadata == in.work.metadata;
    return true;
  }).ok());
  EXPECT_TRUE(listed);
  const auto r = catalog->match(std::vector{query_of(test::encode(photo, ".jpg", 80))}, MatchOptions{});
  ASSERT_FALSE(r[0].matches.empty());
  EXPECT_EQ(r[0].matches[0].work.metadata.at("catalogue"), "GX-1182");
  EXPECT_TRUE(*catalog->holds_registration(in));
  WorkInput other = in;
  other.work.metadata["catalogue"] = "GX-1183";
  EXPECT_FALSE(*catalog->holds_registration(other));
  // Limits: entries, key and value sizes, UTF-8.
  for (auto spoil : {+[](WorkInput* w) {
                       for (int i = 0; i < 65; ++i) w->work.metadata["k" + std::to_string(i)] = "v";
                     },
                     +[](WorkInput* w) { w->work.metadata[""] = "v"; },
                     +[](WorkInput* w) { w->work.metadata[std::string(129, 'k')] = "v"; },
                     +[](WorkInput* w) { w->work.metadata["k"] = std::string(4097, 'v'); },
                     +[](WorkInput* w) { w->work.metadata["k"] = "\xff"; }}) {
    WorkInput bad = input_for(test::encode(test::synthetic_photo(320, 240, 92), ".png"), "bad");
    spoil(&bad);
    const auto done = catalog->register_works(std::vector{bad});
    EXPECT_EQ(done[0].status().code(), StatusCode::kInvalidArgument) << done[0].status().to_string();
  }
}

// A catalog made before works had metadata opens: written to, it gains the column; read-only,
// its works read with none.
DIRECTORY_FORM_TEST(CatalogsWithoutMetadataOpenReadOnlyAndGainItWhenWritten) {
  catalog.reset();
  {
    Result<detail::Database> db = detail::Database::open(dir.file("cat") + "/catalog.sqlite", false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("ALTER TABLE works DROP COLUMN metadata").ok());
  }
  auto reader = open_at(dir.file("cat"), /*read_only=*/true);
  ASSERT_TRUE(reader);
  Result<Work> w = reader->get_work("w1");
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  EXPECT_TRUE(w->metadata.empty());
  // A listing of such a catalog (an export or a copy) reads the works' fields and no metadata.
  size_t listed = 0;
  ASSERT_TRUE(reader->list_fingerprints("pdq", [&](const Work& lw, const WorkFingerprint&) {
    Result<Work> got = reader->get_work(lw.id);
    EXPECT_TRUE(got.ok()) << lw.id;
    if (got.ok()) {
      EXPECT_EQ(lw.pk, got->pk);
      EXPECT_EQ(lw.title, got->title);
      EXPECT_EQ(lw.licence, got->licence);
    }
    EXPECT_TRUE(lw.metadata.empty());
    ++listed;
    return true;
  }).ok());
  EXPECT_GE(listed, 1u);
  reader.reset();
  catalog = open_at(dir.file("cat"));
  ASSERT_TRUE(catalog);
  WorkInput in = input_for(test::encode(test::synthetic_photo(320, 240, 93), ".png"), "later");
  in.work.metadata = {{"k", "v"}};
  ASSERT_TRUE(catalog->register_works(std::vector{in})[0].ok());
  EXPECT_EQ(catalog->get_work("later")->metadata, in.work.metadata);
  EXPECT_TRUE(catalog->get_work("w1")->metadata.empty());
}

// Fingerprints are listed a page at a time (1024 rows): across pages every row comes once, in
// row order, and a listing can stop early.
TEST_F(CatalogTest, FingerprintListingsCrossPagesInOrder) {
  std::vector<WorkInput> many;
  for (int i = 0; i < 1100; ++i) {
    WorkInput in;
    in.work.id = "h" + std::to_string(i);
    in.work.metadata = {{"n", std::to_string(i)}};
    in.fingerprints.push_back(WorkFingerprint::pdq(
        PdqHash::from_words({uint64_t(i) * 0x9e3779b97f4a7c15ull, uint64_t(i) + 1, 3, 4}), 100));
    many.push_back(std::move(in));
  }
  for (const Result<Work>& r : catalog->register_works(many)) ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::vector<std::string> ids;
  ASSERT_TRUE(catalog->list_fingerprints("pdq", [&](const Work& w, const WorkFingerprint& f) {
    EXPECT_EQ(f.kind, "pdq");
    if (w.id[0] == 'h') {
      EXPECT_EQ(w.metadata.at("n"), w.id.substr(1));
    }
    ids.push_back(w.id);
    return true;
  }).ok());
  ASSERT_EQ(ids.size(), 1100u + 8u);  // and the fixture's eight works
  for (int i = 0; i < 1100; ++i) EXPECT_EQ(ids[8 + size_t(i)], "h" + std::to_string(i));
  int seen = 0;
  ASSERT_TRUE(catalog->list_fingerprints("pdq", [&](const Work&, const WorkFingerprint&) {
    return ++seen < 1030;
  }).ok());
  EXPECT_EQ(seen, 1030);
}

TEST_F(CatalogTest, InvalidInputsAreRejected) {
  WorkInput bad = input_for(test::encode(photos[0], ".png"), "");
  EXPECT_EQ(catalog->register_works(std::vector{bad})[0].status().code(), StatusCode::kInvalidArgument);
  bad.work.id = "tab\tid";
  EXPECT_FALSE(catalog->register_works(std::vector{bad})[0].ok());
  // The work's own fields, checked as the server checks a request (the same function): blank ids,
  // text that is not UTF-8 (which no JSON answer could carry) or past its limit, named.
  const std::pair<std::function<void(Work*)>, std::string> spoiled[] = {
      {[](Work* w) { w->id = "  "; }, "work id: empty or blank"},
      {[](Work* w) { w->id = std::string(513, 'i'); }, "work id: 513 bytes, over the limit of 512"},
      {[](Work* w) { w->id = "caf\xe9"; }, "work id: not valid UTF-8"},
      {[](Work* w) { w->title = "\xff"; }, "work t: title: not valid UTF-8"},
      {[](Work* w) { w->owner = std::string(1025, 'o'); }, "work t: owner: 1025 bytes, over the limit of 1024"},
      {[](Work* w) { w->source = "\xc3"; }, "work t: source: not valid UTF-8"},
      {[](Work* w) { w->media = "audio"; }, "work t: media: must be image or video"},
  };
  for (const auto& [spoil, message] : spoiled) {
    WorkInput b = input_for(test::encode(photos[0], ".png"), "t");
    spoil(&b.work);
    const Status st = catalog->register_works(std::vector{b})[0].status();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << message;
    EXPECT_EQ(st.message(), message);
  }
  EXPECT_FALSE(catalog->get_work("t").ok());
  bad.work.id = "shortfp";
  bad.fingerprints[0].data.resize(10);
  EXPECT_FALSE(catalog->register_works(std::vector{bad})[0].ok());
  EXPECT_FALSE(catalog->get_work("shortfp").ok());
}

TEST_F(CatalogTest, RemovalStopsMatchingAtOnceAndDurably) {
  const ImageFingerprint q = query_of(test::encode(photos[4], ".jpg", 80));
  ASSERT_FALSE(catalog->match(std::vector{q}, MatchOptions{})[0].matches.empty());
  ASSERT_TRUE(catalog->remove_work("w4").ok());
  EXPECT_TRUE(catalog->match(std::vector{q}, MatchOptions{})[0].matches.empty());
  EXPECT_EQ(catalog->remove_work("w4").code(), StatusCode::kNotFound);
  catalog.reset();
  auto reopened = open_at(where);
  EXPECT_TRUE(reopened->match(std::vector{q}, MatchOptions{})[0].matches.empty());
  EXPECT_EQ(reopened->get_work("w4").status().code(), StatusCode::kNotFound);
}

DIRECTORY_FORM_TEST(IndexFileIsLoadedCaughtUpOrRebuilt) {
  const ImageFingerprint q3 = query_of(test::encode(photos[3], ".jpg", 60));
  catalog.reset();  // saves pdq.index
  const std::string index = dir.file("cat") + "/pdq.index";
  ASSERT_TRUE(fs::exists(index));
  auto c = open_at(dir.file("cat"));
  EXPECT_EQ(c->index_origin(), "loaded");

  // Keep this index file, then change the database behind its back.
  fs::copy_file(index, dir.file("old.index"));
  const auto extra = test::synthetic_photo(480, 360, 4242);
  ASSERT_TRUE(c->register_works(std::vector{input_for(test::encode(extra, ".png"), "late")})[0].ok());
  ASSERT_TRUE(c->remove_work("w3").ok());
  c.reset();
  fs::copy_file(dir.file("old.index"), index, fs::copy_options::overwrite_existing);
  c = open_at(dir.file("cat"));
  EXPECT_EQ(c->index_origin(), "caught-up");
  EXPECT_TRUE(c->match(std::vector{q3}, MatchOptions{})[0].matches.empty());
  const auto late = c->match(std::vector{query_of(test::encode(extra, ".jpg", 70))}, MatchOptions{});
  ASSERT_FALSE(late[0].matches.empty());
  EXPECT_EQ(late[0].matches[0].work.id, "late");
  c.reset();

  // Corrupt one byte: rebuilt from the database, same answers.
  std::vector<uint8_t> b = test::read_all(index);
  b[b.size() / 2] ^= 0xff;
  test::write_file(index, b);
  c = open_at(dir.file("cat"));
  EXPECT_EQ(c->index_origin(), "rebuilt");
  EXPECT_TRUE(c->match(std::vector{q3}, MatchOptions{})[0].matches.empty());
  EXPECT_EQ(c->match(std::vector{query_of(test::encode(extra, ".jpg", 70))}, MatchOptions{})[0].matches[0].work.id, "late");
  c.reset();
  fs::remove(index);
  c = open_at(dir.file("cat"));
  EXPECT_EQ(c->index_origin(), "rebuilt");
  Result<CatalogStats> s = c->stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->works, 8);  // 8 + late - w3
  EXPECT_EQ(s->index_entries, 8u);
}

DIRECTORY_FORM_TEST(OneWriterAtATimeAndReadersAlongside) {
  CatalogOptions o;
  o.dir = dir.file("cat");
  Result<std::unique_ptr<Catalog>> second = Catalog::open(o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("open for writing by another process"), std::string::npos);
  auto reader = open_at(dir.file("cat"), /*read_only=*/true);
  ASSERT_TRUE(reader);
  EXPECT_FALSE(reader->register_works(std::vector{input_for(test::encode(photos[0], ".png"), "x")})[0].ok());
  // The reader sees works committed by the writer when it opened.
  EXPECT_TRUE(reader->get_work("w7").ok());
  o.dir = dir.file("nothing-here");
  o.read_only = true;
  EXPECT_EQ(Catalog::open(o).status().code(), StatusCode::kNotFound);
}

TEST_F(CatalogTest, EveryIndexKindGivesTheSameMatches) {
  catalog.reset();
  std::vector<ImageFingerprint> queries;
  for (int i = 0; i < 8; ++i) queries.push_back(query_of(test::encode(photos[i], ".jpg", 50)));
  std::vector<std::string> reference;
  for (IndexKind k : {IndexKind::kFlat, IndexKind::kMih, IndexKind::kFaissFlat, IndexKind::kFaissMih}) {
    auto c = open_at(where, true, k);
    std::vector<std::string> got;
    for (const auto& r : c->match(queries, MatchOptions{})) {
      got.push_back(r.matches.empty() ? "-" : r.matches[0].work.id + "@" + std::to_string(r.matches[0].distance));
    }
    if (reference.empty()) {
      reference = got;
      for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i].substr(0, got[i].find('@')), "w" + std::to_string(i));
    } else {
      EXPECT_EQ(got, reference) << index_kind_name(k);
    }
  }
}

// An index holding a share of each work's features (FeatureIndexOptions::searched_per_work)
// verifies with the stored features, read from the read connection while the index lock is held
// shared. Matchers doing that while a writer registers and removes works (which takes the index
// lock exclusively) find their works every time; under ThreadSanitizer this is the race and
// lock-order test of that path.
TEST_F(CatalogTest, PartialFeatureIndexVerifiesFromStorageWhileWorksChange) {
  catalog.reset();
  CatalogOptions o;
  o.dir = where;
  o.sync_commits = false;
  o.feature_index_options.searched_per_work = 64;
  Result<std::unique_ptr<Catalog>> opened = Catalog::open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  catalog = std::move(*opened);
  Result<CatalogStats> st = catalog->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->features, 64 * st->feature_works);
  // Half of each of three works, off-centre: only local features find them.
  std::vector<ImageFingerprint> queries;
  std::vector<Image> pixels;
  for (int i = 0; i < 3; ++i) {
    const Image crop =
        test::image_of(test::mat_of(photos[size_t(i)])(cv::Rect(120, 90, 330, 250)).clone());
    const std::vector<uint8_t> jpg = test::encode(crop, ".jpg", 90);
    queries.push_back(query_of(jpg));
    pixels.push_back(*decode_image(jpg));
  }
  std::vector<WorkInput> later;
  for (int i = 0; i < 4; ++i) {
    later.push_back(input_for(test::encode(test::synthetic_photo(320, 240, 400 + i), ".png"),
                              "late" + std::to_string(i)));
  }
  std::atomic<int> matcher_errors{0}, writer_errors{0};
  auto matcher = [&](int offset) {
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < 3; ++i) {
        const size_t q = size_t((i + offset) % 3);
        const QueryPixelSource source = [&](size_t) -> Result<Image> { return pixels[q]; };
        const std::vector<QueryResult> r =
            catalog->match(std::span(&queries[q], 1), MatchOptions{}, source);
        if (r[0].matches.empty() || r[0].matches[0].work.id != "w" + std::to_string(q) ||
            r[0].matches[0].method != kLocalFeaturesMethod ||
            r[0].matches[0].decision != MatchDecision::kFlag) {
          ADD_FAILURE() << "query " << q << ": "
                        << (r[0].matches.empty()
                                ? std::string("nothing found")
                                : r[0].matches[0].work.id + " by " + r[0].matches[0].method);
          ++matcher_errors;
        }
      }
    }
  };
  auto writer = [&] {
    for (size_t i = 0; i < later.size(); ++i) {
      if (!catalog->register_works(std::span(&later[i], 1))[0].ok()) ++writer_errors;
      if (i % 2 == 1 && !catalog->remove_work(later[i].work.id).ok()) ++writer_errors;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(matcher, 0);
  threads.emplace_back(matcher, 1);
  threads.emplace_back(writer);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(matcher_errors.load(), 0);
  EXPECT_EQ(writer_errors.load(), 0);
  st = catalog->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->feature_works, 8u + 2);
}

// What a server does at once: matching (with the exact-bytes lookup on the read connection),
// registering and removing works, recording usage and listing it. Every thread checks what it
// got; run under ThreadSanitizer this is the catalog's and the usage log's race test.
TEST_F(CatalogTest, MatchRegisterRemoveAndUsageRunTogether) {
  Result<std::unique_ptr<UsageLog>> opened = UsageLog::open(where, false);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  UsageLog& usage = **opened;
  std::vector<ImageFingerprint> queries;
  for (int i = 0; i < 8; ++i) queries.push_back(query_of(test::encode(photos[i], ".png")));
  std::vector<WorkInput> later;
  for (int i = 0; i < 9; ++i) {
    later.push_back(input_for(test::encode(test::synthetic_photo(200, 150, 300 + i), ".png"),
                              "late" + std::to_string(i)));
  }

  std::atomic<int> recorded{0}, matcher_errors{0}, registrar_errors{0}, lister_errors{0};
  std::atomic<bool> registering{true};
  auto matcher = [&](int offset) {
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 8; ++i) {
        const int q = (i + offset) % 8;
        const std::vector<QueryResult> r = catalog->match(std::span(&queries[size_t(q)], 1), MatchOptions{});
        if (r[0].matches.empty() || r[0].matches[0].work.id != "w" + std::to_string(q)) {
          ++matcher_errors;
          continue;
        }
        std::vector<UsageEvent> events;
        append_usage_events(std::span<const Candidate>(r[0].matches), UsageContext{}, &events);
        if (events.empty() || !usage.record(events).ok()) ++matcher_errors;
        recorded += int(events.size());
      }
    }
  };
  // Each new work is found at once, and each third is removed and gone at once.
  auto registrar = [&] {
    for (size_t i = 0; i < later.size(); ++i) {
      const WorkInput& in = later[i];
      if (!catalog->register_works(std::span(&in, 1))[0].ok()) ++registrar_errors;
      const PdqHash h = PdqHash::from_bytes(in.fingerprints[0].data.data());
      const std::vector<QueryResult> r =
          catalog->match(std::vector{hash_query(h, in.fingerprints[0].quality)}, MatchOptions{});
      if (r[0].matches.empty() || r[0].matches[0].work.id != in.work.id) ++registrar_errors;
      if (i % 3 == 2) {
        if (!catalog->remove_work(in.work.id).ok() || catalog->get_work(in.work.id).ok()) ++registrar_errors;
      }
    }
    registering = false;
  };
  // Listings never shrink while others write.
  auto lister = [&] {
    size_t last_events = 0;
    do {
      usage.flush();
      size_t n = 0;
      if (!usage.list({}, [&](const UsageEvent&) { return ++n > 0; }).ok() || n < last_events) ++lister_errors;
      last_events = n;
      int works = 0;
      if (!catalog->list_works({}, [&](const Work&) { return ++works > 0; }).ok() || works < 8) ++lister_errors;
      if (!catalog->stats().ok() || !catalog->get_work("w0").ok()) ++lister_errors;
    } while (registering);
  };
  std::vector<std::thread> threads;
  threads.emplace_back(matcher, 0);
  threads.emplace_back(matcher, 4);
  threads.emplace_back(registrar);
  threads.emplace_back(lister);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(matcher_errors.load(), 0);
  EXPECT_EQ(registrar_errors.load(), 0);
  EXPECT_EQ(lister_errors.load(), 0);

  usage.flush();
  int listed = 0;
  ASSERT_TRUE(usage.list({}, [&](const UsageEvent&) { return ++listed > 0; }).ok());
  EXPECT_EQ(listed, recorded.load());
  EXPECT_EQ(recorded.load(), 48);  // 2 matchers x 3 rounds x 8 works, one event each
  Result<CatalogStats> s = catalog->stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->works, 8 + 6);  // 9 registered, 3 removed
}

TEST(Score, MonotonicAndAnchoredAtTheMatchThreshold) {
  EXPECT_DOUBLE_EQ(score_for_distance(0), 1.0);
  EXPECT_DOUBLE_EQ(score_for_distance(kPdqMatchDistance), 0.5);
  EXPECT_DOUBLE_EQ(score_for_distance(64), 0.0);
  EXPECT_DOUBLE_EQ(score_for_distance(200), 0.0);
  for (int d = 1; d <= 64; ++d) EXPECT_LT(score_for_distance(d), score_for_distance(d - 1));
}

// Issue 25: an event whose id an idempotency key made is stored once however often it is
// recorded; a catalog made before request ids were kept gains the column and lists its old
// events with none.
DIRECTORY_FORM_TEST(KeyedUsageEventsAreStoredOnceAndOldTablesGainRequestIds) {
  {
    Result<detail::Database> old = detail::Database::open(dir.file("cat") + "/catalog.sqlite", false);
    ASSERT_TRUE(old.ok());
    ASSERT_TRUE(old->exec("CREATE TABLE usage_events(pk INTEGER PRIMARY KEY AUTOINCREMENT, "
                          "time_ms INTEGER NOT NULL, work_id TEXT NOT NULL, owner TEXT NOT NULL, "
                          "decision TEXT NOT NULL, purpose TEXT NOT NULL, caller TEXT NOT NULL, "
                          "query_sha256 TEXT NOT NULL DEFAULT '', reference TEXT NOT NULL DEFAULT "
                          "'', distance INTEGER NOT NULL DEFAULT 0, event_id TEXT NOT NULL UNIQUE)")
                    .ok());
    ASSERT_TRUE(old->exec("INSERT INTO usage_events(time_ms, work_id, owner, decision, purpose, "
                          "caller, event_id) VALUES (500, 'w0', 'Ana', 'flag', 'any-use', 'cli', "
                          "'old-1')")
                    .ok());
  }
  Result<std::unique_ptr<UsageLog>> opened = UsageLog::open(dir.file("cat"), false);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  UsageLog& usage = **opened;
  UsageEvent e;
  e.work_id = "w1";
  e.owner = "Ana";
  e.caller = "platform";
  e.time_ms = 1000;
  e.request_id = "req-7";
  e.event_id = usage_event_id("platform", "upload-9", "w1");
  ASSERT_FALSE(e.event_id.empty());
  EXPECT_NE(e.event_id, usage_event_id("platform", "upload-9", "w2"));
  EXPECT_NE(e.event_id, usage_event_id("other-key", "upload-9", "w1"));
  EXPECT_TRUE(usage_event_id("platform", "", "w1").empty());
  ASSERT_TRUE(usage.record(std::vector{e}).ok());
  usage.flush();
  ASSERT_TRUE(usage.record(std::vector{e, e}).ok());
  usage.flush();
  std::vector<UsageEvent> listed;
  ASSERT_TRUE(usage.list({}, [&](const UsageEvent& x) {
    listed.push_back(x);
    return true;
  }).ok());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].event_id, "old-1");
  EXPECT_EQ(listed[0].request_id, "");
  EXPECT_EQ(listed[1].event_id, e.event_id);
  EXPECT_EQ(listed[1].request_id, "req-7");
  // A cursor that is not one is refused, not read as the start.
  UsageFilter f;
  f.after = "u1.x.1";
  EXPECT_EQ(usage.list(f, [](const UsageEvent&) { return true; }).code(),
            StatusCode::kInvalidArgument);
}

// One record() of more events than one database statement takes (on PostgreSQL a batch is
// written as multi-row INSERTs of up to 256 rows, several inside one transaction): every event is
// stored once with every field, in order, and keyed events recorded again add nothing.
TEST_F(CatalogTest, LargeUsageBatchesAreStoredWholeAndKeyedEventsOnce) {
  Result<std::unique_ptr<UsageLog>> opened = UsageLog::open(where, false);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  UsageLog& usage = **opened;
  std::vector<UsageEvent> events;
  for (int i = 0; i < 600; ++i) {
    UsageEvent e;
    e.time_ms = 10'000 + i;
    e.work_id = "w" + std::to_string(i % 8);
    e.owner = i % 2 ? "Ana" : "Bo \xC3\xA9";  // UTF-8 text travels as it is
    e.decision = i % 3 ? MatchDecision::kFlag : MatchDecision::kAllow;
    e.purpose = i % 5 ? Purpose::kAiTraining : Purpose::kCommercial;
    e.caller = "platform";
    e.query_sha256 = std::string(64, 'a' + char(i % 6));
    e.reference = "ref,'" + std::to_string(i) + "\"";  // quotes and commas are data
    e.distance = i % 32;
    e.request_id = "req-" + std::to_string(i);
    // A third carry an idempotency key, as the server's retried calls do.
    if (i % 3 == 0) e.event_id = usage_event_id("platform", "up-" + std::to_string(i), e.work_id);
    events.push_back(std::move(e));
  }
  ASSERT_TRUE(usage.record(events).ok());
  // The keyed third again, as a retried call would: nothing new is stored.
  std::vector<UsageEvent> again;
  for (const UsageEvent& e : events) {
    if (!e.event_id.empty()) again.push_back(e);
  }
  ASSERT_EQ(again.size(), 200u);
  ASSERT_TRUE(usage.record(again).ok());
  usage.flush();
  std::vector<UsageEvent> listed;
  ASSERT_TRUE(usage
                  .list({},
                        [&](const UsageEvent& x) {
                          listed.push_back(x);
                          return true;
                        })
                  .ok());
  ASSERT_EQ(listed.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const UsageEvent& want = events[i];
    const UsageEvent& got = listed[i];
    ASSERT_EQ(got.time_ms, want.time_ms) << i;
    EXPECT_EQ(got.work_id, want.work_id) << i;
    EXPECT_EQ(got.owner, want.owner) << i;
    EXPECT_EQ(got.decision, want.decision) << i;
    EXPECT_EQ(got.purpose, want.purpose) << i;
    EXPECT_EQ(got.query_sha256, want.query_sha256) << i;
    EXPECT_EQ(got.reference, want.reference) << i;
    EXPECT_EQ(got.distance, want.distance) << i;
    EXPECT_EQ(got.request_id, want.request_id) << i;
    if (!want.event_id.empty()) {
      EXPECT_EQ(got.event_id, want.event_id) << i;
    }
  }
}

// Issue 21 item 12: a batch the database refuses is kept and committed on a later try, and the
// journal that holds it is not emptied meanwhile.
DIRECTORY_FORM_TEST(FailedUsageBatchIsRetriedNotDropped) {
  Result<std::unique_ptr<UsageLog>> opened = UsageLog::open(dir.file("cat"), false);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  UsageLog& usage = **opened;
  Result<detail::Database> other = detail::Database::open(dir.file("cat") + "/catalog.sqlite", false);
  ASSERT_TRUE(other.ok());
  // Every insert fails until the trigger goes (as a batch fails on SQLITE_BUSY or a full disk).
  ASSERT_TRUE(other->exec("CREATE TRIGGER usage_refused BEFORE INSERT ON usage_events "
                          "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")
                  .ok());
  auto event = [](const std::string& ref) {
    UsageEvent e;
    e.work_id = "w1";
    e.owner = "Ana";
    e.caller = "test";
    e.time_ms = 1000;
    e.reference = ref;
    return e;
  };
  const std::vector<UsageEvent> first = {event("a"), event("b"), event("c")};
  ASSERT_TRUE(usage.record(first).ok());
  usage.flush();  // the commit was tried and failed
  int listed = 0;
  ASSERT_TRUE(usage.list({}, [&](const UsageEvent&) { return ++listed > 0; }).ok());
  EXPECT_EQ(listed, 0);
  ASSERT_TRUE(other->exec("DROP TRIGGER usage_refused").ok());
  const std::vector<UsageEvent> second = {event("d")};
  (void)usage.record(second);  // may report the earlier failure
  usage.flush();
  std::vector<std::string> refs;
  ASSERT_TRUE(usage.list({}, [&](const UsageEvent& e) {
    refs.push_back(e.reference);
    return true;
  }).ok());
  EXPECT_EQ(refs, (std::vector<std::string>{"a", "b", "c", "d"}));
}

// Issue 21 item 12: an event is acknowledged only after the journal that holds it was synced,
// and a failed sync is reported, not acknowledged.
DIRECTORY_FORM_TEST(UsageEventsAreSyncedBeforeRecordReturns) {
  std::atomic<int> syncs{0};
  std::atomic<bool> fail{false};
  UsageLogOptions o;
  o.commit_delay = std::chrono::hours(1);  // the events stay in the journal only
  o.sync_journal = [&](int fd) {
    if (fail) {
      errno = EIO;
      return -1;
    }
    ++syncs;
    return ::fdatasync(fd);
  };
  Result<std::unique_ptr<UsageLog>> opened = UsageLog::open(dir.file("cat"), false, o);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  UsageEvent e;
  e.work_id = "w1";
  e.owner = "Ana";
  e.caller = "test";
  e.time_ms = 1000;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE((*opened)->record(std::vector{e}).ok());
    EXPECT_EQ(syncs, i);
  }
  fail = true;
  const Status refused = (*opened)->record(std::vector{e});
  EXPECT_EQ(refused.code(), StatusCode::kIOError);
  EXPECT_NE(refused.message().find("cannot sync"), std::string::npos) << refused.message();
}

// Issue 21 item 12: a journal is locked before it has the name other processes replay, readable
// by its owner only; opening the usage log again replays and removes only journals nobody holds.
DIRECTORY_FORM_TEST(UsageJournalsOfLiveProcessesAreNeverReplayedOrTruncated) {
  namespace fs = std::filesystem;
  const std::string cat = dir.file("cat");
  UsageLogOptions slow;
  slow.commit_delay = std::chrono::hours(1);
  Result<std::unique_ptr<UsageLog>> live = UsageLog::open(cat, false, slow);
  ASSERT_TRUE(live.ok()) << live.status().to_string();
  UsageEvent e;
  e.work_id = "w1";
  e.owner = "Ana";
  e.caller = "live";
  e.time_ms = 1000;
  ASSERT_TRUE((*live)->record(std::vector{e, e}).ok());
  std::vector<fs::path> journals;
  for (const auto& entry : fs::directory_iterator(cat)) {
    if (entry.path().extension() == ".journal") journals.push_back(entry.path());
  }
  ASSERT_EQ(journals.size(), 1u);
  const fs::path live_journal = journals[0];
  const auto live_size = fs::file_size(live_journal);
  EXPECT_GT(live_size, 0u);
  EXPECT_EQ(fs::status(live_journal).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  {
    const int fd = ::open(live_journal.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);  // held by the live log
    ::close(fd);
  }
  // What dead processes left: a journal with one event, and one that died before it was named.
  {
    std::ofstream dead(cat + "/usage-dead.journal");
    dead << R"({"id":"dead-0","t":2000,"w":"w2","o":"Bo","d":"flag","p":"any-use","c":"dead","s":"","r":"","k":0})"
         << "\n";
    std::ofstream(cat + "/usage-unnamed.journal.new").flush();
  }
  Result<std::unique_ptr<UsageLog>> second = UsageLog::open(cat, false);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_FALSE(fs::exists(cat + "/usage-dead.journal"));
  EXPECT_FALSE(fs::exists(cat + "/usage-unnamed.journal.new"));
  ASSERT_TRUE(fs::exists(live_journal));
  EXPECT_EQ(fs::file_size(live_journal), live_size);
  std::vector<std::string> callers;
  ASSERT_TRUE((*second)->list({}, [&](const UsageEvent& ev) {
    callers.push_back(ev.caller);
    return true;
  }).ok());
  EXPECT_EQ(callers, std::vector<std::string>{"dead"});  // the live log's events wait in its journal
  // The live log still commits its own events when it closes.
  live->reset();
  callers.clear();
  ASSERT_TRUE((*second)->list({}, [&](const UsageEvent& ev) {
    callers.push_back(ev.caller);
    return true;
  }).ok());
  EXPECT_EQ(callers, (std::vector<std::string>{"live", "live", "dead"}));
}

}  // namespace
}  // namespace imprint
