// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// livechat-client: livechat::client::session behind a websocketpp client on
// one Asio thread. The session does the protocol work (auth, rejoin with
// since_seq, the offline queue, exactly-once delivery, backoff); this file
// turns its callbacks into lines on stdout and its outcome into an exit code.

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <livechat/client/message_label.hpp>
#include <livechat/client/session.hpp>
#include <livechat/clock.hpp>
#include <livechat/websocketpp/client_transport.hpp>
#include <livechat/websocketpp/periodic_timer.hpp>

#include "options.hpp"

namespace {

using namespace std::chrono_literals;
namespace lc = livechat::client;
using livechat_client::command;
namespace exit_code = livechat_client::exit_code;

using session_type = lc::session<livechat::wspp::client_transport>;

constexpr auto tick_interval = 100ms;
constexpr auto close_grace = 1500ms;        // how long exiting waits for the close handshake
constexpr std::size_t max_buffered_lines = 1000;  // chat: stdin lines read ahead of the queue

/// TEXT with backslash, TAB, CR and LF escaped, so one message is one line.
std::string escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

/// One line to stdout, flushed: a script reading the pipe sees it at once.
void emit(const std::string& line) {
  std::string l = line;
  l += '\n';
  std::fwrite(l.data(), 1, l.size(), stdout);
  std::fflush(stdout);
}

std::string message_line(const livechat::message& m) {
  return std::to_string(m.seq) + '\t' + std::string(livechat::to_string(m.sender.type)) + ':' + m.sender.id +
         '\t' + escaped(livechat::client::message_label(m));
}

class app {
 public:
  explicit app(livechat_client::options o)
      : opts_(std::move(o)),
        transport_(endpoint_, opts_.url),
        session_(transport_, make_settings(opts_)),
        ticker_(io_, tick_interval, [this] { on_tick(); }),
        signals_(io_, SIGINT, SIGTERM),
        stdin_(io_) {
    livechat::wspp::init_client_endpoint(endpoint_, io_);
    // The transport's events go to the session; the closes are also watched
    // here, to say why a connection ended and to finish an exit.
    transport_.set_handlers({[this] { session_.on_open(); },
                             [this](std::string_view f) { session_.on_message(f); },
                             [this](std::uint16_t code, std::string_view reason) {
                               last_close_ = std::to_string(code) + (reason.empty() ? "" : " " + std::string(reason));
                               session_.on_close(code, reason);
                               if (finishing_) io_.stop();
                             }});
    wire_callbacks();
  }

  int run() {
    deadline_ = std::chrono::steady_clock::now() + opts_.timeout;
    signals_.async_wait([this](const asio::error_code& ec, int) {
      if (ec) return;
      on_signal();
    });
    session_.join(opts_.room);
    if (opts_.cmd == command::send) {
      my_id_ = session_.send(opts_.room, opts_.text);
      if (my_id_.empty()) return exit_code::failure;  // refused locally (reported on stderr)
    }
    if (opts_.cmd == command::chat) start_stdin();
    session_.start();
    // A handler that throws past its guard unwinds out of run(); report it
    // and keep going: losing the queue would lose messages.
    for (int i = 0; i < 1000; ++i) {
      try {
        io_.run();
        break;
      } catch (const std::exception& e) {
        error(std::string("event loop: ") + e.what());
      }
    }
    restore_stdin_flags();
    return result_.value_or(exit_code::failure);
  }

 private:
  static lc::session_settings make_settings(const livechat_client::options& o) {
    lc::session_settings s;
    s.token = o.token;
    s.send_per_second = static_cast<double>(o.rate);
    s.send_burst = static_cast<double>(o.burst);
    // The server answers a resent client_msg_id with the original message,
    // so resending after each of several restarts is safe; --timeout bounds it.
    s.queue.max_retries = 100;
    return s;
  }

  void status(const std::string& what) const {
    if (!opts_.quiet) std::cerr << "livechat-client: " << what << std::endl;
  }
  static void error(const std::string& what) { std::cerr << "livechat-client: " << what << std::endl; }

  void wire_callbacks() {
    session_.set_on_state_change([this](lc::state from, lc::state to) {
      (void)from;
      switch (to) {
        case lc::state::connecting: status("connecting to " + opts_.url); break;
        case lc::state::authenticating: status("connected, authenticating"); break;
        case lc::state::connected: break;  // on_auth says who we are
        case lc::state::reconnecting: {
          std::string why = last_close_.empty() ? "" : " (" + last_close_ + ")";
          std::string when;
          if (auto at = session_.next_attempt_at()) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                *at - std::chrono::steady_clock::now());
            when = "; reconnecting in " + std::to_string(ms.count() < 0 ? 0 : ms.count()) + " ms";
          }
          status("disconnected" + why + when);
          break;
        }
        case lc::state::disconnected:
          if (!finishing_) status("disconnected");
          break;
      }
    });
    session_.set_on_auth([this](const livechat::server_events::auth_success& a) {
      status("authenticated as " + a.identity.user_id + " (" + std::string(livechat::to_string(a.identity.role)) + ")");
    });
    session_.set_on_message([this](const livechat::message& m) {
      if (opts_.cmd == command::send || m.room != opts_.room) return;
      emit(message_line(m));
    });
    session_.set_on_history_reset([this](const std::string& room) {
      // The server lost this room's history (a new epoch): seq starts over.
      if (opts_.cmd == command::chat) emit("history_reset " + room);
      else if (opts_.cmd == command::tail) error("the server's history of " + room + " was reset; seq starts over");
    });
    session_.set_on_message_sent([this](const std::string& id, const livechat::message& m, bool) {
      if (opts_.cmd == command::tail) return;
      emit("ack " + id + " " + std::to_string(m.seq));
      if (opts_.cmd == command::send && id == my_id_) finish(exit_code::ok);
      if (opts_.cmd == command::chat) {
        feed_session();
        check_chat_done();
      }
    });
    session_.set_on_dropped([this](const lc::queued_message& m, lc::drop_reason why) {
      if (opts_.cmd == command::chat) {
        ++dropped_;
        emit("dropped " + m.client_msg_id + " " + lc::to_string(why));
        feed_session();
        check_chat_done();
      } else if (opts_.cmd == command::send && m.client_msg_id == my_id_) {
        error(std::string("the message was dropped: ") + lc::to_string(why));
        finish(exit_code::failure);
      }
    });
    session_.set_on_error([this](const lc::session_error& e) {
      std::string line = std::string("error: ") + lc::to_string(e.kind) + ": " + e.message;
      if (e.kind == lc::error_kind::server) {
        line += " (" + std::string(livechat::wire_code(e.code));
        if (e.field) line += ", field " + *e.field;
        line += ")";
      }
      error(line);
      if (e.kind == lc::error_kind::auth_failed) finish(exit_code::auth_failed);
      if (e.kind == lc::error_kind::reconnect_exhausted) finish(exit_code::failure);
    });
    if (opts_.cmd != command::chat) return;
    const std::string& room = opts_.room;
    session_.set_on_typing([room](const livechat::server_events::typing& t) {
      if (t.room == room) emit("typing " + t.room + " " + t.user_id + (t.is_typing ? " on" : " off"));
    });
    session_.set_on_operator_joined([room](const livechat::server_events::operator_joined& e) {
      if (e.room == room) emit("joined " + e.room + " " + e.user_id);
    });
    session_.set_on_operator_left([room](const livechat::server_events::operator_left& e) {
      if (e.room == room) emit("left " + e.room + " " + e.user_id);
    });
    session_.set_on_session([room](const std::string& r, const livechat::session_state& s) {
      if (r != room) return;
      std::string line = "session " + r + " " + std::string(livechat::to_string(s.status));
      if (s.claimed_by) line += " " + s.claimed_by->user_id;
      emit(line);
    });
    session_.set_on_read_receipt([room](const livechat::server_events::read_receipt& e) {
      if (e.room == room) emit("read " + e.room + " " + e.user_id + " " + std::to_string(e.seq));
    });
  }

  void on_tick() {
    session_.tick(std::chrono::steady_clock::now());
    if (finishing_) return;
    const auto now = std::chrono::steady_clock::now();
    if (opts_.cmd == command::send && now >= deadline_) {
      error("no acknowledgement within " + std::to_string(opts_.timeout.count()) + " ms; giving up");
      finish(exit_code::timeout);
    } else if (opts_.cmd == command::chat) {
      feed_session();
      check_chat_done();
      if (!finishing_ && stdin_eof_ && now >= deadline_) {
        error(std::to_string(session_.queue().size() + lines_.size()) +
              " message(s) not acknowledged within " + std::to_string(opts_.timeout.count()) +
              " ms after the end of the input; giving up");
        finish(exit_code::timeout);
      }
    }
  }

  void on_signal() {
    if (finishing_) {  // a second signal: out now
      io_.stop();
      return;
    }
    int code = exit_code::ok;
    if (opts_.cmd == command::send) code = exit_code::failure;  // not acknowledged (else we had exited)
    if (opts_.cmd == command::chat && (!session_.queue().empty() || !lines_.empty())) code = exit_code::failure;
    finish(code);
  }

  /// Stops the session and leaves the event loop once the connection is
  /// closed (bounded by close_grace).
  void finish(int code) {
    if (finishing_) return;
    finishing_ = true;
    result_ = code;
    ticker_.cancel();
    signals_.cancel();
    asio::error_code ignored;
    stdin_.close(ignored);
    const bool was_open = transport_.is_open();
    session_.stop();
    if (!was_open) {
      asio::post(io_, [this] { io_.stop(); });
      return;
    }
    grace_ = std::make_unique<asio::steady_timer>(io_, close_grace);
    grace_->async_wait([this](const asio::error_code& ec) {
      if (!ec) io_.stop();
    });
  }

  // --- chat: stdin lines become messages --------------------------------------

  void start_stdin() {
    stdin_flags_ = ::fcntl(STDIN_FILENO, F_GETFL);
    const int fd = ::dup(STDIN_FILENO);
    asio::error_code ec;
    if (fd >= 0) stdin_.assign(fd, ec);
    if (fd < 0 || ec) {
      error("cannot read stdin: " + (fd < 0 ? std::string(std::strerror(errno)) : ec.message()));
      if (fd >= 0) ::close(fd);
      stdin_eof_ = true;
      return;
    }
    read_stdin();
  }

  // asio makes the descriptor non-blocking, which is a flag of the open file
  // shared with the shell's terminal: put it back on the way out.
  void restore_stdin_flags() const {
    if (stdin_flags_ >= 0) ::fcntl(STDIN_FILENO, F_SETFL, stdin_flags_);
  }

  void read_stdin() {
    if (reading_ || stdin_eof_ || finishing_ || lines_.size() >= max_buffered_lines) return;
    reading_ = true;
    stdin_.async_read_some(asio::buffer(read_buf_), [this](const asio::error_code& ec, std::size_t n) {
      reading_ = false;
      if (finishing_) return;
      partial_.append(read_buf_.data(), n);
      std::size_t start = 0;
      for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1)
        take_line(partial_.substr(start, nl - start));
      partial_.erase(0, start);
      if (ec) {  // EOF (or an error, which ends the input the same way)
        if (ec != asio::error::eof) error("reading stdin: " + ec.message());
        if (!partial_.empty()) take_line(std::exchange(partial_, {}));
        stdin_eof_ = true;
        deadline_ = std::chrono::steady_clock::now() + opts_.timeout;
      }
      feed_session();
      check_chat_done();
      read_stdin();
    });
  }

  void take_line(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (livechat_client::trimmed(line).empty()) return;  // nothing to say
    if (auto why = livechat_client::text_problem(line); !why.empty()) {
      error("skipping an input line: " + why);
      return;
    }
    lines_.push_back(std::move(line));
  }

  /// Hands buffered lines to the session while its queue has room, so a
  /// large input is flow-controlled instead of overflowing the queue.
  void feed_session() {
    const std::size_t room_in_queue = session_.settings().queue.max_messages;
    while (!finishing_ && !lines_.empty() && session_.queue().size() < room_in_queue) {
      session_.send(opts_.room, std::move(lines_.front()));
      lines_.pop_front();
    }
    read_stdin();
  }

  void check_chat_done() {
    if (opts_.cmd != command::chat || finishing_ || !stdin_eof_) return;
    if (!lines_.empty() || !session_.queue().empty()) return;
    finish(dropped_ == 0 ? exit_code::ok : exit_code::failure);
  }

  livechat_client::options opts_;
  asio::io_context io_;
  livechat::wspp::client_transport::endpoint_type endpoint_;
  livechat::wspp::client_transport transport_;
  session_type session_;
  livechat::wspp::periodic_timer ticker_;
  asio::signal_set signals_;
  std::unique_ptr<asio::steady_timer> grace_;

  std::optional<int> result_;
  bool finishing_ = false;
  std::string last_close_;
  std::chrono::steady_clock::time_point deadline_{};
  std::string my_id_;  // send

  // chat
  asio::posix::stream_descriptor stdin_;
  int stdin_flags_ = -1;
  std::array<char, 16384> read_buf_{};
  std::string partial_;
  std::deque<std::string> lines_;
  bool reading_ = false;
  bool stdin_eof_ = false;
  std::size_t dropped_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  auto parsed = livechat_client::parse_options(argc, argv, std::getenv("LIVECHAT_TOKEN"));
  if (parsed.exit_code) {
    (*parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << std::flush;
    return *parsed.exit_code;
  }
  try {
    app a(std::move(parsed.opts));
    return a.run();
  } catch (const std::exception& e) {
    std::cerr << "livechat-client: fatal: " << e.what() << '\n';
    return exit_code::failure;
  }
}
