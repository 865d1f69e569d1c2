// BoundedQueue: the queue between two stages of the scan pipeline.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace imprint::cli {

// FIFO with a bound on items and on their total cost (bytes). A push waits while either bound is
// reached, except into an empty queue, so one item over the byte bound still moves.
template <typename T>
class BoundedQueue {
 public:
  BoundedQueue(size_t max_items, size_t max_cost) : max_items_(max_items), max_cost_(max_cost) {}

  // False when the queue was closed.
  bool push(T item, size_t cost = 0) {
    std::unique_lock<std::mutex> lk(mu_);
    not_full_.wait(lk, [&] {
      return closed_ || q_.empty() || (q_.size() < max_items_ && cost_ + cost <= max_cost_);
    });
    if (closed_) return false;
    q_.emplace_back(std::move(item), cost);
    cost_ += cost;
    not_empty_.notify_one();
    return true;
  }

  // Waits for at least one item; takes up to `max` of them. Empty when closed and drained.
  std::vector<T> pop_some(size_t max) {
    std::unique_lock<std::mutex> lk(mu_);
    not_empty_.wait(lk, [&] { return closed_ || !q_.empty(); });
    std::vector<T> out;
    while (!q_.empty() && out.size() < max) {
      cost_ -= q_.front().second;
      out.push_back(std::move(q_.front().first));
      q_.pop_front();
    }
    not_full_.notify_all();
    if (!q_.empty()) not_empty_.notify_one();
    return out;
  }

  std::optional<T> pop() {
    std::vector<T> v = pop_some(1);
    if (v.empty()) return std::nullopt;
    return std::move(v.front());
  }

  void close() {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }

 private:
  const size_t max_items_, max_cost_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::pair<T, size_t>> q_;
  size_t cost_ = 0;
  bool closed_ = false;
};

}  // namespace imprint::cli
