// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_WEBSOCKET_TRANSPORT_HPP
#define LIVECHAT_EXAMPLES_SERVER_WEBSOCKET_TRANSPORT_HPP

// Everything that touches websocketpp: the endpoint configuration, the
// Transport the hub sends through, and the adapter between a websocketpp
// HTTP request and http_router. Single-threaded: every call happens on the
// one thread that runs the io_context.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/server.hpp>
#include <websocketpp/utf8_validator.hpp>

#include <livechat/server/transport.hpp>

#include "http_routes.hpp"
#include "lingering_socket.hpp"
#include "log/websocketpp_logger.hpp"

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
      case 413: message = "request body larger than 1 MiB"; break;
      case 431: message = "request headers too large"; break;
      default: break;
    }
    replace_header("Content-Type", "application/json");
    set_body(json_error_body(http_error_code(status), message));
  }
};

/// websocketpp's request parser with two of PROTOCOL.md's rules added.
///
/// - A Content-Length with a sign is a 400 like every other malformed length
///   (the router refuses the rest: http_routes.hpp). websocketpp reads it
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

  std::size_t consume(const char* buf, std::size_t len) {
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

 private:
  bool checked_ = false;
  bool wrong_version_ = false;
};

/// Bytes of HTTP responses handed to websocketpp and not yet sent, across
/// the server (--max-http-response-bytes): a client that asks for big
/// replies and never reads them could otherwise pile up gigabytes. A
/// reservation is held by the connection and released when it is
/// destroyed (websocketpp ends an HTTP connection once the response is
/// written, or at its handshake timeout if the client never reads).
class http_response_budget {
 public:
  explicit http_response_budget(std::size_t limit) : limit_(limit) {}

  class reservation {
   public:
    reservation() = default;
    reservation(const std::shared_ptr<http_response_budget>& b, std::size_t n) : budget_(b), n_(n) {}
    reservation(reservation&& o) noexcept : budget_(std::move(o.budget_)), n_(std::exchange(o.n_, 0)) {}
    reservation& operator=(reservation&& o) noexcept {
      if (this != &o) {
        release();
        budget_ = std::move(o.budget_);
        n_ = std::exchange(o.n_, 0);
      }
      return *this;
    }
    reservation(const reservation&) = delete;
    reservation& operator=(const reservation&) = delete;
    ~reservation() { release(); }

   private:
    void release() noexcept {
      if (auto b = budget_.lock()) b->used_ -= n_;
      budget_.reset();
      n_ = 0;
    }
    std::weak_ptr<http_response_budget> budget_;
    std::size_t n_ = 0;
  };

  /// Reserves `n` bytes; false (nothing reserved) when that would pass the
  /// limit. 0: unlimited.
  static bool try_reserve(const std::shared_ptr<http_response_budget>& b, std::size_t n,
                          reservation& out) {
    if (b->limit_ != 0 && (n > b->limit_ || b->used_ > b->limit_ - n)) return false;
    b->used_ += n;
    out = reservation(b, n);
    return true;
  }

  std::size_t used() const noexcept { return used_; }

 private:
  std::size_t limit_;
  std::size_t used_ = 0;
};

/// Per-connection data websocketpp lets the config attach to each connection
/// (it is a base class of websocketpp::connection): the hub's id, so a
/// handler maps hdl -> id without a lookup table.
struct connection_data {
  std::uint64_t livechat_id = 0;  ///< 0 until the open handler assigns one
  /// Bytes of frames given to websocketpp for this connection and not yet
  /// written to the socket: each frame's deleter subtracts its size once
  /// websocketpp drops it (written, or the connection died). The frames
  /// live in websocketpp::connection's members, which die before this base.
  std::size_t unsent_bytes = 0;
  /// The HTTP response this connection holds against the server's budget.
  http_response_budget::reservation http_bytes;
};

/// websocketpp's asio (no TLS) config with the two changes above and the
/// PROTOCOL.md limits as compile-time defaults. main() sets the limits again
/// at run time, as websocketpp's endpoint only applies a config default it
/// sees changed.
struct server_config : websocketpp::config::asio {
  using type = server_config;
  using base = websocketpp::config::asio;

  using request_type = checked_request;
  using response_type = json_error_response;
  using connection_base = connection_data;
  // Both websocketpp logs go to the server's sink (log/websocketpp_logger.hpp).
  using alog_type = logging::websocketpp_logger<concurrency_type, websocketpp::log::alevel>;
  using elog_type = logging::websocketpp_logger<concurrency_type, websocketpp::log::elevel>;

  struct transport_config : base::transport_config {
    using request_type = type::request_type;
    using response_type = type::response_type;
    using alog_type = type::alog_type;
    using elog_type = type::elog_type;
    using socket_type = lingering_socket_endpoint;
  };
  using transport_type = websocketpp::transport::asio::endpoint<transport_config>;

  /// Frame or reassembled message; websocketpp closes with 1009 beyond.
  static const std::size_t max_message_size = 64 * 1024;
  static const std::size_t max_http_body_size = max_http_body;
};

using ws_server = websocketpp::server<server_config>;

/// The hub's Transport (livechat/server/transport.hpp) over websocketpp.
/// Ids are a counter, never reused, so a late event for a closed connection
/// can never reach a newer one.
class websocket_transport {
 public:
  using connection_id = std::uint64_t;

  explicit websocket_transport(ws_server& server)
      : server_(server), msg_manager_(std::make_shared<server_config::con_msg_manager_type>()) {}

  websocket_transport(const websocket_transport&) = delete;
  websocket_transport& operator=(const websocket_transport&) = delete;

  // --- Transport requirements ----------------------------------------------

  /// Queues one text frame. Every recipient of a broadcast gets the same
  /// prepared websocketpp message (header + payload built once, shared by
  /// all send queues): the hub hands us the same payload pointer for each
  /// recipient in a row, so a one-entry cache keyed by that pointer turns N
  /// copies, N UTF-8 validations and N header encodings into one. Holding
  /// the payload keeps its address from being reused for a different one.
  void send(const connection_id& id, const livechat::server::payload_ptr& payload) {
    auto con = find(id);
    if (!con || !payload) return;
    if (payload != cached_payload_) {
      cached_frame_ = prepare(*payload);
      cached_payload_ = cached_frame_ ? payload : nullptr;
    }
    if (!cached_frame_) return;
    // Every recipient gets its own control block over the one shared frame,
    // so its deleter can tell this connection when the frame is gone. The
    // frame is written from websocketpp's queue and then from Asio's
    // in-flight batch, which websocketpp no longer counts; this counts both.
    const std::size_t size = cached_size_;
    con->unsent_bytes += size;
    ws_server::message_ptr counted(cached_frame_.get(), frame_release{&con->unsent_bytes, size, cached_frame_});
    // Fails only when the connection is no longer open (the deleter has
    // run by then): nothing to do.
    (void)con->send(counted);
  }

  /// Starts the closing handshake. The close handler reports the end later.
  void close(const connection_id& id, std::uint16_t code, std::string_view reason) {
    auto con = find(id);
    if (!con) return;
    // RFC 6455: the reason must fit a control frame (125 bytes with the code).
    // Cut at a UTF-8 character boundary, or websocketpp would refuse it.
    std::size_t n = std::min<std::size_t>(reason.size(), 123);
    while (n > 0 && n < reason.size() &&
           (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80)
      --n;
    websocketpp::lib::error_code ec;
    con->close(code, std::string(reason.substr(0, n)), ec);  // ec: already closing/closed
  }

  /// Bytes of frames sent to this connection and not yet written to the
  /// socket (header included): those waiting in websocketpp's queue and
  /// the batch being written. (The kernel's socket buffer is not counted.)
  std::size_t buffered_amount(const connection_id& id) {
    auto con = find(id);
    return con ? con->unsent_bytes : 0;
  }

  // --- Used by the websocketpp handlers in main.cpp ------------------------

  /// Open handler: gives the connection its id.
  connection_id add(const ws_server::connection_ptr& con) {
    const connection_id id = ++last_id_;
    con->livechat_id = id;
    connections_.emplace(id, con->get_handle());
    return id;
  }

  /// Close/fail handler: forgets the connection; 0 when it was never added
  /// (a handshake that failed, a plain HTTP request).
  connection_id remove(const ws_server::connection_ptr& con) {
    const connection_id id = con->livechat_id;
    if (id == 0 || connections_.erase(id) == 0) return 0;
    return id;
  }

  /// Open WebSocket connections, those closing included.
  std::size_t size() const noexcept { return connections_.size(); }

 private:
  ws_server::connection_ptr find(const connection_id& id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return nullptr;
    websocketpp::lib::error_code ec;
    return server_.get_con_from_hdl(it->second, ec);  // null if already gone
  }

  struct frame_release {
    std::size_t* counter;
    std::size_t size;
    ws_server::message_ptr frame;  // keeps the shared frame alive
    void operator()(ws_server::message_ptr::element_type*) noexcept { *counter -= size; }
  };

  // A finished server-to-client frame (servers do not mask), as
  // websocketpp's own processor would build it. nullptr for invalid UTF-8:
  // a text frame must never carry it, and the hub's encoder never makes it.
  ws_server::message_ptr prepare(const std::string& payload) {
    if (!websocketpp::utf8_validator::validate(payload)) return nullptr;
    auto msg = msg_manager_->get_message(websocketpp::frame::opcode::text, 0);
    websocketpp::frame::basic_header h(websocketpp::frame::opcode::text, payload.size(),
                                       /*fin=*/true, /*mask=*/false);
    msg->set_header(
        websocketpp::frame::prepare_header(h, websocketpp::frame::extended_header(payload.size())));
    msg->set_payload(payload);
    msg->set_prepared(true);
    cached_size_ = msg->get_header().size() + payload.size();
    return msg;
  }

  ws_server& server_;
  std::shared_ptr<server_config::con_msg_manager_type> msg_manager_;
  std::unordered_map<connection_id, websocketpp::connection_hdl> connections_;
  connection_id last_id_ = 0;
  livechat::server::payload_ptr cached_payload_;
  ws_server::message_ptr cached_frame_;
  std::size_t cached_size_ = 0;
};

static_assert(livechat::server::is_transport_v<websocket_transport>,
              "websocket_transport must meet the hub's Transport requirements");

/// Refuses a WebSocket handshake from the validate handler: `status` with
/// PROTOCOL.md's JSON error body. (websocketpp sends the response and
/// closes once the handler returns false.)
inline void refuse_handshake(const ws_server::connection_ptr& con,
                             websocketpp::http::status_code::value status, std::string_view code,
                             std::string_view message) {
  con->set_status(status);
  con->replace_header("Content-Type", "application/json");
  con->replace_header("Connection", "close");
  con->set_body(json_error_body(code, message));
}

/// Answers one plain-HTTP request through `router` (websocketpp calls the
/// http handler once the whole request, body included, has been read).
/// With `budget`, a response body that does not fit in it is replaced by
/// 503 with Retry-After, and the one that fits stays reserved until the
/// connection ends.
inline void answer_http(ws_server::connection_ptr con, const http_router& router,
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
