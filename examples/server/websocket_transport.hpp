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

/// websocketpp's request parser, except that a Content-Length with a sign
/// is a 400 like every other malformed length (the router refuses the rest:
/// http_routes.hpp). websocketpp reads it with strtoul, which turns "-1"
/// into a huge size and answers 413 before any handler runs.
class checked_request : public websocketpp::http::parser::request {
 public:
  using ptr = std::shared_ptr<checked_request>;

  std::size_t consume(const char* buf, std::size_t len) {
    try {
      return websocketpp::http::parser::request::consume(buf, len);
    } catch (const websocketpp::http::exception& e) {
      if (e.m_error_code == websocketpp::http::status_code::request_entity_too_large &&
          !plain_content_length(get_header("Content-Length")))
        throw websocketpp::http::exception("Invalid Content-Length",
                                           websocketpp::http::status_code::bad_request);
      throw;
    }
  }
};

/// Per-connection data websocketpp lets the config attach to each connection
/// (it is a base class of websocketpp::connection): the hub's id, so a
/// handler maps hdl -> id without a lookup table.
struct connection_data {
  std::uint64_t livechat_id = 0;  ///< 0 until the open handler assigns one
  /// The remote address this connection counts against in
  /// `address_counter`; empty when it was never counted.
  std::string counted_address;
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

  struct transport_config : base::transport_config {
    using request_type = type::request_type;
    using response_type = type::response_type;
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
    // Fails only when the connection is no longer open: nothing to do.
    (void)con->send(cached_frame_);
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

  /// Bytes queued for this connection and not yet handed to the socket.
  /// websocketpp counts only what waits in its own send queue: a batch it
  /// has handed to Asio (and the kernel's socket buffer) is no longer
  /// counted, so this undercounts by at most one in-flight batch. That is
  /// fine for the hub's marks, which look for hundreds of KiB piling up.
  std::size_t buffered_amount(const connection_id& id) {
    auto con = find(id);
    return con ? con->get_buffered_amount() : 0;
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
    return msg;
  }

  ws_server& server_;
  std::shared_ptr<server_config::con_msg_manager_type> msg_manager_;
  std::unordered_map<connection_id, websocketpp::connection_hdl> connections_;
  connection_id last_id_ = 0;
  livechat::server::payload_ptr cached_payload_;
  ws_server::message_ptr cached_frame_;
};

static_assert(livechat::server::is_transport_v<websocket_transport>,
              "websocket_transport must meet the hub's Transport requirements");

/// Open WebSocket connections per remote address, for
/// --max-connections-per-ip. A connection is counted when its handshake is
/// accepted and released when websocketpp reports its end (close or fail).
class address_counter {
 public:
  /// 0: unlimited (still counted, so the figure is right if it matters).
  explicit address_counter(std::size_t limit) : limit_(limit) {}

  /// Counts one more connection from `address`; false (nothing counted)
  /// when it already holds the limit.
  bool try_acquire(const std::string& address) {
    std::size_t& n = counts_[address];
    if (limit_ != 0 && n >= limit_) {
      if (n == 0) counts_.erase(address);
      return false;
    }
    ++n;
    return true;
  }

  void release(const std::string& address) {
    auto it = counts_.find(address);
    if (it == counts_.end()) return;
    if (--it->second == 0) counts_.erase(it);
  }

  std::size_t count(const std::string& address) const {
    auto it = counts_.find(address);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  std::size_t limit_;
  std::unordered_map<std::string, std::size_t> counts_;
};

/// The peer's IP address as text (an IPv4-mapped IPv6 address as IPv4, so
/// one client counts once whichever way it connected); empty if unknown.
inline std::string remote_address(const ws_server::connection_ptr& con) {
  asio::error_code ec;
  const auto ep = con->get_raw_socket().remote_endpoint(ec);
  if (ec) return std::string();
  auto address = ep.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address.to_string();
}

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
inline void answer_http(ws_server::connection_ptr con, const http_router& router) {
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
