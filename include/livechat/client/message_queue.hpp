// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_MESSAGE_QUEUE_HPP
#define LIVECHAT_CLIENT_MESSAGE_QUEUE_HPP

// The bounded offline queue of a client: messages the user wrote that the
// server has not acknowledged yet. Bounded by count, bytes and age, because
// a client that stays offline for an hour must neither grow without limit
// nor deliver a stale "on my way" an hour late.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <livechat/clock.hpp>

namespace livechat::client {

/// Monotonic time as the client's clocks (`default_clock`, `manual_clock`) give it.
using time_point = std::chrono::steady_clock::time_point;

/// What `enqueue` does when the queue is full.
enum class overflow_policy {
  reject_new,   ///< keep what is queued, refuse the new message
  drop_oldest,  ///< evict the oldest messages until the new one fits
};

/// Why a message left the queue without being acknowledged.
enum class drop_reason {
  overflow,          ///< the queue was full (refused, or evicted by drop_oldest)
  expired,           ///< older than `max_age`
  too_many_retries,  ///< sent more than `max_retries` + 1 times without an answer
  too_large,         ///< larger than `max_bytes` on its own
  rejected,          ///< the server refused it (validation_error, not_in_room …)
  cancelled,         ///< its room was left before it could be sent
};

inline const char* to_string(drop_reason r) noexcept {
  switch (r) {
    case drop_reason::overflow: return "overflow";
    case drop_reason::expired: return "expired";
    case drop_reason::too_many_retries: return "too_many_retries";
    case drop_reason::too_large: return "too_large";
    case drop_reason::rejected: return "rejected";
    case drop_reason::cancelled: return "cancelled";
  }
  return "unknown";
}

struct queue_settings {
  std::size_t max_messages = 100;
  std::size_t max_bytes = 256 * 1024;             ///< sum of text sizes (bytes)
  std::chrono::milliseconds max_age{5 * 60'000};  ///< per item, from enqueue time
  std::uint32_t max_retries = 3;                  ///< retries beyond this drop the item
  overflow_policy overflow = overflow_policy::reject_new;
};

struct queued_message {
  std::string room;
  std::string text;
  std::string client_msg_id;
  time_point enqueued_at{};
  std::uint32_t retries = 0;
};

struct queue_counters {
  std::uint64_t enqueued = 0;
  std::uint64_t dequeued = 0;
  std::uint64_t dropped_overflow = 0;  ///< refused when full, or evicted by drop_oldest
  std::uint64_t dropped_expired = 0;
  std::uint64_t dropped_retries = 0;
  std::uint64_t rejected_too_large = 0;
  std::uint64_t removed = 0;        ///< taken out by remove() (acknowledged)
  std::uint64_t dropped_other = 0;  ///< drop() with rejected / cancelled
};

/// A FIFO of `queued_message` with count, byte and age limits.
///
/// Every message that leaves without `dequeue` or `remove` is counted and
/// handed to the drop handler with its reason, so a user interface can
/// mark it as failed instead of leaving it "sending…" forever.
///
/// @tparam Clock  a Clock (docs/concepts.md) whose `time_point` is
///                `client::time_point`; used only for its type, times are
///                passed in so that tests drive them.
/// @par Thread Safety
/// None; one owner.
/// @par Exceptions
/// An exception from the drop handler is swallowed: dropping must not fail
/// halfway through a queue operation. The handler must not modify the queue.
template <class Clock = default_clock>
class message_queue {
  static_assert(std::is_same_v<typename Clock::time_point, time_point>,
                "the client's Clock must use std::chrono::steady_clock::time_point");

 public:
  using drop_handler = std::function<void(const queued_message&, drop_reason)>;

  explicit message_queue(queue_settings s = {}) : settings_(std::move(s)) {}

  /// Appends `m` (its `enqueued_at` is set to `now`). Expired items are
  /// dropped first. Returns false, counting and reporting the drop, when
  /// the text alone is larger than `max_bytes`, or when the queue is full
  /// under `reject_new`; `drop_oldest` evicts the oldest until it fits.
  bool enqueue(queued_message m, time_point now) {
    m.enqueued_at = now;
    expire(now);
    if (m.text.size() > settings_.max_bytes) {
      ++counters_.rejected_too_large;
      notify(m, drop_reason::too_large);
      return false;
    }
    auto fits = [&] {
      return items_.size() < settings_.max_messages &&
             bytes_ + m.text.size() <= settings_.max_bytes;
    };
    if (!fits() && settings_.overflow == overflow_policy::drop_oldest) {
      while (!items_.empty() && !fits()) {
        queued_message old = take_front();
        ++counters_.dropped_overflow;
        notify(old, drop_reason::overflow);
      }
    }
    if (!fits()) {  // reject_new, or max_messages == 0
      ++counters_.dropped_overflow;
      notify(m, drop_reason::overflow);
      return false;
    }
    bytes_ += m.text.size();
    items_.push_back(std::move(m));
    ++counters_.enqueued;
    return true;
  }

  /// Takes the oldest item that has not expired; expired ones met on the
  /// way are dropped (counted, reported).
  std::optional<queued_message> dequeue(time_point now) {
    expire(now);
    if (items_.empty()) return std::nullopt;
    ++counters_.dequeued;
    return take_front();
  }

  /// Puts a dequeued item back at the FRONT (it was the oldest, so order
  /// is kept) with one more retry. If that exceeds `max_retries` the item
  /// is dropped instead (counted, reported) and false returned.
  /// The count and byte limits are not applied: the item already had its place.
  bool requeue(queued_message m) {
    if (m.retries >= settings_.max_retries) {
      ++m.retries;
      ++counters_.dropped_retries;
      notify(m, drop_reason::too_many_retries);
      return false;
    }
    ++m.retries;
    bytes_ += m.text.size();
    items_.push_front(std::move(m));
    return true;
  }

  /// Counts one more retry of the queued item `client_msg_id`, in place.
  /// Beyond `max_retries` the item is dropped (counted, reported) and
  /// false returned; false too when there is no such item.
  bool retry(std::string_view client_msg_id) {
    auto it = find_it(client_msg_id);
    if (it == items_.end()) return false;
    if (it->retries >= settings_.max_retries) {
      queued_message m = erase(it);
      ++m.retries;
      ++counters_.dropped_retries;
      notify(m, drop_reason::too_many_retries);
      return false;
    }
    ++it->retries;
    return true;
  }

  /// Takes `client_msg_id` out (e.g. acknowledged). False when not queued.
  bool remove(std::string_view client_msg_id) {
    auto it = find_it(client_msg_id);
    if (it == items_.end()) return false;
    erase(it);
    ++counters_.removed;
    return true;
  }

  /// Takes `client_msg_id` out as a drop with `reason` (counted, reported).
  bool drop(std::string_view client_msg_id, drop_reason reason) {
    auto it = find_it(client_msg_id);
    if (it == items_.end()) return false;
    queued_message m = erase(it);
    count(reason);
    notify(m, reason);
    return true;
  }

  /// Drops every item older than `max_age` at `now`; returns how many.
  std::size_t expire(time_point now) {
    std::size_t n = 0;
    // requeue() may put an item back out of age order; the queue is small
    // (max_messages), so a full scan is cheap and needs no such assumption.
    for (auto it = items_.begin(); it != items_.end();) {
      if (now - it->enqueued_at >= settings_.max_age) {
        queued_message m = std::move(*it);
        bytes_ -= m.text.size();
        it = items_.erase(it);
        ++counters_.dropped_expired;
        ++n;
        notify(m, drop_reason::expired);
      } else {
        ++it;
      }
    }
    return n;
  }

  /// The queued item `client_msg_id`, or null.
  const queued_message* find(std::string_view client_msg_id) const {
    for (const auto& m : items_)
      if (m.client_msg_id == client_msg_id) return &m;
    return nullptr;
  }

  /// The items, oldest first. Valid until the next non-const call.
  const std::deque<queued_message>& pending() const noexcept { return items_; }

  std::size_t size() const noexcept { return items_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  bool empty() const noexcept { return items_.empty(); }

  /// Forgets every item without reporting drops (e.g. the user signed out).
  void clear() noexcept {
    items_.clear();
    bytes_ = 0;
  }

  const queue_counters& counters() const noexcept { return counters_; }
  const queue_settings& settings() const noexcept { return settings_; }

  /// Called for every drop: refused on enqueue, evicted, expired, retried
  /// too often, or dropped with `drop()`.
  void set_drop_handler(drop_handler h) { on_drop_ = std::move(h); }

 private:
  using iterator = typename std::deque<queued_message>::iterator;

  iterator find_it(std::string_view client_msg_id) {
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if (it->client_msg_id == client_msg_id) return it;
    return items_.end();
  }

  queued_message erase(iterator it) {
    queued_message m = std::move(*it);
    bytes_ -= m.text.size();
    items_.erase(it);
    return m;
  }

  queued_message take_front() {
    queued_message m = std::move(items_.front());
    bytes_ -= m.text.size();
    items_.pop_front();
    return m;
  }

  void count(drop_reason r) noexcept {
    switch (r) {
      case drop_reason::overflow: ++counters_.dropped_overflow; break;
      case drop_reason::expired: ++counters_.dropped_expired; break;
      case drop_reason::too_many_retries: ++counters_.dropped_retries; break;
      case drop_reason::too_large: ++counters_.rejected_too_large; break;
      case drop_reason::rejected:
      case drop_reason::cancelled: ++counters_.dropped_other; break;
    }
  }

  void notify(const queued_message& m, drop_reason r) noexcept {
    if (!on_drop_) return;
    try {
      on_drop_(m, r);
    } catch (...) {
    }
  }

  queue_settings settings_;
  std::deque<queued_message> items_;
  std::size_t bytes_ = 0;
  queue_counters counters_;
  drop_handler on_drop_;
};

}  // namespace livechat::client

#endif
