// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LINE_CONTENT_FETCHER_HPP
#define LIVECHAT_EXAMPLES_SERVER_LINE_CONTENT_FETCHER_HPP

// The content of a customer's image, video, audio or file message, from
// the Messaging API (`GET {api_base}/v2/bot/message/{messageId}/content`
// with the channel token) on line::http_client's worker, so the hub's
// thread never waits on LINE. Bounded: at most `max_concurrent` downloads
// at once, `max_queue` waiting (beyond, failed at once), `max_bytes` per
// file (a longer body fails). A 5xx, a 429 or a network error is retried
// with client::backoff's full-jitter delay, `max_attempts` in all; any
// other status fails at once. The outcome goes to `done` on the
// io_context's thread (the server hands it to hub::finish_attachment).
// An attachment already queued, running or waiting to retry is not fetched
// twice (a redelivered webhook, a restart's resume); one that failed for a
// transient reason (5xx, 429, network, queue full) is remembered, a bounded
// number of them, so a redelivery may try it again. With `memory` (the
// server's upload memory bound) each download reserves its largest body
// first and waits in the queue while the memory is held by others.

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <livechat/client/backoff.hpp>

#include "../http/byte_budget.hpp"
#include "http_client.hpp"

namespace livechat_server {

struct line_content_options {
  std::string channel_token;
  /// `{api_base}/v2/bot/message/{id}/content`; LINE serves content from its data host.
  std::string api_base = "https://api-data.line.me";
  std::size_t max_bytes = 10u * 1024 * 1024;
  int max_attempts = 3;
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{10000};
  std::chrono::milliseconds request_timeout{30000};
  std::size_t max_concurrent = 2;
  std::size_t max_queue = 1000;
  std::string ca_file;
  std::function<void(std::string_view line)> log;
  /// Shared with uploads; a body larger than its limit fails. Empty: unbounded.
  std::shared_ptr<byte_budget> memory;
};

class line_content_fetcher : public std::enable_shared_from_this<line_content_fetcher> {
 public:
  /// `ok` false: failed for good. On the io_context's thread.
  using completion = std::function<void(const std::string& attachment_id, bool ok,
                                        std::string body, std::string content_type)>;

  static std::shared_ptr<line_content_fetcher> make(asio::io_context& io, line_content_options o,
                                                    completion done) {
    if (o.channel_token.empty()) throw std::invalid_argument("line content: no channel token");
    if (o.max_attempts < 1 || o.max_concurrent < 1)
      throw std::invalid_argument("line content: max_attempts and max_concurrent must be >= 1");
    while (!o.api_base.empty() && o.api_base.back() == '/') o.api_base.pop_back();
    return std::shared_ptr<line_content_fetcher>(
        new line_content_fetcher(io, std::move(o), std::move(done)));
  }

  /// Queues the download of LINE message `message_id` (decimal digits)
  /// into attachment `attachment_id`.
  void fetch(std::string attachment_id, std::string message_id) {
    if (stopped_ || active_.count(attachment_id) != 0) return;  // already on its way
    if (queue_.size() >= opts_.max_queue) {
      log("content of " + attachment_id + " not fetched: queue full");
      finish(attachment_id, false, {}, {}, true);
      return;
    }
    active_.insert(attachment_id);
    queue_.push_back(job{std::move(attachment_id), std::move(message_id), 0, nullptr});
    pump();
  }

  /// True while `attachment_id` is queued, downloading or waiting to retry.
  bool active(const std::string& attachment_id) const { return active_.count(attachment_id) != 0; }

  /// True when the last fetch of `attachment_id` failed for a reason that
  /// may pass (5xx, 429, network, queue full), so trying again is worth it.
  bool failed_transiently(const std::string& attachment_id) const {
    return transient_.count(attachment_id) != 0;
  }

  /// The HTTP client it downloads with, for other requests to LINE (profiles).
  line::http_client& http() noexcept { return *http_; }

  /// Ends every retry and download; nothing more reaches `done`.
  void stop() noexcept { stopped_ = true; }

 private:
  struct job {
    std::string attachment_id;
    std::string message_id;
    int attempts;
    /// The body's memory, held from the first attempt to the outcome
    /// (shared: a job is copied into callbacks).
    std::shared_ptr<byte_budget::reservation> memory{};
  };

  line_content_fetcher(asio::io_context& io, line_content_options o, completion done)
      : io_(io), opts_(std::move(o)), done_(std::move(done)) {
    backoff_settings_.base = opts_.initial_backoff;
    backoff_settings_.cap = opts_.max_backoff;
    backoff_settings_.factor = 2.0;
    backoff_settings_.jitter = true;
    http_ = std::make_unique<line::http_client>(io);
  }

  void pump() {
    while (!stopped_ && running_ < opts_.max_concurrent && !queue_.empty()) {
      job& next = queue_.front();
      if (opts_.memory) {
        next.memory = std::make_shared<byte_budget::reservation>();
        if (!byte_budget::try_reserve(opts_.memory, body_limit(), *next.memory)) {
          next.memory.reset();
          wait_for_memory();
          return;
        }
      }
      job j = std::move(next);
      queue_.pop_front();
      start(std::move(j));
    }
  }

  /// The largest body a download may hold: the per-file bound, or the
  /// whole memory bound when that is smaller (a larger file fails).
  std::size_t body_limit() const noexcept {
    return opts_.memory && opts_.memory->too_large(opts_.max_bytes) ? opts_.memory->limit()
                                                                    : opts_.max_bytes;
  }

  /// Uploads release memory without telling anyone: look again shortly.
  void wait_for_memory() {
    if (memory_timer_armed_) return;
    memory_timer_armed_ = true;
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
    std::weak_ptr<line_content_fetcher> self = weak_from_this();
    timer->async_wait([self, timer](const std::error_code& ec) {
      auto s = self.lock();
      if (!s) return;
      s->memory_timer_armed_ = false;
      if (!ec) s->pump();
    });
  }

  void start(job j) {
    ++running_;
    ++j.attempts;
    line::http_request r;
    r.url = opts_.api_base + "/v2/bot/message/" + j.message_id + "/content";
    r.headers.push_back("Authorization: Bearer " + opts_.channel_token);
    r.timeout = opts_.request_timeout;
    r.max_body = body_limit() + 1;  // one more: a body that long is too long
    r.ca_file = opts_.ca_file;
    std::weak_ptr<line_content_fetcher> self = weak_from_this();
    http_->submit(std::move(r), [self, j](line::http_response resp) mutable {
      if (auto s = self.lock()) s->on_result(std::move(j), std::move(resp));
    });
  }

  void on_result(job j, line::http_response resp) {
    --running_;
    if (stopped_) return;
    if (resp.status >= 200 && resp.status < 300) {
      if (resp.body_truncated || resp.body.size() > body_limit()) {
        log("content of " + j.attachment_id + " is larger than " + std::to_string(body_limit()) +
            " bytes");
        finish(j.attachment_id, false, {}, {}, false);
      } else {
        finish(j.attachment_id, true, std::move(resp.body), resp.header("Content-Type"), false);
      }
    } else if ((resp.status == 0 || resp.status == 429 || resp.status >= 500) &&
               j.attempts < opts_.max_attempts) {
      retry(std::move(j), resp);
    } else {
      log("content of " + j.attachment_id + " not fetched: " +
          (resp.status != 0 ? "status " + std::to_string(resp.status) : resp.error) + " after " +
          std::to_string(j.attempts) + " attempts");
      finish(j.attachment_id, false, {}, {},
             resp.status == 0 || resp.status == 429 || resp.status >= 500);
    }
    j.memory.reset();  // before the next one asks for it (a retry moved it on)
    pump();
  }

  void retry(job j, const line::http_response& resp) {
    // The delay of this job's attempt number (one backoff per job: jobs
    // fail independently).
    livechat::client::backoff b(backoff_settings_);
    std::chrono::milliseconds delay{0};
    for (int i = 0; i < j.attempts; ++i) delay = b.next_delay().value_or(opts_.max_backoff);
    if (resp.retry_after && *resp.retry_after > delay)
      delay = std::chrono::duration_cast<std::chrono::milliseconds>(*resp.retry_after);
    ++running_;  // a retry holds its slot while it waits
    auto timer = std::make_shared<asio::steady_timer>(io_, delay);
    std::weak_ptr<line_content_fetcher> self = weak_from_this();
    timer->async_wait([self, timer, j = std::move(j)](const std::error_code& ec) mutable {
      auto s = self.lock();
      if (!s) return;
      --s->running_;
      if (ec || s->stopped_) return;
      s->start(std::move(j));
    });
  }

  /// The end of one attachment's fetch: no longer active, remembered when
  /// the failure may pass (at most max_queue of them: the oldest go), then
  /// `done`.
  void finish(const std::string& id, bool ok, std::string body, std::string type, bool transient) {
    active_.erase(id);
    transient_.erase(id);
    if (transient) {
      if (transient_order_.size() >= opts_.max_queue) {
        transient_.erase(transient_order_.front());
        transient_order_.pop_front();
      }
      transient_.insert(id);
      transient_order_.push_back(id);
    }
    done_(id, ok, std::move(body), std::move(type));
  }

  void log(const std::string& line) const {
    if (opts_.log) opts_.log(line);
  }

  asio::io_context& io_;
  line_content_options opts_;
  completion done_;
  livechat::client::backoff_settings backoff_settings_;
  std::unique_ptr<line::http_client> http_;
  std::deque<job> queue_;
  std::unordered_set<std::string> active_;
  std::unordered_set<std::string> transient_;
  std::deque<std::string> transient_order_;  ///< may name ids no longer in transient_
  std::size_t running_ = 0;
  bool stopped_ = false;
  bool memory_timer_armed_ = false;
};

}  // namespace livechat_server

#endif
