// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// server_transport's unsent bytes, in process, on 127.0.0.1: a websocketpp
// endpoint with the library's server_config (counting_endpoint) and one with
// websocketpp's plain Asio transport (the per-recipient control block), each
// sending to a raw socket that does not read. No byte handed to the
// transport goes uncounted: it is still in the transport (buffered_amount,
// payload bytes, the batch being written included until all of it is
// written), in the server socket's send queue (SIOCOUTQ), in the client
// socket's receive queue (FIONREAD), or read by the client.
#include <livechat/websocketpp/server_transport.hpp>

#include <websocketpp/concurrency/none.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace livechat_itest_counting_transport {

/// websocketpp's Asio config with connection_data but the plain transport:
/// server_transport counts with a control block per frame.
struct plain_config : ::websocketpp::config::asio {
  using type = plain_config;
  using connection_base = livechat::wspp::connection_data;
};

/// The library's server_config made single-threaded, as the bundled server
/// runs it: no locks, no strands, so counting_connection queues its
/// dispatches on the io_context's dispatch_batch.
struct single_thread_config : livechat::wspp::server_config {
  using type = single_thread_config;
  using concurrency_type = ::websocketpp::concurrency::none;
  struct transport_config : ::websocketpp::config::asio::transport_config {
    using concurrency_type = type::concurrency_type;
    static const bool enable_multithreading = false;
  };
  using transport_type = livechat::wspp::counting_endpoint<transport_config>;
};

/// A TCP client that does the opening handshake by hand and then reads
/// only when told to. Its receive buffer is small, so the server's writes
/// stall quickly.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    const std::string req =
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    REQUIRE(::send(fd_, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  ~raw_client() {
    if (fd_ >= 0) ::close(fd_);
  }

  /// Reads the handshake response (up to the blank line), non-blocking;
  /// true once it is complete.
  bool read_handshake() {
    while (handshake_.find("\r\n\r\n") == std::string::npos) {
      char c;
      const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT);
      if (n <= 0) return false;
      handshake_.push_back(c);
    }
    return true;
  }
  bool upgraded() const { return handshake_.rfind("HTTP/1.1 101", 0) == 0; }

  /// Reads what is there (non-blocking); the frame bytes read so far.
  std::size_t read_available() {
    char buf[65536];
    for (int i = 0; i < 1000; ++i) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      read_ += static_cast<std::size_t>(n);
    }
    return read_;
  }
  std::size_t queued_here() const {
    int n = 0;
    REQUIRE(::ioctl(fd_, FIONREAD, &n) == 0);
    return static_cast<std::size_t>(n);
  }
  std::size_t read() const { return read_; }

 private:
  int fd_ = -1;
  std::string handshake_;
  std::size_t read_ = 0;
};

template <class Config>
struct fixture {
  using transport_type = livechat::wspp::server_transport<Config>;
  asio::io_context io;
  typename transport_type::endpoint_type endpoint;
  transport_type transport{endpoint};
  std::optional<typename transport_type::connection_id> id;
  typename transport_type::connection_ptr con;
  std::uint16_t port = 0;

  fixture() {
    endpoint.clear_access_channels(::websocketpp::log::alevel::all);
    endpoint.clear_error_channels(::websocketpp::log::elevel::all);
    endpoint.init_asio(&io);
    endpoint.set_open_handler([this](::websocketpp::connection_hdl hdl) {
      con = endpoint.get_con_from_hdl(hdl);
      id = transport.add(con);
      // Without a fixed send buffer, loopback autotuning could take all of it.
      int small = 4096;
      ::setsockopt(con->get_raw_socket().native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    });
    endpoint.listen(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    asio::error_code ec;
    port = endpoint.get_local_endpoint(ec).port();
    REQUIRE_FALSE(ec);
    endpoint.start_accept();
  }
  ~fixture() {
    asio::error_code ec;
    endpoint.stop_listening(ec);
    if (con) con->terminate(::websocketpp::lib::error_code());
    io.poll();
  }

  /// Runs the loop until `client`'s opening handshake is done (10 s at
  /// most) and checks that it upgraded.
  void open(raw_client& client) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!(id && client.read_handshake()) && std::chrono::steady_clock::now() < deadline) spin(1);
    REQUIRE(id);
    REQUIRE(client.upgraded());
  }

  /// Runs ready handlers, then once more for each `rounds` (bounded).
  void spin(int rounds = 50) {
    for (int i = 0; i < rounds; ++i) {
      io.poll();
      io.restart();
    }
  }

  std::size_t server_socket_queue() {
    int n = 0;
    REQUIRE(::ioctl(con->get_raw_socket().native_handle(), SIOCOUTQ, &n) == 0);
    return static_cast<std::size_t>(n);
  }
};

template <class Config>
void check_every_byte_accounted() {
  fixture<Config> f;
  raw_client client(f.port);
  f.open(client);
  REQUIRE(f.transport.buffered_amount(*f.id) == 0);

  // 200 frames of 1,000 bytes (and a 4-byte header): far more than the two
  // socket buffers hold, so most of it stays in the transport.
  const std::size_t frame_bytes = 1000;
  std::size_t handed = 0;
  for (int i = 0; i < 200; ++i) {
    auto payload = std::make_shared<const std::string>(1000, static_cast<char>('a' + i % 26));
    const std::size_t before = f.transport.buffered_amount(*f.id);
    f.transport.send(*f.id, payload);
    handed += frame_bytes;
    // Counted from the moment it is queued.
    REQUIRE(f.transport.buffered_amount(*f.id) == before + frame_bytes);
    if (i % 20 == 0) f.spin(2);  // lets writes start in between: batches in flight
  }
  f.spin();
  const std::size_t stalled = f.transport.buffered_amount(*f.id);
  CHECK(stalled > 0);
  CHECK(stalled < handed);
  // The kernel's and the client's bytes include the headers: at least every
  // payload byte is somewhere. (Without the batch in flight, a whole batch
  // of frames would be missing.)
  auto everywhere = [&] {
    return f.transport.buffered_amount(*f.id) + f.server_socket_queue() + client.queued_here() +
           client.read();
  };
  CHECK(everywhere() >= handed);
  if constexpr (livechat::wspp::detail::counts_in_flight<typename decltype(f.con)::element_type>::value)
    CHECK(f.con->in_flight_bytes() > 0);  // a batch waits for the socket

  // Read part of it: the writes resume, and the count still holds.
  client.read_available();
  f.spin();
  CHECK(everywhere() >= handed);

  // Read everything: nothing is left anywhere.
  for (int i = 0; i < 2000 && client.read() < handed + 200 * 4; ++i) {
    client.read_available();
    f.spin(1);
    ::poll(nullptr, 0, 1);
  }
  CHECK(client.read() == handed + 200 * 4);  // payloads and headers
  CHECK(f.transport.buffered_amount(*f.id) == 0);
}

TEST_CASE("server_transport counts every unsent byte with the counting transport",
          "[integration][transport][backpressure]") {
  STATIC_REQUIRE(livechat::wspp::detail::counts_in_flight<
                 ::websocketpp::server<livechat::wspp::server_config>::connection_type>::value);
  check_every_byte_accounted<livechat::wspp::server_config>();
}

TEST_CASE("server_transport counts every unsent byte with websocketpp's plain transport",
          "[integration][transport][backpressure]") {
  STATIC_REQUIRE_FALSE(livechat::wspp::detail::counts_in_flight<
                       ::websocketpp::server<plain_config>::connection_type>::value);
  check_every_byte_accounted<plain_config>();
}

TEST_CASE("server_transport counts every unsent byte with the single-threaded counting transport",
          "[integration][transport][backpressure]") {
  check_every_byte_accounted<single_thread_config>();
}

TEST_CASE("single-threaded counting transport: sends to idle connections are one posted burst",
          "[integration][transport]") {
  fixture<single_thread_config> f;
  raw_client client(f.port);
  f.open(client);
  f.spin();
  auto& batch = asio::use_service<livechat::wspp::detail::dispatch_batch>(f.io);
  REQUIRE(batch.pending() == 0);
  auto payload = std::make_shared<const std::string>(10, 'x');
  f.transport.send(*f.id, payload);
  CHECK(batch.pending() == 1);  // write_frame, queued on the batch instead of posted
  f.transport.send(*f.id, payload);
  // websocketpp dispatches write_frame for each send until a write starts
  // (the second finds the first's write under way and returns).
  CHECK(batch.pending() == 2);
  f.spin();
  CHECK(batch.pending() == 0);
  for (int i = 0; i < 2000 && client.read() < 2 * 12; ++i) {
    client.read_available();
    f.spin(1);
    ::poll(nullptr, 0, 1);
  }
  CHECK(client.read() == 2 * 12);  // both frames (2-byte header, 10-byte payload)
  CHECK(f.transport.buffered_amount(*f.id) == 0);
}

}  // namespace livechat_itest_counting_transport
