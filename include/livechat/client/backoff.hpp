// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_BACKOFF_HPP
#define LIVECHAT_CLIENT_BACKOFF_HPP

// Reconnect delays: exponential growth with "full jitter" (a uniform draw
// between zero and the exponential bound). Jitter matters more than the
// curve: after a server restart every client reconnects at once, and
// without it they retry in lockstep and hit the fresh server together.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <utility>

namespace livechat::client {

struct backoff_settings {
  /// The first delay (the upper bound of the first jittered delay).
  std::chrono::milliseconds base{500};
  /// No delay exceeds this.
  std::chrono::milliseconds cap{20'000};
  /// Growth per failed attempt; values below 1 are treated as 1.
  double factor = 2.0;
  /// true: uniform in [0, min(cap, base*factor^n)]; false: exactly that bound.
  bool jitter = true;
  /// Give up after this many consecutive failed attempts; nullopt: never.
  std::optional<std::uint32_t> max_attempts;
  /// A connection that lasted this long resets the attempt count (the
  /// session calls reset(); the backoff itself keeps no time).
  std::chrono::milliseconds stable_after{10'000};
};

/// The delay before each reconnect attempt.
///
/// Attempt n (counting from 0 since the last reset) waits at most
/// `min(cap, base * factor^n)`; with jitter the wait is uniform in
/// `[0, that bound]` (whole milliseconds).
///
/// @par Thread Safety
/// None; one owner (the session's thread).
/// @code
/// client::backoff b({std::chrono::milliseconds(500), std::chrono::seconds(20)});
/// while (auto d = b.next_delay()) { wait(*d); if (try_connect()) { b.reset(); break; } }
/// @endcode
class backoff {
 public:
  /// Returns a uniform double in [0, 1). Tests pass a seeded one.
  using random_source = std::function<double()>;

  explicit backoff(backoff_settings s = {}, random_source r = {})
      : settings_(std::move(s)), random_(r ? std::move(r) : default_source()) {}

  /// The delay before the next attempt, or nullopt once `max_attempts`
  /// attempts were handed out since the last reset. Counts the attempt.
  std::optional<std::chrono::milliseconds> next_delay() {
    if (settings_.max_attempts && attempts_ >= *settings_.max_attempts) return std::nullopt;
    const std::int64_t b = bound(attempts_);
    ++attempts_;
    if (!settings_.jitter || b == 0) return std::chrono::milliseconds(b);
    double u = random_();
    // A broken source must not produce a delay outside the documented range.
    if (!(u >= 0.0)) u = 0.0;
    if (u >= 1.0) u = std::nextafter(1.0, 0.0);
    // floor(u * (b + 1)) is uniform over the b + 1 whole values 0 … b.
    auto d = static_cast<std::int64_t>(u * static_cast<double>(b + 1));
    return std::chrono::milliseconds(std::min(d, b));
  }

  /// Back to the first delay (after a connection proved stable).
  void reset() noexcept { attempts_ = 0; }

  /// Delays handed out since the last reset.
  std::uint32_t attempts() const noexcept { return attempts_; }

  const backoff_settings& settings() const noexcept { return settings_; }

  /// The upper bound of attempt `n`: min(cap, base * factor^n), never negative.
  std::int64_t bound(std::uint32_t n) const noexcept {
    const double base = static_cast<double>(std::max<std::int64_t>(0, settings_.base.count()));
    const double cap = static_cast<double>(std::max<std::int64_t>(0, settings_.cap.count()));
    const double factor = settings_.factor >= 1.0 ? settings_.factor : 1.0;
    // pow may overflow to inf for large n; min() with the cap handles it.
    const double v = std::min(cap, base * std::pow(factor, static_cast<double>(n)));
    return static_cast<std::int64_t>(v);
  }

 private:
  static random_source default_source() {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd()};
    // std::function needs a copyable target; the engine is shared instead
    // of copied so that copies of the source do not replay the same draws.
    auto engine = std::make_shared<std::mt19937_64>(seed);
    return [engine] { return std::generate_canonical<double, 53>(*engine); };
  }

  backoff_settings settings_;
  random_source random_;
  std::uint32_t attempts_ = 0;
};

}  // namespace livechat::client

#endif
