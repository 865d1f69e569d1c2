// VideoReader and vPDQ hashing on inputs made here: hostile files (empty, text, cut, corrupted,
// audio only, absurd sizes), memory against file input, sampling rates, limits, and the skip plan
// against full decoding on encodings chosen to stress it (B-pyramids, open GOPs, no timestamps).
#include "video.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <tuple>

#include "test_support.h"
#include "vpdq_rgb.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace imprint {
namespace {

std::string shared_video(const std::string& name) {
  return test::shared_dir() + "/vpdq-reference/videos/" + name + ".mp4";
}

// What to encode: a camera panning over a synthetic photo, cutting to another photo every
// `scene_frames` frames (which makes the encoder place extra keyframes).
struct EncodeSpec {
  int width = 320;
  int height = 240;
  int frames = 90;
  AVRational fps{30, 1};
  int scene_frames = 40;
  std::string container = "mp4";  // an FFmpeg muxer name
  std::string x264_params = "bframes=3:b-pyramid=normal:keyint=50";
  bool solid = false;  // every frame one colour instead of the pans
  std::string codec = "libx264";  // an FFmpeg encoder name; x264_params apply to libx264 only
};

bool have_x264() { return avcodec_find_encoder_by_name("libx264") != nullptr; }
// A missing encoder fails these tests: skipped, they would report the skip plan, tiny frames and
// odd widths as tested when nothing ran.
constexpr const char* kNoX264 =
    "this FFmpeg has no libx264 encoder; scripts/install-deps.sh installs Debian's libavcodec59 "
    "with libx264-164";

// Each scene picture is made once: encodings that must be identical take their pictures from here.
const Image& scene_photo(int width, int height, uint32_t seed) {
  static std::map<std::tuple<int, int, uint32_t>, Image> cache;
  auto key = std::make_tuple(width, height, seed);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, test::synthetic_photo(width, height, seed)).first;
  return it->second;
}

// Encodes with libx264, single-threaded. Its raw H.264 output is reproducible; its MP4 output
// (global headers) was seen to differ from one run to the next in a frame or two, so tests that
// need one bitstream in two containers remux it (remux). Returns "" or what failed.
std::string encode_video(const std::string& path, const EncodeSpec& spec) {
  const AVCodec* codec = avcodec_find_encoder_by_name(spec.codec.c_str());
  if (!codec) return spec.codec == "libx264" ? kNoX264 : "this FFmpeg has no " + spec.codec;
  AVFormatContext* oc = nullptr;
  if (avformat_alloc_output_context2(&oc, nullptr, spec.container.c_str(), path.c_str()) < 0) {
    return "no muxer " + spec.container;
  }
  AVCodecContext* enc = avcodec_alloc_context3(codec);
  enc->width = spec.width;
  enc->height = spec.height;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = av_inv_q(spec.fps);
  enc->framerate = spec.fps;
  enc->thread_count = 1;
  if (oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (spec.codec == "libx264") {
    av_opt_set(enc->priv_data, "preset", "veryfast", 0);
    av_opt_set(enc->priv_data, "x264-params", spec.x264_params.c_str(), 0);
  }
  std::string error;
  AVStream* st = avformat_new_stream(oc, nullptr);
  if (avcodec_open2(enc, codec, nullptr) < 0) error = "cannot open " + spec.codec;
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
  SwsContext* sws =
      sws_getContext(spec.width, spec.height, AV_PIX_FMT_RGB24, spec.width, spec.height,
                     AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr, nullptr);
  auto drain = [&] {
    while (avcodec_receive_packet(enc, pkt) >= 0) {
      av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      av_interleaved_write_frame(oc, pkt);
    }
  };
  const Image* scene = nullptr;
  for (int i = 0; error.empty() && i < spec.frames; ++i) {
    if (i % spec.scene_frames == 0) {
      scene = &scene_photo(spec.width * 2, spec.height * 2, 1000 + i);
    }
    const int dx = (i % spec.scene_frames) * 3 % spec.width;
    const int dy = (i % spec.scene_frames) * 2 % spec.height;
    Image view(spec.width, spec.height, 3);
    for (int y = 0; y < spec.height; ++y) {
      std::memcpy(view.row(y), scene->row(y + dy) + 3 * dx, view.stride());
      if (spec.solid) {
        for (int x = 0; x < spec.width; ++x) {
          view.row(y)[3 * x] = 180;
          view.row(y)[3 * x + 1] = 120;
          view.row(y)[3 * x + 2] = 60;
        }
      }
    }
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = spec.width;
    frame->height = spec.height;
    if (av_frame_get_buffer(frame, 0) < 0) error = "out of memory";
    const uint8_t* src[1] = {view.pixels.data()};
    const int src_stride[1] = {int(view.stride())};
    sws_scale(sws, src, src_stride, 0, spec.height, frame->data, frame->linesize);
    frame->pts = i;
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

// Copies the video stream of `in` into a new container without re-encoding (the raw "h264"
// muxer converts MP4's length-prefixed packets to Annex B itself). Returns "" or what failed.
std::string remux(const std::string& in, const std::string& out, const std::string& container) {
  AVFormatContext* ic = nullptr;
  if (avformat_open_input(&ic, in.c_str(), nullptr, nullptr) < 0) return "cannot open " + in;
  std::string error;
  AVFormatContext* oc = nullptr;
  if (avformat_find_stream_info(ic, nullptr) < 0 || ic->nb_streams != 1 ||
      avformat_alloc_output_context2(&oc, nullptr, container.c_str(), out.c_str()) < 0) {
    avformat_close_input(&ic);
    return "cannot remux " + in + " to " + container;
  }
  AVStream* st = avformat_new_stream(oc, nullptr);
  avcodec_parameters_copy(st->codecpar, ic->streams[0]->codecpar);
  st->codecpar->codec_tag = 0;
  st->time_base = ic->streams[0]->time_base;
  if (avio_open(&oc->pb, out.c_str(), AVIO_FLAG_WRITE) < 0 ||
      avformat_write_header(oc, nullptr) < 0) {
    error = "cannot write header";
  }
  AVPacket* pkt = av_packet_alloc();
  while (error.empty() && av_read_frame(ic, pkt) >= 0) {
    av_packet_rescale_ts(pkt, ic->streams[0]->time_base, st->time_base);
    pkt->stream_index = 0;
    if (av_interleaved_write_frame(oc, pkt) < 0) error = "cannot write packet";
    av_packet_unref(pkt);
  }
  if (error.empty()) av_write_trailer(oc);
  av_packet_free(&pkt);
  if (oc->pb) avio_closep(&oc->pb);
  avformat_free_context(oc);
  avformat_close_input(&ic);
  return error;
}

// `in`'s video stream copied into Matroska beside a PCM audio track as long as the video (a tone
// in 0.1 s packets), interleaved by time. Returns "" or what failed.
std::string with_audio_track(const std::string& in, const std::string& out) {
  AVFormatContext* ic = nullptr;
  if (avformat_open_input(&ic, in.c_str(), nullptr, nullptr) < 0) return "cannot open " + in;
  AVFormatContext* oc = nullptr;
  if (avformat_find_stream_info(ic, nullptr) < 0 ||
      avformat_alloc_output_context2(&oc, nullptr, "matroska", out.c_str()) < 0) {
    avformat_close_input(&ic);
    return "cannot remux " + in;
  }
  AVStream* vs = avformat_new_stream(oc, nullptr);
  avcodec_parameters_copy(vs->codecpar, ic->streams[0]->codecpar);
  vs->codecpar->codec_tag = 0;
  vs->time_base = ic->streams[0]->time_base;
  AVStream* as = avformat_new_stream(oc, nullptr);
  as->codecpar->codec_type = AVMEDIA_TYPE_AUDIO;
  as->codecpar->codec_id = AV_CODEC_ID_PCM_S16LE;
  as->codecpar->sample_rate = 8000;
  as->codecpar->bits_per_coded_sample = 16;
  as->codecpar->block_align = 2;
  av_channel_layout_default(&as->codecpar->ch_layout, 1);
  as->time_base = {1, 8000};
  std::string error;
  if (avio_open(&oc->pb, out.c_str(), AVIO_FLAG_WRITE) < 0 ||
      avformat_write_header(oc, nullptr) < 0) {
    error = "cannot write header";
  }
  AVPacket* pkt = av_packet_alloc();
  int64_t audio_samples = 0;
  while (error.empty() && av_read_frame(ic, pkt) >= 0) {
    av_packet_rescale_ts(pkt, ic->streams[0]->time_base, vs->time_base);
    pkt->stream_index = vs->index;
    const double t = pkt->dts * av_q2d(vs->time_base);
    if (av_interleaved_write_frame(oc, pkt) < 0) error = "cannot write video";
    while (error.empty() && audio_samples < (t + 0.1) * 8000) {  // audio up to this frame
      AVPacket* a = av_packet_alloc();
      av_new_packet(a, 1600);
      for (int i = 0; i < 800; ++i) {
        const int16_t v = int16_t(8000 * std::sin(2 * M_PI * 440 * (audio_samples + i) / 8000.0));
        std::memcpy(a->data + 2 * i, &v, 2);
      }
      a->pts = a->dts = audio_samples;
      a->duration = 800;
      a->stream_index = as->index;
      audio_samples += 800;
      if (av_interleaved_write_frame(oc, a) < 0) error = "cannot write audio";
      av_packet_free(&a);
    }
  }
  if (error.empty()) av_write_trailer(oc);
  av_packet_free(&pkt);
  if (oc->pb) avio_closep(&oc->pb);
  avformat_free_context(oc);
  avformat_close_input(&ic);
  return error;
}

// A Matroska file with one PCM audio track and no video.
std::string write_audio_only(const std::string& path) {
  AVFormatContext* oc = nullptr;
  if (avformat_alloc_output_context2(&oc, nullptr, "matroska", path.c_str()) < 0) {
    return "no matroska muxer";
  }
  AVStream* st = avformat_new_stream(oc, nullptr);
  st->codecpar->codec_type = AVMEDIA_TYPE_AUDIO;
  st->codecpar->codec_id = AV_CODEC_ID_PCM_S16LE;
  st->codecpar->sample_rate = 8000;
  st->codecpar->bits_per_coded_sample = 16;
  st->codecpar->block_align = 2;
  av_channel_layout_default(&st->codecpar->ch_layout, 1);
  st->time_base = {1, 8000};
  std::string error;
  if (avio_open(&oc->pb, path.c_str(), AVIO_FLAG_WRITE) < 0 ||
      avformat_write_header(oc, nullptr) < 0) {
    error = "cannot write header";
  }
  AVPacket* pkt = av_packet_alloc();
  for (int i = 0; error.empty() && i < 20; ++i) {  // 2 s of a 440 Hz tone
    av_new_packet(pkt, 1600);
    for (int s = 0; s < 800; ++s) {
      const int16_t v = int16_t(8000 * std::sin(2 * M_PI * 440 * (i * 800 + s) / 8000.0));
      std::memcpy(pkt->data + 2 * s, &v, 2);
    }
    pkt->pts = pkt->dts = av_rescale_q(int64_t(i) * 800, {1, 8000}, st->time_base);
    pkt->duration = av_rescale_q(800, {1, 8000}, st->time_base);
    pkt->stream_index = 0;
    av_interleaved_write_frame(oc, pkt);
  }
  if (error.empty()) av_write_trailer(oc);
  av_packet_free(&pkt);
  if (oc->pb) avio_closep(&oc->pb);
  avformat_free_context(oc);
  return error;
}

VideoOptions every_frame() {
  VideoOptions o;
  o.seconds_per_hash = 0;
  return o;
}

// A tenth of the frames: enough to compare runs, a tenth of the hashing.
VideoOptions tenth_second() {
  VideoOptions o;
  o.seconds_per_hash = 0.1;
  return o;
}

VideoOptions per_second(double s, bool skip = true) {
  VideoOptions o;
  o.seconds_per_hash = s;
  o.skip_unsampled = skip;
  return o;
}

// Frame numbers, qualities and hashes (not timestamps, which depend on the container's rate).
std::vector<std::tuple<int64_t, int, std::string>> frames_of(const VideoFingerprint& fp) {
  std::vector<std::tuple<int64_t, int, std::string>> out;
  for (const auto& f : fp.frames) out.emplace_back(f.frame, f.quality, f.hash.to_hex());
  return out;
}

// ---- Hostile input ----

TEST(VideoHostile, ZeroBytesIsInvalidArgument) {
  test::TempDir dir;
  const std::string path = dir.file("empty.mp4");
  test::write_file(path, {});
  auto fp = hash_video_file(path);
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kInvalidArgument) << fp.status().to_string();
  auto mem = hash_video_bytes({});
  ASSERT_FALSE(mem.ok());
  EXPECT_EQ(mem.status().code(), StatusCode::kInvalidArgument);
}

TEST(VideoHostile, MissingFileIsNotFound) {
  test::TempDir dir;
  auto fp = hash_video_file(dir.file("nothing-here.mp4"));
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kNotFound);
}

TEST(VideoHostile, TextAndRandomBytesAreNotVideo) {
  const std::string text = "This is a text file pretending to be a video.\n";
  std::vector<uint8_t> bytes(text.begin(), text.end());
  auto fp = hash_video_bytes(bytes);
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kInvalidArgument) << fp.status().to_string();

  std::mt19937 rng(7);
  std::vector<uint8_t> noise(200000);
  for (auto& b : noise) b = uint8_t(rng());
  auto fn = hash_video_bytes(noise);
  ASSERT_FALSE(fn.ok());
  EXPECT_EQ(fn.status().code(), StatusCode::kInvalidArgument) << fn.status().to_string();
}

TEST(VideoHostile, ImageFileIsNotAVideo) {
  // JPEG and PNG are demuxable by FFmpeg as one-picture streams; we do not accept them here.
  const auto png = test::encode(test::synthetic_photo(64, 48, 3), ".png");
  auto fp = hash_video_bytes(png);
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kInvalidArgument) << fp.status().to_string();
}

TEST(VideoHostile, AudioOnlyFileHasNoVideoStream) {
  test::TempDir dir;
  const std::string path = dir.file("tone.mkv");
  ASSERT_EQ(write_audio_only(path), "");
  auto fp = hash_video_file(path);
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kUnsupported) << fp.status().to_string();
  EXPECT_NE(fp.status().message().find("no video stream"), std::string::npos);
}

// chair-19-sd-bar has its index (moov) before the media data, so a cut file still opens: the
// frames before the cut come out, identical to the whole file's, flagged partial.
TEST(VideoHostile, CutFileWithIndexFirstGivesFlaggedPartialPrefix) {
  const auto whole = test::read_all(shared_video("chair-19-sd-bar"));
  auto full = hash_video_bytes(whole, tenth_second());
  ASSERT_TRUE(full.ok()) << full.status().to_string();
  ASSERT_FALSE(full->partial);
  for (double keep : {0.5, 0.9}) {
    std::vector<uint8_t> cut(whole.begin(), whole.begin() + size_t(whole.size() * keep));
    auto fp = hash_video_bytes(cut, tenth_second());
    ASSERT_TRUE(fp.ok()) << fp.status().to_string();
    EXPECT_TRUE(fp->partial);
    EXPECT_FALSE(fp->partial_reason.empty());
    ASSERT_GT(fp->frames.size(), 10u);
    ASSERT_LT(fp->frames.size(), full->frames.size());
    // Frames decoded before the cut are the same frames; the last few may be damaged by it.
    const size_t check = fp->frames.size() - 2;
    for (size_t i = 0; i < check; ++i) {
      EXPECT_EQ(fp->frames[i].frame, full->frames[i].frame);
      EXPECT_EQ(fp->frames[i].hash, full->frames[i].hash) << "frame " << i;
    }
    // The skip plan on a cut file: same prefix of one-per-second frames, also flagged.
    auto sparse = hash_video_bytes(cut, per_second(1.0));
    ASSERT_TRUE(sparse.ok()) << sparse.status().to_string();
    EXPECT_TRUE(sparse->partial);
  }
}

// test-padded-dimensions has its index at the end: a cut file has no index and is refused.
TEST(VideoHostile, CutFileWithIndexLastIsRefused) {
  const auto whole = test::read_all(shared_video("test-padded-dimensions"));
  std::vector<uint8_t> cut(whole.begin(), whole.begin() + whole.size() / 2);
  auto fp = hash_video_bytes(cut);
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kInvalidArgument) << fp.status().to_string();
  // Only the first bytes of a file: the same.
  std::vector<uint8_t> head(whole.begin(), whole.begin() + 100);
  EXPECT_FALSE(hash_video_bytes(head).ok());
}

// Garbage written over the compressed frames: no crash, frames still come out, flagged partial.
TEST(VideoHostile, CorruptedFramesAreFlaggedNotFatal) {
  auto bytes = test::read_all(shared_video("chair-19-sd-bar"));
  std::mt19937 rng(11);
  const size_t media_start = 64 * 1024;  // past the index at the front
  for (int hit = 0; hit < 40; ++hit) {
    const size_t at = media_start + rng() % (bytes.size() - media_start - 512);
    for (size_t i = 0; i < 512; ++i) bytes[at + i] = uint8_t(rng());
  }
  for (const VideoOptions& o : {tenth_second(), per_second(1.0)}) {
    auto fp = hash_video_bytes(bytes, o);
    ASSERT_TRUE(fp.ok()) << fp.status().to_string();
    EXPECT_TRUE(fp->partial);
    // Either the decoder refused packets or it concealed errors; both say "decode".
    EXPECT_NE(fp->partial_reason.find("decode"), std::string::npos) << fp->partial_reason;
    EXPECT_GT(fp->frames.size(), 10u);
    for (size_t i = 1; i < fp->frames.size(); ++i) {
      EXPECT_GT(fp->frames[i].frame, fp->frames[i - 1].frame);
    }
  }
}

// The container claims 65535 x 65535 frames: refused before anything is decoded.
TEST(VideoHostile, AbsurdDimensionsAreRefusedBeforeDecoding) {
  auto bytes = test::read_all(shared_video("doorknob-hd-no-bar"));
  // The sample description (stsd) holds the avc1 entry; "avc1" also appears among the brands.
  const std::string stsd = "stsd", fourcc = "avc1";
  auto it = std::search(bytes.begin(), bytes.end(), stsd.begin(), stsd.end());
  ASSERT_NE(it, bytes.end());
  it = std::search(it, bytes.end(), fourcc.begin(), fourcc.end());
  ASSERT_NE(it, bytes.end());
  // VisualSampleEntry: 6 reserved, data_reference_index, 16 bytes predefined/reserved, then
  // 16-bit width and height.
  const size_t at = size_t(it - bytes.begin()) + 4 + 6 + 2 + 16;
  ASSERT_EQ((bytes[at] << 8) | bytes[at + 1], 1280);
  bytes[at] = bytes[at + 1] = bytes[at + 2] = bytes[at + 3] = 0xff;
  auto fp = hash_video_bytes(bytes);
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kResourceExhausted) << fp.status().to_string();

  // And a real 1280x720 video under a limit below its size.
  VideoOptions small;
  small.max_pixels = 640 * 480;
  auto limited = hash_video_file(shared_video("doorknob-hd-no-bar"), small);
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.status().code(), StatusCode::kResourceExhausted);
}

TEST(VideoHostile, CodecsOutsideTheWhitelistAreRefusedBeforeDecoding) {
  test::TempDir dir;
  // Containers we read, holding codecs we do not decode: lossless FFV1 in Matroska, raw frames in
  // AVI. Both decode fine in FFmpeg; they are refused because they are not on the list.
  for (const auto& [codec, container] : {std::pair<std::string, std::string>{"ffv1", "matroska"},
                                         {"rawvideo", "avi"}}) {
    EncodeSpec spec;
    spec.codec = codec;
    spec.container = container;
    spec.frames = 10;
    const std::string path = dir.file(codec + "." + container);
    ASSERT_EQ(encode_video(path, spec), "") << codec;
    const std::string want = "video codec " + codec + " is not one imprint decodes (h264, hevc";
    auto from_file = hash_video_file(path, every_frame());
    ASSERT_FALSE(from_file.ok()) << codec;
    EXPECT_EQ(from_file.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(from_file.status().message().find(want), std::string::npos)
        << from_file.status().message();
    const std::vector<uint8_t> bytes = test::read_all(path);
    auto from_memory = VideoReader::open_bytes(bytes, every_frame());
    ASSERT_FALSE(from_memory.ok()) << codec;
    EXPECT_NE(from_memory.status().message().find(want), std::string::npos)
        << from_memory.status().message();
  }
  // A listed codec from another encoder than x264 (MPEG-4 part 2 in AVI) is read as ever.
  EncodeSpec mpeg4;
  mpeg4.codec = "mpeg4";
  mpeg4.container = "avi";
  mpeg4.frames = 10;
  ASSERT_EQ(encode_video(dir.file("mpeg4.avi"), mpeg4), "");
  auto fp = hash_video_file(dir.file("mpeg4.avi"), every_frame());
  ASSERT_TRUE(fp.ok()) << fp.status().to_string();
  EXPECT_EQ(fp->frames.size(), 10u);
}

// The stream probe opens only the listed video decoders: an audio track beside the video is
// demuxed and skipped, never decoded, and changes nothing in the hashes.
TEST(VideoInput, AudioTrackBesideTheVideoChangesNoHash) {
  test::TempDir dir;
  EncodeSpec spec;
  spec.frames = 60;
  ASSERT_EQ(encode_video(dir.file("a.mp4"), spec), "");
  ASSERT_EQ(remux(dir.file("a.mp4"), dir.file("a.mkv"), "matroska"), "");
  ASSERT_EQ(with_audio_track(dir.file("a.mp4"), dir.file("av.mkv")), "");
  auto video_only = hash_video_file(dir.file("a.mkv"), tenth_second());
  ASSERT_TRUE(video_only.ok()) << video_only.status().to_string();
  auto with_audio = hash_video_file(dir.file("av.mkv"), tenth_second());
  ASSERT_TRUE(with_audio.ok()) << with_audio.status().to_string();
  EXPECT_EQ(frames_of(*with_audio), frames_of(*video_only));
  EXPECT_FALSE(with_audio->partial) << with_audio->partial_reason;
}

TEST(VideoHostile, FramesUnderFivePixelsAreUnsupported) {
  ASSERT_TRUE(have_x264()) << kNoX264;
  test::TempDir dir;
  EncodeSpec spec;
  spec.width = 4;
  spec.height = 4;
  spec.frames = 10;
  // x264 needs even sizes and at least 2x2 of content; 4x4 is legal.
  ASSERT_EQ(encode_video(dir.file("tiny.mp4"), spec), "");
  auto fp = hash_video_file(dir.file("tiny.mp4"));
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kUnsupported) << fp.status().to_string();
}

// ---- Limits ----

TEST(VideoLimits, MaxFramesAndMaxSecondsCutAndFlag) {
  const std::string path = shared_video("chair-19-sd-bar");  // 564 frames at 30 fps
  for (bool skip : {true, false}) {
    VideoOptions o = per_second(1.0, skip);
    o.max_frames = 100;
    auto fp = hash_video_file(path, o);
    ASSERT_TRUE(fp.ok()) << fp.status().to_string();
    EXPECT_TRUE(fp->partial);
    EXPECT_NE(fp->partial_reason.find("max_frames"), std::string::npos) << fp->partial_reason;
    ASSERT_EQ(fp->frames.size(), 4u);  // frames 0, 30, 60, 90
    EXPECT_EQ(fp->frames.back().frame, 90);

    VideoOptions s = per_second(1.0, skip);
    s.max_seconds = 5.0;
    auto fs = hash_video_file(path, s);
    ASSERT_TRUE(fs.ok()) << fs.status().to_string();
    EXPECT_TRUE(fs->partial);
    ASSERT_EQ(fs->frames.size(), 5u);  // 0 .. 4 s
    EXPECT_EQ(fs->frames.back().frame, 120);
  }
}

TEST(VideoLimits, NonPositiveLimitsAreInvalidOptions) {
  for (int which = 0; which < 3; ++which) {
    VideoOptions o;
    if (which == 0) o.max_frames = 0;
    if (which == 1) o.max_seconds = 0;
    if (which == 2) o.max_pixels = -1;
    auto fp = hash_video_file(shared_video("doorknob-hd-no-bar"), o);
    ASSERT_FALSE(fp.ok());
    EXPECT_EQ(fp.status().code(), StatusCode::kInvalidArgument) << fp.status().to_string();
  }
}

TEST(VideoLimits, SampledFrameBudgetRefusesWithResourceExhausted) {
  const std::string path = shared_video("chair-19-sd-bar");  // 564 frames at 30 fps
  for (bool skip : {true, false}) {
    // One a second: 19 frames (0 .. 540). A budget of 19 is enough; 18 is not.
    VideoOptions o = per_second(1.0, skip);
    o.max_sampled_frames = 19;
    auto fits = hash_video_file(path, o);
    ASSERT_TRUE(fits.ok()) << fits.status().to_string();
    EXPECT_EQ(fits->frames.size(), 19u);
    o.max_sampled_frames = 18;
    auto over = hash_video_file(path, o);
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.status().code(), StatusCode::kResourceExhausted);
    EXPECT_NE(over.status().message().find("more than 18 frames to hash"), std::string::npos)
        << over.status().message();
  }
  // Every frame with a budget of 20: the reader stops at the 21st, not at the end.
  VideoOptions every = every_frame();
  every.max_sampled_frames = 20;
  auto reader = VideoReader::open_file(path, every);
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  VideoFrame frame;
  int frames = 0;
  while ((*reader)->next(&frame)) ++frames;
  EXPECT_EQ(frames, 20);
  EXPECT_EQ((*reader)->status().code(), StatusCode::kResourceExhausted);
  EXPECT_LE((*reader)->frames_decoded(), 21);

  VideoOptions negative;
  negative.max_sampled_frames = -1;
  EXPECT_EQ(hash_video_file(path, negative).status().code(), StatusCode::kInvalidArgument);
}

TEST(VideoCancel, KeepGoingFalseStopsReadingAtTheNextFrame) {
  const std::string path = shared_video("chair-19-sd-bar");
  for (bool skip : {true, false}) {
    bool stop = false;
    int64_t asked = 0;
    VideoOptions o = per_second(0.1, skip);
    o.keep_going = [&] {
      ++asked;
      return !stop;
    };
    auto reader = VideoReader::open_file(path, o);
    ASSERT_TRUE(reader.ok()) << reader.status().to_string();
    EXPECT_GT(asked, 0);  // asked while opening too
    VideoFrame frame;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*reader)->next(&frame));
    const int64_t decoded = (*reader)->frames_decoded();
    stop = true;
    EXPECT_FALSE((*reader)->next(&frame));
    EXPECT_EQ((*reader)->status().code(), StatusCode::kCancelled)
        << (*reader)->status().to_string();
    EXPECT_EQ((*reader)->frames_decoded(), decoded);  // nothing more was decoded
    EXPECT_FALSE((*reader)->next(&frame));            // and it stays stopped
  }
  // Stopped before it starts: opening fails, with the reason.
  VideoOptions never;
  never.keep_going = [] { return false; };
  auto refused = VideoReader::open_file(path, never);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kCancelled) << refused.status().to_string();
  // Stopped midway through hashing: the hash fails as cancelled, from memory as from a file.
  const std::vector<uint8_t> bytes = test::read_all(path);
  int64_t polls = 0;
  VideoOptions midway = every_frame();
  midway.keep_going = [&] { return ++polls < 100; };
  auto hashed = hash_video_bytes(bytes, midway);
  ASSERT_FALSE(hashed.ok());
  EXPECT_EQ(hashed.status().code(), StatusCode::kCancelled) << hashed.status().to_string();
}

// ---- Input forms and sampling ----

TEST(VideoInput, MemoryBufferGivesTheSameHashesAsTheFile) {
  const std::string path = shared_video("pattern-sd-with-small-logo-bar");
  const auto bytes = test::read_all(path);
  for (const VideoOptions& o : {every_frame(), per_second(1.0), per_second(1.0, false)}) {
    auto from_file = hash_video_file(path, o);
    auto from_memory = hash_video_bytes(bytes, o);
    ASSERT_TRUE(from_file.ok()) << from_file.status().to_string();
    ASSERT_TRUE(from_memory.ok()) << from_memory.status().to_string();
    EXPECT_EQ(frames_of(*from_file), frames_of(*from_memory));
    EXPECT_EQ(from_file->fps, from_memory->fps);
    EXPECT_EQ(from_file->width, from_memory->width);
    EXPECT_DOUBLE_EQ(from_file->duration_s, from_memory->duration_s);
  }
}

TEST(VideoInput, ReaderReportsStreamFactsAndFrames) {
  VideoOptions o = per_second(2.0);
  auto reader = VideoReader::open_file(shared_video("doorknob-hd-no-bar"), o);
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  const VideoInfo& info = (*reader)->info();
  EXPECT_EQ(info.codec, "h264");
  EXPECT_EQ(info.width, 1280);
  EXPECT_EQ(info.height, 720);
  EXPECT_DOUBLE_EQ(info.fps, 30.0);
  EXPECT_EQ(info.frame_mod, 60);
  EXPECT_NEAR(info.duration_s, 4.0, 0.05);
  VideoFrame f;
  std::vector<int64_t> numbers;
  while ((*reader)->next(&f)) {
    numbers.push_back(f.frame_number);
    EXPECT_EQ(f.image.width, 1280);
    EXPECT_EQ(f.image.height, 720);
    EXPECT_EQ(f.image.channels, 3);
    EXPECT_DOUBLE_EQ(f.timestamp_s, f.frame_number / 30.0f);
  }
  EXPECT_TRUE((*reader)->status().ok());
  EXPECT_FALSE((*reader)->partial()) << (*reader)->partial_reason();
  EXPECT_EQ(numbers, (std::vector<int64_t>{0, 60}));
}

// Sampled hashes are exactly the every-frame hashes at multiples of frame_mod, whatever the rate
// and whether or not unsampled frames are decoded.
TEST(VideoSampling, SampledFramesAreTheEveryFrameHashesAtMultiplesOfFrameMod) {
  const std::string path = shared_video("pattern-sd-grey-bar");  // 206 frames at 30 fps
  auto all = hash_video_file(path, every_frame());
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->frames.size(), 206u);
  for (double s : {0.1, 0.5, 1.0, 2.0, 3.3, 100.0}) {
    const int64_t mod = std::max<int64_t>(1, int64_t(s * 30.0));
    std::vector<std::tuple<int64_t, int, std::string>> want;
    for (const auto& f : frames_of(*all)) {
      if (std::get<0>(f) % mod == 0) want.push_back(f);
    }
    for (bool skip : {true, false}) {
      auto fp = hash_video_file(path, per_second(s, skip));
      ASSERT_TRUE(fp.ok()) << fp.status().to_string();
      EXPECT_EQ(frames_of(*fp), want) << "seconds_per_hash " << s << " skip " << skip;
      EXPECT_FALSE(fp->partial) << fp->partial_reason;
    }
  }
}

TEST(VideoSampling, DecoderAndHashThreadsDoNotChangeHashes) {
  const std::string path = shared_video("doorknob-hd-no-bar");
  VideoOptions one = every_frame();
  VideoOptions many = every_frame();
  many.threads = 3;
  auto a = hash_video_file(path, one);
  auto b = hash_video_file(path, many);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(frames_of(*a), frames_of(*b));
}

// ---- Conversion to RGB ----

// swscale's SIMD path leaves the last width % 8 pixels of a YUV 4:2:0 row unwritten; FrameToRgb
// fills them with the values a full-width conversion gives. Same planes seen as 864 pixels wide
// (a multiple of 8, all written) and as narrower frames: the pixels they share must agree.
TEST(VideoRgb, RightEdgeOfWidthsNotMultipleOfEightMatchesFullWidthConversion) {
  for (AVPixelFormat format : {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVJ422P}) {
    AVFrame* wide = av_frame_alloc();
    wide->format = format;
    wide->width = 864;
    wide->height = 96;
    ASSERT_EQ(av_frame_get_buffer(wide, 0), 0);
    std::mt19937 rng(5);
    const int chroma_rows = format == AV_PIX_FMT_YUV420P ? 48 : 96;
    for (int p = 0; p < 3; ++p) {
      const int rows = p == 0 ? 96 : chroma_rows;
      for (int i = 0; i < rows * wide->linesize[p]; ++i) wide->data[p][i] = uint8_t(rng());
    }
    FrameToRgb convert;
    Image full;
    ASSERT_TRUE(convert.convert(*wide, &full));
    for (int w : {858, 854, 850, 851, 849}) {
      AVFrame narrow = *wide;  // a view: same planes, fewer columns
      narrow.width = w;
      Image part;
      FrameToRgb convert_part;
      ASSERT_TRUE(convert_part.convert(narrow, &part));
      const int tail = w % 8;
      int differing = 0, differing_in_tail = 0;
      for (int y = 0; y < part.height; ++y) {
        for (int x = 0; x < 3 * w; ++x) {
          const bool diff = part.row(y)[x] != full.row(y)[x];
          (x >= 3 * (w - tail) ? differing_in_tail : differing) += diff;
        }
      }
      EXPECT_EQ(differing, 0) << "width " << w;  // the SIMD-written pixels, untouched
      if (w % 2 == 0) {
        EXPECT_EQ(differing_in_tail, 0) << "width " << w;  // the strip: identical values
      }
      // Odd widths take the edge from swscale's C path, whose chroma interpolation differs from
      // the SIMD path's nearest sample (a lot, on this random chroma): not compared.
    }
    av_frame_free(&wide);
  }
}

// The vectorised luma feeds PDQ exactly what pdq_hash computes from the same pixels, including
// the scalar tail of pixel counts that are not multiples of 16.
TEST(VideoRgb, VectorisedLumaGivesPdqHashBits) {
  for (auto [w, h] : {std::pair{64, 64}, {333, 211}, {17, 5}, {1280, 720}}) {
    const Image img = test::synthetic_photo(w, h, uint32_t(w * h));
    std::vector<float> luma(size_t(w) * h);
    rgb24_to_luma(img.pixels.data(), luma.data(), luma.size());
    for (size_t i = 0; i < luma.size(); ++i) {
      const uint8_t* p = &img.pixels[3 * i];
      ASSERT_EQ(luma[i], 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) << i;
    }
    const PdqResult want = pdq_hash(img);
    const PdqResult got = pdq_hash_luma(luma.data(), h, w);
    EXPECT_EQ(got.hash, want.hash) << w << "x" << h;
    EXPECT_EQ(got.quality, want.quality);
  }
}

// A real 854 x 480 H.264 video of one colour: the last 6 columns hold that colour too.
TEST(VideoRgb, VideoOfWidth854HasNoUnwrittenEdge) {
  ASSERT_TRUE(have_x264()) << kNoX264;
  test::TempDir dir;
  EncodeSpec spec;
  spec.width = 854;
  spec.height = 480;
  spec.frames = 3;
  spec.solid = true;
  ASSERT_EQ(encode_video(dir.file("solid.mp4"), spec), "");
  auto reader = VideoReader::open_file(dir.file("solid.mp4"), every_frame());
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  VideoFrame f;
  int frames = 0;
  while ((*reader)->next(&f)) {
    ++frames;
    ASSERT_EQ(f.image.width, 854);
    for (int y = 0; y < f.image.height; y += 7) {
      for (int x = 840; x < 854; ++x) {
        EXPECT_NEAR(f.image.row(y)[3 * x], 180, 4) << x << "," << y;
        EXPECT_NEAR(f.image.row(y)[3 * x + 1], 120, 4) << x << "," << y;
        EXPECT_NEAR(f.image.row(y)[3 * x + 2], 60, 4) << x << "," << y;
      }
    }
  }
  EXPECT_EQ(frames, 3);
}

// ---- The skip plan against full decoding, on encodings made to stress it ----

struct PlanCase {
  std::string name;
  EncodeSpec spec;
};

// The encodings fast mode's plan is tested on: x264's defaults with a B-pyramid and scene cuts,
// an open GOP, and 29.97 fps with many references.
std::vector<PlanCase> fast_mode_cases() {
  std::vector<PlanCase> cases(3);
  cases[0].name = "b-pyramid, keyint 50, scene cuts";
  cases[1].name = "open GOP";
  cases[1].spec.x264_params = "bframes=3:b-pyramid=normal:keyint=24:open-gop=1";
  cases[2].name = "29.97 fps, many references";
  cases[2].spec.x264_params = "bframes=5:b-pyramid=strict:ref=6:keyint=40";
  cases[2].spec.fps = {30000, 1001};
  return cases;
}

TEST(VideoSkipPlan, GivesFullDecodingHashesOnStressEncodings) {
  ASSERT_TRUE(have_x264()) << kNoX264;
  std::vector<PlanCase> cases = fast_mode_cases();
  PlanCase no_b{"no B-frames, keyint 7", {}};
  no_b.spec.x264_params = "bframes=0:keyint=7";
  cases.push_back(no_b);
  PlanCase mkv{"B-frames not referenced, 25 fps, matroska", {}};
  mkv.spec.x264_params = "bframes=2:b-pyramid=none:keyint=30";
  mkv.spec.fps = {25, 1};
  mkv.spec.container = "matroska";
  cases.push_back(mkv);
  test::TempDir dir;
  for (const PlanCase& c : cases) {
    const std::string path = dir.file("plan." + c.spec.container);
    ASSERT_EQ(encode_video(path, c.spec), "") << c.name;
    for (double s : {0.2, 0.5, 1.0, 1.7}) {
      auto skipped = hash_video_file(path, per_second(s, true));
      auto full = hash_video_file(path, per_second(s, false));
      ASSERT_TRUE(skipped.ok()) << c.name << ": " << skipped.status().to_string();
      ASSERT_TRUE(full.ok()) << c.name << ": " << full.status().to_string();
      EXPECT_EQ(frames_of(*skipped), frames_of(*full)) << c.name << " at " << s << " s";
      EXPECT_FALSE(skipped->partial) << c.name << ": " << skipped->partial_reason;
      EXPECT_GE(skipped->frames.size(), size_t(90 / (s * 30.0)));
    }
    VideoOptions o = per_second(1.0);
    auto reader = VideoReader::open_file(path, o);
    ASSERT_TRUE(reader.ok());
    EXPECT_TRUE((*reader)->used_skip_plan()) << c.name;
  }
}

// Frame numbers, timestamps and the frames decoded by one reader run, and its status (hash_video_*
// would hide a broken plan by decoding everything again).
struct ReaderRun {
  std::vector<std::pair<int64_t, double>> frames;
  int64_t decoded = 0;
  std::string error;  // "" when the reader ended without error, on its plan
};
ReaderRun read_all(const std::string& path, const VideoOptions& o) {
  ReaderRun run;
  auto reader = VideoReader::open_file(path, o);
  EXPECT_TRUE(reader.ok()) << reader.status().to_string();
  if (!reader.ok()) return run;
  VideoFrame f;
  while ((*reader)->next(&f)) run.frames.emplace_back(f.frame_number, f.timestamp_s);
  if (!(*reader)->status().ok()) run.error = (*reader)->status().to_string();
  if (!(*reader)->used_skip_plan()) run.error = "no skip plan";
  EXPECT_FALSE((*reader)->partial()) << (*reader)->partial_reason();
  run.decoded = (*reader)->frames_decoded();
  return run;
}

// fast_snap_to_anchors hashes an earlier I- or P-picture for a sampled B-picture but reports the
// sampled frame's number and time, and decodes no more than without it. Fast mode keeps its plan
// on every encoding, the open GOP included: its skipped B-references once left frame 0 in the
// decoder until the next group's frames had come out, which broke the plan (and hash_video_*
// then decoded everything again); the decoder is now drained and reset before a run that
// starts after a gap.
TEST(VideoSkipPlan, FastSnapToAnchorsKeepsFrameNumbersAndDecodesLess) {
  ASSERT_TRUE(have_x264()) << kNoX264;
  const std::vector<PlanCase> cases = fast_mode_cases();
  test::TempDir dir;
  int64_t decoded = 0, decoded_snapped = 0;
  for (const PlanCase& c : cases) {
    const std::string path = dir.file("snap." + c.spec.container);
    ASSERT_EQ(encode_video(path, c.spec), "") << c.name;
    for (double s : {0.2, 0.5, 1.0}) {
      VideoOptions o = per_second(s);
      o.mode = HashMode::kFast;
      const ReaderRun plain = read_all(path, o);
      o.fast_snap_to_anchors = true;
      const ReaderRun snapped = read_all(path, o);
      EXPECT_EQ(plain.error, "") << c.name << " at " << s << " s";
      EXPECT_EQ(snapped.error, "") << c.name << " at " << s << " s";
      if (!plain.error.empty() || !snapped.error.empty()) continue;
      EXPECT_EQ(snapped.frames, plain.frames) << c.name << " at " << s << " s";
      EXPECT_LE(snapped.decoded, plain.decoded) << c.name << " at " << s << " s";
      decoded += plain.decoded;
      decoded_snapped += snapped.decoded;
    }
  }
  EXPECT_LT(decoded_snapped, decoded);
}

// Fast mode skips avformat_find_stream_info's probe decoding where an MP4 header says enough
// (VideoOptions::fast_skip_probe) and gives the decoder the reorder delay the skip plan measures:
// the same frames, numbers and hashes as with the probe.
TEST(VideoSkipPlan, FastModeWithoutTheProbeGivesTheProbedFrames) {
  ASSERT_TRUE(have_x264()) << kNoX264;
  const std::vector<PlanCase> cases = fast_mode_cases();
  test::TempDir dir;
  for (const PlanCase& c : cases) {
    const std::string path = dir.file("probe." + c.spec.container);
    ASSERT_EQ(encode_video(path, c.spec), "") << c.name;
    for (double s : {0.5, 1.0}) {
      VideoOptions o = per_second(s);
      o.mode = HashMode::kFast;
      auto skipped = hash_video_file(path, o);
      o.fast_skip_probe = false;
      auto probed = hash_video_file(path, o);
      ASSERT_TRUE(skipped.ok()) << c.name << ": " << skipped.status().to_string();
      ASSERT_TRUE(probed.ok()) << c.name << ": " << probed.status().to_string();
      EXPECT_EQ(frames_of(*skipped), frames_of(*probed)) << c.name << " at " << s << " s";
      EXPECT_EQ(skipped->fps, probed->fps) << c.name;
      EXPECT_FALSE(skipped->partial) << c.name << ": " << skipped->partial_reason;
      EXPECT_GE(skipped->frames.size(), size_t(80 / (s * 30.0))) << c.name;
      o.fast_skip_probe = true;
      const ReaderRun run = read_all(path, o);  // on its plan, nothing out of order
      EXPECT_EQ(run.error, "") << c.name << " at " << s << " s";
    }
  }
}

// A raw H.264 stream has no timestamps: no plan, full decoding, and the same frames as the same
// bitstream in MP4.
TEST(VideoSkipPlan, RawStreamWithoutTimestampsFallsBackToFullDecoding) {
  ASSERT_TRUE(have_x264()) << kNoX264;
  test::TempDir dir;
  // One encoding in both containers: libx264's output for MP4 (global headers) is not the same
  // from one run to the next, so two encodings need not hold the same pictures.
  ASSERT_EQ(encode_video(dir.file("a.mp4"), EncodeSpec{}), "");
  ASSERT_EQ(remux(dir.file("a.mp4"), dir.file("a.h264"), "h264"), "");
  auto mp4 = hash_video_file(dir.file("a.mp4"), every_frame());
  auto raw = hash_video_file(dir.file("a.h264"), every_frame());
  ASSERT_TRUE(mp4.ok()) << mp4.status().to_string();
  ASSERT_TRUE(raw.ok()) << raw.status().to_string();
  EXPECT_EQ(frames_of(*mp4), frames_of(*raw));
  EXPECT_EQ(raw->frames.size(), 90u);

  auto reader = VideoReader::open_file(dir.file("a.h264"), per_second(1.0));
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  VideoFrame f;
  int64_t n = 0;
  while ((*reader)->next(&f)) {
    EXPECT_EQ(f.frame_number % (*reader)->info().frame_mod, 0);
    ++n;
  }
  EXPECT_GT(n, 0);
  EXPECT_TRUE((*reader)->status().ok());
}

// ---- Matching ----

FrameHash frame_with(const PdqHash& h, int quality) {
  FrameHash f;
  f.hash = h;
  f.quality = quality;
  return f;
}

PdqHash with_bits_flipped(PdqHash h, int n) {
  auto w = h.words();
  for (int k = 0; k < n; ++k) w[k / 64] ^= uint64_t{1} << (k % 64);
  return PdqHash::from_words(w);
}

TEST(VpdqMatch, DistanceThresholdIsInclusiveAndQualityFilters) {
  const PdqHash base = PdqHash::from_words(
      {0x0123456789abcdefull, 0xfedcba9876543210ull, 0x0f0f0f0f0f0f0f0full, 0xf0f0f0f0f0f0f0f0ull});
  std::vector<FrameHash> q = {frame_with(base, 100)};
  std::vector<FrameHash> at31 = {frame_with(with_bits_flipped(base, 31), 100)};
  std::vector<FrameHash> at32 = {frame_with(with_bits_flipped(base, 32), 100)};
  EXPECT_EQ(vpdq_match(q, at31).query_match_pct, 100.0);
  EXPECT_EQ(vpdq_match(q, at32).query_match_pct, 0.0);
  EXPECT_EQ(vpdq_match(q, at32, 32).query_match_pct, 100.0);
  // Quality under the threshold removes the frame from both counts.
  std::vector<FrameHash> weak = {frame_with(base, 49)};
  EXPECT_EQ(vpdq_match(q, weak).query_match_pct, 0.0);
  EXPECT_EQ(vpdq_match(q, weak, 31, 49).query_match_pct, 100.0);
  // Shares: two of four query frames (one of them twice) have a partner.
  std::vector<FrameHash> q4 = {frame_with(base, 90), frame_with(base, 90),
                               frame_with(with_bits_flipped(base, 100), 90),
                               frame_with(with_bits_flipped(base, 200), 90)};
  const VpdqMatch m = vpdq_match(q4, at31);
  EXPECT_EQ(m.query_match_pct, 50.0);
  EXPECT_EQ(m.target_match_pct, 100.0);
  VpdqMatchOptions dedupe;
  dedupe.dedupe_hashes = true;
  EXPECT_NEAR(vpdq_match(q4, at31, dedupe).query_match_pct, 100.0 / 3, 1e-9);
  EXPECT_EQ(vpdq_match({}, at31).query_match_pct, 0.0);
}

TEST(VpdqMatch, EditedCopyMatchesAndUnrelatedVideoDoesNot) {
  auto orig = hash_video_file(shared_video("chair-orig-22-sd-bar"), tenth_second());
  auto grey = hash_video_file(shared_video("chair-22-sd-grey-bar"), tenth_second());
  auto other = hash_video_file(shared_video("doorknob-hd-no-bar"), tenth_second());
  ASSERT_TRUE(orig.ok() && grey.ok() && other.ok());
  const VpdqMatch copy = vpdq_match(grey->frames, orig->frames);
  EXPECT_GT(copy.query_match_pct, 80.0);
  EXPECT_GT(copy.target_match_pct, 80.0);
  const VpdqMatch unrelated = vpdq_match(other->frames, orig->frames);
  EXPECT_LT(unrelated.query_match_pct, 5.0);
}

}  // namespace
}  // namespace imprint
