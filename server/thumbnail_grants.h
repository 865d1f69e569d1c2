// Links to work thumbnails that the server hands out with a result, so the creators' page can
// show what matched without a key and without making every work's picture public (issue 21).
//
// grant() stores the picture under a random 128-bit token for a while; the link carries only
// the token, so ids (often guessable file stems) open nothing. Grants are bounded in number and
// age: the oldest go first. Thread safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace imprint::server {

class ThumbnailGrants {
 public:
  // A page shows its thumbnails within seconds; ten minutes covers a slow connection and a
  // reader who scrolls back. 1024 grants of ~10 KB bound the memory at ~10 MB.
  static constexpr std::chrono::minutes kLifetime{10};
  static constexpr size_t kMaxGrants = 1024;

  // The token for `jpeg`.
  std::string grant(std::vector<uint8_t> jpeg);
  // The picture of a live grant.
  std::optional<std::shared_ptr<const std::vector<uint8_t>>> find(const std::string& token);

 private:
  struct Grant {
    std::shared_ptr<const std::vector<uint8_t>> jpeg;
    std::chrono::steady_clock::time_point expires;
  };
  void expire(std::chrono::steady_clock::time_point now);

  std::mutex mu_;
  std::map<std::string, Grant> by_token_;
  std::deque<std::string> order_;  // oldest first
};

}  // namespace imprint::server
