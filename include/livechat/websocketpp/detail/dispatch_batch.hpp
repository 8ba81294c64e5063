// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_WEBSOCKETPP_DETAIL_DISPATCH_BATCH_HPP
#define LIVECHAT_WEBSOCKETPP_DETAIL_DISPATCH_BATCH_HPP

// One posted handler for a burst of websocketpp dispatches.
//
// Why: websocketpp::connection::send posts `write_frame` to the io_context
// whenever the connection is not already writing, so a broadcast to 20 idle
// members posts 20 handlers, and a group commit that releases a batch of
// broadcasts posts hundreds in a row. Each post copies the std::function
// into a new scheduler operation: two allocations, two frees and a queue
// operation per recipient, in bursts longer than malloc's per-thread cache
// (7 chunks a size), so they go the slow way (perf: `dispatch` was 2.8 % of
// the SQLite run, and the bursts of frees feed malloc_consolidate). Queued
// here instead, the std::function is moved, not copied, and one scheduler
// operation runs the whole burst.

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

namespace livechat::wspp::detail {

/// An io_context service (one per io_context, alive as long as it is) that
/// runs queued handlers from a single posted operation, in the order they
/// were queued. Handlers queued while a burst runs go to the next one, so a
/// handler that queues again does not starve the rest of the io_context.
///
/// @par Thread Safety
/// None: handlers are queued and run on the one thread that runs the
/// io_context (websocketpp configs without enable_multithreading).
class dispatch_batch final : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;

  /// Made by `asio::use_service<dispatch_batch>(io)`, which takes an
  /// io_context (not any execution_context): the bursts are posted to it.
  explicit dispatch_batch(asio::io_context& io) : service(io), io_(io) {}

  /// Queues `h` to run later on the io_context's thread, as
  /// `asio::post(io, h)` would, after the handlers queued before it.
  void queue(std::function<void()>&& h) {
    pending_.push_back(std::move(h));
    post_burst();
  }

  /// Handlers waiting for the next burst.
  std::size_t pending() const noexcept { return pending_.size(); }

 private:
  void post_burst() {
    if (posted_) return;
    // Set only once the post succeeded: if it throws (bad_alloc), the
    // next queue() tries again.
    asio::post(io_, [this] { run_burst(); });
    posted_ = true;
  }

  void run_burst() {
    posted_ = false;
    running_.swap(pending_);  // running_ is empty here: its capacity is reused
    std::size_t next = 0;
    try {
      for (; next < running_.size(); ++next) {
        auto h = std::move(running_[next]);
        h();
      }
    } catch (...) {
      // As a posted handler's exception would, this one leaves run(); the
      // handlers after it still run, in order, before any queued later.
      ++next;
      if (next < running_.size()) {
        std::vector<std::function<void()>> rest;
        rest.reserve(running_.size() - next + pending_.size());
        for (std::size_t i = next; i < running_.size(); ++i) rest.push_back(std::move(running_[i]));
        for (auto& h : pending_) rest.push_back(std::move(h));
        pending_.swap(rest);
        post_burst();
      }
      running_.clear();
      throw;
    }
    running_.clear();
  }

  // The io_context destroys its queued operations (a pending burst among
  // them) before this: drop the handlers and the connections they hold.
  void shutdown() override {
    pending_.clear();
    running_.clear();
  }

  std::vector<std::function<void()>> pending_;
  std::vector<std::function<void()>> running_;
  asio::io_context& io_;
  bool posted_ = false;
};

}  // namespace livechat::wspp::detail

#endif
