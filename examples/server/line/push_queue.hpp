// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LINE_PUSH_QUEUE_HPP
#define LIVECHAT_EXAMPLES_SERVER_LINE_PUSH_QUEUE_HPP

// The outbound channel: operators' replies pushed to the end user through
// the LINE Messaging API (`POST {api_base}/v2/bot/message/push`).
//
// Design
// - One FIFO queue, one message in flight at a time. That keeps every
//   user's messages in order without per-user bookkeeping, and it is what
//   the failures LINE reports want anyway: 429 (rate limit), 5xx and
//   network errors concern the whole channel, so holding the queue while
//   the head waits to retry is the right reaction, not a side effect. The
//   cost: no parallelism (fine for human operators, not for broadcasts);
//   and a head that keeps failing holds the others for up to
//   max_attempts * request_timeout plus the backoffs (about 2.5 minutes
//   with the defaults) before it is given up. The HTTP side is
//   line::http_client (libcurl), which keeps the connection to LINE open
//   between messages and honours the proxy environment variables.
// - Each message gets a random v4 UUID as `X-Line-Retry-Key`, sent on every
//   attempt of that message: LINE accepts a key once and answers a repeat
//   with 409, so a retry after a lost response is not delivered twice. 409
//   therefore counts as sent.
// - 2xx, 409: sent. 408, 429, 5xx, network errors, TLS errors, timeouts:
//   retried after client::backoff's full-jitter delay (uniform in
//   [0, min(max_backoff, initial_backoff * 2^(n-1))]), at least Retry-After
//   when the answer has one, up to max_attempts in all. Any other status:
//   a permanent failure, not retried. Giving up logs one line with the user
//   id and the reason, never the token or the text.
// - The queue runs on the io_context's thread and never blocks it: the
//   requests run on http_client's worker, their results come back as
//   handlers on the io_context.
// - The queue lives in memory: what is still queued when the process exits
//   is not pushed (the message itself is stored and stays visible in the
//   console).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <livechat/client/backoff.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/version.hpp>

#include "http_client.hpp"
#include "push_request.hpp"

namespace livechat_server {

struct line_push_options {
  /// LINE channel access token, sent as `Authorization: Bearer ...`. Never
  /// logged. Must be printable ASCII without spaces (checked at construction).
  std::string channel_token;
  /// Scheme, host, optional port and optional path prefix of the Messaging
  /// API: `https://host[:port][/prefix]` or `http://host[:port][/prefix]`
  /// (plain HTTP is meant for test doubles). The request goes to
  /// `{api_base}/v2/bot/message/push`.
  std::string api_base = "https://api.line.me";
  /// Upper bound of the random delay before the first retry; doubles with
  /// every further attempt.
  std::chrono::milliseconds initial_backoff{500};
  /// The doubling stops here; also caps a server's Retry-After.
  std::chrono::milliseconds max_backoff{30000};
  /// Attempts per message, the first one included; then it is given up.
  int max_attempts = 8;
  /// Messages held at most, the one in flight included; a message pushed
  /// while the queue is full is dropped (counted and logged).
  std::size_t max_queue = 10000;
  /// Deadline of one attempt: resolve, connect, TLS handshake, request and
  /// response together. Expiry counts as a network error (retried).
  std::chrono::milliseconds request_timeout{10000};
  /// PEM file of CA certificates trusted in addition to the system's
  /// default ones (a TLS-inspecting proxy, a test double); empty: none.
  std::string ca_file;
  /// Where the log lines go (one line, no newline); empty: std::cerr with a
  /// `livechat-server: ` prefix. Called on the io_context's thread, except
  /// for a failure inside push() itself, reported on the caller's thread.
  std::function<void(std::string_view)> log;
  /// The server's public https base (no trailing slash); empty: operators'
  /// files go as a text with the link (line::outgoing_for).
  std::string public_url;
  /// Path and query of a signed url of an attachment, valid
  /// line::pushed_url_lifetime; called on the io_context's thread. Empty:
  /// a file message is pushed as its text only.
  std::function<std::string(const std::string& attachment_id)> sign_url;
};

/// A snapshot of the client's counters; readable from any thread.
struct line_push_stats {
  std::uint64_t sent = 0;                ///< accepted by LINE (2xx, or 409: accepted earlier)
  std::uint64_t failed_permanently = 0;  ///< given up: a 4xx, attempts exhausted, or unusable
  std::uint64_t retried = 0;             ///< attempts after the first one, all messages
  std::uint64_t dropped_queue_full = 0;  ///< pushed while max_queue messages were held
  std::uint64_t in_flight = 0;           ///< 1 while the head message is being sent or waits to retry
  std::uint64_t queued = 0;              ///< messages waiting behind it
};

namespace line {

/// The queue and the retry policy; owned by line_push_client, reached by
/// handlers through weak pointers so destroying the client is always safe.
class push_queue : public std::enable_shared_from_this<push_queue> {
 public:
  push_queue(asio::io_context& io, line_push_options o)
      : opts_(std::move(o)), backoff_timer_(io) {
    for (char c : opts_.channel_token) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7f)
        throw std::invalid_argument("line channel token: only printable ASCII without spaces");
    }
    if (opts_.max_attempts < 1) throw std::invalid_argument("line max_attempts must be >= 1");
    if (opts_.max_queue < 1) throw std::invalid_argument("line max_queue must be >= 1");
    if (opts_.initial_backoff.count() < 0 || opts_.max_backoff.count() < 0 ||
        opts_.request_timeout.count() <= 0)
      throw std::invalid_argument("line backoff and timeout must be positive");
    target_ = parse_api_base(opts_.api_base);
    // libcurl would only find out at the first attempt; say it at start-up.
    if (!opts_.ca_file.empty() && !std::ifstream(opts_.ca_file).good())
      throw std::invalid_argument("line ca_file '" + opts_.ca_file + "' cannot be read");
    livechat::client::backoff_settings b;
    b.base = opts_.initial_backoff;
    b.cap = opts_.max_backoff;
    b.factor = 2.0;
    b.jitter = true;
    backoff_ = livechat::client::backoff(b);
    http_ = std::make_unique<http_client>(io);  // last: its worker starts here
  }

  push_queue(const push_queue&) = delete;
  push_queue& operator=(const push_queue&) = delete;

  /// On the io_context's thread.
  void enqueue(std::string room, const outgoing& what) {
    constexpr std::string_view prefix = "conversation:";
    if (room.compare(0, prefix.size(), prefix) != 0 || room.size() == prefix.size()) {
      failed_permanently_.fetch_add(1, std::memory_order_relaxed);
      log("outbound message in room '" + printable(room) + "' not sent: not a conversation room");
      return;
    }
    std::string to = room.substr(prefix.size());
    if (queue_.size() >= opts_.max_queue) {
      dropped_queue_full_.fetch_add(1, std::memory_order_relaxed);
      if (dropped_this_episode_++ == 0)
        log("outbound to " + to + " dropped: queue full (" + std::to_string(opts_.max_queue) +
            " messages); further drops are counted, not logged, until it is half empty");
      return;
    }
    item it;
    it.body = push_body(to, what);
    it.to = std::move(to);
    it.retry_key = make_uuid_v4();
    queue_.push_back(std::move(it));
    publish_sizes();
    pump();
  }

  /// On the io_context's thread: `m` as LINE gets it.
  outgoing outgoing_for(const livechat::message& m) const {
    if (!opts_.sign_url) {
      outgoing o;
      o.text = m.text;
      return o;
    }
    return line::outgoing_for(m, opts_.public_url,
                              [this](const std::string& id) { return opts_.sign_url(id); });
  }

  /// On the io_context's thread; the destructor of line_push_client.
  void stop() noexcept {
    stopped_ = true;
    try {
      backoff_timer_.cancel();
    } catch (...) {  // nothing useful to do; the handler checks stopped_
    }
    try {
      if (current_) http_->cancel(*current_);
    } catch (...) {  // the completion is ignored anyway (stopped_)
    }
    current_.reset();
  }

  /// A message that could not even be queued (an allocation failed).
  void lost(const char* what) noexcept {
    failed_permanently_.fetch_add(1, std::memory_order_relaxed);
    try {
      log(std::string("outbound message lost: ") + what);
    } catch (...) {  // out of memory: the counter has it
    }
  }

  line_push_stats stats() const noexcept {
    line_push_stats s;
    s.sent = sent_.load(std::memory_order_relaxed);
    s.failed_permanently = failed_permanently_.load(std::memory_order_relaxed);
    s.retried = retried_.load(std::memory_order_relaxed);
    s.dropped_queue_full = dropped_queue_full_.load(std::memory_order_relaxed);
    s.in_flight = in_flight_.load(std::memory_order_relaxed);
    s.queued = queued_.load(std::memory_order_relaxed);
    return s;
  }

  void log(const std::string& line) const noexcept {
    try {
      if (opts_.log)
        opts_.log(line);
      else
        std::cerr << "livechat-server: " << line << '\n';
    } catch (...) {  // a log sink that throws must not take the queue down
    }
  }

 private:
  struct item {
    std::string to;         ///< LINE user id (the conversation id)
    std::string body;       ///< JSON, built once
    std::string retry_key;  ///< the same on every attempt
    int attempts = 0;
  };

  void publish_sizes() {
    const bool head_busy = busy_ && !queue_.empty();
    in_flight_.store(head_busy ? 1 : 0, std::memory_order_relaxed);
    queued_.store(queue_.size() - (head_busy ? 1 : 0), std::memory_order_relaxed);
    if (dropped_this_episode_ != 0 && queue_.size() <= opts_.max_queue / 2) {
      log("outbound queue has room again; " + std::to_string(dropped_this_episode_) +
          " messages were dropped while it was full");
      dropped_this_episode_ = 0;
    }
  }

  /// Starts the head message if nothing is in flight.
  void pump() {
    if (busy_ || stopped_ || queue_.empty()) return;
    busy_ = true;
    backoff_.reset();  // a new head starts from the first delay
    publish_sizes();
    attempt();
  }

  http_request request_for(const item& it) const {
    http_request r;
    r.method = "POST";
    r.url = target_.url;
    r.body = it.body;
    r.timeout = opts_.request_timeout;
    r.ca_file = opts_.ca_file;
    r.headers = {
        "Authorization: Bearer " + opts_.channel_token,
        "Content-Type: application/json",
        "X-Line-Retry-Key: " + it.retry_key,
        "User-Agent: livechat-server/" LIVECHAT_VERSION_STRING,
        "Accept: application/json",
    };
    return r;
  }

  /// Starts one attempt of the head message. Whatever goes wrong here
  /// (an allocation) counts as a failed attempt.
  void attempt() noexcept {
    try {
      item& head = queue_.front();
      ++head.attempts;
      if (head.attempts > 1) retried_.fetch_add(1, std::memory_order_relaxed);
      std::weak_ptr<push_queue> weak = weak_from_this();
      const std::uint64_t attempt_no = ++attempt_counter_;
      current_ = http_->submit(request_for(head), [weak, attempt_no](http_response r) {
        auto self = weak.lock();
        // A completion of an attempt no longer current (the client stopped) is ignored.
        if (self && self->attempt_counter_ == attempt_no && self->current_) self->on_result(std::move(r));
      });
    } catch (const std::exception& e) {
      attempt_failed(e.what());
    } catch (...) {
      attempt_failed("unknown error");
    }
  }

  void attempt_failed(const char* what) noexcept {
    current_.reset();
    http_response r;
    try {
      r.error = std::string("internal error: ") + what;
    } catch (...) {
    }
    on_result(std::move(r));  // retried after a backoff like a network error, or given up
  }

  static bool retryable(int status) noexcept {
    return status == 0 || status == 408 || status == 429 || status >= 500;
  }

  void on_result(http_response r) noexcept {
    current_.reset();
    if (stopped_ || queue_.empty()) return;
    try {
      item& head = queue_.front();
      if ((r.status >= 200 && r.status < 300) || r.status == 409) {
        sent_.fetch_add(1, std::memory_order_relaxed);
        return next();
      }
      if (retryable(r.status) && head.attempts < opts_.max_attempts) {
        schedule_retry(r.retry_after);
        return;
      }
      failed_permanently_.fetch_add(1, std::memory_order_relaxed);
      const std::string why = r.status == 0 ? r.error
                                            : "HTTP " + std::to_string(r.status) +
                                                  (r.reason.empty() ? "" : " " + r.reason);
      log("outbound to " + head.to + " failed after " + std::to_string(head.attempts) +
          " attempts: " + why);
      next();
    } catch (const std::exception& e) {  // bad_alloc at worst: drop the head, go on
      give_up_head(e.what());
    } catch (...) {
      give_up_head("unknown error");
    }
  }

  void give_up_head(const char* what) noexcept {
    lost(what);
    try {
      next();
    } catch (...) {
      busy_ = false;
    }
  }

  void next() {
    queue_.pop_front();
    busy_ = false;
    publish_sizes();
    pump();
  }

  /// client::backoff's full jitter, but not less than the server's
  /// Retry-After (itself capped at max_backoff).
  void schedule_retry(std::optional<std::chrono::seconds> retry_after) {
    using ms = std::chrono::milliseconds;
    ms delay = backoff_.next_delay().value_or(opts_.max_backoff);  // never nullopt: no max_attempts
    if (retry_after) delay = std::max(delay, std::min(ms(*retry_after), opts_.max_backoff));
    std::weak_ptr<push_queue> weak = weak_from_this();
    backoff_timer_.expires_after(delay);
    backoff_timer_.async_wait([weak](const asio::error_code& ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->stopped_ || self->queue_.empty()) return;
      self->attempt();
    });
  }

  line_push_options opts_;
  target target_;
  std::deque<item> queue_;  // the head is the one in flight
  bool busy_ = false;
  bool stopped_ = false;
  std::optional<http_client::request_id> current_;  // the attempt in flight
  std::uint64_t attempt_counter_ = 0;
  asio::steady_timer backoff_timer_;
  livechat::client::backoff backoff_;  // the head's retries; reset for each new head
  std::size_t dropped_this_episode_ = 0;
  std::unique_ptr<http_client> http_;  // last: destroyed first, its worker joined

  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> failed_permanently_{0};
  std::atomic<std::uint64_t> retried_{0};
  std::atomic<std::uint64_t> dropped_queue_full_{0};
  std::atomic<std::uint64_t> in_flight_{0};
  std::atomic<std::uint64_t> queued_{0};
};

}  // namespace line

/// Pushes operators' replies to the end user through the LINE Messaging
/// API. See the top of this file for the delivery policy.
///
/// @par Thread Safety
/// push() and stats() may be called from any thread: push() hands the
/// message to the io_context's thread (inline when called there, as from
/// the hub's outbound handler). Construct and destroy the client on that
/// thread or while the io_context is not running. Destroying it abandons
/// what is still queued and the attempt in flight (and joins the HTTP
/// worker, which wakes at once).
/// @par Exceptions
/// The constructor throws std::invalid_argument for unusable options
/// (api_base, token, an unreadable CA file) and std::runtime_error when
/// libcurl cannot start. Nothing is thrown out of push() or of a
/// completion handler.
class line_push_client {
 public:
  line_push_client(asio::io_context& io, line_push_options options)
      : io_(io), queue_(std::make_shared<line::push_queue>(io, std::move(options))) {}

  ~line_push_client() { queue_->stop(); }

  line_push_client(const line_push_client&) = delete;
  line_push_client& operator=(const line_push_client&) = delete;

  /// Queues `m` (its text, or its file as media or a link) for the end user of `m.room` (`conversation:{userId}`)
  /// and starts sending if idle. Never blocks and never throws.
  void push(const livechat::message& m) noexcept {
    try {
      std::weak_ptr<line::push_queue> weak = queue_;
      asio::dispatch(io_, [weak, m]() mutable {
        auto q = weak.lock();
        if (!q) return;
        try {
          q->enqueue(std::move(m.room), q->outgoing_for(m));
        } catch (const std::exception& e) {
          q->lost(e.what());
        } catch (...) {
          q->lost("unknown error");
        }
      });
    } catch (const std::exception& e) {
      queue_->lost(e.what());
    } catch (...) {
      queue_->lost("unknown error");
    }
  }

  line_push_stats stats() const noexcept { return queue_->stats(); }

 private:
  asio::io_context& io_;
  std::shared_ptr<line::push_queue> queue_;
};

}  // namespace livechat_server

#endif
