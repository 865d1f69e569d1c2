// VideoReader over FFmpeg: opening a file or bytes in memory, numbering and sampling frames the
// way the reference vPDQ hasher does, and the skip_unsampled plan.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "video.h"
#include "vpdq_rgb.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
}

namespace imprint {
namespace {

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

// Containers we demux. Untrusted bytes must not reach demuxers that open other resources
// (playlists such as hls or concat, image sequences), so anything else is refused.
constexpr const char* kFormatWhitelist =
    "mov,matroska,webm,avi,flv,mpegts,mpeg,ogg,asf,h264,hevc,m4v,mpegvideo,ivf,obu,mxf";

// Video codecs we decode: what uploads and scraped corpora hold. Each FFmpeg decoder is a parser of
// untrusted bytes, so the rest (lossless and professional codecs, screen-capture and game
// codecs, image formats in video clothing) are refused before any is opened, even by the stream
// probe. The containers above can name any of them.
constexpr AVCodecID kVideoCodecs[] = {
    AV_CODEC_ID_H264, AV_CODEC_ID_HEVC,  AV_CODEC_ID_VP8,        AV_CODEC_ID_VP9,
    AV_CODEC_ID_AV1,  AV_CODEC_ID_MPEG4, AV_CODEC_ID_MPEG1VIDEO, AV_CODEC_ID_MPEG2VIDEO,
    AV_CODEC_ID_H263, AV_CODEC_ID_MJPEG, AV_CODEC_ID_THEORA,     AV_CODEC_ID_VC1,
    AV_CODEC_ID_WMV3,
};

bool is_supported_codec(AVCodecID id) {
  return std::find(std::begin(kVideoCodecs), std::end(kVideoCodecs), id) != std::end(kVideoCodecs);
}

std::string supported_codec_names() {
  std::string names;
  for (AVCodecID id : kVideoCodecs) {
    names += std::string(names.empty() ? "" : ", ") + avcodec_get_name(id);
  }
  return names;
}

// The decoders (by FFmpeg's decoder names: "h264", "libdav1d"...) of kVideoCodecs, for the
// codec_whitelist option: the stream probe may open these and no other, so no audio decoder
// either (audio is never hashed).
const std::string& decoder_whitelist() {
  static const std::string list = [] {
    std::string names;
    void* it = nullptr;
    while (const AVCodec* c = av_codec_iterate(&it)) {
      if (!av_codec_is_decoder(c) || !is_supported_codec(c->id)) continue;
      names += std::string(names.empty() ? "" : ",") + c->name;
    }
    return names;
  }();
  return list;
}

Status check_codec(const AVCodecParameters* par) {
  if (is_supported_codec(par->codec_id)) return Status::Ok();
  return unsupported("video codec " + std::string(avcodec_get_name(par->codec_id)) +
                     " is not one imprint decodes (" + supported_codec_names() + ")");
}

// Input from memory through a custom AVIOContext.
struct MemoryInput {
  const uint8_t* data = nullptr;
  int64_t size = 0;
  int64_t pos = 0;
};

int read_memory(void* opaque, uint8_t* buf, int buf_size) {
  auto* in = static_cast<MemoryInput*>(opaque);
  const int64_t n = std::min<int64_t>(buf_size, in->size - in->pos);
  if (n <= 0) return AVERROR_EOF;
  std::memcpy(buf, in->data + in->pos, size_t(n));
  in->pos += n;
  return int(n);
}

int64_t seek_memory(void* opaque, int64_t offset, int whence) {
  auto* in = static_cast<MemoryInput*>(opaque);
  whence &= ~AVSEEK_FORCE;
  if (whence == AVSEEK_SIZE) return in->size;
  int64_t to;
  if (whence == SEEK_SET) {
    to = offset;
  } else if (whence == SEEK_CUR) {
    to = in->pos + offset;
  } else if (whence == SEEK_END) {
    to = in->size + offset;
  } else {
    return AVERROR(EINVAL);
  }
  if (to < 0 || to > in->size) return AVERROR(EINVAL);
  in->pos = to;
  return to;
}

// FFmpeg's interrupt callback over VideoOptions::keep_going: non-zero stops what it is doing.
int interrupt_requested(void* opaque) {
  const auto* keep_going = static_cast<const std::function<bool()>*>(opaque);
  return (*keep_going)() ? 0 : 1;
}

// An opened container, from a path or from memory. Owns its FFmpeg objects.
struct Input {
  AVFormatContext* format = nullptr;
  AVIOContext* io = nullptr;
  MemoryInput memory;

  Input() = default;
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;
  ~Input() {
    avformat_close_input(&format);
    if (io) {
      av_freep(&io->buffer);  // avio may have replaced our buffer: free the one it holds
      avio_context_free(&io);
    }
  }

  // path non-empty: a file; otherwise `bytes`. `keep_going` (may be empty) must outlive this.
  Status open(const std::string& path, std::span<const uint8_t> bytes,
              const std::function<bool()>& keep_going) {
    format = avformat_alloc_context();
    if (!format) return resource_exhausted("out of memory");
    if (keep_going) {
      format->interrupt_callback.callback = interrupt_requested;
      format->interrupt_callback.opaque = const_cast<std::function<bool()>*>(&keep_going);
    }
    if (path.empty()) {
      memory = {bytes.data(), int64_t(bytes.size()), 0};
      constexpr int kIoBuffer = 64 * 1024;
      auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBuffer));
      if (!buffer) return resource_exhausted("out of memory");
      io = avio_alloc_context(buffer, kIoBuffer, 0, &memory, read_memory, nullptr, seek_memory);
      if (!io) {
        av_free(buffer);
        return resource_exhausted("out of memory");
      }
      format->pb = io;
      format->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    AVDictionary* opts = nullptr;
    av_dict_set(&opts, "format_whitelist", kFormatWhitelist, 0);
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set(&opts, "codec_whitelist", decoder_whitelist().c_str(), 0);
    // "file:" so that a name with a colon ("a:b.mp4") is never read as a protocol.
    const std::string url = "file:" + path;
    const int err = avformat_open_input(&format, path.empty() ? nullptr : url.c_str(), nullptr,
                                        &opts);  // frees `format` on failure
    av_dict_free(&opts);
    if (err < 0) {
      if (err == AVERROR(ENOENT)) return not_found("no such file");
      if (err == AVERROR(EACCES) || err == AVERROR(EISDIR)) return io_error(av_error_text(err));
      return invalid_argument("not a video container imprint reads (" + av_error_text(err) + ")");
    }
    return Status::Ok();
  }
};

// One entry per packet of the video stream, in decode order.
struct PlannedPacket {
  int64_t pts = 0;
  int64_t frame = -1;  // presentation rank: the frame number the decoder will give it
  bool key = false;
  bool send = false;     // must reach the decoder
  bool sampled = false;  // its frame is one we yield
  // An I- or P-picture: shown after every packet decoded before it (a B-picture is shown before
  // one already decoded).
  bool anchor = false;
  // Fast mode: a B-picture here may be skipped even if it is a reference (it is not close before
  // a sampled frame in decode order).
  bool bidir_skippable = true;
};

void mark_anchors(std::vector<PlannedPacket>& plan) {
  int64_t latest = INT64_MIN;
  for (PlannedPacket& p : plan) {
    if (p.frame < 0) continue;  // discarded: never shown
    p.anchor = p.pts > latest;
    latest = std::max(latest, p.pts);
  }
}

// VideoOptions::fast_snap_to_anchors: a sampled frame that is a B-picture needs the picture after
// it (its backward reference) decoded first, and usually the B-reference between them. The last
// anchor at most max_back frames before it needs neither, so its picture is hashed instead and
// reported under the sampled frame's number and time. `order` lists the packets in presentation
// order (index = frame number). Returns the timestamp of each stand-in mapped to the frame number
// it reports, and that of each frame it stands in for mapped to -1 (not yielded).
std::unordered_map<int64_t, int64_t> snap_samples_to_anchors(std::vector<PlannedPacket>& plan,
                                                             const std::vector<int64_t>& order,
                                                             int64_t max_back) {
  std::unordered_map<int64_t, int64_t> snapped;
  for (PlannedPacket& p : plan) {
    if (!p.sampled || p.anchor) continue;
    const int64_t frame = p.frame;
    for (int64_t f = frame - 1; f >= std::max<int64_t>(0, frame - max_back); --f) {
      PlannedPacket& a = plan[order[f]];
      if (!a.anchor) continue;
      p.sampled = false;
      a.sampled = true;
      snapped[a.pts] = frame;
      snapped[p.pts] = -1;
      break;
    }
  }
  return snapped;
}

}  // namespace

class VideoReader::Impl {
 public:
  Impl(std::string path, std::span<const uint8_t> bytes, const VideoOptions& options)
      : path_(std::move(path)), bytes_(bytes), options_(options) {}
  ~Impl() {
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    avcodec_free_context(&codec_);
  }

  Status open();
  bool next(VideoFrame* out);

  VideoInfo info_;
  Status status_;
  bool partial_ = false;
  std::string partial_reason_;
  int64_t frames_seen_ = 0;
  int64_t packets_sent_ = 0;
  int64_t frames_decoded_ = 0;
  bool use_plan_ = false;

 private:
  Status open_stages();
  Status open_decoder();
  bool header_suffices_for_fast_plan() const;
  Status probe_streams();
  Status read_stream_info();
  void build_plan();
  bool read_and_send();  // false once the decoder has been flushed
  bool send_packet();
  bool receive(VideoFrame* out);  // true when *out holds a sampled frame
  bool accept_frame(int64_t* number);
  bool convert(VideoFrame* out);
  void set_partial(const std::string& why) {
    if (partial_) return;  // the first cause is the one worth reporting
    partial_ = true;
    partial_reason_ = why;
  }
  // VideoOptions::keep_going, asked once more unless it already said stop; sets status_.
  bool stopped() {
    if (cancelled_) return true;
    if (!options_.keep_going || options_.keep_going()) return false;
    cancelled_ = true;
    status_ = cancelled("video reading stopped: the caller no longer wants it");
    return true;
  }
  bool over_limits(int64_t number) const {
    return number >= options_.max_frames ||
           float(number) / float(info_.fps) >= options_.max_seconds;
  }

  std::string path_;
  std::span<const uint8_t> bytes_;
  VideoOptions options_;

  Input input_;
  int stream_ = -1;
  AVCodecContext* codec_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  FrameToRgb to_rgb_;

  bool flushed_ = false;         // the decoder got its end-of-stream packet
  bool packet_pending_ = false;  // packet_ still to be sent
  // Fast mode with the plan: before a run that starts after a gap, the decoder is drained and
  // reset, as after a seek (see read_and_send); packet_ waits for that in the meantime.
  bool draining_ = false;
  bool held_after_gap_ = false;
  int64_t last_sent_position_ = -1;
  bool done_ = false;
  bool finished_ = false;  // end-of-stream checks ran
  int64_t decode_errors_ = 0;
  std::string first_decode_error_;
  int64_t damaged_frames_ = 0;

  // skip_unsampled plan.
  std::vector<PlannedPacket> plan_;
  std::unordered_map<int64_t, int64_t> frame_of_pts_;
  std::unordered_map<int64_t, int64_t> snapped_;  // fast mode: snap_samples_to_anchors
  int64_t packet_position_ = 0;                   // video packets demuxed so far in the decode pass
  int64_t last_needed_ = -1;                      // decode position of the last packet to send
  int64_t sampled_sent_ = 0;                      // sampled frames whose packets were sent
  int64_t sampled_received_ = 0;
  int64_t last_number_ = -1;
  int64_t frames_planned_ = 0;
  int reorder_depth_ = 0;  // frames the decoder must hold back to put them out in order
  bool probed_ = false;    // avformat_find_stream_info ran
  bool plan_cut_at_limit_ = false;
  bool cancelled_ = false;
  int64_t yielded_ = 0;  // sampled frames given out, against max_sampled_frames
};

Status VideoReader::Impl::open() {
  static std::once_flag quiet;
  std::call_once(quiet, [] { av_log_set_level(AV_LOG_FATAL); });

  if (!(options_.max_seconds > 0) || options_.max_frames <= 0 || options_.max_pixels <= 0 ||
      options_.max_sampled_frames < 0) {
    return invalid_argument(
        "VideoOptions: max_frames, max_seconds and max_pixels must be above 0, max_sampled_frames "
        "not below");
  }
  // Whatever failed once the caller said stop, stopping is the reason.
  Status opened = open_stages();
  if (!opened.ok() && stopped()) return status_;
  return opened;
}

Status VideoReader::Impl::open_stages() {
  if (path_.empty() && bytes_.empty()) return invalid_argument("empty input: not a video");
  if (!path_.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) return not_found("no such file");
    if (std::filesystem::is_regular_file(path_, ec) && std::filesystem::file_size(path_, ec) == 0) {
      return invalid_argument("empty file: not a video");
    }
  }
  if (stopped()) return status_;
  IMPRINT_RETURN_IF_ERROR(input_.open(path_, bytes_, options_.keep_going));
  AVFormatContext* fmt = input_.format;
  info_.container = fmt->iformat->name;

  // Refuse absurd sizes before anything is decoded: most containers state the size in their
  // header, and stream probing below decodes frames.
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* par = fmt->streams[i]->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO &&
        int64_t(par->width) * par->height > options_.max_pixels) {
      return resource_exhausted("video frames are " + std::to_string(par->width) + "x" +
                                std::to_string(par->height) + ", over max_pixels " +
                                std::to_string(options_.max_pixels));
    }
  }
  // The codec the header names, before the probe decodes anything with it.
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
        (st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      continue;
    }
    if (st->codecpar->codec_id != AV_CODEC_ID_NONE) {
      IMPRINT_RETURN_IF_ERROR(check_codec(st->codecpar));
    }
    break;  // the stream read_stream_info will pick
  }
  if (!header_suffices_for_fast_plan()) IMPRINT_RETURN_IF_ERROR(probe_streams());
  IMPRINT_RETURN_IF_ERROR(read_stream_info());
  const AVCodecParameters* par = fmt->streams[stream_]->codecpar;
  const bool plan_codec = par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC;
  if (options_.skip_unsampled && info_.frame_mod > 1 && plan_codec) build_plan();
  if (stopped()) return status_;
  if (!probed_ && !use_plan_) {
    // The header looked complete but the timestamps allow no plan: probe after all.
    IMPRINT_RETURN_IF_ERROR(probe_streams());
    IMPRINT_RETURN_IF_ERROR(read_stream_info());
  }
  IMPRINT_RETURN_IF_ERROR(open_decoder());
  frame_ = av_frame_alloc();
  packet_ = av_packet_alloc();
  if (!frame_ || !packet_) return resource_exhausted("out of memory");
  return Status::Ok();
}

// avformat_find_stream_info, which decodes the first frames of each stream to learn what the
// header does not say.
Status VideoReader::Impl::probe_streams() {
  AVFormatContext* fmt = input_.format;
  // Probing decoders: bounded pixels, one thread.
  std::vector<AVDictionary*> probe_opts(fmt->nb_streams, nullptr);
  for (auto& d : probe_opts) {
    av_dict_set_int(&d, "max_pixels", options_.max_pixels, 0);
    av_dict_set(&d, "threads", "1", 0);
  }
  const int probed = avformat_find_stream_info(fmt, probe_opts.data());
  for (auto& d : probe_opts) av_dict_free(&d);
  if (probed < 0) {
    return invalid_argument("cannot read stream information (" + av_error_text(probed) + ")");
  }
  probed_ = true;
  return Status::Ok();
}

// Picks the video stream and fills info_ from it.
Status VideoReader::Impl::read_stream_info() {
  const AVFormatContext* fmt = input_.format;
  stream_ = -1;
  // The first video stream, as the reference takes (cover-art pictures are not video).
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      stream_ = int(i);
      break;
    }
  }
  if (stream_ < 0) return unsupported("no video stream (" + info_.container + ")");
  const AVStream* st = fmt->streams[stream_];
  const AVCodecParameters* par = st->codecpar;
  IMPRINT_RETURN_IF_ERROR(check_codec(par));
  info_.codec = avcodec_get_name(par->codec_id);
  info_.width = par->width;
  info_.height = par->height;
  if (par->width <= 0 || par->height <= 0) {
    return unsupported("video stream has no frame size (" + info_.codec + ")");
  }
  if (int64_t(par->width) * par->height > options_.max_pixels) {
    return resource_exhausted("video frames are " + std::to_string(par->width) + "x" +
                              std::to_string(par->height) + ", over max_pixels " +
                              std::to_string(options_.max_pixels));
  }
  AVRational rate = st->avg_frame_rate;
  if (rate.num == 0 || rate.den == 0) rate = st->r_frame_rate;
  info_.fps = rate.den ? double(rate.num) / double(rate.den) : 0;
  if (!(info_.fps > 0) || !std::isfinite(info_.fps)) {
    return unsupported("video stream has no frame rate");
  }
  // (int)(seconds_per_hash * fps), at least 1, as the reference computes it.
  if (options_.seconds_per_hash > 0) {
    const double mod = options_.seconds_per_hash * info_.fps;
    info_.frame_mod = mod >= 1 && mod < 1e15 ? int64_t(mod) : 1;
  }
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
    info_.duration_s = double(st->duration) * av_q2d(st->time_base);
  } else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    info_.duration_s = double(fmt->duration) / AV_TIME_BASE;
  }

  return Status::Ok();
}

// VideoOptions::fast_skip_probe. avformat_find_stream_info decodes the first frames (7 or more
// for H.264) to fill in what an MP4 header already states for H.264 and HEVC: frame size, frame
// rate (the probe keeps a rate the demuxer set), codec configuration, even the reorder delay
// (from the composition offsets). Decoding uses only the last, and the skip plan measures it
// from the timestamps too (build_plan), so the probe is skipped only when the plan will be
// made. Matroska is left out: its header often has no rate, and when it has one (from a default
// frame duration in milliseconds) it need not be the probe's.
bool VideoReader::Impl::header_suffices_for_fast_plan() const {
  if (options_.mode != HashMode::kFast || !options_.fast_skip_probe || !options_.skip_unsampled ||
      !(options_.seconds_per_hash > 0)) {
    return false;
  }
  const AVFormatContext* fmt = input_.format;
  const std::string name = fmt->iformat->name;
  if (name.rfind("mov,", 0) != 0) return false;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
        (st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      continue;
    }
    const AVCodecParameters* par = st->codecpar;
    const AVRational rate = st->avg_frame_rate;
    return (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC) &&
           par->extradata_size > 0 && par->width > 0 && par->height > 0 && rate.num > 0 &&
           rate.den > 0 && options_.seconds_per_hash * av_q2d(rate) >= 2;
  }
  return false;
}

Status VideoReader::Impl::open_decoder() {
  const AVCodecParameters* par = input_.format->streams[stream_]->codecpar;
  const AVCodec* decoder = avcodec_find_decoder(par->codec_id);
  if (!decoder) return unsupported("no decoder for video codec " + info_.codec);
  codec_ = avcodec_alloc_context3(decoder);
  if (!codec_) return resource_exhausted("out of memory");
  if (avcodec_parameters_to_context(codec_, par) < 0) {
    return unsupported("bad codec parameters for " + info_.codec);
  }
  codec_->pkt_timebase = input_.format->streams[stream_]->time_base;
  // Without the probe the decoder would learn the reorder delay from the stream as it goes, and an
  // H.264 stream that does not state it puts its first frames out of order.
  if (!probed_) codec_->has_b_frames = std::max(codec_->has_b_frames, reorder_depth_);
  codec_->max_pixels = options_.max_pixels;  // the decoder refuses larger frames itself
  codec_->thread_count = std::max(0, options_.threads);
  // Frame threading reorders nothing we see: output order and pixels are the same.
  codec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  // Fast mode: no deblocking. Reference pictures then drift a little from the true ones until the
  // next keyframe; measured on the benchmark's 1080p pans it moves no hash more than the shrunk
  // luma already does, and saves about a fifth of the decoding time.
  if (options_.mode == HashMode::kFast) codec_->skip_loop_filter = AVDISCARD_ALL;
  // Fast mode also resets the decoder before a run that starts after a gap (read_and_send); a
  // decoder reset at an open group's keyframe would hold back pictures until its recovery point,
  // so fast mode shows them all (the pictures it hashes are decoded from their keyframe on).
  if (options_.mode == HashMode::kFast) codec_->flags2 |= AV_CODEC_FLAG2_SHOW_ALL;
  const int err = avcodec_open2(codec_, decoder, nullptr);
  if (err < 0) return unsupported("cannot open " + info_.codec + " decoder: " + av_error_text(err));
  return Status::Ok();
}

// Numbers every frame from packet timestamps alone and marks which packets must be decoded.
// The frame number the reference gives a frame is its rank in output order, which for these
// codecs is timestamp order; any doubt (a packet without timestamp, two with the same) leaves
// the plan unused.
void VideoReader::Impl::build_plan() {
  Input pass;
  if (!pass.open(path_, bytes_, options_.keep_going).ok()) return;
  AVFormatContext* fmt = pass.format;
  if (stream_ >= int(fmt->nb_streams) || fmt->streams[stream_]->codecpar->codec_id !=
                                             input_.format->streams[stream_]->codecpar->codec_id) {
    return;
  }
  // Past max_frames nothing is sampled; a margin keeps the ranks of the frames before it exact
  // (a packet can precede in decode order up to a decoded-picture-buffer's worth of frames).
  const int64_t max_packets = options_.max_frames + 64;
  std::vector<PlannedPacket> plan;
  std::vector<int64_t> discarded;
  AVPacket* pkt = av_packet_alloc();
  if (!pkt) return;
  bool ok = true;
  while (ok && int64_t(plan.size()) < max_packets && av_read_frame(fmt, pkt) >= 0) {
    if (stopped()) ok = false;
    if (pkt->stream_index == stream_) {
      if (pkt->pts == AV_NOPTS_VALUE) ok = false;
      PlannedPacket p;
      p.pts = pkt->pts;
      p.key = pkt->flags & AV_PKT_FLAG_KEY;
      // A packet the container marks discard is decoded but yields no frame (edit lists).
      if (pkt->flags & AV_PKT_FLAG_DISCARD) discarded.push_back(int64_t(plan.size()));
      plan.push_back(p);
    }
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  if (!ok || plan.empty()) return;
  if (int64_t(plan.size()) >= max_packets) plan_cut_at_limit_ = true;

  std::vector<int64_t> order;
  order.reserve(plan.size());
  for (int64_t i = 0; i < int64_t(plan.size()); ++i) {
    if (!std::binary_search(discarded.begin(), discarded.end(), i)) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](int64_t a, int64_t b) { return plan[a].pts < plan[b].pts; });
  std::unordered_map<int64_t, int64_t> frame_of_pts;
  for (int64_t rank = 0; rank < int64_t(order.size()); ++rank) {
    PlannedPacket& p = plan[order[rank]];
    p.frame = rank;
    if (!frame_of_pts.emplace(p.pts, rank).second) return;  // duplicate timestamp
    p.sampled = rank % info_.frame_mod == 0 && !over_limits(rank);
    if (over_limits(rank)) plan_cut_at_limit_ = true;
  }
  // A frame decoded i-th (among those shown) and shown r-th follows at least i - r frames shown
  // after it: the decoder must hold that many back. Only a decoder opened without the probe is
  // given it (open_decoder), and only then does a depth past what H.264 or HEVC allow refuse the
  // plan (something is off; open() then probes).
  int64_t depth = 0, shown = 0;
  for (const PlannedPacket& p : plan) {
    if (p.frame >= 0) depth = std::max(depth, shown++ - p.frame);
  }
  if (!probed_ && depth > 16) return;
  mark_anchors(plan);
  // At most half the sampling interval back, so that a stand-in never passes the sample before,
  // and at most 0.2 s.
  std::unordered_map<int64_t, int64_t> snapped;
  if (options_.mode == HashMode::kFast && options_.fast_snap_to_anchors) {
    const int64_t max_back = std::min<int64_t>(info_.frame_mod / 2, std::lround(0.2 * info_.fps));
    snapped = snap_samples_to_anchors(plan, order, max_back);
  }
  // Each sampled frame needs the packets from the last keyframe before it (in decode order, and
  // not after it in output order: a leading picture of an open group refers to the group before).
  // The packets to send are a union of runs [keyframe, sampled]; the last run may have to grow
  // backwards when a sampled frame's keyframe lies before it.
  constexpr int kMaxKeysBack = 64;  // more than any real stream needs; a strange one decodes all
  // Fast mode skips B-pictures that are references too. A P-picture that referred to one then
  // predicts from a stand-in (FFmpeg fills the gap with a copy of the previous reference), so
  // pictures drift until the next keyframe. A sampled B-picture still gets the B-pictures decoded
  // between the last anchor and it, as in exact mode: with x264's pyramid, the B-reference it
  // predicts from; a sampled anchor gets none. Measured on the benchmark's 1080p, 2 s GOPs (x264:
  // 3 B-frames, pyramid), distance to exact median / max and frames decoded: these packets 8 / 26
  // bits, 114 frames; the 6 packets before each sample (the rule before) 8 / 24, 123; the one
  // packet before 8 / 26, 114, but on the reference videos at one a second p99 44 bits against 16
  // for these packets and for 6.
  int64_t run_start = -1, run_end = -1;
  std::vector<int64_t> keys;
  auto mark = [&](int64_t from, int64_t to) {
    for (int64_t j = from; j <= to; ++j) plan[j].send = true;
  };
  int64_t last_anchor = -1;  // in decode order, before i
  for (int64_t i = 0; i < int64_t(plan.size()); ++i) {
    if (plan[i].key) keys.push_back(i);
    if (plan[i].sampled && !plan[i].anchor) {
      for (int64_t j = last_anchor + 1; j < i; ++j) plan[j].bidir_skippable = false;
    }
    if (plan[i].anchor) last_anchor = i;
    if (!plan[i].sampled) continue;
    int64_t start = 0;
    if (options_.skip_unsampled_gops && !keys.empty()) {
      start = -1;
      for (int back = 1; back <= kMaxKeysBack && back <= int(keys.size()); ++back) {
        const int64_t k = keys[keys.size() - back];
        if (plan[k].frame >= 0 && plan[k].frame <= plan[i].frame) {
          start = k;
          break;
        }
      }
      if (start < 0) return;  // no usable keyframe close enough: decode everything
    }
    if (run_end < 0 || start > run_end + 1) {
      mark(start, i);
      run_start = start;
    } else {
      if (start < run_start) mark(start, run_start - 1);
      mark(run_end + 1, i);
      run_start = std::min(run_start, start);
    }
    run_end = i;
  }
  last_needed_ = run_end;
  frames_planned_ = int64_t(order.size());
  plan_ = std::move(plan);
  frame_of_pts_ = std::move(frame_of_pts);
  snapped_ = std::move(snapped);
  reorder_depth_ = int(depth);
  use_plan_ = true;
}

// Demuxes the next video packet and hands it to the decoder; at the end of input (or, with the
// plan, after the last packet it needs) flushes the decoder instead.
bool VideoReader::Impl::read_and_send() {
  if (flushed_) return false;
  if (draining_) return true;  // receive() resets the decoder at the end of the drain
  if (held_after_gap_) {
    held_after_gap_ = false;
    return send_packet();
  }
  if (packet_pending_) {
    // Refused last time with EAGAIN; the decoder's frames have been taken since, so a second
    // refusal means it is stuck: drop the packet rather than loop.
    const int sent = avcodec_send_packet(codec_, packet_);
    packet_pending_ = false;
    av_packet_unref(packet_);
    if (sent < 0 && decode_errors_++ == 0) first_decode_error_ = av_error_text(sent);
    return true;
  }
  while (true) {
    if (stopped()) return true;  // next() sees the status and ends
    if (use_plan_ && packet_position_ > last_needed_) break;
    const int err = av_read_frame(input_.format, packet_);
    if (err < 0) {
      if (err != AVERROR_EOF) {
        set_partial("input unreadable after " + std::to_string(packet_position_) +
                    " video packets (" + av_error_text(err) + ")");
      }
      break;
    }
    if (packet_->stream_index != stream_) {
      av_packet_unref(packet_);
      continue;
    }
    const int64_t position = packet_position_++;
    if (use_plan_) {
      if (position >= int64_t(plan_.size())) {  // the demuxer disagrees with the first pass
        av_packet_unref(packet_);
        status_ = failed_precondition("skip_unsampled plan broken: more packets than planned");
        break;
      }
      const PlannedPacket& p = plan_[position];
      if (!p.send || p.pts != packet_->pts) {
        const bool mismatch = p.pts != packet_->pts;
        av_packet_unref(packet_);
        if (mismatch) {
          status_ = failed_precondition("skip_unsampled plan broken: packet timestamps differ");
          break;
        }
        continue;
      }
      // The decoder itself drops non-reference pictures we do not want; reference pictures
      // come out and are dropped below.
      // In fast mode, B-pictures too, reference or not, except just before a sampled frame.
      codec_->skip_frame = !options_.skip_unsampled_nonref || p.sampled ? AVDISCARD_DEFAULT
                           : options_.mode == HashMode::kFast && p.bidir_skippable
                               ? AVDISCARD_BIDIR
                               : AVDISCARD_NONREF;
      if (p.sampled) ++sampled_sent_;
      // Fast mode skips B-pictures, so a run that starts after a gap can leave pictures of the
      // run before it waiting for their successors in the decoder's reorder buffer; an open
      // group's keyframe then came out ahead of them, which breaks the plan (and fell back to
      // decoding everything). Draining first gives them out in order, and the reset starts the
      // run from its keyframe as a seek would. Exact mode decodes the references it needs and
      // keeps its bit-exact path untouched.
      const bool gap = last_sent_position_ >= 0 && position > last_sent_position_ + 1;
      last_sent_position_ = position;
      if (gap && p.key && options_.mode == HashMode::kFast) {
        avcodec_send_packet(codec_, nullptr);
        draining_ = true;
        held_after_gap_ = true;
        return true;
      }
    }
    return send_packet();
  }
  codec_->skip_frame = AVDISCARD_DEFAULT;
  avcodec_send_packet(codec_, nullptr);
  flushed_ = true;
  return true;
}

// Hands packet_ to the decoder (read_and_send has set its skip_frame).
bool VideoReader::Impl::send_packet() {
  if (packet_->flags & AV_PKT_FLAG_CORRUPT) ++damaged_frames_;
  ++packets_sent_;
  const int sent = avcodec_send_packet(codec_, packet_);
  if (sent == AVERROR(EAGAIN)) {
    // The decoder wants its frames taken first (the API allows this, though we always drain
    // before sending); keep the packet for the next call.
    packet_pending_ = true;
    return true;
  }
  av_packet_unref(packet_);
  if (sent < 0 && decode_errors_++ == 0) first_decode_error_ = av_error_text(sent);
  return true;
}

// Numbers the decoded frame in frame_; false when it is not to be yielded.
bool VideoReader::Impl::accept_frame(int64_t* number) {
  if (!use_plan_) {
    *number = frames_seen_++;
    return *number % info_.frame_mod == 0;
  }
  auto it = frame_->pts == AV_NOPTS_VALUE ? frame_of_pts_.end() : frame_of_pts_.find(frame_->pts);
  if (it == frame_of_pts_.end()) {
    status_ = failed_precondition("skip_unsampled plan broken: a frame with an unplanned time");
    return false;
  }
  *number = it->second;
  if (const auto s = snapped_.find(frame_->pts); s != snapped_.end()) {
    if (s->second < 0) return false;  // an anchor before it is hashed in its place
    *number = s->second;
  } else if (*number % info_.frame_mod != 0) {
    return false;
  }
  if (*number <= last_number_) {
    status_ = failed_precondition("skip_unsampled plan broken: frames out of order");
    return false;
  }
  ++sampled_received_;
  return true;
}

bool VideoReader::Impl::convert(VideoFrame* out) {
  const int w = frame_->width, h = frame_->height;
  if (w <= 0 || h <= 0 || frame_->format < 0) {
    ++damaged_frames_;
    return false;
  }
  if (int64_t(w) * h > options_.max_pixels) {
    set_partial("frame " + std::to_string(out->frame_number) + " is " + std::to_string(w) + "x" +
                std::to_string(h) + ", over max_pixels");
    done_ = true;
    return false;
  }
  if (options_.mode == HashMode::kFast &&
      shrunk_luma_of_yuv(*frame_, options_.fast_min_side, &out->image)) {
    return true;
  }
  if (!to_rgb_.convert(*frame_, &out->image)) {
    ++damaged_frames_;
    return false;
  }
  return true;
}

bool VideoReader::Impl::receive(VideoFrame* out) {
  while (true) {
    if (stopped()) return false;
    const int err = avcodec_receive_frame(codec_, frame_);
    if (err < 0 && draining_) {  // drained before a run after a gap (or stuck): reset, go on
      if (err != AVERROR_EOF && err != AVERROR(EAGAIN) && decode_errors_++ == 0) {
        first_decode_error_ = av_error_text(err);
      }
      avcodec_flush_buffers(codec_);
      draining_ = false;
      return false;
    }
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return false;
    if (err < 0) {
      if (decode_errors_++ == 0) first_decode_error_ = av_error_text(err);
      return false;
    }
    ++frames_decoded_;
    int64_t number = 0;
    const bool wanted = accept_frame(&number);
    if (!status_.ok()) {
      av_frame_unref(frame_);
      return false;
    }
    if (frame_->decode_error_flags || (frame_->flags & AV_FRAME_FLAG_CORRUPT)) ++damaged_frames_;
    if (over_limits(number)) {
      set_partial("stopped at frame " + std::to_string(number) + ": max_frames " +
                  std::to_string(options_.max_frames) + " or max_seconds " +
                  std::to_string(options_.max_seconds) + " reached");
      done_ = true;
      av_frame_unref(frame_);
      return false;
    }
    if (!wanted) {
      av_frame_unref(frame_);
      continue;
    }
    if (options_.max_sampled_frames > 0 && yielded_ >= options_.max_sampled_frames) {
      av_frame_unref(frame_);
      status_ = resource_exhausted("more than " + std::to_string(options_.max_sampled_frames) +
                                   " frames to hash (the budget max_sampled_frames): hash fewer, "
                                   "with a larger seconds_per_hash, or send a shorter video");
      return false;
    }
    out->frame_number = number;
    out->timestamp_s = double(float(number) / float(info_.fps));  // the reference's float math
    const bool converted = convert(out);
    av_frame_unref(frame_);
    if (done_) return false;
    if (converted) {
      last_number_ = number;
      ++yielded_;
      return true;
    }
  }
}

bool VideoReader::Impl::next(VideoFrame* out) {
  while (!done_ && status_.ok()) {
    if (receive(out)) return true;
    if (done_ || !status_.ok()) break;
    if (!read_and_send()) done_ = true;
  }
  if (!done_ || finished_) return false;
  finished_ = true;
  // End of stream: say what the frames are short of.
  if (use_plan_ && status_.ok()) {
    frames_seen_ = std::max(frames_seen_, std::min(frames_planned_, options_.max_frames));
    if (sampled_received_ != sampled_sent_) {
      status_ = failed_precondition(
          "skip_unsampled plan broken: " + std::to_string(sampled_sent_ - sampled_received_) +
          " sampled frames did not come out of the decoder");
    } else if (plan_cut_at_limit_) {
      set_partial("stopped at max_frames " + std::to_string(options_.max_frames) +
                  " or max_seconds " + std::to_string(options_.max_seconds));
    }
  }
  // A container that states its frame count (MP4 does) tells a cut file from a short one.
  const int64_t declared = input_.format->streams[stream_]->nb_frames;
  const int64_t demuxed = use_plan_ ? int64_t(plan_.size()) : packet_position_;
  if (declared > 0 && demuxed < declared && !(use_plan_ && plan_cut_at_limit_)) {
    set_partial("stream ends after " + std::to_string(demuxed) + " of its " +
                std::to_string(declared) + " frames");
  }
  if (decode_errors_ > 0) {
    set_partial(std::to_string(decode_errors_) + " packets failed to decode (first: " +
                first_decode_error_ + "); frame numbers after them may differ from the reference");
  }
  if (damaged_frames_ > 0) {
    set_partial(std::to_string(damaged_frames_) + " frames damaged (concealed decode errors)");
  }
  return false;
}

VideoReader::VideoReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VideoReader::~VideoReader() = default;

Result<std::unique_ptr<VideoReader>> VideoReader::open_file(const std::string& path,
                                                            const VideoOptions& options) {
  if (path.empty()) return invalid_argument("empty path");
  auto impl = std::make_unique<Impl>(path, std::span<const uint8_t>(), options);
  Status s = impl->open();
  if (!s.ok()) return s.with_context(path);
  return std::unique_ptr<VideoReader>(new VideoReader(std::move(impl)));
}

Result<std::unique_ptr<VideoReader>> VideoReader::open_bytes(std::span<const uint8_t> bytes,
                                                             const VideoOptions& options) {
  auto impl = std::make_unique<Impl>(std::string(), bytes, options);
  IMPRINT_RETURN_IF_ERROR(impl->open());
  return std::unique_ptr<VideoReader>(new VideoReader(std::move(impl)));
}

const VideoInfo& VideoReader::info() const { return impl_->info_; }
bool VideoReader::next(VideoFrame* frame) { return impl_->next(frame); }
const Status& VideoReader::status() const { return impl_->status_; }
bool VideoReader::partial() const { return impl_->partial_; }
const std::string& VideoReader::partial_reason() const { return impl_->partial_reason_; }
int64_t VideoReader::frames_seen() const { return impl_->frames_seen_; }
int64_t VideoReader::packets_sent() const { return impl_->packets_sent_; }
int64_t VideoReader::frames_decoded() const { return impl_->frames_decoded_; }
bool VideoReader::used_skip_plan() const { return impl_->use_plan_; }

bool looks_like_video(std::span<const uint8_t> head) {
  if (head.size() < 12) return false;
  auto at = [&](size_t offset, const char* magic, size_t n) {
    return std::memcmp(head.data() + offset, magic, n) == 0;
  };
  if (at(4, "ftyp", 4)) {
    // HEIF and AVIF stills are ISO-BMFF too; their major brands say so.
    for (const char* brand : {"heic", "heix", "mif1", "msf1", "avif", "avis", "heim", "heis"}) {
      if (at(8, brand, 4)) return false;
    }
    return true;
  }
  if (at(0, "\x1a\x45\xdf\xa3", 4)) return true;          // EBML: Matroska, WebM
  if (at(0, "RIFF", 4) && at(8, "AVI ", 4)) return true;  // AVI
  return at(0, "FLV", 3);
}

}  // namespace imprint
