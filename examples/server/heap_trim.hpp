// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HEAP_TRIM_HPP
#define LIVECHAT_EXAMPLES_SERVER_HEAP_TRIM_HPP

// Gives the heap's free pages back to the system once a burst of
// connections is over. Each auth answers with the whole online list, so
// during a burst of connects the frames grow with the number online and
// the heap's high-water mark with them; glibc's free() only returns the
// top of the heap, so the holes they leave between the connections' live
// objects stay resident (measured: ~2.6 KiB per connection after 1,000
// connects, bench/README.md "Memory per connection"). malloc_trim(0)
// releases every whole free page (madvise), not only the top.
//
// glibc only: elsewhere trim() does nothing.

#include <chrono>
#include <cstdint>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace livechat_server {

/// When to trim, from the server's tick: only after connections came or
/// went since the last trim (the churn that moves the high-water mark),
/// once a tick passed with none (the burst is over), and at most once per
/// `min_interval`; under churn that never pauses, once per `max_interval`.
/// An idle server or one that only carries messages never trims.
class heap_trimmer {
 public:
  using clock = std::chrono::steady_clock;

  /// One connection opened or closed.
  void note_churn() noexcept { ++churn_; }

  /// From the periodic tick. Returns the time the trim took (zero when
  /// none ran), for the log.
  clock::duration tick(clock::time_point now) noexcept {
    if (last_trim_ == clock::time_point{}) last_trim_ = now;  // intervals count from the first tick
    const bool quiet = churn_ == churn_at_last_tick_;
    churn_at_last_tick_ = churn_;
    if (churn_ == churn_at_last_trim_) return {};
    const auto since = now - last_trim_;
    if (since < min_interval || (!quiet && since < max_interval)) return {};
    churn_at_last_trim_ = churn_;
    last_trim_ = now;
    ++trims_;
    trim();
    return clock::now() - now;
  }

  std::uint64_t trims() const noexcept { return trims_; }

  static void trim() noexcept {
#if defined(__GLIBC__)
    (void)malloc_trim(0);
#endif
  }

  static constexpr clock::duration min_interval = std::chrono::milliseconds(200);
  static constexpr clock::duration max_interval = std::chrono::seconds(10);

 private:
  std::uint64_t churn_ = 0;
  std::uint64_t churn_at_last_tick_ = 0;
  std::uint64_t churn_at_last_trim_ = 0;
  std::uint64_t trims_ = 0;
  clock::time_point last_trim_{};
};

}  // namespace livechat_server

#endif
