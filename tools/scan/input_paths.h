// Turning PATH arguments into the list of files a command works on.
//
// A file argument is taken as given. A directory is walked recursively in sorted order, keeping
// files whose extension names an image format (and a video format, for commands that take
// videos); symlinks are followed, and a symlink that leads
// back into a directory being walked is reported as a loop instead of being walked forever. "-"
// reads one path per line from standard input. Problems become error entries in order, so a
// command reports them and carries on with the rest.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "status.h"

namespace imprint::cli {

struct InputPath {
  std::string path;
  Status error;  // ok for a file to process
};

// Calls `emit` for each input in order (streaming, so "-" over millions of lines stays flat).
// With `videos`, directory walks also keep video files (has_video_extension).
void expand_inputs(const std::vector<std::string>& args, const std::function<void(InputPath)>& emit,
                   bool videos = false);

bool has_image_extension(const std::string& path);
// .mp4 .m4v .mov .mkv .webm .avi (any case).
bool has_video_extension(const std::string& path);
// Whether a file to process is a video: by extension, else (no image extension either) by its
// first bytes: an ISO-BMFF 'ftyp' box whose brand is not an image one (HEIC/AVIF), Matroska/WebM's
// EBML header, RIFF AVI, FLV.
bool is_video_file(const std::string& path);

// Progress of one long video on standard error: "imprint CMD: PATH: 42% (63 of 150 s)", first
// after 5 seconds of work and then at most every 5 seconds, so short files print nothing. One per
// file; lines from several threads do not interleave.
class VideoProgressLine {
 public:
  VideoProgressLine(std::string command, std::string path);
  void operator()(double t_seconds, double duration_s);

 private:
  std::string command_, path_;
  int64_t start_ms_, next_ms_;
};

}  // namespace imprint::cli
