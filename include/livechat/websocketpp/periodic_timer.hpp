// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_WEBSOCKETPP_PERIODIC_TIMER_HPP
#define LIVECHAT_WEBSOCKETPP_PERIODIC_TIMER_HPP

// The timer that calls client::session::tick() (or server::hub::tick()) on
// an Asio loop (target livechat::websocketpp, which links Asio).

#include <chrono>
#include <functional>
#include <utility>

#include <asio/error_code.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

namespace livechat::wspp {

/// Calls `f` every `interval` on the io_context's thread until cancel() or
/// destruction: the session's tick(now). Fixed rate, never a burst of
/// catch-up calls after a stall.
class periodic_timer {
 public:
  periodic_timer(asio::io_context& io, std::chrono::milliseconds interval, std::function<void()> f)
      : timer_(io), interval_(interval), f_(std::move(f)) {
    timer_.expires_after(interval_);
    arm();
  }
  periodic_timer(const periodic_timer&) = delete;
  periodic_timer& operator=(const periodic_timer&) = delete;
  ~periodic_timer() { cancel(); }

  void cancel() {
    cancelled_ = true;
    timer_.cancel();
  }

 private:
  void arm() {
    timer_.async_wait([this](const asio::error_code& ec) {
      if (ec || cancelled_) return;
      try {
        f_();
      } catch (...) {
        // The callback's owner reports its own errors; the timer keeps going.
      }
      if (cancelled_) return;
      const auto now = std::chrono::steady_clock::now();
      auto next = timer_.expiry() + interval_;
      if (next < now) next = now + interval_;
      timer_.expires_at(next);
      arm();
    });
  }

  asio::steady_timer timer_;
  std::chrono::milliseconds interval_;
  std::function<void()> f_;
  bool cancelled_ = false;
};

}  // namespace livechat::wspp

#endif
