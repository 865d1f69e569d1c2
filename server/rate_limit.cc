#include "rate_limit.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace imprint::server {

RateLimiter::RateLimiter(double per_second, double burst, size_t max_buckets)
    : per_second_(per_second > 0 ? per_second : 0),
      burst_(burst > 0 ? burst : std::max(1.0, per_second)),
      max_buckets_(std::max<size_t>(1, max_buckets)) {}

double RateLimiter::acquire(const std::string& key, Clock::time_point now) {
  if (per_second_ <= 0) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  if (buckets_.size() >= max_buckets_ && !buckets_.contains(key)) {
    // Full: forget the callers whose buckets have refilled; they lose nothing by it.
    std::erase_if(buckets_, [&](const auto& entry) {
      const Bucket& b = entry.second;
      return now > b.updated &&
             b.tokens + per_second_ * std::chrono::duration<double>(now - b.updated).count() >=
                 burst_;
    });
    if (buckets_.size() >= max_buckets_) return 1 / per_second_;
  }
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

std::string client_address(std::string_view peer) {
  std::string_view host = peer;
  if (host.starts_with("ipv4:") || host.starts_with("ipv6:")) host.remove_prefix(5);
  std::string h(host);
  // gRPC escapes the brackets of an IPv6 peer in newer releases.
  for (const auto& [escaped, bracket] :
       {std::pair{"%5B", "["}, {"%5b", "["}, {"%5D", "]"}, {"%5d", "]"}}) {
    for (size_t at; (at = h.find(escaped)) != std::string::npos;) h.replace(at, 3, bracket);
  }
  if (!h.empty() && h.front() == '[') {  // [v6]:port
    const size_t close = h.find(']');
    if (close != std::string::npos) h = h.substr(1, close - 1);
  } else if (std::count(h.begin(), h.end(), ':') == 1) {  // v4:port
    h = h.substr(0, h.find(':'));
  }
  const size_t zone = h.find('%');  // fe80::1%eth0
  if (zone != std::string::npos) h.resize(zone);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return h;
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) != 1) return std::string(peer);
  char text[INET6_ADDRSTRLEN];
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(v6.s6_addr, kMapped, 12) == 0) {
    std::memcpy(&v4, v6.s6_addr + 12, 4);
    return inet_ntop(AF_INET, &v4, text, sizeof text);
  }
  std::memset(v6.s6_addr + 8, 0, 8);
  return std::string(inet_ntop(AF_INET6, &v6, text, sizeof text)) + "/64";
}

}  // namespace imprint::server
