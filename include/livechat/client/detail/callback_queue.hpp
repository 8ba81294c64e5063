// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_DETAIL_CALLBACK_QUEUE_HPP
#define LIVECHAT_CLIENT_DETAIL_CALLBACK_QUEUE_HPP

// The user callbacks of client::session, deferred until the state update
// that caused them is complete, so a callback sees consistent state and may
// call back into the session without nesting inside an update.

#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <utility>

namespace livechat::client::detail {

/// Callbacks queued by the session's entry points and run when the
/// outermost one returns, one at a time, in the order they were queued.
/// A callback that calls an entry point queues its own callbacks behind the
/// current ones instead of running them nested. Nothing a callback throws
/// escapes `drain`: it goes to the handler given there.
class callback_queue {
 public:
  /// An entry point of the session begins (entries nest when a transport
  /// reports back before returning, or a callback calls the session).
  void enter() noexcept { ++depth_; }

  /// The entry point ends; true when it was the outermost one, i.e. when
  /// the state update is complete and the callbacks may run.
  bool leave() noexcept { return --depth_ == 0; }

  /// Queues `f` to run at the next drain.
  void push(std::function<void()> f) { notes_.push_back(std::move(f)); }

  /// Queues a call of the callback `f` with copies of `args` taken now.
  /// `f` is held by reference and checked again when it runs: an earlier
  /// callback may have cleared or replaced it.
  template <class F, class... Args>
  void notify(const F& f, Args&&... args) {
    if (!f) return;
    notes_.push_back([&f, args...] {
      if (f) f(args...);
    });
  }

  /// Runs the queued callbacks until none is left. Reentrant calls (from a
  /// callback) return at once: the outer drain runs what they queued.
  /// `on_throw(const char* what) noexcept` hears of every exception.
  template <class OnThrow>
  void drain(OnThrow&& on_throw) noexcept {
    if (draining_) return;
    draining_ = true;
    while (!notes_.empty()) {
      std::function<void()> note = std::move(notes_.front());
      notes_.pop_front();
      try {
        note();
      } catch (const std::exception& e) {
        on_throw(e.what());
      } catch (...) {
        on_throw("unknown exception");
      }
    }
    draining_ = false;
  }

  bool empty() const noexcept { return notes_.empty(); }
  std::size_t size() const noexcept { return notes_.size(); }

 private:
  std::deque<std::function<void()>> notes_;
  int depth_ = 0;
  bool draining_ = false;
};

}  // namespace livechat::client::detail

#endif
