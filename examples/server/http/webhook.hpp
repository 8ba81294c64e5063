// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_WEBHOOK_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_WEBHOOK_HPP

// POST /api/v1/webhook: LINE Messaging API events become user messages.
// The body's rules are the library's (livechat/protocol/line_webhook.hpp),
// and so is the signature check (livechat/protocol/line_signature.hpp,
// passed in as a function because it needs libcrypto). Each message is
// stored through the hub, which commits before it returns, so the 200
// follows the commit.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/error.hpp>
#include <livechat/protocol/line_webhook.hpp>
#include <livechat/server/hub.hpp>

#include "json_errors.hpp"
#include "message.hpp"
#include "metrics.hpp"

namespace livechat_server {

template <class Hub>
class webhook_route {
 public:
  using logger = std::function<void(std::string_view line)>;
  /// True when `signature` (X-Line-Signature) signs `body`.
  using signature_check = std::function<bool(std::string_view body, std::string_view signature)>;

  static constexpr const char* path = "/api/v1/webhook";

  /// `verify` empty: the signature is not checked (no `--line-channel-secret`).
  /// Starts fetching a file's content (attachment id, LINE message id) when
  /// it is due: pending and not on its way, or failed transiently.
  using content_fetch = std::function<void(const std::string&, const std::string&)>;

  /// A customer's message (their user id): their display name, or empty.
  using customer_seen = std::function<std::string(const std::string&)>;

  webhook_route(Hub& hub, server_metrics& metrics, signature_check verify, logger log,
                content_fetch fetch_content = {}, customer_seen seen = {})
      : hub_(hub), metrics_(metrics), verify_(std::move(verify)), log_(std::move(log)),
        fetch_content_(std::move(fetch_content)), customer_seen_(std::move(seen)) {}

  /// POST /api/v1/webhook: the LINE Messaging API webhook.
  http_response operator()(const http_request& req) {
    if (verify_) {
      const std::string_view signature = req.header("X-Line-Signature");
      if (signature.empty() || !verify_(req.body, signature))
        return json_error(401, "auth_failed", "X-Line-Signature does not match the body");
    }
    // The body's rules live in the library (livechat/protocol/line_webhook.hpp).
    const auto parsed = livechat::parse_line_webhook(req.body);
    if (!parsed.ok())
      return json_error(400, livechat::wire_code(parsed.error->code), parsed.error->message,
                        parsed.error->field);

    // The delivery's messages are stored together: on a store that defers
    // its appends, one commit (one round trip) for the whole request.
    std::vector<livechat::server::inbound_message> batch;
    std::vector<std::size_t> events;  // parsed.webhook.events' index of each
    for (std::size_t k = 0; k < parsed.webhook.events.size(); ++k) {
      const auto& ev = parsed.webhook.events[k];
      const std::size_t n = ev.index;
      if (ev.outcome == livechat::line_event_outcome::invalid) {
        log("webhook: event " + std::to_string(n) + " skipped: " + ev.reason);
        metrics_.count_webhook(server_metrics::webhook_outcome::skipped);
        continue;
      }
      if (ev.outcome == livechat::line_event_outcome::ignored) {
        metrics_.count_webhook(server_metrics::webhook_outcome::ignored);
        continue;
      }
      livechat::server::inbound_message in;
      in.conversation_id = ev.message.user_id;
      in.user_id = ev.message.user_id;
      in.name.clear();  // the user id until the profile is known (PROTOCOL.md)
      if (customer_seen_) in.name = customer_seen_(in.user_id);
      in.text = ev.message.text;
      in.webhook_event_id = ev.message.webhook_event_id;
      in.kind = ev.message.kind;
      in.attachment = ev.message.attachment;
      batch.push_back(std::move(in));
      events.push_back(k);
    }
    if (batch.empty()) return json_response(200, "{}");
    const auto start = std::chrono::steady_clock::now();
    auto results = hub_.post_user_messages(batch);
    const auto waited = std::chrono::steady_clock::now() - start;
    // The delivery's commit (none when every event was refused) is a turn
    // of its own in the store's round-trip histogram.
    for (const auto& r : results)
      if (r.ok() || r.error() != livechat::errc::validation_error) {
        metrics_.observe_turn();
        break;
      }
    bool failed = false;
    for (std::size_t i = 0; i < results.size() && i < events.size(); ++i) {
      const auto& ev = parsed.webhook.events[events[i]];
      const std::size_t n = ev.index;
      const auto& stored = results[i];
      if (!stored) {
        if (stored.error() == livechat::errc::validation_error) {
          log("webhook: event " + std::to_string(n) +
              " skipped: message.text is longer than the text limit");
          metrics_.count_webhook(server_metrics::webhook_outcome::skipped);
          continue;
        }
        // LINE redelivers on a 5xx; what was stored is deduplicated by
        // webhookEventId, so answering 500 loses nothing.
        log("webhook: event " + std::to_string(n) + " not stored: " + stored.error().message());
        failed = true;
        continue;
      }
      if (stored->duplicate) {
        metrics_.count_webhook(server_metrics::webhook_outcome::duplicate);
        // LINE redelivers when it did not get our 200: a fetch of the same
        // file that is not running (a restart lost it) or failed for a
        // transient reason gets another try. The fetcher decides; without
        // one the file was failed at its first delivery.
        if (const auto* f = std::get_if<livechat::file_attachment>(&ev.message.attachment);
            f != nullptr && fetch_content_)
          fetch_content_(f->id, ev.message.message_id);
      } else {
        metrics_.observe_commit(waited);
        metrics_.count_webhook(server_metrics::webhook_outcome::stored);
        if (const auto* f = std::get_if<livechat::file_attachment>(&stored->message.attachment);
            f != nullptr && f->status == livechat::attachment_status::pending)
          fetch(f->id, ev.message.message_id);
      }
    }
    if (failed) return json_error(500, "internal", "could not store the message; retry later");
    return json_response(200, "{}");
  }
 private:
  void log(const std::string& line) const {
    if (log_) log_(line);
  }

  /// Without a channel token the content cannot be had: failed at once.
  void fetch(const std::string& attachment_id, const std::string& message_id) {
    if (fetch_content_) return fetch_content_(attachment_id, message_id);
    auto done = hub_.finish_attachment(attachment_id, livechat::attachment_status::failed);
    if (!done) log("webhook: attachment " + attachment_id + " not marked failed: " + done.error().message());
  }

  Hub& hub_;
  server_metrics& metrics_;
  signature_check verify_;
  logger log_;
  content_fetch fetch_content_;
  customer_seen customer_seen_;
};

}  // namespace livechat_server

#endif
