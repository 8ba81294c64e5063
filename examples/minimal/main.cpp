// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The smallest embedding of livechat::server::hub: one connection whose
// socket is stdin/stdout, one JSON frame per line (Asio's chat example
// without the network). Any byte stream works the same way: write the
// Transport (three calls), then tell the hub what happened on the socket.
//
//   printf '%s\n' '{"type":"auth","payload":{"token":"alice"}}'
//     '{"type":"join_room","payload":{"room":"conversation:U1"}}'
//     '{"type":"send_message","payload":{"room":"conversation:U1","text":"hi"}}' | livechat-minimal
//   (one command line)

#include <cstddef>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>

#include <livechat/auth/dev_authenticator.hpp>
#include <livechat/clock.hpp>
#include <livechat/server/hub.hpp>
#include <livechat/store/memory_store.hpp>

/// How the hub writes to a connection (docs/concepts.md, "Transport").
struct stdio_transport {
  using connection_id = int;
  bool closed = false;

  void send(const int&, const livechat::server::payload_ptr& frame) { std::cout << *frame << '\n'; }
  void close(const int&, std::uint16_t code, std::string_view reason) {
    std::cout << "close " << code << ' ' << reason << '\n';
    closed = true;
  }
  // Frames written and not yet read by the peer: the hub closes slow readers.
  std::size_t buffered_amount(const int&) const { return 0; }
};

int main() {
  stdio_transport transport;
  livechat::default_clock clock;
  livechat::memory_store store;        // history in memory
  livechat::dev_authenticator auth;    // the token is the user id
  livechat::server::hub<stdio_transport> hub(transport, clock, store, auth);

  hub.on_open(1);                      // the socket opened
  for (std::string line; !transport.closed && std::getline(std::cin, line);) {
    hub.on_message(1, line);           // a frame arrived
    hub.tick(clock.now());             // timers: auth deadline, idle, typing
  }
  hub.on_close(1);                     // the socket is gone
}
