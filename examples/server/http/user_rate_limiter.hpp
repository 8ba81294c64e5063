// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_USER_RATE_LIMITER_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_USER_RATE_LIMITER_HPP

// A token bucket per user id, for requests that have no connection to hang
// a bucket on (REST writes: PROTOCOL.md "HTTP"). The bucket is the hub's
// own (livechat/rate_limit.hpp), so both limits count alike.
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

#include <livechat/rate_limit.hpp>

namespace livechat_server {

class user_rate_limiter {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// `burst` tokens per bucket, refilled at `per_second`; at most
  /// `max_users` buckets (at least 1).
  user_rate_limiter(double burst, double per_second, std::size_t max_users) noexcept
      : rate_{std::max(1.0, burst), per_second > 0 ? per_second : 1.0},
        max_users_(std::max<std::size_t>(1, max_users)) {}

  user_rate_limiter(const user_rate_limiter&) = delete;
  user_rate_limiter& operator=(const user_rate_limiter&) = delete;

  /// Takes one token from `user`'s bucket at `now`. 0: admitted; otherwise
  /// refused, and the whole seconds (at least 1) until a token is back,
  /// for `Retry-After`. A refused request takes nothing.
  std::uint64_t acquire(std::string_view user, time_point now) {
    drop_idle(now);
    entry* b = nullptr;
    if (auto it = index_.find(user); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);  // nodes stay put: keys stay valid
      b = &*it->second;
    } else {
      if (lru_.size() >= max_users_) pop_oldest();
      lru_.push_front(entry{std::string(user), bucket(rate_.burst, now)});
      b = &lru_.front();
      index_.emplace(std::string_view(b->user), lru_.begin());
    }
    if (b->tokens.try_take(now, rate_)) return 0;
    const double wait = std::ceil(b->tokens.seconds_to_token(rate_));
    return wait < 1.0 ? 1 : static_cast<std::uint64_t>(wait);
  }

  /// Buckets held (for tests and metrics).
  std::size_t size() const noexcept { return lru_.size(); }

 private:
  using bucket = livechat::token_bucket<time_point>;
  struct entry {
    std::string user;
    bucket tokens;
  };

  // Least recently used first: amortised O(1) per call.
  void drop_idle(time_point now) {
    while (!lru_.empty() && lru_.back().tokens.full_at(now, rate_)) pop_oldest();
  }

  void pop_oldest() {
    index_.erase(std::string_view(lru_.back().user));
    lru_.pop_back();
  }

  livechat::token_rate rate_;
  std::size_t max_users_;
  std::list<entry> lru_;  ///< most recently used first
  std::unordered_map<std::string_view, std::list<entry>::iterator> index_;  ///< keys view lru_'s ids
};

}  // namespace livechat_server

#endif
