// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_USER_RATE_LIMITER_HPP
#define LIVECHAT_EXAMPLES_SERVER_USER_RATE_LIMITER_HPP

// A token bucket per user id, for requests that have no connection to hang
// a bucket on (REST writes: PROTOCOL.md "HTTP"). Same arithmetic as the
// hub's per-connection bucket, which lives inside the hub's connection
// state and is not a type of its own.
//
// The table is bounded: a bucket that has refilled to full is the same as
// no bucket, so idle ones are dropped as they reach the cold end of an LRU
// list, and at `max_users` the least recently used one is dropped to make
// room. That eviction can hand one user a fresh burst early, but only when
// more than `max_users` users post within one refill period; many user ids
// never grow memory.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace livechat_server {

class user_rate_limiter {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// `burst` tokens per bucket, refilled at `per_second`; at most
  /// `max_users` buckets (at least 1).
  user_rate_limiter(double burst, double per_second, std::size_t max_users) noexcept
      : burst_(std::max(1.0, burst)),
        per_second_(per_second > 0 ? per_second : 1.0),
        max_users_(std::max<std::size_t>(1, max_users)) {}

  user_rate_limiter(const user_rate_limiter&) = delete;
  user_rate_limiter& operator=(const user_rate_limiter&) = delete;

  /// Takes one token from `user`'s bucket at `now`. 0: admitted; otherwise
  /// refused, and the whole seconds (at least 1) until a token is back,
  /// for `Retry-After`. A refused request takes nothing.
  std::uint64_t acquire(std::string_view user, time_point now) {
    drop_idle(now);
    bucket* b = nullptr;
    if (auto it = index_.find(user); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);  // nodes stay put: keys stay valid
      b = &*it->second;
      refill(*b, now);
    } else {
      if (lru_.size() >= max_users_) pop_oldest();
      lru_.push_front(bucket{std::string(user), burst_, now});
      b = &lru_.front();
      index_.emplace(std::string_view(b->user), lru_.begin());
    }
    if (b->tokens >= 1.0) {
      b->tokens -= 1.0;
      return 0;
    }
    const double wait = std::ceil((1.0 - b->tokens) / per_second_);
    return wait < 1.0 ? 1 : static_cast<std::uint64_t>(wait);
  }

  /// Buckets held (for tests and metrics).
  std::size_t size() const noexcept { return lru_.size(); }

 private:
  struct bucket {
    std::string user;
    double tokens;
    time_point refill_at;
  };

  void refill(bucket& b, time_point now) const noexcept {
    const double elapsed = std::chrono::duration<double>(now - b.refill_at).count();
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed) * per_second_);
    b.refill_at = now;
  }

  bool full_at(const bucket& b, time_point now) const noexcept {
    const double elapsed = std::chrono::duration<double>(now - b.refill_at).count();
    return b.tokens + std::max(0.0, elapsed) * per_second_ >= burst_;
  }

  // Least recently used first: amortised O(1) per call.
  void drop_idle(time_point now) {
    while (!lru_.empty() && full_at(lru_.back(), now)) pop_oldest();
  }

  void pop_oldest() {
    index_.erase(std::string_view(lru_.back().user));
    lru_.pop_back();
  }

  double burst_;
  double per_second_;
  std::size_t max_users_;
  std::list<bucket> lru_;  ///< most recently used first
  std::unordered_map<std::string_view, std::list<bucket>::iterator> index_;  ///< keys view lru_'s ids
};

}  // namespace livechat_server

#endif
