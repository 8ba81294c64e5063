// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// livechat-raw-broadcast: the baseline livechat-server is measured against,
// the limit of its transport stack. The same websocketpp 0.8.2 + standalone
// Asio on one thread, websocketpp's default Asio config (with
// --read-buffer-2k, the server's 2 KiB read buffer per connection), and a
// protocol reduced to what a fan-out needs:
//
//   {"type":"auth",...}          → {"type":"auth_success"}
//   {"type":"join_room","payload":{"room":"R"}}
//                                → joins R (leaving any other room), answers
//                                  {"type":"conversation_update","payload":{"room":"R"}}
//   {"type":"send_message",...}  → the received frame, unchanged, to every
//                                  connection in the sender's room, the sender
//                                  included (its echo is its acknowledgement);
//                                  the frame is built once and shared
//   anything else                → {"type":"error","payload":{"code":"unknown_type"}}
//
// No JSON parsing, no validation, no store, no ids, no backpressure: what is
// left is websocketpp's own cost per connection and per frame, which
// livechat-server pays too. livechat-load drives both with the same frames.
//
// Prints "livechat-raw-broadcast listening on http://HOST:PORT" once
// listening; SIGINT/SIGTERM stop it at once.

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/server.hpp>

#include <CLI/CLI.hpp>

#include "common/command_line.hpp"

namespace {

/// What each connection carries (websocketpp makes it a base of the
/// connection): its room, so a message needs no lookup to find the sender's.
struct member_data {
  std::string room;
};

struct raw_config : websocketpp::config::asio {
  using type = raw_config;
  using connection_base = member_data;
  static const std::size_t max_message_size = 64 * 1024;  // as livechat-server
};

/// --read-buffer-2k: websocketpp's read buffer per connection at 2 KiB
/// (its default is 16 KiB), as livechat-server's config has it, so the
/// memory per connection compares like for like.
struct raw_config_2k : raw_config {
  using type = raw_config_2k;
  static const std::size_t connection_read_buffer_size = 2048;
};

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  bool read_buffer_2k = false;
};

livechat_examples::parse_result<options> parse_options(int argc, const char* const* argv) {
  livechat_examples::parse_result<options> r;
  CLI::App app{"", "livechat-raw-broadcast"};
  const char* group = "options";
  livechat_examples::add_value(app, "--host", "HOST", "address to listen on (default 127.0.0.1)",
                               [&r](const std::string& v) { r.opts.host = v; })
      ->group(group);
  livechat_examples::add_value(
      app, "--port", "PORT", "TCP port, 0 picks a free one (default 0)",
      [&r](const std::string& v) {
        const auto p = livechat_examples::parse_digits(v, 5, 65535);
        if (!p) livechat_examples::bad_value("--port must be a number from 0 to 65535, got '" + v + "'");
        r.opts.port = static_cast<std::uint16_t>(*p);
      })
      ->group(group);
  livechat_examples::add_switch(app, "--read-buffer-2k",
                                "2 KiB read buffer per connection, as livechat-server (default: 16 KiB)",
                                [&r]() { r.opts.read_buffer_2k = true; })
      ->group(group);
  livechat_examples::add_help_and_version(app, "usage: livechat-raw-broadcast [options]", 20,
                                          "livechat-raw-broadcast 1", group);
  app.description(
      "The baseline for livechat-load: websocketpp broadcasting each send_message\n"
      "frame, built once, to the sender's room (see bench/README.md).");
  livechat_examples::parse(app, argc, argv, r);
  return r;
}

template <class Config>
class broadcaster {
 public:
  using server = websocketpp::server<Config>;
  using connection_ptr = typename server::connection_ptr;
  using message_ptr = typename server::message_ptr;

  explicit broadcaster(server& endpoint)
      : endpoint_(endpoint), messages_(std::make_shared<typename Config::con_msg_manager_type>()) {}

  void on_message(const websocketpp::connection_hdl& hdl, const message_ptr& msg) {
    websocketpp::lib::error_code ec;
    const connection_ptr con = endpoint_.get_con_from_hdl(hdl, ec);
    if (ec || !con) return;
    const std::string& payload = msg->get_payload();
    const std::string_view p(payload);
    if (starts_with(p, R"({"type":"send_message")")) return broadcast(*con, payload);
    if (starts_with(p, R"({"type":"join_room")")) return join(con, p);
    if (starts_with(p, R"({"type":"auth")")) return reply(*con, R"({"type":"auth_success"})");
    reply(*con, R"({"type":"error","payload":{"code":"unknown_type"}})");
  }

  void on_close(const websocketpp::connection_hdl& hdl) {
    websocketpp::lib::error_code ec;
    const connection_ptr con = endpoint_.get_con_from_hdl(hdl, ec);
    if (!ec && con) leave(con);
  }

 private:
  static bool starts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.substr(0, prefix.size()) == prefix;
  }

  static void reply(typename server::connection_type& con, const std::string& text) {
    websocketpp::lib::error_code ignored = con.send(text, websocketpp::frame::opcode::text);
    (void)ignored;  // the connection is closing: nothing to do
  }

  void join(const connection_ptr& con, std::string_view p) {
    constexpr std::string_view key = R"("room":")";
    const auto at = p.find(key);
    const auto from = at == std::string_view::npos ? at : at + key.size();
    const auto to = from == std::string_view::npos ? from : p.find('"', from);
    if (to == std::string_view::npos || to == from || to - from > 256)
      return reply(*con, R"({"type":"error","payload":{"code":"validation_error","field":"room"}})");
    const std::string_view room = p.substr(from, to - from);
    for (char c : room)  // PROTOCOL.md's room characters: nothing to escape in the reply
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
            c == '.' || c == '@' || c == ':' || c == '-'))
        return reply(*con, R"({"type":"error","payload":{"code":"validation_error","field":"room"}})");
    leave(con);
    con->room.assign(room);
    rooms_[con->room].push_back(con);
    reply(*con, R"({"type":"conversation_update","payload":{"room":")" + con->room + "\"}}");
  }

  void leave(const connection_ptr& con) {
    if (con->room.empty()) return;
    const auto it = rooms_.find(con->room);
    if (it != rooms_.end()) {
      auto& members = it->second;
      for (std::size_t i = 0; i < members.size(); ++i)
        if (members[i] == con) {
          members[i] = members.back();
          members.pop_back();
          break;
        }
      if (members.empty()) rooms_.erase(it);
    }
    con->room.clear();
  }

  // The frame is built once (header + payload), marked prepared, and the
  // same message goes into every member's send queue, as livechat-server's
  // transport does (livechat/websocketpp/server_transport.hpp). websocketpp
  // has validated the text frame's UTF-8 on the way in.
  void broadcast(const typename server::connection_type& sender, const std::string& payload) {
    if (sender.room.empty()) return;
    const auto it = rooms_.find(sender.room);
    if (it == rooms_.end()) return;
    message_ptr frame = messages_->get_message(websocketpp::frame::opcode::text, 0);
    websocketpp::frame::basic_header h(websocketpp::frame::opcode::text, payload.size(), true, false);
    frame->set_header(
        websocketpp::frame::prepare_header(h, websocketpp::frame::extended_header(payload.size())));
    frame->set_payload(payload);
    frame->set_prepared(true);
    for (const connection_ptr& member : it->second) {
      websocketpp::lib::error_code ignored = member->send(frame);
      (void)ignored;  // closing: its close handler removes it
    }
  }

  server& endpoint_;
  std::shared_ptr<typename Config::con_msg_manager_type> messages_;
  std::unordered_map<std::string, std::vector<connection_ptr>> rooms_;
};

}  // namespace

template <class Config>
int run(const options& opts) {
  using server = websocketpp::server<Config>;
  using connection_ptr = typename server::connection_ptr;
  using message_ptr = typename server::message_ptr;
  try {
    asio::io_context io;
    server endpoint;
    broadcaster<Config> rooms(endpoint);
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);
    endpoint.init_asio(&io);
    endpoint.set_reuse_addr(true);
    endpoint.set_max_message_size(64 * 1024);
    // TCP_NODELAY, as livechat-server's accept loop sets it: without it
    // Nagle holds a small frame back until the previous one is
    // acknowledged, and the client's delayed ACK makes that a 40 ms stall.
    // (websocketpp 0.8.2 calls its socket init handler before the socket
    // is open; the pre-init handler runs once it is accepted.)
    endpoint.set_tcp_pre_init_handler([&endpoint](websocketpp::connection_hdl hdl) {
      websocketpp::lib::error_code ec;
      const connection_ptr con = endpoint.get_con_from_hdl(hdl, ec);
      if (ec || !con) return;
      asio::error_code ignored;
      con->get_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    });
    endpoint.set_message_handler([&rooms](websocketpp::connection_hdl hdl, message_ptr msg) {
      try {
        rooms.on_message(hdl, msg);
      } catch (const std::exception& e) {
        std::cerr << "livechat-raw-broadcast: message: " << e.what() << '\n';
      }
    });
    auto gone = [&rooms](websocketpp::connection_hdl hdl) {
      try {
        rooms.on_close(hdl);
      } catch (const std::exception& e) {
        std::cerr << "livechat-raw-broadcast: close: " << e.what() << '\n';
      }
    };
    endpoint.set_close_handler(gone);
    endpoint.set_fail_handler(gone);

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](const asio::error_code&, int) { io.stop(); });

    const asio::ip::tcp::endpoint at(asio::ip::make_address(opts.host), opts.port);
    endpoint.listen(at);
    endpoint.start_accept();
    asio::error_code ec;
    const auto bound = endpoint.get_local_endpoint(ec);
    const bool v6 = opts.host.find(':') != std::string::npos;
    std::cout << "livechat-raw-broadcast listening on http://" << (v6 ? "[" : "") << opts.host
              << (v6 ? "]" : "") << ':' << (ec ? opts.port : bound.port()) << std::endl;
    io.run();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "livechat-raw-broadcast: " << e.what() << '\n';
    return 1;
  }
}

int main(int argc, char** argv) {
  const auto parsed = parse_options(argc, argv);
  if (parsed.exit_code) {
    (*parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << std::flush;
    return *parsed.exit_code;
  }
  return parsed.opts.read_buffer_2k ? run<raw_config_2k>(parsed.opts) : run<raw_config>(parsed.opts);
}
