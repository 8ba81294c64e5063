// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_DETAIL_SEND_PACER_HPP
#define LIVECHAT_CLIENT_DETAIL_SEND_PACER_HPP

// The pace of client::session's outgoing frames: a token bucket kept below
// the server's rate limit, a pause after each `rate_limited` episode and a
// pace halved by each one (session_settings::send_burst, send_per_second,
// rate_limited_pause say why). The bucket arithmetic is the shared
// livechat::detail::token_bucket; what is the client's own is the pace that
// halves on each refusal and the pause.

#include <livechat/detail/token_bucket.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

namespace livechat::client::detail {

class send_pacer {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  send_pacer(double burst, double per_second, std::chrono::milliseconds pause) noexcept
      : settings_{burst, per_second}, pause_(pause), pace_(settings_), bucket_(burst, time_point{}) {}

  /// A new connection starts with a full bucket on the server: the pace
  /// learnt from refusals on the last one starts over too.
  void restart(time_point now) noexcept {
    pace_ = settings_;
    bucket_ = bucket(pace_.burst, now);
    paused_until_.reset();
  }

  /// The connection ended: a pause of it does not hold back the next one.
  void clear_pause() noexcept { paused_until_.reset(); }

  /// True while paused after a `rate_limited`; an elapsed pause is cleared.
  bool paused(time_point now) noexcept {
    if (!paused_until_) return false;
    if (now < *paused_until_) return true;
    paused_until_.reset();
    return false;
  }

  /// Adds the tokens earned since the last refill, up to the burst.
  void refill(time_point now) noexcept { bucket_.refill(now, pace_); }

  /// True when a frame may go out now (after `refill`).
  bool ready() const noexcept { return bucket_.tokens() >= 1.0; }

  /// A frame goes out. Frames that must not wait (auth, ping) are sent
  /// without asking `ready` and may take the bucket below zero.
  void consume(time_point now) noexcept { bucket_.take(now, pace_); }

  /// The server refused a frame (`rate_limited`): it emptied its bucket.
  /// Pause, then go on at half the pace. Refusals that arrive during the
  /// pause answer frames sent before it, so they do not slow down again.
  void slow_down(time_point now) noexcept {
    if (paused_until_ && now < *paused_until_) return;
    pace_.per_second = std::max(1.0, pace_.per_second / 2);
    pace_.burst = std::max(1.0, pace_.burst / 2);
    paused_until_ = now + pause_;
    bucket_ = bucket(1.0, *paused_until_);  // the first frame goes out as the pause ends
  }

  double tokens() const noexcept { return bucket_.tokens(); }
  double burst() const noexcept { return pace_.burst; }
  double per_second() const noexcept { return pace_.per_second; }
  std::optional<time_point> paused_until() const noexcept { return paused_until_; }

 private:
  using bucket = livechat::detail::token_bucket<time_point>;

  livechat::detail::token_rate settings_;  // restored on every connection
  std::chrono::milliseconds pause_;
  livechat::detail::token_rate pace_;  // settings_, halved by each rate_limited episode
  bucket bucket_;
  std::optional<time_point> paused_until_;  // after a rate_limited: nothing is sent before
};

}  // namespace livechat::client::detail

#endif
