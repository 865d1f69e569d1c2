#include "scan_progress.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

namespace imprint::cli {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = int64_t(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(t / 3600),
                  (long long)(t / 60 % 60), (long long)(t % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(t / 60), (long long)(t % 60));
  }
  return buf;
}

double estimated_total_items(const ScanCounters& c) {
  if (!c.totals_known.load()) return -1;
  double total = double(c.total_path_items.load());
  const int64_t tar_total = c.total_tar_bytes.load();
  if (tar_total > 0) {
    const int64_t tb = c.tar_bytes_read.load(), ti = c.tar_items_read.load();
    if (tb <= 0 || ti <= 0) return -1;  // no estimate of a shard's item count yet
    total += double(tar_total) * double(ti) / double(tb);
  }
  return total;
}

ProgressReporter::ProgressReporter(ProgressMode mode, const ScanCounters& counters,
                                   std::function<void()> tick)
    : c_(counters), tick_(std::move(tick)) {
  const bool tty = ::isatty(2) != 0;
  bar_ = mode == ProgressMode::kBar || (mode == ProgressMode::kAuto && tty);
  lines_ = mode == ProgressMode::kLines || (mode == ProgressMode::kAuto && !tty);
  thread_ = std::thread([this] { loop(); });
}

ProgressReporter::~ProgressReporter() { stop(); }

void ProgressReporter::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (bar_) std::fprintf(stderr, "\r\x1b[K");
}

std::string ProgressReporter::line(double elapsed) const {
  const int64_t items = c_.items.load();
  const double rate = elapsed > 0 ? double(items) / elapsed : 0;
  char head[256];
  std::snprintf(head, sizeof head, "%lld items, %.0f/s, %lld matched, %lld flagged, %lld errors",
                (long long)items, rate, (long long)c_.matched.load(), (long long)c_.flagged.load(),
                (long long)c_.errors.load());
  std::string out = head;
  const double total = estimated_total_items(c_);
  if (total <= 0) return out;
  const double frac = std::min(1.0, double(items) / total);
  char tail[128];
  std::snprintf(tail, sizeof tail, ", %.1f%%, ETA %s", frac * 100,
                rate > 0 ? format_duration((total - double(items)) / rate).c_str() : "?");
  if (bar_) {
    const int width = 24, filled = int(frac * width);
    return "[" + std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.') +
           "] " + out + tail;
  }
  return out + tail;
}

void ProgressReporter::loop() {
  const auto start = Clock::now();
  auto last_line = start;
  std::unique_lock<std::mutex> lk(mu_);
  while (!stopping_) {
    cv_.wait_for(lk, std::chrono::milliseconds(100));
    if (stopping_) break;
    if (tick_) tick_();
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    if (bar_ && now - last_line >= std::chrono::milliseconds(250)) {
      std::fprintf(stderr, "\r%s\x1b[K", line(elapsed).c_str());
      std::fflush(stderr);
      last_line = now;
    } else if (lines_ && now - last_line >= std::chrono::seconds(5)) {
      std::fprintf(stderr, "imprint scan: %s\n", line(elapsed).c_str());
      last_line = now;
    }
  }
}

}  // namespace imprint::cli
