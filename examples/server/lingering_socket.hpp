// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LINGERING_SOCKET_HPP
#define LIVECHAT_EXAMPLES_SERVER_LINGERING_SOCKET_HPP

// How a connection's TCP socket ends, and what it counts against while it
// is open. Single-threaded, like the rest of the server.
//
// The problem: closing a socket whose receive buffer still holds unread
// data makes the kernel answer with a reset (RFC 1122 4.2.2.13), and a reset
// makes the peer's kernel throw away whatever it had received and not yet
// handed to the application, our close frame included. A client that keeps
// sending when the server closes it (a flood closed with 1008, a frame over
// 64 KiB followed by more, a slow consumer still sending) then sees 1006
// instead of the code. websocketpp ends every connection through its socket
// policy's async_shutdown (shutdown both ways, then the socket is closed
// when the connection object dies), and after a protocol error it stops
// reading altogether, so such data is always left behind.
//
// The fix is a socket policy whose async_shutdown hands the socket to a
// `lingering_closer` instead: it half-closes (FIN after the close frame or
// HTTP response already queued), reads and discards what still arrives
// until the peer's FIN, a deadline or a byte budget, and only then closes.
// A compliant client answers our close frame with its own and closes once
// it sees the FIN, so this usually takes one round trip. The number of
// sockets lingering at once is bounded (each holds a file descriptor).

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <websocketpp/transport/asio/security/none.hpp>

namespace livechat_server {

/// TCP connections per remote address, for --max-connections-per-ip:
/// every accepted socket counts (plain HTTP and handshakes still being
/// read included) from accept until its file descriptor is closed.
class address_counter {
 public:
  /// 0: unlimited (still counted, so the figure is right if it matters).
  explicit address_counter(std::size_t limit) : limit_(limit) {}

  enum class verdict {
    accepted,  ///< within the cap
    over_cap,  ///< counted, but its request is answered 429
    refused,   ///< not counted: close the socket at once
  };

  /// Connections past the cap that are still read, so that the client gets
  /// a 429 with a reason rather than a bare close; beyond these the socket
  /// is closed at once, so one address never holds more than
  /// limit + overflow() descriptors however fast it connects.
  std::size_t overflow() const noexcept { return limit_ < 16 ? limit_ : 16; }

  verdict try_acquire(const std::string& address) {
    std::size_t& n = counts_[address];
    verdict v = verdict::accepted;
    if (limit_ != 0 && n >= limit_) v = n < limit_ + overflow() ? verdict::over_cap : verdict::refused;
    if (v == verdict::refused) {
      if (n == 0) counts_.erase(address);
      return v;
    }
    ++n;
    return v;
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

  std::size_t limit() const noexcept { return limit_; }

 private:
  std::size_t limit_;
  std::unordered_map<std::string, std::size_t> counts_;
};

/// One counted connection of an address: released when destroyed, so it
/// follows the file descriptor wherever it goes (connection, then
/// lingering close). Holds the counter weakly: the counter may be gone at
/// exit, when leftover connections die with the io_context.
class address_slot {
 public:
  address_slot() = default;
  address_slot(const std::shared_ptr<address_counter>& counter, std::string address)
      : counter_(counter), address_(std::move(address)) {}
  address_slot(address_slot&& o) noexcept
      : counter_(std::move(o.counter_)), address_(std::move(o.address_)) {
    o.counter_.reset();
  }
  address_slot& operator=(address_slot&& o) noexcept {
    if (this != &o) {
      release();
      counter_ = std::move(o.counter_);
      address_ = std::move(o.address_);
      o.counter_.reset();
    }
    return *this;
  }
  address_slot(const address_slot&) = delete;
  address_slot& operator=(const address_slot&) = delete;
  ~address_slot() { release(); }

  void release() noexcept {
    if (auto c = counter_.lock()) c->release(address_);
    counter_.reset();
  }

 private:
  std::weak_ptr<address_counter> counter_;
  std::string address_;
};

/// Sockets whose connection has ended, each read and discarded until the
/// peer's FIN, `deadline` or `byte_budget`, then closed.
class lingering_closer {
 public:
  struct limits {
    std::chrono::milliseconds deadline{2000};
    std::size_t byte_budget = 1024 * 1024;
    std::size_t max_sockets = 1024;  ///< beyond: closed at once, as before
  };

  explicit lingering_closer(limits l) : limits_(l) {}

  /// Takes over `socket` (its pending operations already cancelled).
  void adopt(asio::ip::tcp::socket&& socket, address_slot slot) {
    asio::error_code ec;
    if (!socket.is_open()) return;
    if (active_ >= limits_.max_sockets) {
      ++closed_at_once_;
      socket.close(ec);
      return;
    }
    // FIN after whatever is queued (the close frame, an HTTP response); the
    // read side stays open, so nothing that arrives is answered with a reset.
    socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    if (ec) {  // not connected any more (the peer reset): nothing to wait for
      socket.close(ec);
      return;
    }
    auto l = std::make_shared<lingering>(std::move(socket), std::move(slot));
    ++active_;
    l->timer.expires_after(limits_.deadline);
    l->timer.async_wait([this, l](const asio::error_code& e) {
      if (!e) finish(*l);
    });
    read(l);
  }

  /// Sockets lingering now.
  std::size_t size() const noexcept { return active_; }
  /// Sockets closed without lingering because max_sockets were lingering.
  std::size_t closed_at_once() const noexcept { return closed_at_once_; }

  /// Called each time the last lingering socket is closed (shutdown waits
  /// for it).
  void set_drained_handler(std::function<void()> h) { drained_ = std::move(h); }

 private:
  struct lingering {
    lingering(asio::ip::tcp::socket&& s, address_slot sl) : socket(std::move(s)), timer(socket.get_executor()), slot(std::move(sl)) {}
    asio::ip::tcp::socket socket;
    asio::steady_timer timer;
    address_slot slot;
    std::size_t discarded = 0;
    bool done = false;
  };

  void read(const std::shared_ptr<lingering>& l) {
    // One discard buffer for every socket: the data is never looked at, and
    // every read completes on the one thread.
    l->socket.async_read_some(asio::buffer(discard_), [this, l](const asio::error_code& e, std::size_t n) {
      if (l->done) return;
      l->discarded += n;
      // EOF: the peer closed too (the usual end); any other error: it is gone.
      if (e || l->discarded > limits_.byte_budget) return finish(*l);
      read(l);
    });
  }

  void finish(lingering& l) {
    if (l.done) return;
    l.done = true;
    asio::error_code ec;
    l.timer.cancel();
    l.socket.close(ec);  // cancels the read; its handler sees `done`
    l.slot.release();
    if (--active_ == 0 && drained_) drained_();
  }

  limits limits_;
  std::size_t active_ = 0;
  std::size_t closed_at_once_ = 0;
  std::function<void()> drained_;
  std::array<char, 64 * 1024> discard_{};
};

/// websocketpp's plain-socket policy, except for how the socket ends (see
/// the top of this file). A connection is given its lingering closer and
/// its address slot when accepted (accept_loop); without a closer it ends
/// as websocketpp's own policy does.
class lingering_socket_connection : public websocketpp::transport::asio::basic_socket::connection {
 public:
  using type = lingering_socket_connection;
  using ptr = std::shared_ptr<type>;

  void set_lingering(std::shared_ptr<lingering_closer> closer, address_slot slot, bool over_address_cap) {
    closer_ = std::move(closer);
    slot_ = std::move(slot);
    over_address_cap_ = over_address_cap;
  }

  /// Accepted beyond --max-connections-per-ip: its request gets 429.
  bool over_address_cap() const noexcept { return over_address_cap_; }

  /// The TCP peer's address (accept_loop's address_text).
  const std::string& peer_address() const noexcept { return peer_address_; }
  /// The address this connection counts against and is logged as: the
  /// peer's, or the client a trusted proxy named.
  const std::string& client_address() const noexcept { return client_address_; }
  /// Accepted from a trusted proxy and not counted yet: the client is
  /// known once the request's X-Forwarded-For is read.
  bool awaiting_client_address() const noexcept { return awaiting_client_address_; }

  void set_peer_address(std::string peer, bool awaiting_client) {
    peer_address_ = std::move(peer);
    client_address_ = peer_address_;
    awaiting_client_address_ = awaiting_client;
  }
  /// Counts a connection that was awaiting its client address against
  /// `client` (`slot` is empty when even the overflow is used up).
  void count_client_address(address_slot slot, std::string client, bool over_address_cap) {
    slot_ = std::move(slot);
    client_address_ = std::move(client);
    over_address_cap_ = over_address_cap;
    awaiting_client_address_ = false;
  }

  // The transport calls these through its socket policy type, so they hide
  // the base class's versions.

  void async_shutdown(websocketpp::transport::asio::socket::shutdown_handler h) {
    asio::error_code ec;
    auto& s = get_socket();
    if (auto closer = closer_.lock(); closer && s.is_open()) {
      // websocketpp still has a read outstanding (and, for a slow consumer
      // whose close handshake timed out, maybe a write). Cancelled, they
      // complete as end-of-file (translate_ec), which websocketpp takes
      // quietly on a closed connection; then the socket moves to the closer.
      s.cancel(ec);
      closer->adopt(std::move(s), std::move(slot_));
    } else {
      s.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
      slot_.release();
    }
    h(std::error_code());
  }

  static std::error_code translate_ec(const std::error_code& ec) {
    // bad_descriptor: websocketpp may issue one more read after ending the
    // connection from inside its read loop (the socket has moved by then).
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
      return websocketpp::transport::error::make_error_code(websocketpp::transport::error::eof);
    return ec;
  }

 private:
  std::weak_ptr<lingering_closer> closer_;
  address_slot slot_;
  bool over_address_cap_ = false;
  std::string peer_address_;
  std::string client_address_;
  bool awaiting_client_address_ = false;
};

struct lingering_socket_endpoint : websocketpp::transport::asio::basic_socket::endpoint {
  using type = lingering_socket_endpoint;
  using socket_con_type = lingering_socket_connection;
  using socket_con_ptr = socket_con_type::ptr;
};

}  // namespace livechat_server

#endif
