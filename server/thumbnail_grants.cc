#include "thumbnail_grants.h"

#include <random>

namespace imprint::server {

std::string ThumbnailGrants::grant(std::vector<uint8_t> jpeg) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;  // the kernel's generator: tokens must not be predictable
  std::string token;
  for (int i = 0; i < 4; ++i) {
    const uint32_t r = rd();
    for (int k = 0; k < 8; ++k) token += kHex[(r >> (4 * k)) & 15];
  }
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  expire(now);
  while (order_.size() >= kMaxGrants) {
    by_token_.erase(order_.front());
    order_.pop_front();
  }
  by_token_[token] = Grant{std::make_shared<const std::vector<uint8_t>>(std::move(jpeg)), now + kLifetime};
  order_.push_back(token);
  return token;
}

std::optional<std::shared_ptr<const std::vector<uint8_t>>> ThumbnailGrants::find(const std::string& token) {
  std::lock_guard<std::mutex> lk(mu_);
  expire(std::chrono::steady_clock::now());
  auto it = by_token_.find(token);
  if (it == by_token_.end()) return std::nullopt;
  return it->second.jpeg;
}

void ThumbnailGrants::expire(std::chrono::steady_clock::time_point now) {
  while (!order_.empty()) {
    auto it = by_token_.find(order_.front());
    if (it != by_token_.end() && it->second.expires > now) break;
    if (it != by_token_.end()) by_token_.erase(it);
    order_.pop_front();
  }
}

}  // namespace imprint::server
