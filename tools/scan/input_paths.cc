#include "input_paths.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <utility>

#include "video.h"

namespace imprint::cli {
namespace fs = std::filesystem;
namespace {

using DirId = std::pair<dev_t, ino_t>;

bool dir_id(const std::string& path, DirId* id) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  *id = {st.st_dev, st.st_ino};
  return true;
}

// Depth-first walk. `ancestors` holds the directories on the current path (a symlink into one of
// them is a loop); `seen` holds every directory walked (a second link to one is skipped).
void walk(const std::string& dir, std::vector<DirId>& ancestors, std::set<DirId>& seen,
          const std::function<void(InputPath)>& emit, bool videos) {
  auto wanted = [&](const std::string& p) {
    return has_image_extension(p) || (videos && has_video_extension(p));
  };
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    entries.push_back(*it);
  }
  if (ec) {
    emit({dir, io_error("cannot list directory (" + ec.message() + ")").with_context(dir)});
    return;
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  for (const auto& e : entries) {
    const std::string p = e.path().string();
    std::error_code sec;
    if (e.is_directory(sec)) {  // follows symlinks
      DirId id;
      if (!dir_id(p, &id)) continue;
      if (std::find(ancestors.begin(), ancestors.end(), id) != ancestors.end()) {
        emit({p, invalid_argument("symlink loop: leads back to a directory being walked")
                     .with_context(p)});
        continue;
      }
      if (!seen.insert(id).second) continue;  // another link to a directory already walked
      ancestors.push_back(id);
      walk(p, ancestors, seen, emit, videos);
      ancestors.pop_back();
    } else if (e.is_regular_file(sec) && wanted(p)) {
      emit({p, Status::Ok()});
    } else if (e.is_symlink(sec) && !e.exists(sec) && wanted(p)) {
      emit({p, not_found("dangling symlink").with_context(p)});
    }
  }
}

void expand_one(const std::string& arg, const std::function<void(InputPath)>& emit, bool videos) {
  DirId id;
  if (dir_id(arg, &id)) {
    std::vector<DirId> ancestors{id};
    std::set<DirId> seen{id};
    walk(arg, ancestors, seen, emit, videos);
  } else {
    emit({arg, Status::Ok()});  // files, and paths that do not exist: the reader reports those
  }
}

}  // namespace

bool has_image_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> kExts = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp",
                                              ".bmp", ".tif",  ".tiff", ".gif"};
  return kExts.count(ext) > 0;
}

bool has_video_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> kExts = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"};
  return kExts.count(ext) > 0;
}

bool is_video_file(const std::string& path) {
  if (has_video_extension(path)) return true;
  if (has_image_extension(path)) return false;
  std::ifstream in(path, std::ios::binary);
  uint8_t head[12] = {};
  if (!in.read(reinterpret_cast<char*>(head), sizeof head)) return false;
  return looks_like_video(head);
}

namespace {
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
std::mutex progress_mu;
}  // namespace

VideoProgressLine::VideoProgressLine(std::string command, std::string path)
    : command_(std::move(command)),
      path_(std::move(path)),
      start_ms_(steady_ms()),
      next_ms_(start_ms_ + 5000) {}

void VideoProgressLine::operator()(double t, double duration) {
  const int64_t now = steady_ms();
  if (now < next_ms_) return;
  next_ms_ = now + 5000;
  char line[64];
  if (duration > 0) {
    std::snprintf(line, sizeof line, "%d%% (%.0f of %.0f s)",
                  int(std::min(100.0, 100 * t / duration)), t, duration);
  } else {
    std::snprintf(line, sizeof line, "%.0f s", t);
  }
  std::lock_guard<std::mutex> lk(progress_mu);
  std::cerr << "imprint " << command_ << ": " << path_ << ": " << line << '\n';
}

void expand_inputs(const std::vector<std::string>& args, const std::function<void(InputPath)>& emit,
                   bool videos) {
  for (const std::string& arg : args) {
    if (arg == "-") {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) expand_one(line, emit, videos);
      }
    } else {
      expand_one(arg, emit, videos);
    }
  }
}

}  // namespace imprint::cli
