// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_SERVER_CONFIG_HPP
#define LIVECHAT_EXAMPLES_SERVER_SERVER_CONFIG_HPP

// The server's websocketpp endpoint: its config (the library's transport
// requirements plus the server's own request/response types, socket policy
// and limits), the endpoint type and the hub's Transport over it.

#include <cstddef>
#include <utility>

#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <livechat/websocketpp/server_transport.hpp>

#include "http/message.hpp"  // max_http_body
#include "lingering_socket.hpp"
#include "log/websocketpp_logger.hpp"
#include "websocket_http.hpp"

namespace livechat_server {

/// Per-connection data websocketpp lets the config attach to each connection
/// (it is a base class of websocketpp::connection): the transport's part
/// (the hub's id, the unsent bytes) and the HTTP response this connection
/// holds against the server's budget.
struct connection_data : livechat::wspp::connection_data {
  http_response_budget::reservation http_bytes;
};

/// websocketpp's asio (no TLS) config with the request/response types of
/// websocket_http.hpp, the lingering socket policy and the PROTOCOL.md
/// limits as compile-time defaults. main() sets the limits again at run
/// time, as websocketpp's endpoint only applies a config default it sees
/// changed.
///
/// Single-threaded: the server runs the endpoint, the hub and every
/// handler on one thread (the LINE push worker only posts to it), so the
/// config has no locks (concurrency::none) and no strand per connection
/// (enable_multithreading = false). The default config takes a mutex and
/// goes through a strand for every frame it queues and writes.
struct server_config : websocketpp::config::asio {
  using type = server_config;
  using base = websocketpp::config::asio;

  using concurrency_type = websocketpp::concurrency::none;

  using request_type = checked_request;
  using response_type = json_error_response;
  using connection_base = connection_data;
  // Both websocketpp logs go to the server's sink (log/websocketpp_logger.hpp).
  using alog_type = logging::websocketpp_logger<concurrency_type, websocketpp::log::alevel>;
  using elog_type = logging::websocketpp_logger<concurrency_type, websocketpp::log::elevel>;

  struct transport_config : base::transport_config {
    using concurrency_type = type::concurrency_type;
    static const bool enable_multithreading = false;
    using request_type = type::request_type;
    using response_type = type::response_type;
    using alog_type = type::alog_type;
    using elog_type = type::elog_type;
    using socket_type = lingering_socket_endpoint;
  };
  // Connections that count the batch being written, so the hub's unsent
  // bytes are exact without a control block per recipient of a broadcast
  // (livechat/websocketpp/counting_transport.hpp).
  using transport_type = livechat::wspp::counting_endpoint<transport_config>;

  /// Bytes websocketpp reads from a socket at once, held in every
  /// connection (its default is 16 KiB). Chat frames are a few hundred
  /// bytes; a larger frame or HTTP request is read in several reads.
  static const std::size_t connection_read_buffer_size = 2048;

  /// Frame or reassembled message; websocketpp closes with 1009 beyond.
  static const std::size_t max_message_size = 64 * 1024;
  static const std::size_t max_http_body_size = max_http_body;
};

using ws_server = websocketpp::server<server_config>;

/// websocketpp copies each of the endpoint's handlers (open, close, fail,
/// message, ping, validate, http, ...) into every connection it creates,
/// and a std::function keeps a callable larger than two pointers on the
/// heap: a handler that captures five locals costs every connection one
/// allocation per handler (~0.3 KiB per connection for the server's set).
/// This wraps a named handler that outlives the endpoint's connections in
/// a one-pointer callable, which std::function stores in place.
template <class Handler>
auto shared_handler(Handler& h) noexcept {
  return [p = &h](auto&&... args) -> decltype(auto) { return (*p)(std::forward<decltype(args)>(args)...); };
}

/// The hub's Transport over ws_server.
using websocket_transport = livechat::wspp::server_transport<server_config>;

}  // namespace livechat_server

#endif
