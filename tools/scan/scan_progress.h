// Progress of a scan on stderr: a live bar on a terminal, a plain line every few seconds otherwise
// (a batch system's log should not fill with carriage returns).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "scan_pipeline.h"

namespace imprint::cli {

// Counters the pipeline stages bump as they go; read by the reporter without locks.
struct ScanCounters {
  std::atomic<int64_t> items{0};    // items finished by the workers (scanned or failed)
  std::atomic<int64_t> matched{0};  // samples within the match distance of a work
  std::atomic<int64_t> flagged{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> tar_bytes_read{0};  // compressed bytes consumed from tar shards
  std::atomic<int64_t> tar_items_read{0};
  // Set once the counting walk has finished: items in this run's directory and list units, and
  // bytes of its tar shards (whose item count is estimated from the bytes read so far).
  std::atomic<int64_t> total_path_items{0};
  std::atomic<int64_t> total_tar_bytes{0};
  std::atomic<bool> totals_known{false};
};

class ProgressReporter {
 public:
  // `tick` runs on the reporter's thread about ten times a second (the pipeline uses it to notice
  // signals).
  ProgressReporter(ProgressMode mode, const ScanCounters& counters, std::function<void()> tick);
  ~ProgressReporter();  // stops and clears the bar
  void stop();

 private:
  void loop();
  std::string line(double elapsed_s) const;

  bool bar_ = false, lines_ = false;
  const ScanCounters& c_;
  std::function<void()> tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

std::string format_duration(double seconds);

// The items this run will see (ScanProgress::total_items): -1 while unknown.
double estimated_total_items(const ScanCounters& c);  // "1:02:03" or "2:03"

}  // namespace imprint::cli
