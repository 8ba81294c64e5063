// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_DETAIL_TOKEN_BUCKET_HPP
#define LIVECHAT_DETAIL_TOKEN_BUCKET_HPP

// One token bucket: the hub's per-connection frame limit and the example
// server's per-user REST limit share this arithmetic, and it covers what
// the client's pacing needs too (a debt, a start in the future). A bucket
// holds only its tokens and the time of its last refill; the size and
// pace (`token_rate`) are passed in, because every bucket of a table has
// the same ones, the hub keeps one bucket per connection, and the client
// changes its pace as it goes.

#include <algorithm>
#include <chrono>

namespace livechat::detail {

/// Size and pace of a family of buckets.
struct token_rate {
  double burst = 0;       ///< tokens in a full bucket
  double per_second = 0;  ///< tokens added per second, up to `burst`
};

/// @tparam TimePoint  a `std::chrono::time_point` (the clock's, so tests
///                    move time by hand)
template <class TimePoint>
class token_bucket {
 public:
  using time_point = TimePoint;

  token_bucket() = default;
  /// `tokens` at `at`; a new bucket usually starts full (`rate.burst`) at
  /// the current time. With `at` in the future nothing is added before it
  /// (a pause).
  token_bucket(double tokens, time_point at) noexcept : tokens_(tokens), refill_at_(at) {}

  /// Adds what `rate` refilled since the last refill, up to `rate.burst`,
  /// and makes `now` the last refill. A `now` that is not later than the
  /// last refill changes nothing.
  void refill(time_point now, const token_rate& rate) noexcept {
    if (now <= refill_at_) return;
    tokens_ = std::min(rate.burst, tokens_ + elapsed(now) * rate.per_second);
    refill_at_ = now;
  }

  /// Refills, then takes one token. False, taking nothing, when less than
  /// one whole token is there.
  bool try_take(time_point now, const token_rate& rate) noexcept {
    refill(now, rate);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

  /// Refills, then takes one token even when there is none: for what must
  /// go out anyway. The debt (negative tokens) is paid back by refills.
  void take(time_point now, const token_rate& rate) noexcept {
    refill(now, rate);
    tokens_ -= 1.0;
  }

  /// True when the bucket would be full at `now`, which is the same as no
  /// bucket at all: a table of buckets may drop it. Changes nothing.
  bool full_at(time_point now, const token_rate& rate) const noexcept {
    return tokens_ + elapsed(now) * rate.per_second >= rate.burst;
  }

  /// Seconds from the last refill until a whole token is back (0 when one
  /// is there); `rate.per_second` must be positive.
  double seconds_to_token(const token_rate& rate) const noexcept {
    return tokens_ >= 1.0 ? 0.0 : (1.0 - tokens_) / rate.per_second;
  }

  double tokens() const noexcept { return tokens_; }

 private:
  double elapsed(time_point now) const noexcept {
    return std::max(0.0, std::chrono::duration<double>(now - refill_at_).count());
  }

  double tokens_ = 0;
  time_point refill_at_{};
};

}  // namespace livechat::detail

#endif
