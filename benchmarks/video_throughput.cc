// vPDQ hashing speed on one core, in multiples of real time, for H.264 at 480p, 720p and 1080p,
// hashing every frame and one frame a second; and what each decode-less trick of
// VideoOptions::skip_unsampled buys, with a check that it leaves every hash as full decoding
// gives it; and the approximate fast mode (VideoOptions::mode), with the distance of its hashes
// to full decoding's.
//
// The videos are made here: slow pans and zooms over wallpaper photos (a new photo every 5 s) at
// 30 fps, encoded by libx264 with its defaults (preset medium, CRF 23, B-frames) and a 2 s GOP as
// in the reference's sample videos, then hashed from memory, as the server receives them.
//
//   build/benchmarks/video_throughput [--seconds 20] [--runs 3] [--cache DIR] [--only LABEL]
//
// --cache keeps the encoded videos in DIR (encoding takes longer than the measurement) and reuses
// them when their name (resolution, GOP, duration) matches. --only measures the videos whose label
// contains LABEL ("1080p, GOP 2").
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "photo_corpus.h"
#include "process_memory.h"
#include "video.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace imprint::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Resolution {
  const char* name;
  int width;
  int height;
};

struct EncodedVideo {
  std::string label;
  std::vector<uint8_t> bytes;
  double seconds = 0;
  int frames = 0;
};

// Frame i of a pan over the photos: each 5 s scene drifts across its photo and zooms in by 15%.
Image pan_frame(const std::vector<SourcePhoto>& photos, int i, double fps, int w, int h) {
  const int scene_frames = int(5 * fps);
  const Image& src = photos[(i / scene_frames) % photos.size()].image;
  const double t = double(i % scene_frames) / scene_frames;  // 0..1 within the scene
  // The largest window of the output's aspect that fits, shrunk as the camera zooms in.
  double win_w = src.width, win_h = src.width * double(h) / w;
  if (win_h > src.height) {
    win_h = src.height;
    win_w = src.height * double(w) / h;
  }
  const double zoom = 0.8 - 0.15 * t;
  win_w *= zoom;
  win_h *= zoom;
  const int x = int((src.width - win_w) * t);
  const int y = int((src.height - win_h) * (0.5 + 0.3 * (t - 0.5)));
  return cut(src, x, y, int(win_w), int(win_h), w, h);
}

// libx264 into an MP4 file (the mov muxer needs a seekable output), read back into memory.
EncodedVideo encode(const std::vector<SourcePhoto>& photos, const Resolution& res, double seconds,
                    int keyint, const std::string& label) {
  EncodedVideo out;
  out.label = label;
  const AVRational fps{30, 1};
  out.frames = int(seconds * 30);
  out.seconds = out.frames / 30.0;
  char path[] = "/tmp/imprint-video-bench-XXXXXX.mp4";
  const int fd = mkstemps(path, 4);
  if (fd < 0) std::exit(2);
  close(fd);

  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  AVFormatContext* oc = nullptr;
  avformat_alloc_output_context2(&oc, nullptr, "mp4", path);
  AVCodecContext* enc = avcodec_alloc_context3(codec);
  enc->width = res.width;
  enc->height = res.height;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = av_inv_q(fps);
  enc->framerate = fps;
  enc->gop_size = keyint;
  enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set(enc->priv_data, "preset", "medium", 0);
  if (avcodec_open2(enc, codec, nullptr) < 0) std::exit(2);
  AVStream* st = avformat_new_stream(oc, nullptr);
  avcodec_parameters_from_context(st->codecpar, enc);
  st->time_base = enc->time_base;
  if (avio_open(&oc->pb, path, AVIO_FLAG_WRITE) < 0 || avformat_write_header(oc, nullptr) < 0) {
    std::exit(2);
  }
  AVFrame* frame = av_frame_alloc();
  AVPacket* pkt = av_packet_alloc();
  SwsContext* sws = sws_getContext(res.width, res.height, AV_PIX_FMT_RGB24, res.width, res.height,
                                   AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr, nullptr);
  auto drain = [&] {
    while (avcodec_receive_packet(enc, pkt) >= 0) {
      av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      av_interleaved_write_frame(oc, pkt);
    }
  };
  for (int i = 0; i < out.frames; ++i) {
    const Image rgb = pan_frame(photos, i, 30.0, res.width, res.height);
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = res.width;
    frame->height = res.height;
    av_frame_get_buffer(frame, 0);
    const uint8_t* src[1] = {rgb.pixels.data()};
    const int stride[1] = {int(rgb.stride())};
    sws_scale(sws, src, stride, 0, res.height, frame->data, frame->linesize);
    frame->pts = i;
    avcodec_send_frame(enc, frame);
    av_frame_unref(frame);
    drain();
  }
  avcodec_send_frame(enc, nullptr);
  drain();
  av_write_trailer(oc);
  sws_freeContext(sws);
  av_packet_free(&pkt);
  av_frame_free(&frame);
  avcodec_free_context(&enc);
  avio_closep(&oc->pb);
  avformat_free_context(oc);

  FILE* f = std::fopen(path, "rb");
  std::fseek(f, 0, SEEK_END);
  out.bytes.resize(size_t(std::ftell(f)));
  std::fseek(f, 0, SEEK_SET);
  if (std::fread(out.bytes.data(), 1, out.bytes.size(), f) != out.bytes.size()) std::exit(2);
  std::fclose(f);
  std::remove(path);
  return out;
}

struct Mode {
  const char* name;
  double seconds_per_hash;
  bool skip;
  bool gops;
  bool nonref;
  HashMode hash_mode = HashMode::kExact;
  bool snap = false;  // VideoOptions::fast_snap_to_anchors
};

VideoOptions options_for(const Mode& m) {
  VideoOptions o;
  o.threads = 1;  // one core: no decoder threads, no hashing threads
  o.seconds_per_hash = m.seconds_per_hash;
  o.skip_unsampled = m.skip;
  o.skip_unsampled_gops = m.gops;
  o.skip_unsampled_nonref = m.nonref;
  o.mode = m.hash_mode;
  o.fast_snap_to_anchors = m.snap;
  return o;
}

struct Times {
  double wall_s = 1e30;
  double cpu_s = 1e30;  // this process's CPU time: what one core spent, whoever else ran
};

double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Keeps the best wall and CPU times of the calls it has seen. With VideoOptions::threads = 1
// nothing here starts a thread, so CPU time is one core's time; the machine is shared, so wall
// time is also given.
void time_into(Times* best, const std::function<void()>& fn) {
  const auto start = Clock::now();
  const double cpu_start = cpu_now();
  fn();
  best->cpu_s = std::min(best->cpu_s, cpu_now() - cpu_start);
  best->wall_s =
      std::min(best->wall_s, std::chrono::duration<double>(Clock::now() - start).count());
}

struct Row {
  Times total;          // decode + convert + PDQ
  Times reader;         // decode + convert to RGB only (VideoReader)
  int64_t packets = 0;  // packets the decoder got
  int64_t decoded = 0;  // frames it decoded
  std::vector<FrameHash> frames;
};

// One more run of mode m on v into *row.
void measure_into(Row* row, const EncodedVideo& v, const Mode& m) {
  const VideoOptions o = options_for(m);
  time_into(&row->total, [&] {
    auto fp = hash_video_bytes(v.bytes, o);
    if (!fp.ok()) {
      std::fprintf(stderr, "%s: %s\n", v.label.c_str(), fp.status().to_string().c_str());
      std::exit(1);
    }
    row->frames = fp->frames;
  });
  time_into(&row->reader, [&] {
    auto reader = VideoReader::open_bytes(v.bytes, o);
    if (!reader.ok()) std::exit(1);
    VideoFrame f;
    while ((*reader)->next(&f)) {
    }
    row->packets = (*reader)->packets_sent();
    row->decoded = (*reader)->frames_decoded();
  });
}

// "yes" when every frame hash equals the baseline's; otherwise the median and largest Hamming
// distance of frame hashes to the baseline's frame with the same number.
std::string compare_hashes(const std::vector<FrameHash>& a, const std::vector<FrameHash>& b) {
  std::vector<int> d;
  size_t j = 0;
  for (const FrameHash& f : a) {
    while (j < b.size() && b[j].frame < f.frame) ++j;
    if (j < b.size() && b[j].frame == f.frame) {
      // A quality that differs counts as a difference even at distance 0.
      d.push_back(f.quality == b[j].quality ? f.hash.distance(b[j].hash)
                                            : std::max(1, f.hash.distance(b[j].hash)));
    }
  }
  if (d.size() == a.size() && a.size() == b.size() &&
      std::all_of(d.begin(), d.end(), [](int x) { return x == 0; })) {
    return "yes";
  }
  if (d.empty()) return "NO (no common frames)";
  std::sort(d.begin(), d.end());
  char buf[96];
  std::snprintf(buf, sizeof buf, "no: %zu of %zu frames, distance median %d, max %d", d.size(),
                b.size(), d[d.size() / 2], d.back());
  return buf;
}

}  // namespace
}  // namespace imprint::bench

int main(int argc, char** argv) {
  using namespace imprint;
  using namespace imprint::bench;
  retain_freed_memory();  // as the imprint CLI and server do (engine/process_memory.h)
  double seconds = 20;
  int runs = 3;
  std::string cache;
  std::string only;  // measure only the videos whose label contains this
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--cache")) cache = argv[i + 1];
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  if (!avcodec_find_encoder_by_name("libx264")) {
    std::fprintf(stderr, "this FFmpeg has no libx264 encoder: cannot make the test videos\n");
    return 2;
  }
  std::vector<SourcePhoto> photos = load_source_photos();
  // Four different photos, the same every run.
  std::vector<SourcePhoto> scenes;
  for (size_t i = 0; i < photos.size() && scenes.size() < 4;
       i += std::max<size_t>(1, photos.size() / 4)) {
    scenes.push_back(std::move(photos[i]));
  }

  const Resolution resolutions[] = {{"480p", 854, 480}, {"720p", 1280, 720}, {"1080p", 1920, 1080}};
  auto make = [&](const Resolution& r, int keyint, const std::string& label) {
    const std::string file = cache.empty()
                                 ? ""
                                 : cache + "/" + r.name + "-gop" + std::to_string(keyint) + "-" +
                                       std::to_string(int(seconds)) + "s.mp4";
    if (!file.empty()) {
      if (FILE* f = std::fopen(file.c_str(), "rb")) {
        EncodedVideo v;
        v.label = label;
        v.frames = int(seconds * 30);
        v.seconds = v.frames / 30.0;
        std::fseek(f, 0, SEEK_END);
        v.bytes.resize(size_t(std::ftell(f)));
        std::fseek(f, 0, SEEK_SET);
        const bool ok = std::fread(v.bytes.data(), 1, v.bytes.size(), f) == v.bytes.size();
        std::fclose(f);
        if (ok) return v;
      }
    }
    EncodedVideo v = encode(scenes, r, seconds, keyint, label);
    if (!file.empty()) {
      if (FILE* f = std::fopen(file.c_str(), "wb")) {
        std::fwrite(v.bytes.data(), 1, v.bytes.size(), f);
        std::fclose(f);
      }
    }
    return v;
  };
  std::vector<EncodedVideo> videos;
  for (const Resolution& r : resolutions) {
    videos.push_back(make(r, 60, std::string(r.name) + ", GOP 2 s"));
  }
  // The same 1080p pans with a keyframe every second: how the GOP length decides what skipping
  // can save at one hash a second.
  videos.push_back(make(resolutions[2], 30, "1080p, GOP 1 s"));

  std::printf("# vPDQ hashing throughput, one core\n\n");
  std::printf("Machine: %s\n", machine_description().c_str());
  std::printf("FFmpeg: libavcodec %s, libavformat %s, libswscale %s\n",
              AV_STRINGIFY(LIBAVCODEC_VERSION), AV_STRINGIFY(LIBAVFORMAT_VERSION),
              AV_STRINGIFY(LIBSWSCALE_VERSION));
  std::printf(
      "Inputs: %.0f s at 30 fps of pans and zooms over %zu wallpapers (gnome/mate/sway-"
      "backgrounds, a new one every 5 s), H.264 by libx264 preset medium CRF 23 (B-frames, "
      "3 references); hashed from memory with VideoOptions::threads = 1; best of %d rounds "
      "over all modes."
      "\n\n",
      seconds, scenes.size(), runs);
  for (const EncodedVideo& v : videos) {
    std::printf("- %s: %.1f MB, %.1f Mbit/s\n", v.label.c_str(), v.bytes.size() / 1e6,
                v.bytes.size() * 8 / v.seconds / 1e6);
  }
  std::printf("\n");

  const Mode modes[] = {
      {"every frame", 0, false, false, false},
      {"1 fps, full decode (baseline)", 1, false, false, false},
      {"1 fps, skip non-reference frames only", 1, true, false, true},
      {"1 fps, skip unneeded GOP tails only", 1, true, true, false},
      {"1 fps, both (default)", 1, true, true, true},
      {"1 fps, fast mode (approximate)", 1, true, true, true, HashMode::kFast},
      {"1 fps, fast mode, snap to anchors (slow footage only)", 1, true, true, true,
       HashMode::kFast, true},
  };
  std::printf(
      "| video | sampling | x real time (CPU) | x real time (wall) | CPU ms per video s | "
      "decode + RGB share | packets sent | frames decoded | hashes | same hashes as full "
      "decode |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const EncodedVideo& v : videos) {
    if (v.label.find(only) == std::string::npos) continue;
    // Round after round over every mode, keeping each mode's best: the machine's speed drifts
    // (shared host), and a slow spell then costs every mode a run rather than one mode its all.
    std::vector<Row> rows(std::size(modes));
    for (int r = 0; r < runs; ++r) {
      for (size_t i = 0; i < std::size(modes); ++i) measure_into(&rows[i], v, modes[i]);
    }
    std::vector<FrameHash> baseline;
    for (size_t i = 0; i < std::size(modes); ++i) {
      const Mode& m = modes[i];
      const Row& row = rows[i];
      if (m.seconds_per_hash == 1 && !m.skip) baseline = row.frames;
      const std::string same = m.seconds_per_hash == 0 ? "n/a"
                               : !m.skip               ? "(baseline)"
                                                       : compare_hashes(row.frames, baseline);
      std::printf("| %s | %s | %.1fx | %.1fx | %.1f | %.0f%% | %lld | %lld | %zu | %s |\n",
                  v.label.c_str(), m.name, v.seconds / row.total.cpu_s,
                  v.seconds / row.total.wall_s, 1000 * row.total.cpu_s / v.seconds,
                  100 * std::min(1.0, row.reader.cpu_s / row.total.cpu_s), (long long)row.packets,
                  (long long)row.decoded, row.frames.size(), same.c_str());
      std::fflush(stdout);
    }
  }
  std::printf(
      "\nx real time = video duration / time to hash it from bytes in memory (open, demux, "
      "decode, convert to RGB24, PDQ) on one thread; CPU is that thread's time (the machine is "
      "shared with other builds, which inflates wall time), best of the runs. \"decode + RGB "
      "share\": the part of the CPU time spent reading the same frames without PDQ. Packets "
      "sent: what reached the decoder (of %d); frames decoded: what it gave back, the rest being "
      "non-reference frames it skipped. With skip_unsampled a first pass reads every packet's "
      "timestamp without decoding; its cost is in the figures.\n",
      videos.empty() ? 0 : videos[0].frames);
  return 0;
}
