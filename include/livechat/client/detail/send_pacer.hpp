// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_DETAIL_SEND_PACER_HPP
#define LIVECHAT_CLIENT_DETAIL_SEND_PACER_HPP

// The pace of client::session's outgoing frames: a token bucket kept below
// the server's rate limit, a pause after each `rate_limited` episode and a
// pace halved by each one (session_settings::send_burst, send_per_second,
// rate_limited_pause say why).

#include <algorithm>
#include <chrono>
#include <optional>

namespace livechat::client::detail {

class send_pacer {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  send_pacer(double burst, double per_second, std::chrono::milliseconds pause) noexcept
      : burst_(burst), per_second_(per_second), pause_(pause), pace_burst_(burst),
        pace_per_second_(per_second), tokens_(burst) {}

  /// A new connection starts with a full bucket on the server: the pace
  /// learnt from refusals on the last one starts over too.
  void restart(time_point now) noexcept {
    pace_burst_ = burst_;
    pace_per_second_ = per_second_;
    tokens_ = pace_burst_;
    refill_at_ = now;
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
  void refill(time_point now) noexcept {
    if (now > refill_at_) {
      const double dt = std::chrono::duration<double>(now - refill_at_).count();
      tokens_ = std::min(pace_burst_, tokens_ + dt * pace_per_second_);
      refill_at_ = now;
    }
  }

  /// True when a frame may go out now (after `refill`).
  bool ready() const noexcept { return tokens_ >= 1.0; }

  /// A frame goes out. Frames that must not wait (auth, ping) are sent
  /// without asking `ready` and may take the bucket below zero.
  void consume(time_point now) noexcept {
    refill(now);
    tokens_ -= 1.0;
  }

  /// The server refused a frame (`rate_limited`): it emptied its bucket.
  /// Pause, then go on at half the pace. Refusals that arrive during the
  /// pause answer frames sent before it, so they do not slow down again.
  void slow_down(time_point now) noexcept {
    if (paused_until_ && now < *paused_until_) return;
    pace_per_second_ = std::max(1.0, pace_per_second_ / 2);
    pace_burst_ = std::max(1.0, pace_burst_ / 2);
    paused_until_ = now + pause_;
    tokens_ = 1.0;  // the first frame goes out as the pause ends
    refill_at_ = *paused_until_;
  }

  double tokens() const noexcept { return tokens_; }
  double burst() const noexcept { return pace_burst_; }
  double per_second() const noexcept { return pace_per_second_; }
  std::optional<time_point> paused_until() const noexcept { return paused_until_; }

 private:
  double burst_;       // the settings, restored on every connection
  double per_second_;
  std::chrono::milliseconds pause_;
  double pace_burst_;       // burst_, halved by each rate_limited episode
  double pace_per_second_;  // per_second_, likewise
  double tokens_;
  time_point refill_at_{};
  std::optional<time_point> paused_until_;  // after a rate_limited: nothing is sent before
};

}  // namespace livechat::client::detail

#endif
