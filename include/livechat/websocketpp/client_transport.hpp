// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_WEBSOCKETPP_CLIENT_TRANSPORT_HPP
#define LIVECHAT_WEBSOCKETPP_CLIENT_TRANSPORT_HPP

// client::session's Transport over a websocketpp Asio client (target
// livechat::websocketpp; C++17 under GCC >= 11, see server_transport.hpp).
// Many transports (one per session) may share one endpoint: websocketpp sets
// the handlers per connection, so each transport only ever hears about its
// own. The timer that drives session.tick() is in periodic_timer.hpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <livechat/websocketpp/detail/close_reason.hpp>

namespace livechat::wspp {

/// Quiet logs, the given io_context, a user agent. websocketpp's own logs
/// are about peer behaviour and would drown a program's output.
template <class Endpoint>
void init_client_endpoint(Endpoint& endpoint, asio::io_context& io,
                          const std::string& user_agent = "livechat-client") {
  endpoint.clear_access_channels(::websocketpp::log::alevel::all);
  endpoint.clear_error_channels(::websocketpp::log::elevel::all);
  endpoint.init_asio(&io);
  endpoint.set_user_agent(user_agent);
}

/// One WebSocket connection at a time to a fixed URI, reopened on each
/// connect(). Meets the client Transport requirements:
///   connect()           start a new connection; later on_open() or on_close()
///   send(frame)         one text frame (dropped when not open)
///   close(code, reason) start closing; on_close() always follows, later
/// Events reach the session through the handlers set by bind() or
/// set_handlers(). A connection that was replaced or abandoned never reports
/// anything again (each one carries its generation number), so the session
/// sees exactly one on_close per connect().
///
/// @tparam Config a websocketpp client config on the Asio transport
/// (client_transport: `websocketpp::config::asio_client`, no TLS).
///
/// @par Thread Safety
/// None: every call, and every callback into the session, on the one
/// thread that runs the io_context.
///
/// @code
/// livechat::wspp::client_transport::endpoint_type endpoint;
/// livechat::wspp::init_client_endpoint(endpoint, io);
/// livechat::wspp::client_transport transport(endpoint, "ws://127.0.0.1:8080/api/v1/ws/live-chat");
/// livechat::client::session<livechat::wspp::client_transport> chat(transport, settings);
/// transport.bind(chat);
/// @endcode
template <class Config>
class basic_client_transport {
 public:
  using endpoint_type = ::websocketpp::client<Config>;
  using connection_ptr = typename endpoint_type::connection_ptr;
  using message_ptr = typename endpoint_type::message_ptr;

  struct handlers {
    std::function<void()> on_open;
    std::function<void(std::string_view)> on_message;
    std::function<void(std::uint16_t, std::string_view)> on_close;
  };

  /// `close_handshake_timeout`: how long close() waits for the peer's close
  /// frame before dropping the TCP connection (a dead server never answers).
  basic_client_transport(endpoint_type& endpoint, std::string uri,
                             std::chrono::milliseconds close_handshake_timeout = std::chrono::milliseconds(2000))
      : endpoint_(endpoint), uri_(std::move(uri)), close_timeout_(close_handshake_timeout),
        state_(std::make_shared<shared_state>()) {}

  basic_client_transport(const basic_client_transport&) = delete;
  basic_client_transport& operator=(const basic_client_transport&) = delete;

  /// Abandons the current connection (no callback is made any more).
  ~basic_client_transport() {
    ++state_->generation;
    state_->h = handlers{};
    terminate_current();
  }

  /// Forwards the transport events to `s.on_open/on_message/on_close`.
  template <class Session>
  void bind(Session& s) {
    set_handlers({[&s] { s.on_open(); }, [&s](std::string_view f) { s.on_message(f); },
                  [&s](std::uint16_t code, std::string_view reason) { s.on_close(code, reason); }});
  }

  void set_handlers(handlers h) { state_->h = std::move(h); }

  const std::string& uri() const noexcept { return uri_; }

  // --- Transport requirements ----------------------------------------------

  void connect() {
    // A connection still around here was given up by the session (it asked
    // for a new one): silence it first so it cannot report over the new one.
    ++state_->generation;
    terminate_current();
    const std::uint64_t gen = state_->generation;

    ::websocketpp::lib::error_code ec;
    connection_ptr con = endpoint_.get_connection(uri_, ec);
    if (ec || !con) {  // a malformed URI: report it like a failed connect
      post_close(gen, 1006, "cannot connect to " + uri_ + ": " + ec.message());
      return;
    }
    con->set_close_handshake_timeout(static_cast<long>(close_timeout_.count()));

    std::weak_ptr<shared_state> weak = state_;
    con->set_open_handler([weak, gen](::websocketpp::connection_hdl) {
      if (auto st = current(weak, gen)) st->deliver_open();
    });
    con->set_message_handler([weak, gen](::websocketpp::connection_hdl, message_ptr msg) {
      auto st = current(weak, gen);
      if (!st) return;
      // Binary frames are not part of protocol v1; the session only speaks text.
      if (msg->get_opcode() == ::websocketpp::frame::opcode::text) st->deliver_message(msg->get_payload());
    });
    auto ended = [this, weak, gen](::websocketpp::connection_hdl hdl, bool failed) {
      auto st = current(weak, gen);
      if (!st) return;
      ++st->generation;  // exactly one on_close per connection
      std::uint16_t code = 1006;
      std::string reason;
      ::websocketpp::lib::error_code cec;
      if (auto c = endpoint_.get_con_from_hdl(hdl, cec); c && !cec) {
        if (failed) {
          // A refused handshake (HTTP 403/429...) or a TCP error.
          reason = c->get_ec().message();
          if (const int status = static_cast<int>(c->get_response_code()); status != 0)
            reason = "HTTP " + std::to_string(status) + (reason.empty() ? "" : ": " + reason);
        } else {
          code = static_cast<std::uint16_t>(c->get_remote_close_code());
          reason = c->get_remote_close_reason();
          if (code == 1005 || code == 0) code = 1006;  // closed without a status
        }
      }
      con_.reset();
      st->deliver_close(code, reason);
    };
    con->set_fail_handler([ended](::websocketpp::connection_hdl hdl) { ended(hdl, true); });
    con->set_close_handler([ended](::websocketpp::connection_hdl hdl) { ended(hdl, false); });

    con_ = con;
    endpoint_.connect(con);
  }

  void send(std::string frame) {
    if (!con_ || con_->get_state() != ::websocketpp::session::state::open) return;
    (void)con_->send(frame, ::websocketpp::frame::opcode::text);  // fails only when closing meanwhile
  }

  void close(std::uint16_t code, std::string_view reason) {
    if (!con_) return;  // nothing open: on_close was already delivered
    const auto s = con_->get_state();
    if (s == ::websocketpp::session::state::open) {
      ::websocketpp::lib::error_code ec;
      con_->close(static_cast<::websocketpp::close::status::value>(code), detail::close_reason(reason), ec);
      if (!ec) return;  // the close handler reports the end
    } else if (s == ::websocketpp::session::state::closing) {
      return;  // already closing: the close handler reports the end
    }
    // Still connecting (or the close frame could not be sent): drop it and
    // report the close ourselves, after this call returns.
    const std::uint64_t gen = ++state_->generation;
    terminate_current();
    post_close(gen, code, std::string(reason));
  }

  // --- Extras ----------------------------------------------------------------

  bool is_open() const {
    return con_ && con_->get_state() == ::websocketpp::session::state::open;
  }

  /// Bytes queued on the current connection and not yet written.
  std::size_t buffered_amount() const { return con_ ? con_->get_buffered_amount() : 0; }

 private:
  // Shared with the connection handlers, which hold it weakly, so that a
  // handler running after the transport is gone does nothing.
  struct shared_state {
    std::uint64_t generation = 0;
    handlers h;

    // A throwing handler must not unwind through websocketpp's read loop.
    template <class F>
    static void guarded(F&& f) noexcept {
      try {
        f();
      } catch (...) {
      }
    }
    void deliver_open() {
      if (h.on_open) guarded([&] { h.on_open(); });
    }
    void deliver_message(std::string_view frame) {
      if (h.on_message) guarded([&] { h.on_message(frame); });
    }
    void deliver_close(std::uint16_t code, std::string_view reason) {
      if (h.on_close) guarded([&] { h.on_close(code, reason); });
    }
  };

  static std::shared_ptr<shared_state> current(const std::weak_ptr<shared_state>& weak, std::uint64_t gen) {
    auto st = weak.lock();
    return st && st->generation == gen ? st : nullptr;
  }

  // Never calls on_close from inside connect()/close(): the session may be
  // in the middle of changing its state. A connect() made before the post
  // runs supersedes it (the session asked for a new connection, so the end
  // of the old one is no news).
  void post_close(std::uint64_t gen, std::uint16_t code, std::string reason) {
    std::weak_ptr<shared_state> weak = state_;
    asio::post(endpoint_.get_io_service(), [weak, gen, code, reason = std::move(reason)] {
      auto st = current(weak, gen);
      if (!st) return;
      ++st->generation;
      st->deliver_close(code, reason);
    });
  }

  void terminate_current() {
    if (!con_) return;
    auto con = std::move(con_);
    con_.reset();
    const auto s = con->get_state();
    if (s == ::websocketpp::session::state::closed) return;
    ::websocketpp::lib::error_code ec;
    if (s == ::websocketpp::session::state::open) {
      con->close(::websocketpp::close::status::going_away, "reconnecting", ec);
      if (!ec) return;
    }
    // Connecting (or closing): cut it; its handlers are already silenced.
    con->terminate(::websocketpp::lib::error_code());
  }

  endpoint_type& endpoint_;
  std::string uri_;
  std::chrono::milliseconds close_timeout_;
  std::shared_ptr<shared_state> state_;
  connection_ptr con_;
};

/// The client Transport over websocketpp's plain (ws://) Asio client.
using client_transport = basic_client_transport<::websocketpp::config::asio_client>;

}  // namespace livechat::wspp

#endif
