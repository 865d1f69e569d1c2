// Rate limits: a token bucket per caller, named by its API key or, for callers without one (no
// key file, the creators' page), by its network address (client_address()).
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
#include <string_view>
#include <unordered_map>

namespace imprint::server {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // per_second <= 0: no limit. burst <= 0: max(1, per_second). At most `max_buckets` callers
  // are tracked: when the table is full, buckets that have refilled (callers gone quiet, who
  // would start afresh anyway) are dropped; if none has, a new caller is refused for one token's
  // time, so a flood from many addresses costs bounded memory and gets no free burst.
  RateLimiter(double per_second, double burst, size_t max_buckets = 65536);

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
  size_t max_buckets_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // at most max_buckets_
};

// The part of a peer that names a client for rate limiting: the IP address of gRPC's peer string
// ("ipv4:203.0.113.7:5123", "ipv6:[2001:db8::1]:5123", URI-escaped brackets too) or of an HTTP
// remote address, without the port. An IPv6 client is named by its /64 (one subscriber's
// network: an address per call costs an attacker nothing inside it); an IPv4-mapped address by
// its IPv4 address. Anything else (a Unix socket path) is returned as given.
std::string client_address(std::string_view peer);

}  // namespace imprint::server
