// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLOCK_HPP
#define LIVECHAT_CLOCK_HPP

// The Clock requirements (docs/concepts.md): `C::time_point` (monotonic),
// `c.now()` for timers and `c.system_now()` for wire timestamps, checked by
// `is_clock_v`. Both server::hub and client::session take a Clock, so the
// trait lives here rather than with either side's Transport. Tests use a
// manual clock instead and move time by hand.

#include <chrono>
#include <type_traits>
#include <utility>

#include <livechat/protocol/timestamp.hpp>

namespace livechat {

namespace detail {
template <class C, class = void>
struct is_clock_impl : std::false_type {};

template <class C>
struct is_clock_impl<C, std::void_t<typename C::time_point, decltype(std::declval<const C&>().now()),
                                    decltype(std::declval<const C&>().system_now())>>
    : std::bool_constant<
          std::is_same_v<decltype(std::declval<const C&>().now()), typename C::time_point> &&
          std::is_convertible_v<decltype(std::declval<const C&>().system_now()), system_time>> {};
}  // namespace detail

/// True when C provides `time_point`, a const `now()` returning it and a
/// const `system_now()` convertible to `system_time` (docs/concepts.md).
template <class C>
inline constexpr bool is_clock_v = detail::is_clock_impl<C>::value;

/// steady_clock for timers, system_clock for timestamps.
struct default_clock {
  using time_point = std::chrono::steady_clock::time_point;
  time_point now() const noexcept { return std::chrono::steady_clock::now(); }
  system_time system_now() const noexcept { return to_system_time(std::chrono::system_clock::now()); }
};

/// A clock that moves only when told to; system time follows the same
/// offsets from a fixed wall-clock origin. For tests and simulations.
class manual_clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit manual_clock(system_time origin = system_time(std::chrono::milliseconds(1764102265123)))
      : origin_(origin) {}

  time_point now() const noexcept { return now_; }
  system_time system_now() const noexcept {
    return origin_ + std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch());
  }
  void advance(std::chrono::steady_clock::duration d) noexcept { now_ += d; }

 private:
  system_time origin_;
  time_point now_{};
};

}  // namespace livechat

#endif
