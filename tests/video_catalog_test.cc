// Video works in the catalog, end to end through the library: registering videos, matching
// edited copies with the reference vPDQ percentages, aligned segments of trimmed, padded,
// re-timed and sped-up copies made here with libx264, frame grabs against video works, and the
// frame index's life cycle (reopen, catch-up, rebuild, removal, replacement).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sstream>

#include "catalog.h"
#include "test_support.h"
#include "video_ingest.h"
#include "video_match.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace imprint {
namespace {
namespace fs = std::filesystem;

std::string shared_video(const std::string& name) {
  return test::shared_dir() + "/vpdq-reference/videos/" + name + ".mp4";
}

std::unique_ptr<Catalog> open_at(const std::string& dir, bool read_only = false) {
  CatalogOptions o;
  o.dir = dir;
  o.read_only = read_only;
  o.sync_commits = false;  // durability of commits has its own test (catalog_crash_test)
  o.second_stage = false;
  Result<std::unique_ptr<Catalog>> c = Catalog::open(o);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(*c) : nullptr;
}

VideoFingerprint hash_at(const std::string& path, double seconds_per_hash) {
  VideoOptions o;
  o.seconds_per_hash = seconds_per_hash;
  Result<VideoFingerprint> fp = hash_video_file(path, o);
  EXPECT_TRUE(fp.ok()) << fp.status().to_string();
  return fp.ok() ? *fp : VideoFingerprint();
}

HashedVideo hashed_at(const std::string& path, double seconds_per_hash) {
  VideoOptions o;
  o.seconds_per_hash = seconds_per_hash;
  Result<HashedVideo> v = hash_video_for_catalog(path, o);
  EXPECT_TRUE(v.ok()) << v.status().to_string();
  return v.ok() ? *v : HashedVideo();
}

WorkInput video_input(const std::string& path, const std::string& id, double seconds_per_hash,
                      const LicencePolicy& licence = {}) {
  WorkInput in = work_input_from_video(hashed_at(path, seconds_per_hash), seconds_per_hash);
  in.work.id = id;
  in.work.title = "Title of " + id;
  in.work.owner = "Owner";
  in.work.source = path;
  in.work.licence = licence;
  Result<Sha256> digest = sha256_of_file(path);
  EXPECT_TRUE(digest.ok());
  if (digest.ok()) in.work.sha256 = *digest;
  return in;
}

void register_ok(Catalog& c, std::vector<WorkInput> inputs, bool replace = false) {
  for (const Result<Work>& r : c.register_works(inputs, replace)) {
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }
}

VideoQueryResult query_video(const Catalog& c, const std::string& path, double seconds_per_hash,
                             const MatchOptions& mo = {}) {
  HashedVideo v = hashed_at(path, seconds_per_hash);
  VideoQuery q;
  q.fingerprint = std::move(v.fingerprint);
  q.cropped = std::move(v.cropped);
  return c.match_video(q, mo, VideoMatchOptions{});
}

const VideoCandidate* find_work(const VideoQueryResult& r, const std::string& id) {
  for (const VideoCandidate& c : r.matches) {
    if (c.work.id == id) return &c;
  }
  return nullptr;
}

// expected-matches-every-frame.csv: (query, target) -> (query pct, target pct).
std::map<std::pair<std::string, std::string>, std::pair<double, double>> reference_pcts() {
  std::map<std::pair<std::string, std::string>, std::pair<double, double>> out;
  std::ifstream in(test::shared_dir() + "/vpdq-reference/expected-matches-every-frame.csv");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string q, t, a, b;
    std::getline(ss, q, ',');
    std::getline(ss, t, ',');
    std::getline(ss, a, ',');
    std::getline(ss, b, ',');
    out[{q, t}] = {std::stod(a), std::stod(b)};
  }
  return out;
}

// --- Making clips: decode every frame of a reference video, then re-encode a chosen mapping. ---

struct DecodedVideo {
  std::vector<Image> frames;
  double fps = 0;
};

DecodedVideo decode_all(const std::string& path) {
  VideoOptions o;
  o.seconds_per_hash = 0;
  o.skip_unsampled = false;
  DecodedVideo d;
  Result<std::unique_ptr<VideoReader>> r = VideoReader::open_file(path, o);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return d;
  d.fps = (*r)->info().fps;
  VideoFrame f;
  while ((*r)->next(&f)) d.frames.push_back(std::move(f.image));
  return d;
}

// A missing encoder fails the clip tests (encode_frames says why): skipped, they would report
// trims, intros, frame-rate and speed changes, letterboxes and mirrors as tested when nothing ran.
constexpr const char* kNoX264 =
    "this FFmpeg has no libx264 encoder; scripts/install-deps.sh installs Debian's libavcodec59 "
    "with libx264-164";

// Encodes RGB frames (all one even size) with libx264 at `fps`. Returns "" or what failed.
std::string encode_frames(const std::string& path, const std::vector<Image>& frames, int fps) {
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) return kNoX264;
  if (frames.empty()) return "no frames";
  const int w = frames[0].width, h = frames[0].height;
  AVFormatContext* oc = nullptr;
  if (avformat_alloc_output_context2(&oc, nullptr, "mp4", path.c_str()) < 0) return "no muxer";
  AVCodecContext* enc = avcodec_alloc_context3(codec);
  enc->width = w;
  enc->height = h;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = {1, fps};
  enc->framerate = {fps, 1};
  enc->thread_count = 1;
  if (oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set(enc->priv_data, "preset", "veryfast", 0);
  av_opt_set(enc->priv_data, "x264-params", "keyint=50", 0);
  std::string error;
  AVStream* st = avformat_new_stream(oc, nullptr);
  if (avcodec_open2(enc, codec, nullptr) < 0) error = "cannot open libx264";
  if (error.empty()) {
    avcodec_parameters_from_context(st->codecpar, enc);
    st->time_base = enc->time_base;
    if (avio_open(&oc->pb, path.c_str(), AVIO_FLAG_WRITE) < 0 ||
        avformat_write_header(oc, nullptr) < 0) {
      error = "cannot write header";
    }
  }
  AVFrame* frame = av_frame_alloc();
  AVPacket* pkt = av_packet_alloc();
  SwsContext* sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P, SWS_BILINEAR,
                                   nullptr, nullptr, nullptr);
  auto drain = [&] {
    while (avcodec_receive_packet(enc, pkt) >= 0) {
      av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      av_interleaved_write_frame(oc, pkt);
    }
  };
  for (size_t i = 0; error.empty() && i < frames.size(); ++i) {
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = w;
    frame->height = h;
    if (av_frame_get_buffer(frame, 0) < 0) error = "out of memory";
    const uint8_t* src[1] = {frames[i].pixels.data()};
    const int src_stride[1] = {int(frames[i].stride())};
    sws_scale(sws, src, src_stride, 0, h, frame->data, frame->linesize);
    frame->pts = int64_t(i);
    if (avcodec_send_frame(enc, frame) < 0) error = "encode failed";
    av_frame_unref(frame);
    drain();
  }
  if (error.empty()) {
    avcodec_send_frame(enc, nullptr);
    drain();
    av_write_trailer(oc);
  }
  sws_freeContext(sws);
  av_packet_free(&pkt);
  av_frame_free(&frame);
  avcodec_free_context(&enc);
  if (oc->pb) avio_closep(&oc->pb);
  avformat_free_context(oc);
  return error;
}

// A copy of source seconds [start, end] played at `speed`, encoded at out_fps, after `intro_s`
// seconds of unrelated footage; `letterbox` shrinks the picture to 3/4 inside black borders.
struct ClipSpec {
  double start = 0;
  double end = 0;
  int out_fps = 30;
  double speed = 1.0;
  double intro_s = 0;
  bool letterbox = false;
};

std::vector<Image> clip_frames(const DecodedVideo& src, const ClipSpec& c) {
  std::vector<Image> out;
  const int w = src.frames[0].width & ~1, h = src.frames[0].height & ~1;
  const Image intro = test::synthetic_photo(w * 2, h * 2, 4242);
  for (int k = 0;; ++k) {
    const double t = double(k) / c.out_fps;
    Image frame(w, h, 3);
    if (t < c.intro_s) {  // a slow pan over an unrelated picture
      const int dx = k % w, dy = (k / 2) % h;
      for (int y = 0; y < h; ++y)
        std::memcpy(frame.row(y), intro.row(y + dy) + 3 * dx, frame.stride());
      out.push_back(std::move(frame));
      continue;
    }
    const double src_t = c.start + c.speed * (t - c.intro_s);
    if (src_t > c.end) break;
    const size_t n = std::min(src.frames.size() - 1, size_t(std::lround(src_t * src.fps)));
    const Image& s = src.frames[n];
    if (!c.letterbox) {
      for (int y = 0; y < h; ++y) std::memcpy(frame.row(y), s.row(y), frame.stride());
    } else {
      // The whole picture at 3/4 scale, centred on black.
      std::fill(frame.pixels.begin(), frame.pixels.end(), 0);
      const int iw = w * 3 / 4, ih = h * 3 / 4;
      cv::Mat in(s.height, s.width, CV_8UC3, const_cast<uint8_t*>(s.pixels.data()), s.stride());
      cv::Mat dst(h, w, CV_8UC3, frame.pixels.data(), frame.stride());
      cv::resize(in(cv::Rect(0, 0, w, h)), dst(cv::Rect((w - iw) / 2, (h - ih) / 2, iw, ih)),
                 cv::Size(iw, ih), 0, 0, cv::INTER_AREA);
    }
    out.push_back(std::move(frame));
  }
  return out;
}

// The work offset of a segment: where query second 0 falls in the work.
double offset_of(const VideoSegment& s) { return s.work_start - s.speed * s.query_start; }

// The work every clip copies: the original chair video, registered at one hash a second.
constexpr const char* kChair = "chair-orig-22-sd-bar";

class VideoCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catalog = open_at(dir.file("cat"));
    ASSERT_TRUE(catalog);
    register_ok(*catalog, {video_input(shared_video(kChair), "chair", 1.0)});
  }
  test::TempDir dir;
  std::unique_ptr<Catalog> catalog;
};

// --- Hashing with progress ---

TEST(VideoIngest, ProgressHashingGivesTheEngineHashes) {
  for (const char* name :
       {"chair-19-sd-bar", "doorknob-hd-no-bar", "pattern-sd-grey-bar", "test-padded-dimensions"}) {
    for (double sph : {1.0, 0.0}) {
      VideoOptions o;
      o.seconds_per_hash = sph;
      const VideoFingerprint want = hash_at(shared_video(name), sph);
      std::vector<double> seen;
      Result<VideoFingerprint> got =
          hash_video_file_with_progress(shared_video(name), o, [&](double t, double duration) {
            seen.push_back(t);
            EXPECT_GT(duration, 0);
          });
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      ASSERT_EQ(got->frames.size(), want.frames.size()) << name;
      for (size_t i = 0; i < want.frames.size(); ++i) {
        EXPECT_EQ(got->frames[i].hash, want.frames[i].hash) << name << " frame " << i;
        EXPECT_EQ(got->frames[i].quality, want.frames[i].quality);
        EXPECT_EQ(got->frames[i].t, want.frames[i].t);
      }
      ASSERT_EQ(seen.size(), want.frames.size());
      EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    }
  }
  Result<VideoFingerprint> missing =
      hash_video_file_with_progress("/nonexistent/x.mp4", VideoOptions{}, nullptr);
  EXPECT_FALSE(missing.ok());
}

TEST(VideoIngest, WorkInputHoldsEveryFrameAndTheStreamDescription) {
  const HashedVideo v = hashed_at(shared_video(kChair), 1.0);
  const VideoFingerprint& fp = v.fingerprint;
  // The same reference hashes as the engine gives.
  const VideoFingerprint engine = hash_at(shared_video(kChair), 1.0);
  ASSERT_EQ(fp.frames.size(), engine.frames.size());
  for (size_t i = 0; i < fp.frames.size(); ++i) EXPECT_EQ(fp.frames[i].hash, engine.frames[i].hash);
  // The chair footage is portrait with black side bars: every frame has a cropped hash too.
  ASSERT_EQ(v.cropped.size(), fp.frames.size());
  const WorkInput in = work_input_from_video(v, 1.0);
  EXPECT_EQ(in.work.media, "video");
  EXPECT_EQ(in.work.width, fp.width);
  ASSERT_EQ(in.fingerprints.size(), 2 * fp.frames.size() + 1);
  for (size_t i = 0; i < fp.frames.size(); ++i) {
    EXPECT_EQ(in.fingerprints[i].kind, "pdq-frame");
    EXPECT_EQ(in.fingerprints[i].t_ms, std::llround(fp.frames[i].t * 1000));
    EXPECT_EQ(PdqHash::from_bytes(in.fingerprints[i].data.data()), fp.frames[i].hash);
    const WorkFingerprint& c = in.fingerprints[fp.frames.size() + i];
    EXPECT_EQ(c.kind, "pdq-frame-crop");
    EXPECT_EQ(c.t_ms, in.fingerprints[i].t_ms);
    EXPECT_NE(PdqHash::from_bytes(c.data.data()), fp.frames[i].hash);
  }
  EXPECT_EQ(in.fingerprints.back().kind, "video-info");
  const std::string info(in.fingerprints.back().data.begin(), in.fingerprints.back().data.end());
  EXPECT_NE(info.find("\"duration\""), std::string::npos) << info;
}

TEST(VideoIngest, BlackBarsAreFoundAndDarkPicturesAreNot) {
  Image frame(200, 100, 3);
  std::fill(frame.pixels.begin(), frame.pixels.end(), 0);
  const Image photo = test::synthetic_photo(120, 80, 5);
  for (int y = 0; y < 80; ++y)
    std::memcpy(frame.row(10 + y) + 3 * 40, photo.row(y), photo.stride());
  // Compression leaves a few brighter pixels in a bar.
  frame.row(3)[3 * 17] = 200;
  BarCrop c = find_black_bars(frame);
  EXPECT_EQ(c.left, 40);
  EXPECT_EQ(c.top, 10);
  EXPECT_EQ(c.width, 120);
  EXPECT_EQ(c.height, 80);
  // No bars: nothing to crop.
  EXPECT_TRUE(find_black_bars(test::synthetic_photo(200, 100, 6)).empty());
  // A dark scene is not bars.
  Image night(200, 100, 3);
  std::fill(night.pixels.begin(), night.pixels.end(), 10);
  EXPECT_TRUE(find_black_bars(night).empty());
}

// --- Matching edited copies ---

// Every frame hashed on both sides, as the reference CSV was made. These videos are
// letterboxed: over the reference hashes alone our percentages are the reference's to its two
// decimals; the catalog also counts the frames whose bar-cropped pictures match, which only adds.
TEST(VideoCatalog, EditedCopiesMatchWithTheReferencePercentages) {
  test::TempDir dir;
  auto catalog = open_at(dir.file("cat"));
  ASSERT_TRUE(catalog);
  register_ok(*catalog, {video_input(shared_video(kChair), "chair", 0.0)});
  const HashedVideo work = hashed_at(shared_video(kChair), 0.0);
  ASSERT_FALSE(work.cropped.empty());
  const auto ref = reference_pcts();
  for (const char* name :
       {"chair-19-sd-bar", "chair-20-sd-bar", "chair-22-sd-grey-bar", "chair-22-sd-sepia-bar",
        "chair-22-with-small-logo-bar", "chair-22-with-large-logo-bar"}) {
    const VideoQueryResult r = query_video(*catalog, shared_video(name), 0.0);
    const VideoCandidate* c = find_work(r, "chair");
    ASSERT_NE(c, nullptr) << name;
    const auto [want_q, want_t] = ref.at({name, kChair});
    const HashedVideo query = hashed_at(shared_video(name), 0.0);
    const std::span<const FrameHash> q = query.fingerprint.frames, w = work.fingerprint.frames;
    const VpdqMatch reference_only = vpdq_match_views(q, {}, w, {}, 31);
    EXPECT_NEAR(reference_only.query_match_pct, want_q, 0.01) << name;
    EXPECT_NEAR(reference_only.target_match_pct, want_t, 0.01) << name;
    const VpdqMatch both = vpdq_match_views(q, query.cropped, w, work.cropped, 31);
    EXPECT_NEAR(c->query_match_pct, both.query_match_pct, 0.01) << name;
    EXPECT_NEAR(c->work_match_pct, both.target_match_pct, 0.01) << name;
    EXPECT_GE(c->query_match_pct, want_q - 0.01) << name;
    EXPECT_GE(c->work_match_pct, want_t - 0.01) << name;
    EXPECT_EQ(c->method, "vpdq");
    // The default licence denies every use: a copy is flagged.
    EXPECT_EQ(c->decision, MatchDecision::kFlag) << name;
    ASSERT_FALSE(c->segments.empty()) << name;
    EXPECT_EQ(r.decision, MatchDecision::kFlag);
  }
  // The grey edit is the whole work, frame for frame: one segment over all of it at speed 1.
  const VideoQueryResult grey = query_video(*catalog, shared_video("chair-22-sd-grey-bar"), 0.0);
  const VideoCandidate* c = find_work(grey, "chair");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->segments.size(), 1u);
  const VideoSegment& s = c->segments[0];
  EXPECT_NEAR(s.query_start, 0, 0.1);
  EXPECT_NEAR(s.query_end, 22.4, 0.1);
  EXPECT_NEAR(s.work_start - s.query_start, 0, 0.1);
  EXPECT_NEAR(s.work_end - s.query_end, 0, 0.1);
  EXPECT_EQ(s.speed, 1.0);
}

// The offset (seconds) at which `query`'s frames best line up with `work`'s, found by brute force
// over the reference's every-frame hashes: the truth the aligner is held to.
double reference_offset(const std::string& query, const std::string& work) {
  auto load = [](const std::string& name) {
    std::vector<std::pair<PdqHash, double>> out;
    std::ifstream in(test::shared_dir() + "/vpdq-reference/expected-every-frame/" + name + ".txt");
    std::string line;
    while (std::getline(in, line)) {
      std::stringstream ss(line);
      std::string n, q, hex, t;
      std::getline(ss, n, ',');
      std::getline(ss, q, ',');
      std::getline(ss, hex, ',');
      std::getline(ss, t, ',');
      out.emplace_back(*PdqHash::from_hex(hex), std::stod(t));
    }
    return out;
  };
  const auto q = load(query), w = load(work);
  int best = -1;
  double offset = 0;
  for (int shift = -int(q.size()) + 1; shift < int(w.size()); ++shift) {
    int hits = 0;
    for (size_t i = 0; i < q.size(); ++i) {
      const int j = int(i) + shift;
      if (j >= 0 && j < int(w.size()) && q[i].first.distance(w[size_t(j)].first) <= 31) ++hits;
    }
    if (hits > best) {
      best = hits;
      offset = w[size_t(std::max(shift, 0))].second - q[size_t(std::max(-shift, 0))].second;
    }
  }
  return offset;
}

// Sampled once a second on both sides: the full-length edits are in phase with the work, so
// their percentages stay near the every-frame ones and one segment spans them at offset 0.
TEST_F(VideoCatalogTest, OnePerSecondQueriesOfInPhaseEdits) {
  const auto ref = reference_pcts();
  for (const char* name : {"chair-22-sd-grey-bar", "chair-22-sd-sepia-bar",
                           "chair-22-with-small-logo-bar", "chair-20-sd-bar"}) {
    const VideoQueryResult r = query_video(*catalog, shared_video(name), 1.0);
    const VideoCandidate* c = find_work(r, "chair");
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->decision, MatchDecision::kFlag) << name;
    const auto [want_q, want_t] = ref.at({name, kChair});
    EXPECT_NEAR(c->query_match_pct, want_q, 10) << name;
    EXPECT_NEAR(c->work_match_pct, want_t, 10) << name;
    ASSERT_FALSE(c->segments.empty()) << name;
    const VideoSegment& s = c->segments.front();
    EXPECT_EQ(s.speed, 1.0);
    EXPECT_NEAR(offset_of(s), reference_offset(name, kChair), 1.0) << name;
    EXPECT_GE(s.query_end - s.query_start, 15.0) << name;
  }
}

// chair-19 starts 3.7 s into the work, so one-a-second samples on both sides fall 0.3 s apart,
// and this hand-held footage changes too fast for PDQ over 0.3 s: few frames match. A work
// registered at every frame gives every query sample a frame in phase.
TEST_F(VideoCatalogTest, OutOfPhaseTrimNeedsADenseSideToAlign) {
  const double truth = reference_offset("chair-19-sd-bar", kChair);
  EXPECT_NEAR(truth, 3.7, 0.05);
  const VideoQueryResult sparse = query_video(*catalog, shared_video("chair-19-sd-bar"), 1.0);
  const VideoCandidate* c = find_work(sparse, "chair");
  ASSERT_NE(c, nullptr);  // still found, on the few slow frames
  EXPECT_LT(c->query_match_pct, 50);

  register_ok(*catalog, {video_input(shared_video(kChair), "chair-dense", 0.0)});
  const VideoQueryResult dense = query_video(*catalog, shared_video("chair-19-sd-bar"), 1.0);
  const VideoCandidate* d = find_work(dense, "chair-dense");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->decision, MatchDecision::kFlag);
  EXPECT_GT(d->query_match_pct, 90);
  ASSERT_EQ(d->segments.size(), 1u);
  EXPECT_NEAR(offset_of(d->segments[0]), truth, 1.0);
  EXPECT_NEAR(d->segments[0].query_start, 0.0, 1.0);
  EXPECT_NEAR(d->segments[0].query_end, 18.0, 1.0);
  // Dense works come first: more aligned frames.
  EXPECT_EQ(dense.matches.front().work.id, "chair-dense");
}

TEST_F(VideoCatalogTest, UnrelatedVideosDoNotMatch) {
  for (const char* name : {"doorknob-hd-no-bar", "pattern-hd-no-bar", "pattern-sd-grey-bar"}) {
    const VideoQueryResult r = query_video(*catalog, shared_video(name), 1.0);
    EXPECT_TRUE(r.matches.empty()) << name;
    EXPECT_EQ(r.decision, MatchDecision::kNone) << name;
  }
}

TEST_F(VideoCatalogTest, LicenceDecidesFlagOrAllow) {
  LicencePolicy allow_commercial;
  allow_commercial.set(Purpose::kCommercial, {Permission::kAllow, {}});
  WorkInput in = video_input(shared_video(kChair), "chair", 1.0, allow_commercial);
  register_ok(*catalog, {in}, /*replace=*/true);
  MatchOptions mo;
  mo.purpose = Purpose::kCommercial;
  const VideoQueryResult r = query_video(*catalog, shared_video("chair-22-sd-grey-bar"), 1.0, mo);
  ASSERT_NE(find_work(r, "chair"), nullptr);
  EXPECT_EQ(find_work(r, "chair")->decision, MatchDecision::kAllow);
  mo.purpose = Purpose::kAiTraining;
  const VideoQueryResult r2 = query_video(*catalog, shared_video("chair-22-sd-grey-bar"), 1.0, mo);
  ASSERT_NE(find_work(r2, "chair"), nullptr);
  EXPECT_EQ(find_work(r2, "chair")->decision, MatchDecision::kFlag);
}

TEST_F(VideoCatalogTest, SameBytesMatchAsSha256) {
  VideoQuery q;
  q.fingerprint = hash_at(shared_video(kChair), 1.0);
  q.sha256 = *sha256_of_file(shared_video(kChair));
  const VideoQueryResult r = catalog->match_video(q, MatchOptions{}, VideoMatchOptions{});
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].method, "sha256");
  EXPECT_EQ(r.matches[0].score, 1.0);
  EXPECT_EQ(r.matches[0].query_match_pct, 100.0);
}

// --- Clips made here: trims, intros, frame-rate and speed changes, letterboxing ---

// The work is registered at every frame here (see OutOfPhaseTrimNeedsADenseSideToAlign): clips
// start at arbitrary instants and are sampled once a second.
class VideoClipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catalog = open_at(dir.file("cat"));
    ASSERT_TRUE(catalog);
    register_ok(*catalog, {video_input(shared_video(kChair), "chair", 0.0)});
    if (source.frames.empty()) source = decode_all(shared_video(kChair));
    ASSERT_FALSE(source.frames.empty());
  }
  // Encodes the clip and returns the best match's segments for the chair work.
  std::vector<VideoSegment> segments_of(const ClipSpec& spec, const std::string& name,
                                        VideoCandidate* out = nullptr) {
    const std::string path = dir.file(name + ".mp4");
    EXPECT_EQ(encode_frames(path, clip_frames(source, spec), spec.out_fps), "");
    const VideoQueryResult r = query_video(*catalog, path, 1.0);
    const VideoCandidate* c = find_work(r, "chair");
    EXPECT_NE(c, nullptr) << name;
    if (c == nullptr) return {};
    if (out) *out = *c;
    return c->segments;
  }
  test::TempDir dir;
  std::unique_ptr<Catalog> catalog;
  static DecodedVideo source;
};
DecodedVideo VideoClipTest::source;

TEST_F(VideoClipTest, TrimmedCopyAlignsWithinASecond) {
  ClipSpec spec;
  spec.start = 7.3;
  spec.end = 18.0;
  VideoCandidate c;
  const auto segs = segments_of(spec, "trimmed", &c);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_NEAR(segs[0].query_start, 0.0, 1.0);
  EXPECT_NEAR(segs[0].work_start, 7.3, 1.0);
  EXPECT_NEAR(segs[0].work_end, 18.0, 1.0);
  EXPECT_NEAR(offset_of(segs[0]), 7.3, 1.0);
  EXPECT_EQ(c.decision, MatchDecision::kFlag);
  EXPECT_GT(c.query_match_pct, 80);
}

TEST_F(VideoClipTest, InsertedIntroShiftsTheQuerySide) {
  ClipSpec spec;
  spec.start = 3.0;
  spec.end = 15.0;
  spec.intro_s = 5.0;
  const auto segs = segments_of(spec, "intro");
  ASSERT_EQ(segs.size(), 1u);
  // Ends are the first and last aligned samples: up to one sampling interval inside the copy.
  EXPECT_NEAR(segs[0].query_start, 5.0, 1.5);
  EXPECT_NEAR(segs[0].query_end, 17.0, 1.5);
  EXPECT_NEAR(segs[0].work_start, 3.0, 1.5);
  EXPECT_NEAR(segs[0].work_end, 15.0, 1.5);
  EXPECT_NEAR(offset_of(segs[0]), 3.0 - 5.0, 1.0);
}

TEST_F(VideoClipTest, FrameRateChangeKeepsSecondsAligned) {
  ClipSpec spec;
  spec.start = 4.5;
  spec.end = 20.0;
  spec.out_fps = 25;
  const auto segs = segments_of(spec, "fps25");
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].speed, 1.0);
  EXPECT_NEAR(offset_of(segs[0]), 4.5, 1.0);
  EXPECT_NEAR(segs[0].work_end, 20.0, 1.0);
}

TEST_F(VideoClipTest, SpedUpCopyReportsItsSpeed) {
  ClipSpec spec;
  spec.start = 1.0;
  spec.end = 21.0;
  spec.speed = 1.5;
  const auto segs = segments_of(spec, "fast");
  ASSERT_FALSE(segs.empty());
  EXPECT_NEAR(segs[0].speed, 1.5, 0.1);
  EXPECT_NEAR(segs[0].work_start, 1.0 + 1.5 * segs[0].query_start, 1.0);
  EXPECT_NEAR(segs[0].work_end, 21.0, 1.5);
}

TEST_F(VideoClipTest, TwoPartsOfTheWorkGiveTwoSegments) {
  // Work seconds 12-20 then 1-8: a re-edit that swaps scenes.
  ClipSpec a;
  a.start = 12.0;
  a.end = 20.0;
  ClipSpec b;
  b.start = 1.0;
  b.end = 8.0;
  std::vector<Image> frames = clip_frames(source, a);
  const size_t first = frames.size();
  for (Image& f : clip_frames(source, b)) frames.push_back(std::move(f));
  const std::string path = dir.file("swapped.mp4");
  ASSERT_EQ(encode_frames(path, frames, 30), "");
  const VideoQueryResult r = query_video(*catalog, path, 1.0);
  const VideoCandidate* c = find_work(r, "chair");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->segments.size(), 2u);
  const double second_part = double(first) / 30.0;
  EXPECT_NEAR(offset_of(c->segments[0]), 12.0, 1.0);
  EXPECT_NEAR(c->segments[1].query_start, second_part, 1.0);
  EXPECT_NEAR(c->segments[1].work_start, 1.0, 1.0);
  EXPECT_NEAR(c->segments[1].work_end, 8.0, 1.0);
}

TEST_F(VideoClipTest, LetterboxedCopy) {
  ClipSpec spec;
  spec.start = 2.0;
  spec.end = 20.0;
  spec.letterbox = true;
  VideoCandidate c;
  const auto segs = segments_of(spec, "letterbox", &c);
  // The reference hashes see a smaller picture in a wider border and do not match; the
  // bar-cropped hashes on both sides do, and the percentages count the frames they matched.
  ASSERT_FALSE(segs.empty());
  EXPECT_GT(c.query_match_pct, 80);
  EXPECT_GT(c.work_match_pct, 10);  // a one-a-second clip of 18 of the work's 22 s, every frame
  EXPECT_GE(c.score, c.query_match_pct / 100.0);
  EXPECT_NEAR(offset_of(segs[0]), 2.0, 1.0);
  EXPECT_EQ(c.decision, MatchDecision::kFlag);
}

// A mirrored re-upload copies nothing as it is; the query's mirror-image hashes find it.
TEST_F(VideoClipTest, MirroredCopyIsFoundThroughItsMirrorImage) {
  ClipSpec spec;
  spec.start = 3.0;
  spec.end = 18.0;
  std::vector<Image> frames = clip_frames(source, spec);
  for (Image& f : frames) {
    cv::Mat m(f.height, f.width, CV_8UC3, f.pixels.data());
    cv::flip(m, m, 1);
  }
  const std::string path = dir.file("mirrored.mp4");
  ASSERT_EQ(encode_frames(path, frames, 30), "");
  HashedVideo v = hashed_at(path, 1.0);
  ASSERT_EQ(v.mirrored.size(), v.fingerprint.frames.size());
  VideoQuery q;
  q.fingerprint = v.fingerprint;
  q.cropped = v.cropped;
  const VideoQueryResult plain = catalog->match_video(q, MatchOptions{}, VideoMatchOptions{});
  const VideoCandidate* p = find_work(plain, "chair");
  EXPECT_TRUE(p == nullptr || !is_video_copy(*p, VideoMatchOptions{}));

  q.mirrored = v.mirrored;
  const VideoQueryResult r = catalog->match_video(q, MatchOptions{}, VideoMatchOptions{});
  const VideoCandidate* c = find_work(r, "chair");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->transform, Dihedral::kFlipY);
  EXPECT_EQ(c->decision, MatchDecision::kFlag);
  EXPECT_GT(c->query_match_pct, 80);
  ASSERT_FALSE(c->segments.empty());
  EXPECT_NEAR(offset_of(c->segments[0]), 3.0, 1.0);
  EXPECT_EQ(video_candidate_to_json(*c)["transform"], "flip-y");
}

// --- Stills against video works ---

TEST_F(VideoClipTest, FrameGrabFindsTheWorkAndItsTimestamp) {
  const double t = 12.3;
  const Image& grab = source.frames[size_t(std::lround(t * source.fps))];
  HashOptions ho;
  ho.dihedral = true;
  Result<ImageFingerprint> fp = fingerprint_image(test::encode(grab, ".jpg", 85), ho);
  ASSERT_TRUE(fp.ok());
  // Image matching keeps to image works: no frame of a video answers it.
  EXPECT_TRUE(catalog->match({&*fp, 1}, MatchOptions{})[0].matches.empty());
  const auto r = catalog->match_stills_in_videos({&*fp, 1}, MatchOptions{});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_FALSE(r[0].matches.empty());
  const VideoCandidate& c = r[0].matches[0];
  EXPECT_EQ(c.work.id, "chair");
  EXPECT_EQ(c.method, "video-frame");
  EXPECT_NEAR(c.work_time_s, t, 1.0);
  EXPECT_LE(c.distance, kPdqMatchDistance);
  EXPECT_EQ(c.decision, MatchDecision::kFlag);

  // A mirrored grab matches through the dihedral hashes and names the transform.
  Image mirrored = grab;
  for (int y = 0; y < grab.height; ++y) {
    for (int x = 0; x < grab.width; ++x) {
      std::memcpy(mirrored.row(y) + 3 * x, grab.row(y) + 3 * (grab.width - 1 - x), 3);
    }
  }
  Result<ImageFingerprint> mfp = fingerprint_image(test::encode(mirrored, ".png"), ho);
  ASSERT_TRUE(mfp.ok());
  const auto mr = catalog->match_stills_in_videos({&*mfp, 1}, MatchOptions{});
  ASSERT_FALSE(mr[0].matches.empty());
  EXPECT_EQ(mr[0].matches[0].transform, Dihedral::kFlipY);
  EXPECT_NEAR(mr[0].matches[0].work_time_s, t, 1.0);

  // An unrelated photo finds nothing.
  Result<ImageFingerprint> other =
      fingerprint_image(test::encode(test::synthetic_photo(320, 240, 77), ".png"), ho);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(catalog->match_stills_in_videos({&*other, 1}, MatchOptions{})[0].matches.empty());
}

// --- Durability and the frame index's life cycle ---

TEST_F(VideoCatalogTest, VideoWorksSurviveReopenAndTheIndexFileIsLoadedCaughtUpOrRebuilt) {
  const std::string cat = dir.file("cat");
  const std::string grey = shared_video("chair-22-sd-grey-bar");
  auto matches_chair = [&](const Catalog& c) {
    const VideoQueryResult r = query_video(c, grey, 1.0);
    return find_work(r, "chair") != nullptr &&
           find_work(r, "chair")->decision == MatchDecision::kFlag;
  };
  catalog.reset();  // saves frames.index
  ASSERT_TRUE(fs::exists(cat + "/frames.index"));
  const std::string saved = dir.file("frames.index.saved");
  fs::copy_file(cat + "/frames.index", saved);

  catalog = open_at(cat);
  ASSERT_TRUE(catalog);
  EXPECT_TRUE(matches_chair(*catalog));
  Result<Work> w = catalog->get_work("chair");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->media, "video");
  EXPECT_GT(w->width, 0);
  EXPECT_TRUE(w->sha256.has_value());
  size_t frames = 0;
  ASSERT_TRUE(catalog
                  ->list_fingerprints("pdq-frame",
                                      [&](const Work& work, const WorkFingerprint& f) {
                                        EXPECT_EQ(work.id, "chair");
                                        EXPECT_EQ(f.t_ms, int64_t(frames) * 1000);
                                        ++frames;
                                        return true;
                                      })
                  .ok());
  EXPECT_EQ(frames, 23u);  // 22.4 s at one hash a second

  // A second video, and the first removed, behind the saved file's back: opening catches up.
  register_ok(*catalog, {video_input(shared_video("pattern-hd-no-bar"), "pattern", 1.0)});
  ASSERT_TRUE(catalog->remove_work("chair").ok());
  catalog.reset();
  fs::copy_file(saved, cat + "/frames.index", fs::copy_options::overwrite_existing);
  catalog = open_at(cat, /*read_only=*/true);
  ASSERT_TRUE(catalog);
  EXPECT_FALSE(matches_chair(*catalog));
  const VideoQueryResult p = query_video(*catalog, shared_video("pattern-longer-no-bar"), 1.0);
  ASSERT_NE(find_work(p, "pattern"), nullptr);
  EXPECT_EQ(find_work(p, "pattern")->decision, MatchDecision::kFlag);

  // Missing or corrupt: rebuilt from the database, same answers.
  catalog.reset();
  for (bool corrupt : {false, true}) {
    if (corrupt) {
      std::ofstream(cat + "/frames.index", std::ios::binary) << "IMPRFRMI garbage";
    } else {
      fs::remove(cat + "/frames.index");
    }
    catalog = open_at(cat);
    ASSERT_TRUE(catalog);
    EXPECT_FALSE(matches_chair(*catalog));
    const VideoQueryResult again =
        query_video(*catalog, shared_video("pattern-longer-no-bar"), 1.0);
    EXPECT_NE(find_work(again, "pattern"), nullptr) << (corrupt ? "corrupt" : "missing");
    catalog.reset();
  }
}

TEST_F(VideoCatalogTest, RemovalStopsMatchingAtOnceAndDurably) {
  const std::string grey = shared_video("chair-22-sd-grey-bar");
  ASSERT_NE(find_work(query_video(*catalog, grey, 1.0), "chair"), nullptr);
  ASSERT_TRUE(catalog->remove_work("chair").ok());
  EXPECT_TRUE(query_video(*catalog, grey, 1.0).matches.empty());
  catalog.reset();
  catalog = open_at(dir.file("cat"));
  ASSERT_TRUE(catalog);
  EXPECT_TRUE(query_video(*catalog, grey, 1.0).matches.empty());
  EXPECT_FALSE(catalog->get_work("chair").ok());
}

TEST_F(VideoCatalogTest, ReplacingAWorkReplacesItsFrames) {
  register_ok(*catalog, {video_input(shared_video("doorknob-hd-no-bar"), "chair", 1.0)},
              /*replace=*/true);
  EXPECT_TRUE(query_video(*catalog, shared_video("chair-22-sd-grey-bar"), 1.0).matches.empty());
  const VideoQueryResult r = query_video(*catalog, shared_video("doorknob-hd-no-bar"), 1.0);
  ASSERT_NE(find_work(r, "chair"), nullptr);
}

TEST_F(VideoCatalogTest, ImageWorksAndVideoWorksStayApart) {
  // An image work made from a frame of the video: image queries find the image work only, and
  // the video's frames are not in the image index.
  const DecodedVideo d = decode_all(shared_video(kChair));
  ASSERT_FALSE(d.frames.empty());
  Result<WorkInput> img = work_input_from_image(test::encode(d.frames[300], ".png"));
  ASSERT_TRUE(img.ok());
  img->work.id = "still";
  register_ok(*catalog, {*img});
  HashOptions ho;
  ho.dihedral = true;
  Result<ImageFingerprint> q = fingerprint_image(test::encode(d.frames[300], ".jpg", 80), ho);
  ASSERT_TRUE(q.ok());
  const QueryResult ir = catalog->match({&*q, 1}, MatchOptions{})[0];
  ASSERT_EQ(ir.matches.size(), 1u);
  EXPECT_EQ(ir.matches[0].work.id, "still");
  // A video query finds the video work only.
  const VideoQueryResult vr = query_video(*catalog, shared_video("chair-22-sd-grey-bar"), 1.0);
  ASSERT_EQ(vr.matches.size(), 1u);
  EXPECT_EQ(vr.matches[0].work.id, "chair");
  Result<CatalogStats> st = catalog->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->index_entries, 1u);  // the image's hash only
}

TEST(VideoCatalog, InvalidFrameFingerprintsAreRejected) {
  test::TempDir dir;
  auto catalog = open_at(dir.file("cat"));
  ASSERT_TRUE(catalog);
  WorkInput in;
  in.work.id = "bad";
  in.work.media = "video";
  WorkFingerprint f;
  f.kind = "pdq-frame";
  f.data = {1, 2, 3};
  in.fingerprints.push_back(f);
  const auto r = catalog->register_works({&in, 1});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status().code(), StatusCode::kInvalidArgument);
}

// --- The command line ---

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

class VideoCliTest : public ::testing::Test {
 protected:
  int run(const std::string& args, std::string* out) {
    out->clear();
    return test::run_command(test::imprint_binary() + " " + args + " 2>" + dir.file("err.txt"),
                             out);
  }
  std::string err() const {
    std::ifstream in(dir.file("err.txt"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  test::TempDir dir;
};

TEST_F(VideoCliTest, HashPrintsOneLinePerFrameAndSniffsVideosWithoutExtension) {
  std::string out;
  const std::string path = shared_video("chair-20-sd-bar");
  ASSERT_EQ(run("hash " + path, &out), 0) << err();
  const auto lines = lines_of(out);
  const VideoFingerprint fp = hash_at(path, 1.0);
  ASSERT_EQ(lines.size(), fp.frames.size());
  char t[32];
  for (size_t i = 0; i < lines.size(); ++i) {
    std::snprintf(t, sizeof t, "%.3f", fp.frames[i].t);
    EXPECT_EQ(lines[i], fp.frames[i].hash.to_hex() + "," + std::to_string(fp.frames[i].quality) +
                            "," + path + "@" + t);
  }
  // Every frame, as JSON, from a copy with no extension (recognised by its ftyp box).
  fs::copy_file(path, dir.file("clip"));
  ASSERT_EQ(run("hash --json --seconds-per-hash 0 " + dir.file("clip"), &out), 0) << err();
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["media"], "video");
  EXPECT_EQ(j["frames"].size(), hash_at(path, 0.0).frames.size());
  EXPECT_EQ(j["frames"][1]["pdq"], hash_at(path, 0.0).frames[1].hash.to_hex());
  // Not a video and not an image: an error naming the file, exit code 1.
  test::write_file(dir.file("notes.mp4"), {'h', 'i'});
  EXPECT_EQ(run("hash " + dir.file("notes.mp4"), &out), 1);
  EXPECT_NE(err().find("notes.mp4"), std::string::npos) << err();
}

TEST_F(VideoCliTest, RegisterQueryAndFrameGrabsEndToEnd) {
  // A folder with a video and a photo: both registered, each as its medium.
  fs::create_directories(dir.file("works"));
  fs::copy_file(shared_video(kChair), dir.file("works/chair.mp4"));
  test::write_file(dir.file("works/photo.png"),
                   test::encode(test::synthetic_photo(320, 240, 9), ".png"));
  const std::string cat = "--catalog " + dir.file("cat");
  std::string out;
  ASSERT_EQ(run("register " + cat + " --owner Ana --seconds-per-hash 0 " + dir.file("works"), &out),
            0)
      << err();
  const auto reg = lines_of(out);
  ASSERT_EQ(reg.size(), 2u);
  const nlohmann::json video = nlohmann::json::parse(reg[0]);
  EXPECT_EQ(video["work_id"], "chair");
  EXPECT_EQ(video["media"], "video");
  EXPECT_EQ(video["frames"], 673);
  EXPECT_EQ(nlohmann::json::parse(reg[1])["media"], "image");

  // A video query: percentages and segments in JSON; the grey edit copies all of it.
  ASSERT_EQ(run("query " + cat + " --json " + shared_video("chair-22-sd-grey-bar"), &out), 0)
      << err();
  const nlohmann::json q = nlohmann::json::parse(out);
  EXPECT_EQ(q["media"], "video");
  EXPECT_EQ(q["decision"], "flag");
  ASSERT_EQ(q["matches"].size(), 1u);
  const nlohmann::json& m = q["matches"][0];
  EXPECT_EQ(m["work_id"], "chair");
  EXPECT_EQ(m["media"], "video");
  EXPECT_EQ(m["flagged"], true);
  EXPECT_GE(m["query_match_pct"].get<double>(), 95.0);
  ASSERT_EQ(m["segments"].size(), 1u);
  for (const char* k : {"query_start", "query_end", "work_start", "work_end", "frames"}) {
    EXPECT_TRUE(m["segments"][0].contains(k)) << k;
  }
  EXPECT_NEAR(m["segments"][0]["work_end"].get<double>(), 22.0, 1.0);
  // Human form names the seconds.
  ASSERT_EQ(run("query " + cat + " " + shared_video("chair-20-sd-bar"), &out), 0) << err();
  EXPECT_NE(out.find("query 0.0-20.0 s = work 2.0-22.0 s"), std::string::npos) << out;
  ASSERT_EQ(run("query " + cat + " " + shared_video("doorknob-hd-no-bar"), &out), 0);
  EXPECT_NE(out.find("no match"), std::string::npos) << out;

  // A frame grab: not matched among images unless asked, then with the timestamp.
  const DecodedVideo d = decode_all(shared_video(kChair));
  ASSERT_GT(d.frames.size(), 400u);
  test::write_file(dir.file("grab.jpg"), test::encode(d.frames[400], ".jpg", 85));
  ASSERT_EQ(run("query " + cat + " --json " + dir.file("grab.jpg"), &out), 0) << err();
  nlohmann::json g = nlohmann::json::parse(out);
  EXPECT_TRUE(g["matches"].empty());
  EXPECT_FALSE(g.contains("media"));  // the image contract is unchanged
  ASSERT_EQ(run("query " + cat + " --json --video-frames " + dir.file("grab.jpg"), &out), 0)
      << err();
  g = nlohmann::json::parse(out);
  EXPECT_EQ(g["decision"], "flag");
  ASSERT_EQ(g["matches"].size(), 1u);
  EXPECT_EQ(g["matches"][0]["method"], "video-frame");
  EXPECT_EQ(g["matches"][0]["work_id"], "chair");
  EXPECT_NEAR(g["matches"][0]["work_time"].get<double>(), 400 / d.fps, 1.0);
  // The photo still matches as an image, with the image fields only.
  ASSERT_EQ(run("query " + cat + " --json --video-frames " + dir.file("works/photo.png"), &out), 0);
  g = nlohmann::json::parse(out);
  ASSERT_FALSE(g["matches"].empty());
  EXPECT_EQ(g["matches"][0]["work_id"], "photo");
  EXPECT_FALSE(g["matches"][0].contains("media"));

  // Removal through the CLI stops video matching.
  ASSERT_EQ(run("works remove " + cat + " chair", &out), 0) << err();
  ASSERT_EQ(run("query " + cat + " --json " + shared_video("chair-22-sd-grey-bar"), &out), 0);
  EXPECT_TRUE(nlohmann::json::parse(out)["matches"].empty());
}

// --- Alignment on pairs made by hand ---

std::vector<FramePair> pairs_for(double offset, double speed, int from, int to, int first_frame) {
  std::vector<FramePair> p;
  for (int i = from; i <= to; ++i) {
    const int qf = first_frame + (i - from);
    const double tq = double(i);
    // The nearest work frame on a one-second grid, and its neighbour (a slow scene).
    const double tw = std::round(speed * tq + offset);
    p.push_back({qf, tq, tw, 10});
    p.push_back({qf, tq, tw + 1, 20});
  }
  return p;
}

// Every video match says which rule decided it, with the lines it was held against: a share of
// frames, an aligned segment when the share is small, or a near miss; the JSON carries it.
TEST(VideoCatalog, ExplanationsSayWhichRuleMadeTheDecision) {
  test::TempDir dir;
  auto catalog = open_at(dir.file("cat"));
  ASSERT_TRUE(catalog);
  std::mt19937_64 rng(5);
  auto random_frame = [&](int64_t i, double t) {
    FrameHash f;
    f.frame = i;
    f.t = t;
    f.hash = PdqHash::from_words({rng(), rng(), rng(), rng()});
    f.quality = 100;
    return f;
  };
  VideoFingerprint work;
  work.fps = 1;
  for (int i = 0; i < 100; ++i) work.frames.push_back(random_frame(i, i));
  WorkInput in = work_input_from_frame_hashes(work);
  in.work.id = "film";
  register_ok(*catalog, {in});
  auto query = [&](std::vector<FrameHash> frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      frames[i].frame = int64_t(i);
      frames[i].t = double(i);
    }
    VideoQuery q;
    q.fingerprint.frames = std::move(frames);
    MatchOptions mo;
    mo.purpose = Purpose::kAiTraining;
    const VideoQueryResult r = catalog->match_video(q, mo, VideoMatchOptions{});
    EXPECT_EQ(r.matches.size(), 1u);
    return r.matches.empty() ? VideoCandidate{} : r.matches[0];
  };
  // Ten seconds of the film: every query frame matches.
  std::vector<FrameHash> clip(work.frames.begin() + 20, work.frames.begin() + 30);
  VideoCandidate c = query(clip);
  EXPECT_EQ(std::string(c.why.measure), "vpdq-percent");
  EXPECT_EQ(c.why.value, 100.0);
  EXPECT_EQ(c.why.match_line, 50.0);
  EXPECT_EQ(c.why.evidence, Evidence::kCopy);
  EXPECT_EQ(c.decision, MatchDecision::kFlag);
  EXPECT_EQ(c.why.purpose, Purpose::kAiTraining);
  EXPECT_EQ(c.why.permission, Permission::kDeny);
  const nlohmann::json j = video_candidate_to_json(c);
  EXPECT_EQ(j["explanation"]["measure"], "vpdq-percent");
  EXPECT_EQ(j["explanation"]["evidence"], "copy");
  // The same ten seconds inside 30 s of other footage: a quarter of the query, a tenth of the
  // film, a copy by its aligned segment.
  std::vector<FrameHash> inside;
  for (int i = 0; i < 15; ++i) inside.push_back(random_frame(0, 0));
  inside.insert(inside.end(), clip.begin(), clip.end());
  for (int i = 0; i < 15; ++i) inside.push_back(random_frame(0, 0));
  c = query(inside);
  EXPECT_EQ(std::string(c.why.measure), "aligned-seconds");
  EXPECT_EQ(c.why.value, 9.0);  // its first and last aligned frames
  EXPECT_EQ(c.why.match_line, 2.0);
  EXPECT_EQ(c.why.evidence, Evidence::kCopy);
  EXPECT_EQ(c.decision, MatchDecision::kFlag);
  // Two scattered frames of the film in 30 of other footage: a near miss, for review.
  std::vector<FrameHash> scattered;
  for (int i = 0; i < 30; ++i) scattered.push_back(random_frame(0, 0));
  scattered[3] = work.frames[70];
  scattered[20] = work.frames[5];
  c = query(scattered);
  EXPECT_EQ(std::string(c.why.measure), "vpdq-percent");
  EXPECT_NEAR(c.why.value, 100.0 * 2 / 30, 0.01);
  EXPECT_EQ(c.why.evidence, Evidence::kNearMiss);
  EXPECT_EQ(c.decision, MatchDecision::kReview);
}

// Four query frames: 0 matches as it is, 1 only through its bar-cropped hash, 2 through its
// cropped hash against the work's cropped hash, 3 not at all. Against an unbarred work the
// cropped hashes were ignored before, so a letterboxed copy came out at 25%.
TEST(VideoMatchViews, PercentagesCountTheFramesMatchedThroughCroppedHashes) {
  auto hash_of = [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    return PdqHash::from_words({rng(), rng(), rng(), rng()});
  };
  auto frame = [](int64_t i, const PdqHash& h, int quality = 100) {
    FrameHash f;
    f.frame = i;
    f.t = double(i);
    f.hash = h;
    f.quality = quality;
    return f;
  };
  const PdqHash a = hash_of(1), b = hash_of(2), c = hash_of(3), d = hash_of(4);
  const PdqHash bars1 = hash_of(11), bars2 = hash_of(12), bars3 = hash_of(13);
  const PdqHash work_bars = hash_of(21);
  const std::vector<FrameHash> query = {frame(0, a), frame(1, bars1), frame(2, bars2),
                                        frame(3, bars3)};
  const std::vector<FrameHash> query_cropped = {frame(1, b), frame(2, c), frame(3, hash_of(30))};
  const std::vector<FrameHash> work = {frame(0, a), frame(1, b), frame(2, work_bars), frame(3, d)};
  const std::vector<FrameHash> work_cropped = {frame(2, c)};

  // Reference hashes only: frame 0 on each side.
  const VpdqMatch ref = vpdq_match(query, work, 31);
  EXPECT_EQ(ref.query_match_pct, 25.0);
  EXPECT_EQ(ref.target_match_pct, 25.0);
  EXPECT_EQ(vpdq_match_views(query, {}, work, {}, 31).query_match_pct, 25.0);

  const VpdqMatch both = vpdq_match_views(query, query_cropped, work, work_cropped, 31);
  EXPECT_EQ(both.query_match_pct, 75.0);   // 0, 1, 2
  EXPECT_EQ(both.target_match_pct, 75.0);  // 0, 1, 2 (d matches nothing)
  // Without the work's cropped hash, query frame 2 and work frame 2 no longer match.
  const VpdqMatch query_side = vpdq_match_views(query, query_cropped, work, {}, 31);
  EXPECT_EQ(query_side.query_match_pct, 50.0);
  EXPECT_EQ(query_side.target_match_pct, 50.0);

  // A frame whose reference hash is weak counts through a usable cropped hash, and a weak
  // cropped hash neither counts nor matches.
  std::vector<FrameHash> weak_query = query;
  weak_query[1].quality = 10;
  EXPECT_EQ(vpdq_match_views(weak_query, query_cropped, work, work_cropped, 31).query_match_pct,
            75.0);
  std::vector<FrameHash> weak_crops = query_cropped;
  weak_crops[0].quality = 10;
  EXPECT_EQ(vpdq_match_views(weak_query, weak_crops, work, work_cropped, 31).query_match_pct,
            200.0 / 3);
  // A cropped hash naming no frame of its side is ignored.
  const std::vector<FrameHash> stray = {frame(9, b)};
  EXPECT_EQ(vpdq_match_views(query, stray, work, {}, 31).query_match_pct, 25.0);
}

TEST(VideoAlign, OffsetsVoteIntoSegments) {
  std::vector<FramePair> pairs = pairs_for(100.4, 1.0, 0, 29, 0);
  // Noise: frames that match the work at random places (a black card, a logo sting).
  pairs.push_back({3, 3.0, 500.0, 5});
  pairs.push_back({7, 7.0, 12.0, 5});
  const auto segs = align_segments(pairs, 1.0, 1.0, VideoMatchOptions{});
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].frames, 30);
  EXPECT_EQ(segs[0].query_start, 0.0);
  EXPECT_EQ(segs[0].query_end, 29.0);
  EXPECT_NEAR(segs[0].work_start, 100.4, 1.0);
  EXPECT_EQ(segs[0].speed, 1.0);
}

TEST(VideoAlign, GapsSplitAndSeparateOffsetsGiveSeparateSegments) {
  std::vector<FramePair> pairs = pairs_for(50, 1.0, 0, 9, 0);  // query 0-9 -> work 50-59
  auto later = pairs_for(50, 1.0, 40, 49, 10);                 // same offset after 30 s
  auto other = pairs_for(-60, 1.0, 70, 79, 20);                // query 70-79 -> work 10-19
  pairs.insert(pairs.end(), later.begin(), later.end());
  pairs.insert(pairs.end(), other.begin(), other.end());
  const auto segs = align_segments(pairs, 1.0, 1.0, VideoMatchOptions{});
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].query_start, 0.0);
  EXPECT_EQ(segs[1].query_start, 40.0);
  EXPECT_EQ(segs[2].query_start, 70.0);
  EXPECT_NEAR(segs[2].work_start, 10.0, 1.0);
  EXPECT_NEAR(segs[2].work_end, 19.0, 1.0);
}

TEST(VideoAlign, SpeedIsFoundAndOneIsPreferredOnShortStretches) {
  const auto fast = align_segments(pairs_for(20, 1.25, 0, 59, 0), 1.0, 1.0, VideoMatchOptions{});
  ASSERT_FALSE(fast.empty());
  EXPECT_NEAR(fast[0].speed, 1.25, 0.02);
  EXPECT_GE(fast[0].frames, 55);
  EXPECT_NEAR(fast[0].work_end, 20 + 1.25 * fast[0].query_end, 1.0);
  // Three frames fit many speeds; 1 wins.
  const auto short_run = align_segments(pairs_for(5, 1.0, 0, 2, 0), 1.0, 1.0, VideoMatchOptions{});
  ASSERT_EQ(short_run.size(), 1u);
  EXPECT_EQ(short_run[0].speed, 1.0);
  VideoMatchOptions fixed;
  fixed.allow_speed_change = false;
  // With speed changes off, a 1.25x copy still aligns: as speed-1 pieces that follow its drift
  // (the loop alone passed when nothing came back).
  const auto pieces = align_segments(pairs_for(20, 1.25, 0, 59, 0), 1.0, 1.0, fixed);
  ASSERT_GE(pieces.size(), 2u);
  int frames = 0;
  for (const VideoSegment& s : pieces) {
    EXPECT_EQ(s.speed, 1.0);
    EXPECT_NEAR(s.work_end - s.work_start, s.query_end - s.query_start, 1e-9);
    const double mid = (s.query_start + s.query_end) / 2;
    EXPECT_NEAR((s.work_start + s.work_end) / 2, 20 + 1.25 * mid, 1.5) << "query " << mid;
    frames += s.frames;
  }
  EXPECT_GE(frames, 50);  // of 60
}

TEST(VideoAlign, SamplingInterval) {
  EXPECT_EQ(sampling_interval(std::vector<double>{}), 1.0);
  EXPECT_NEAR(sampling_interval(std::vector<double>{0, 0.5, 1.0, 1.5, 4.0}), 0.5, 1e-9);
}

}  // namespace
}  // namespace imprint
