#include "rate_limit.h"

#include <algorithm>

namespace imprint::server {

RateLimiter::RateLimiter(double per_second, double burst)
    : per_second_(per_second > 0 ? per_second : 0),
      burst_(burst > 0 ? burst : std::max(1.0, per_second)) {}

double RateLimiter::acquire(const std::string& key, Clock::time_point now) {
  if (per_second_ <= 0) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  auto [it, fresh] = buckets_.try_emplace(key);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = burst_;  // a new key starts with a full burst
  } else if (now > b.updated) {
    b.tokens = std::min(burst_, b.tokens + per_second_ * std::chrono::duration<double>(now - b.updated).count());
  }
  b.updated = std::max(b.updated, now);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return (1 - b.tokens) / per_second_;
}

}  // namespace imprint::server
