// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_REST_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_REST_HPP

// The REST fallback of PROTOCOL.md "HTTP": list conversations, read a
// conversation's history, post an operator message. Bearer-authenticated
// like the WebSocket `auth`, answered in the codec's JSON encoding
// (livechat/protocol/json_writer.hpp), posts checked by `send_message`'s
// rules (livechat/protocol/message_fields.hpp) and by a per-user bucket.
//
// Everything here runs on the hub's thread. Writes go through the hub
// (`post_operator_message`), which commits before it returns, so a 201
// follows the commit. Reads commit the hub's pending writes first, so REST
// never shows history that a failed commit could still take back.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <rapidjson/document.h>

#include <livechat/auth/authenticator.hpp>
#include <livechat/clock.hpp>
#include <livechat/error.hpp>
#include <livechat/protocol/json_writer.hpp>
#include <livechat/protocol/message_fields.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/server/hub.hpp>
#include <livechat/store/message_store.hpp>
#include <livechat/store/page_cap.hpp>

#include "bearer_token.hpp"
#include "json_errors.hpp"
#include "message.hpp"
#include "metrics.hpp"
#include "url.hpp"
#include "user_rate_limiter.hpp"

namespace livechat_server {

/// Parses a request body: one JSON value, valid UTF-8, no raw NUL (which
/// RapidJSON's in-memory stream would take for the end of input).
inline bool parse_json_body(std::string_view body, rapidjson::Document& doc) {
  if (body.empty() || std::char_traits<char>::find(body.data(), body.size(), '\0') != nullptr)
    return false;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(body.data(),
                                                                                   body.size());
  return !doc.HasParseError();
}

template <class Hub, class Clock = livechat::default_clock>
class rest_routes {
 public:
  using logger = std::function<void(std::string_view line)>;

  static constexpr const char* conversations_path = "/api/v1/conversations";
  static constexpr const char* conversation_prefix = "/api/v1/conversations/";
  static constexpr const char* messages_label = "/api/v1/conversations/{id}/messages";
  /// GET /api/v1/conversations: `limit` 1-500, 100 by default (PROTOCOL.md).
  static constexpr std::size_t default_list_limit = 100;
  static constexpr std::uint64_t max_list_limit = 500;

  /// `rate_users`: most users whose write bucket is remembered at once.
  rest_routes(Hub& hub, livechat::message_store& store, livechat::authenticator& auth, Clock& clock,
              server_metrics& metrics, std::size_t rate_users, logger log)
      : hub_(hub),
        store_(store),
        auth_(auth),
        clock_(clock),
        metrics_(metrics),
        log_(std::move(log)),
        // A REST write costs what a frame does: the same bucket size and
        // refill as a connection's, so REST is no way around the limit.
        rest_writes_(hub.config().rate_burst, hub.config().rate_per_second, rate_users) {}

  /// GET /api/v1/conversations?limit=&cursor=&status=&claimed_by=
  http_response list_conversations(const http_request& req) {
    livechat::identity who;
    if (auto refused = authenticate(req, who)) return std::move(*refused);
    livechat::conversation_query q;
    q.limit = default_list_limit;
    const auto limit_param = query_param(req.query, "limit");
    if (!limit_param.ok)
      return json_error(400, "validation_error", "limit is malformed or given twice", "limit");
    if (limit_param.value) {
      const auto n = parse_uint(*limit_param.value);
      if (!n || *n == 0 || *n > max_list_limit)
        return json_error(400, "validation_error",
                          "limit must be an integer from 1 to " + std::to_string(max_list_limit),
                          "limit");
      q.limit = static_cast<std::size_t>(*n);
    }
    const auto cursor_param = query_param(req.query, "cursor");
    if (!cursor_param.ok || (cursor_param.value && !livechat::parse_cursor(*cursor_param.value)))
      return json_error(400, "validation_error",
                        "cursor must be a next_cursor of an earlier page, given once", "cursor");
    if (cursor_param.value) q.cursor = *cursor_param.value;
    const auto status_param = query_param(req.query, "status");
    if (status_param.value) q.status = livechat::parse_session_status(*status_param.value);
    if (!status_param.ok || (status_param.value && !q.status))
      return json_error(400, "validation_error", "status must be open, claimed or closed, given once",
                        "status");
    const auto claimed_param = query_param(req.query, "claimed_by");
    if (claimed_param.value) q.claimed_by = *claimed_param.value;
    // The user-id rule of the authenticators: 1-128 bytes of printable UTF-8.
    if (!claimed_param.ok ||
        (claimed_param.value && !livechat::authenticator::is_valid_user_id(q.claimed_by)))
      return json_error(400, "validation_error",
                        "claimed_by must be a user id (1-128 printable characters), given once",
                        "claimed_by");

    commit_pending();
    const std::size_t cap = hub_.config().max_page_bytes;
    q.max_bytes = cap;
    auto page = store_.list_conversations(q);
    if (!page) {
      if (page.error() == livechat::errc::validation_error)
        return json_error(400, "validation_error", "the cursor was refused", "cursor");
      return store_error("list conversations", page.error());
    }
    for (auto& c : page->conversations) {
      if (c.last_message) hub_.sign_url(*c.last_message);  // a fresh url per delivery
      c.customer = hub_.customer_of(c.room);
    }
    livechat::cap_conversation_page(page.value(), cap);
    // The caller's read positions, one store lookup for the whole page.
    if (auto read = store_.fill_read_seq(who.user_id, page->conversations); !read)
      return store_error("read positions", read.error());
    return json_response(200, livechat::json_document([&](livechat::json_writer& w) {
      w.StartObject();
      livechat::write_json_key(w, "conversations");
      livechat::write_json(w, page->conversations);
      livechat::write_json_key(w, "next_cursor");
      if (page->next_cursor.empty())
        w.Null();
      else
        livechat::write_json(w, page->next_cursor);
      w.EndObject();
    }));
  }

  /// GET or POST /api/v1/conversations/{id}/messages
  http_response conversation_messages(const http_request& req) {
    // Only {id}/messages exists under the prefix; the id may be
    // percent-encoded (':' and '@' are allowed in it).
    const std::string_view rest = req.path.substr(std::string_view(conversation_prefix).size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || rest.substr(slash + 1) != "messages")
      return json_error(404, "no such resource");
    livechat::identity who;
    if (auto refused = authenticate(req, who)) return std::move(*refused);
    const auto id = percent_decode(rest.substr(0, slash), false);
    if (!id || !livechat::is_valid_conversation_id(*id))
      return json_error(400, "validation_error",
                        "the conversation id must match [A-Za-z0-9_.@:-]{1,128}", "conversation_id");
    if (req.method == "POST") return post_message(req, who, *id);
    return history(req, *id);
  }

 private:
  void log(const std::string& line) const {
    if (log_) log_(line);
  }

  /// Commits the hub's pending writes (timed), so reads see only
  /// committed history.
  void commit_pending() { timed_commit(hub_, metrics_); }

  http_response store_error(const char* what, std::error_code ec) const {
    log(std::string("api: ") + what + ": " + ec.message());
    return json_error(500, "internal", "the message store failed; try again");
  }

  /// The identity of `Authorization: Bearer <token>`, or the 401 to answer.
  std::optional<http_response> authenticate(const http_request& req, livechat::identity& who) {
    auto refuse = [](std::string_view code, std::string_view message, bool invalid_token) {
      auto r = json_error(401, code, message);
      r.headers.emplace_back("WWW-Authenticate", invalid_token
                                                     ? R"(Bearer realm="livechat", error="invalid_token")"
                                                     : R"(Bearer realm="livechat")");
      return r;
    };
    const auto token = bearer_token(req.header("Authorization"));
    if (!token) return refuse("not_authenticated", "send Authorization: Bearer <token>", false);
    auto id = auth_.authenticate(*token, clock_.system_now());
    if (!id) return refuse("auth_failed", "the token was rejected", true);
    who = std::move(id.value());
    return std::nullopt;
  }

  http_response history(const http_request& req, const std::string& conversation_id) {
    const auto& cfg = hub_.config();
    std::optional<std::uint64_t> since;
    std::optional<std::uint64_t> before;
    std::optional<std::size_t> limit;
    const auto since_param = query_param(req.query, "since_seq");
    if (!since_param.ok)
      return json_error(400, "validation_error", "since_seq is malformed or given twice", "since_seq");
    if (since_param.value) {
      since = parse_uint(*since_param.value);
      if (!since)
        return json_error(400, "validation_error", "since_seq must be an integer >= 0", "since_seq");
    }
    const auto before_param = query_param(req.query, "before_seq");
    if (!before_param.ok)
      return json_error(400, "validation_error", "before_seq is malformed or given twice", "before_seq");
    if (before_param.value) {
      before = parse_uint(*before_param.value);
      if (!before || *before == 0)
        return json_error(400, "validation_error", "before_seq must be an integer >= 1", "before_seq");
      if (since)
        return json_error(400, "validation_error", "before_seq cannot be combined with since_seq",
                          "before_seq");
    }
    const auto limit_param = query_param(req.query, "limit");
    if (!limit_param.ok)
      return json_error(400, "validation_error", "limit is malformed or given twice", "limit");
    if (limit_param.value) {
      const auto n = parse_uint(*limit_param.value);
      if (!n || *n == 0 || *n > cfg.recovery_limit)
        return json_error(400, "validation_error",
                          "limit must be an integer from 1 to " + std::to_string(cfg.recovery_limit),
                          "limit");
      limit = static_cast<std::size_t>(*n);
    }

    commit_pending();
    const std::string room = livechat::room_of(conversation_id);
    auto epoch = store_.epoch(room);
    if (!epoch) return store_error("epoch", epoch.error());
    // As conversation_update: the store stops at the byte budget, then the
    // page is cut to 1 MiB of encoded messages (has_more: page on).
    livechat::history_query hq;
    hq.since_seq = since;
    hq.before_seq = before;
    hq.limit = limit.value_or(since ? cfg.recovery_limit : cfg.history_page);
    hq.max_bytes = cfg.max_page_bytes;
    auto page = store_.history(room, hq);
    if (!page) return store_error("history", page.error());
    if (since && *since > page->last_seq) {
      // As conversation_update: a since_seq beyond the room's history
      // belongs to another lineage, so answer as without it (the epoch in
      // the answer tells the client).
      since.reset();
      hq.since_seq.reset();
      hq.limit = limit.value_or(cfg.history_page);
      page = store_.history(room, hq);
      if (!page) return store_error("history", page.error());
    }
    for (auto& m : page->messages) hub_.sign_url(m);  // a fresh url per delivery
    livechat::cap_history_page(page.value(), cfg.max_page_bytes, !since);
    return json_response(200, livechat::json_document([&](livechat::json_writer& w) {
      using livechat::write_json;
      using livechat::write_json_key;
      w.StartObject();
      write_json_key(w, "room"); write_json(w, room);
      write_json_key(w, "conversation_id"); write_json(w, conversation_id);
      write_json_key(w, "messages"); write_json(w, page->messages);
      write_json_key(w, "last_seq"); w.Uint64(page->last_seq);
      write_json_key(w, "has_more"); w.Bool(page->has_more);
      write_json_key(w, "epoch"); write_json(w, epoch.value());
      w.EndObject();
    }));
  }

  http_response post_message(const http_request& req, const livechat::identity& who,
                             const std::string& conversation_id) {
    // Counted before the body is read: a refused or invalid post still
    // cost a parse, as a refused frame does on a connection.
    if (const std::uint64_t wait = rest_writes_.acquire(who.user_id, clock_.now()); wait != 0) {
      auto r = json_error(429, "rate_limited", "too many messages, slow down");
      r.headers.emplace_back("Retry-After", std::to_string(wait));
      return r;
    }
    rapidjson::Document doc;
    if (!parse_json_body(req.body, doc) || !doc.IsObject())
      return json_error(400, "invalid_json", "the body must be a JSON object");
    // The send_message payload rules, from the codec itself.
    const auto posted = livechat::read_message_fields(doc, hub_.config().codec);
    if (posted.error && posted.error->code == livechat::errc::invalid_json)
      return json_error(400, "invalid_json", "the body is not valid UTF-8");
    if (posted.error)
      return json_error(400, "validation_error", posted.error->message, posted.error->field);

    const auto start = std::chrono::steady_clock::now();
    auto stored =
        hub_.post_operator_message(who, conversation_id, posted.fields.text,
                                   posted.fields.client_msg_id.value_or(std::string()));
    if (!stored) {
      if (stored.error() == livechat::errc::validation_error)
        return json_error(400, "validation_error", "the message was refused");
      log("api: message not stored: " + stored.error().message());
      return json_error(500, "internal", "could not store the message; try again");
    }
    if (!stored->duplicate) metrics_.observe_commit(std::chrono::steady_clock::now() - start);
    return json_response(stored->duplicate ? 200 : 201,
                         livechat::json_document([&](livechat::json_writer& w) {
                           w.StartObject();
                           livechat::write_json_key(w, "message");
                           livechat::write_json(w, stored->message);
                           livechat::write_json_key(w, "duplicate");
                           w.Bool(stored->duplicate);
                           w.EndObject();
                         }));
  }

  Hub& hub_;
  livechat::message_store& store_;
  livechat::authenticator& auth_;
  Clock& clock_;
  server_metrics& metrics_;
  logger log_;
  user_rate_limiter rest_writes_;
};

}  // namespace livechat_server

#endif
