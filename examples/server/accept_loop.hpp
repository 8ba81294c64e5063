// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_ACCEPT_LOOP_HPP
#define LIVECHAT_EXAMPLES_SERVER_ACCEPT_LOOP_HPP

// The server's own accept loop, in place of websocketpp's. websocketpp
// re-arms accept at once after any error, so a process out of file
// descriptors (EMFILE) spins at 100 % CPU and logs one line per failed
// accept (hundreds of thousands a second) while the kernel keeps the
// pending connections queued. This loop pauses accepting on resource
// errors and retries with a doubling delay, logging once per pause; and
// it counts every accepted socket against --max-connections-per-ip before
// websocketpp reads a byte from it.
//
// It does what websocketpp's endpoint::handle_accept does on success
// (`con->start()`), with a connection from `endpoint.get_connection()`.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "http/forwarded_for.hpp"
#include "lingering_socket.hpp"

namespace livechat_server {

/// The peer's IP address as text (an IPv4-mapped IPv6 address as IPv4, so
/// one client counts once whichever way it connected); empty if unknown.
inline std::string address_text(const asio::ip::tcp::socket& s) {
  asio::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  if (ec) return std::string();
  auto address = ep.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address.to_string();
}

/// True for the accept errors that mean "out of a resource": retrying at
/// once cannot succeed and only burns CPU.
inline bool accept_resource_error(const std::error_code& ec) {
  // Asio reports socket errors as errno values.
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

template <class Endpoint>
class accept_loop {
 public:
  using connection_ptr = typename Endpoint::connection_ptr;
  using log_fn = std::function<void(const std::string&)>;

  static constexpr std::chrono::milliseconds first_backoff{50};
  static constexpr std::chrono::milliseconds max_backoff{1000};

  /// `proxies`: peers whose connections are counted against the client
  /// they forward (see settle_client_address), not at accept; it must
  /// outlive the loop.
  accept_loop(asio::io_context& io, Endpoint& endpoint, std::shared_ptr<address_counter> addresses,
              std::shared_ptr<lingering_closer> closer, const trusted_proxies& proxies, log_fn log)
      : acceptor_(io),
        timer_(io),
        endpoint_(endpoint),
        addresses_(std::move(addresses)),
        closer_(std::move(closer)),
        proxies_(proxies),
        log_(std::move(log)) {}

  /// Opens, binds and listens; false with `ec` set on failure.
  bool listen(const asio::ip::tcp::endpoint& at, asio::error_code& ec) {
    acceptor_.open(at.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(at, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      asio::error_code ignored;
      acceptor_.close(ignored);
      return false;
    }
    return true;
  }

  asio::ip::tcp::endpoint local_endpoint(asio::error_code& ec) const {
    return acceptor_.local_endpoint(ec);
  }

  void start() { accept(); }

  /// Closes the listening socket: new connects are refused
  /// (ECONNREFUSED), the pending accept and any backoff end.
  void stop() {
    asio::error_code ignored;
    stopped_ = true;
    timer_.cancel();
    acceptor_.close(ignored);
    next_.reset();
  }

  /// Accept pauses so far (each one a resource error).
  std::size_t pauses() const noexcept { return pauses_; }

 private:
  void accept() {
    if (stopped_) return;
    // A connection whose accept failed is reused: its socket was never opened.
    if (!next_) next_ = endpoint_.get_connection();
    if (!next_) {  // out of memory: same treatment as a resource error
      pause(std::make_error_code(std::errc::not_enough_memory));
      return;
    }
    acceptor_.async_accept(next_->get_raw_socket(), [this](const asio::error_code& ec) {
      if (stopped_ || ec == asio::error::operation_aborted) return;
      if (ec) {
        if (accept_resource_error(ec)) return pause(ec);
        // ECONNABORTED and the like: that one connection is gone; go on.
        return accept();
      }
      if (paused_) {
        paused_ = false;
        log_("accepting connections again");
      }
      backoff_ = first_backoff;
      connection_ptr con = std::move(next_);
      next_.reset();
      admit(con);
      accept();
    });
  }

  void pause(const std::error_code& why) {
    ++pauses_;
    if (!paused_) {
      paused_ = true;
      log_("cannot accept (" + why.message() + "); pausing, retrying with a backoff up to " +
           std::to_string(max_backoff.count()) + " ms");
    }
    timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, max_backoff);
    timer_.async_wait([this](const asio::error_code& e) {
      if (!e) accept();
    });
  }

  void admit(const connection_ptr& con) {
    auto& socket = con->get_raw_socket();
    asio::error_code ec;
    // Chat frames are small and latency matters more than packet count.
    // (websocketpp's socket-init handler runs before accept, too early.)
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    std::string address = address_text(socket);
    if (proxies_.trusts(address)) {
      // A trusted proxy holds the connections of many clients: this one
      // counts against the client its request names, once read. The
      // proxy itself is not capped (it is ours, and its own limits apply).
      con->set_lingering(closer_, address_slot(), false);
      con->set_peer_address(std::move(address), true);
      con->start();
      return;
    }
    const auto verdict = addresses_->try_acquire(address);
    if (verdict == address_counter::verdict::refused) {
      // Far past the cap: not one more byte read, the descriptor back now.
      socket.close(ec);
      return;
    }
    con->set_lingering(closer_, address_slot(addresses_, address),
                       verdict == address_counter::verdict::over_cap);
    con->set_peer_address(std::move(address), false);
    con->start();
  }

  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer timer_;
  Endpoint& endpoint_;
  std::shared_ptr<address_counter> addresses_;
  std::shared_ptr<lingering_closer> closer_;
  const trusted_proxies& proxies_;
  log_fn log_;
  connection_ptr next_;
  std::chrono::milliseconds backoff_ = first_backoff;
  bool paused_ = false;
  bool stopped_ = false;
  std::size_t pauses_ = 0;
};

/// For a connection accepted from a trusted proxy, once its request has
/// been read (the validate or HTTP handler): finds the client in
/// X-Forwarded-For and counts the connection against it, so the cap is
/// per client behind the proxy. Past the cap it is marked over_address_cap
/// (answered 429), like a direct one; its request is already read, so
/// there is nothing to gain by closing it unanswered. Other connections
/// were counted at accept: their peer is returned as it is.
template <class ConnectionPtr>
forwarded_client settle_client_address(const ConnectionPtr& con,
                                       const std::shared_ptr<address_counter>& addresses,
                                       const trusted_proxies& proxies) {
  if (!con->awaiting_client_address()) return forwarded_client{con->client_address(), false, {}};
  forwarded_client client =
      client_address(con->peer_address(), con->get_request_header("X-Forwarded-For"), proxies);
  const auto verdict = addresses->try_acquire(client.address);
  address_slot slot;
  if (verdict != address_counter::verdict::refused) slot = address_slot(addresses, client.address);
  con->count_client_address(std::move(slot), client.address, verdict != address_counter::verdict::accepted);
  return client;
}

}  // namespace livechat_server

#endif
