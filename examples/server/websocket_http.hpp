// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_WEBSOCKET_HTTP_HPP
#define LIVECHAT_EXAMPLES_SERVER_WEBSOCKET_HTTP_HPP

// websocketpp's HTTP side of the server: the request and response types of
// its config (server_config.hpp), the budget of unsent responses, and the
// adapter between a websocketpp HTTP request and http_router. The hub's
// Transport is the library's (livechat/websocketpp/server_transport.hpp).
// Single-threaded: every call happens on the one thread that runs the
// io_context.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>
#include <websocketpp/processors/processor.hpp>

#include "http/byte_budget.hpp"
#include "http/json_errors.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace livechat_server {

/// websocketpp writes some HTTP errors itself, before any handler runs: 413
/// when Content-Length exceeds max_http_body_size, 400 for a malformed
/// request, 431 for oversized headers. Its response type is a config
/// parameter, so this one fills in PROTOCOL.md's JSON error body whenever an
/// error status is set on an empty body; a handler that sets its own body
/// afterwards replaces it. Every error also gets the headers the router
/// adds to its own answers (nosniff, no-store). (The connection calls these
/// by static type.)
class json_error_response : public websocketpp::http::parser::response {
 public:
  using ptr = std::shared_ptr<json_error_response>;
  using base = websocketpp::http::parser::response;

  /// As the base, but a value the header already has is not added twice
  /// (an error status fills in headers the router's answer carries too).
  void append_header(const std::string& key, const std::string& val) {
    if (get_header(key) == val) return;
    base::append_header(key, val);
  }

  void set_status(websocketpp::http::status_code::value code) {
    base::set_status(code);
    fill_error_body(code);
  }
  void set_status(websocketpp::http::status_code::value code, const std::string& msg) {
    // websocketpp's parser errors pass an empty reason, which would put a
    // bare "HTTP/1.1 413 " on the wire; use the standard phrase instead.
    if (msg.empty())
      base::set_status(code);
    else
      base::set_status(code, msg);
    fill_error_body(code);
  }

 private:
  void fill_error_body(websocketpp::http::status_code::value code) {
    const int status = static_cast<int>(code);
    if (status < 400) return;
    replace_header("X-Content-Type-Options", "nosniff");
    replace_header("Cache-Control", "no-store");
    if (!get_body().empty()) return;
    std::string_view message = "the request was refused";
    switch (status) {
      case 400: message = "malformed HTTP request"; break;
      case 404: message = "no such resource"; break;
      // 1 MiB on every route but an upload's (--max-attachment-bytes).
      case 413: message = "request body too large"; break;
      case 431: message = "request headers too large"; break;
      // Only the upload memory bound refuses this early (checked_request).
      case 503:
        message = "the server holds as many uploads as it may at once; retry later";
        replace_header("Retry-After", "1");
        break;
      default: break;
    }
    replace_header("Content-Type", "application/json");
    set_body(json_error_body(http_error_code(status), message));
  }

 public:
  /// Frees the headers and body; the status stays (release_handshake).
  void release_headers() noexcept {
    websocketpp::http::parser::header_list().swap(m_headers);
    std::string().swap(m_body);
  }
};

/// websocketpp's request parser with two of PROTOCOL.md's rules added.
///
/// - A Content-Length with a sign is a 400 like every other malformed length
///   (the router refuses the rest: http/router.hpp). websocketpp reads it
///   with strtoul, which turns "-1" into a huge size and answers 413 before
///   any handler runs.
/// - Only `Sec-WebSocket-Version: 13` is spoken. websocketpp picks a frame
///   processor from the version as soon as the headers are read, before any
///   handler runs: hixie-76 (no version header; frames end at a 0xFF that
///   may never come, so one "frame" can grow without limit) and hybi 7/8
///   among them. So an upgrade with any other version is turned into a
///   plain HTTP request here (its Upgrade header dropped, the refusal
///   remembered), and the http handler answers it 426: no WebSocket
///   processor is ever created for it and nothing after the headers is
///   read as a frame.
class checked_request : public websocketpp::http::parser::request {
 public:
  using base = websocketpp::http::parser::request;
  using ptr = std::shared_ptr<checked_request>;

  /// Bytes of upload bodies in memory, server-wide (--max-upload-memory-bytes),
  /// shared with the LINE content downloads; unset: unbounded. Set once
  /// by main() before the server accepts (one server per process).
  static inline std::shared_ptr<byte_budget> upload_memory;

  std::size_t consume(const char* buf, std::size_t len) {
    limit_body(buf, len);
    std::size_t n = 0;
    try {
      n = base::consume(buf, len);
    } catch (const websocketpp::http::exception& e) {
      if (e.m_error_code == websocketpp::http::status_code::request_entity_too_large &&
          !plain_content_length(get_header("Content-Length")))
        throw websocketpp::http::exception("Invalid Content-Length",
                                           websocketpp::http::status_code::bad_request);
      throw;
    }
    if (upload_ && !reserved_ && (m_body_bytes_needed > 0 || ready())) reserve_upload();
    if (ready() && !checked_) {
      checked_ = true;
      if (websocketpp::processor::is_websocket_handshake(*this) &&
          get_header("Sec-WebSocket-Version") != "13") {
        wrong_version_ = true;
        remove_header("Upgrade");
      }
    }
    return n;
  }

  /// An upgrade request with a version other than 13 (or none).
  bool wrong_websocket_version() const noexcept { return wrong_version_; }

  /// Frees the headers and body (release_handshake).
  void release_headers() noexcept {
    websocketpp::http::parser::header_list().swap(m_headers);
    std::string().swap(m_body);
  }

 private:
  /// The endpoint's body limit is the upload's (--max-attachment-bytes);
  /// every other request is held to max_http_body, decided from the
  /// request line before the headers end (websocketpp checks
  /// Content-Length against the limit there), so no other route ever
  /// buffers more than 1 MiB.
  void limit_body(const char* buf, std::size_t len) {
    if (line_known_) return;
    constexpr std::size_t max_line = 512;
    line_.append(buf, std::min(len, max_line - line_.size()));
    if (line_.find("\r\n") == std::string::npos && line_.size() < max_line) return;
    line_known_ = true;
    const std::string post = "POST " + std::string(upload_path);
    const bool upload = line_.compare(0, post.size(), post) == 0 && line_.size() > post.size() &&
                        (line_[post.size()] == ' ' || line_[post.size()] == '?');
    if (!upload && get_max_body_size() > max_http_body) set_max_body_size(max_http_body);
    upload_ = upload;
    line_.clear();
    line_.shrink_to_fit();
  }

  /// The upload's whole body is reserved as soon as its headers are read
  /// (at most one read buffer of it is held by then): 413 when it could
  /// never fit, 503 with Retry-After while others hold the memory. Held
  /// until the request is destroyed, with the connection.
  void reserve_upload() {
    reserved_ = true;
    const auto& b = upload_memory;
    if (!b) return;
    const std::size_t n = m_body_bytes_needed + get_body().size();
    if (b->too_large(n))
      throw websocketpp::http::exception("upload larger than the upload memory",
                                         websocketpp::http::status_code::request_entity_too_large);
    if (!byte_budget::try_reserve(b, n, reservation_))
      throw websocketpp::http::exception("upload memory in use",
                                         websocketpp::http::status_code::service_unavailable);
  }

  bool upload_ = false;
  bool reserved_ = false;
  byte_budget::reservation reservation_;
  bool line_known_ = false;
  std::string line_;
  bool checked_ = false;
  bool wrong_version_ = false;
};

/// Frees what websocketpp keeps of an accepted handshake, from the open
/// handler. websocketpp holds the request and the response, with their
/// header maps, for the connection's whole life (a map node and its strings
/// per header: ~1 KiB for a minimal handshake, a few KiB for a browser's
/// cookies and headers), yet nothing reads them once the connection is
/// open: websocketpp's own last use is the "open" log line, written before
/// the open handler runs; its close and frame paths never read them; the
/// server reads the request's headers in the validate handler only. The
/// parsed URI goes too (~0.2 KiB), back to the null it is before the
/// handshake (websocketpp's log lines expect that; the server reads the
/// resource in the validate handler only). After this, on this
/// connection, `get_request_header` answers "" and `get_uri()` is null
/// (`get_resource()`, `get_host()` must not be called).
/// websocketpp offers the request and response as const only; both are
/// non-const members of the connection, so writing through const_cast is
/// defined.
template <class Connection>
void release_handshake(Connection& con) noexcept {
  const_cast<checked_request&>(con.get_request()).release_headers();
  const_cast<json_error_response&>(con.get_response()).release_headers();
  con.set_uri(nullptr);
}

/// Bytes of HTTP responses handed to websocketpp and not yet sent, across
/// the server (--max-http-response-bytes): a client that asks for big
/// replies and never reads them could otherwise pile up gigabytes. A
/// reservation is held by the connection and released when it is
/// destroyed (websocketpp ends an HTTP connection once the response is
/// written, or at its handshake timeout if the client never reads).
using http_response_budget = byte_budget;

/// Refuses a WebSocket handshake from the validate handler: `status` with
/// PROTOCOL.md's JSON error body. (websocketpp sends the response and
/// closes once the handler returns false.)
template <class ConnectionPtr>
void refuse_handshake(const ConnectionPtr& con, websocketpp::http::status_code::value status,
                      std::string_view code, std::string_view message) {
  con->set_status(status);
  con->replace_header("Content-Type", "application/json");
  con->replace_header("Connection", "close");
  con->set_body(json_error_body(code, message));
}

/// The words of a 429 for an address at --max-connections-per-ip (the
/// handshake and plain HTTP requests say the same).
inline std::string address_cap_message(std::size_t cap) {
  return "this address already holds " + std::to_string(cap) +
         " connections, the most allowed; close one and retry";
}

/// What a plain-HTTP request gets before any route: 429 for an address
/// past its cap (counted at accept, settled behind a proxy), 426 for a
/// WebSocket upgrade in another version than 13 (PROTOCOL.md; the header
/// says which one to use). false: neither, route it.
template <class ConnectionPtr>
bool refuse_http(const ConnectionPtr& con, std::size_t max_per_address) {
  namespace status = websocketpp::http::status_code;
  if (con->over_address_cap()) {
    auto r = json_error(429, "limit_exceeded", address_cap_message(max_per_address));
    con->set_status(status::too_many_requests);
    con->replace_header("Content-Type", r.content_type);
    con->replace_header("Retry-After", "1");
    con->replace_header("Connection", "close");
    con->set_body(r.body);
    return true;
  }
  if (con->get_request().wrong_websocket_version()) {
    con->set_status(status::upgrade_required);
    con->replace_header("Content-Type", "application/json");
    con->replace_header("Sec-WebSocket-Version", "13");
    con->replace_header("Upgrade", "websocket");
    con->replace_header("Connection", "close");
    con->set_body(json_error_body("upgrade_required", "only Sec-WebSocket-Version: 13 is supported"));
    return true;
  }
  return false;
}

/// A route that threw: 500 with PROTOCOL.md's body (the caller logs why).
template <class ConnectionPtr>
void answer_internal_error(const ConnectionPtr& con) {
  con->set_status(websocketpp::http::status_code::internal_server_error);
  con->replace_header("Content-Type", "application/json");
  con->set_body(json_error_body("internal", "internal error"));
}

/// Answers one plain-HTTP request through `router` (websocketpp calls the
/// http handler once the whole request, body included, has been read).
/// With `budget`, a response body that does not fit in it is replaced by
/// 503 with Retry-After, and the one that fits stays reserved until the
/// connection ends. (`con`: a connection of server_config.hpp's ws_server.)
template <class ConnectionPtr>
void answer_http(const ConnectionPtr& con, const http_router& router,
                 const std::shared_ptr<http_response_budget>& budget = nullptr) {
  const auto& request = con->get_request();
  const std::string& target = request.get_uri();
  const auto q = target.find('?');

  http_request req;
  req.method = request.get_method();
  req.path = std::string_view(target).substr(0, q);
  if (q != std::string::npos) req.query = std::string_view(target).substr(q + 1);
  req.body = request.get_body();
  for (const auto& [name, value] : request.get_headers()) req.headers.emplace_back(name, value);

  http_response resp = router.handle(req);
  if (budget && req.method != "HEAD" &&
      !http_response_budget::try_reserve(budget, resp.body.size(), con->http_bytes)) {
    resp = json_error(503, "the server is busy sending other responses; retry in a moment");
    resp.headers.emplace_back("Retry-After", "1");
  }

  con->set_status(static_cast<websocketpp::http::status_code::value>(resp.status));
  if (!resp.content_type.empty()) con->replace_header("Content-Type", resp.content_type);
  for (const auto& [name, value] : resp.headers) con->append_header(name, value);
  // websocketpp closes the socket after every response (no keep-alive);
  // saying so lets clients stop waiting for a second response.
  con->replace_header("Connection", "close");
  if (req.method == "HEAD") {
    // Same headers as GET, no body: websocketpp sends whatever body is set.
    con->set_body(std::string());
    con->replace_header("Content-Length", std::to_string(resp.body.size()));
  } else {
    con->set_body(resp.body);
  }
}

}  // namespace livechat_server

#endif
