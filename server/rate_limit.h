// Per-key rate limits: a token bucket per caller name.
//
// Each key may make `per_second` calls a second on average, with bursts of up to `burst` calls
// (one second's worth by default, at least one). A call over the limit is refused at once with
// the time until the next token, which the server sends as `retry-after` (gRPC trailing
// metadata, HTTP Retry-After): refusing costs the server nothing, and a well-behaved client
// knows when to come back. The clock is the caller's, so tests need not sleep.
//
// Thread safety: acquire() may be called from any thread.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace imprint::server {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // per_second <= 0: no limit. burst <= 0: max(1, per_second).
  RateLimiter(double per_second, double burst);

  // Takes one token from `key`'s bucket: 0 when the call may go ahead, else the seconds until it
  // would (the bucket is left as it was).
  double acquire(const std::string& key, Clock::time_point now);
  double acquire(const std::string& key) { return acquire(key, Clock::now()); }

  bool enabled() const { return per_second_ > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
  };
  double per_second_;
  double burst_;
  std::mutex mu_;
  // One bucket per key name: bounded by the key file's lines.
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace imprint::server
