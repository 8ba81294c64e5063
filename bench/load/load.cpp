// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// livechat-load: drives a livechat-server (PROTOCOL.md: auth, join_room,
// send_message, and counts the new_message/message_sent deliveries) or the
// raw websocketpp broadcast baseline (raw_broadcast_server.cpp, which echoes
// each send_message frame to its room) from one thread over epoll, and
// reports what the server spent: CPU time per delivered message from
// /proc/PID/stat, resident memory per connection from /proc/PID/status,
// connects per second, latency from SO_TIMESTAMPNS receive times, and the
// average payload bytes of a delivered frame.
//
// Phases: setup (connect + upgrade + auth + join_room, N connections with a
// bounded number in progress), settle (RSS), then messages: warm-up, the
// measured window (server CPU and deliveries counted between its two
// edges), drain (wait for what is still on its way). Every phase is bounded
// in time; every delivery is checked: exactly room-size deliveries per
// message, none lost, none repeated.
//
// A message is identified by its text, "#<id>#xxx...", so no JSON parser
// runs on the generator's side: a delivery is a frame whose type is
// new_message, message_sent (livechat) or send_message (the raw echo), and
// its id is read after `"text":"#`.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "options.hpp"
#include "proc_stats.hpp"
#include "report.hpp"
#include "ws_frame.hpp"

namespace {

using namespace livechat_load;

volatile std::sig_atomic_t interrupted = 0;
void on_signal(int) { interrupted = 1; }

std::int64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
std::int64_t mono_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }
// Kernel receive timestamps are CLOCK_REALTIME, so send times are too.
std::int64_t real_ns() noexcept { return clock_ns(CLOCK_REALTIME); }

constexpr std::int64_t ms_ns = 1'000'000;
constexpr std::uint64_t no_id = ~std::uint64_t{0};
constexpr std::size_t ring_size = std::size_t{1} << 18;  // messages on their way at most
constexpr std::uint64_t timer_token = ~std::uint64_t{0};
constexpr std::size_t max_latency_samples = 20'000'000;
// A presence_update of 100,000 users is ~6 MB; nothing legitimate is larger.
constexpr std::uint64_t max_frame_payload = std::uint64_t{64} << 20;
constexpr std::size_t rx_buffer_size = 256 * 1024;

enum class conn_state : std::uint8_t { idle, connecting, upgrading, authenticating, joining, ready, failed };
enum class phase : std::uint8_t { setup, warmup, measure, drain };

struct connection {
  int fd = -1;
  conn_state state = conn_state::idle;
  bool polling_out = false;  ///< EPOLLOUT is in the registration
  std::uint32_t room = 0;
  std::uint32_t node = 0;  ///< index into the --port list
  std::string in;         ///< received bytes not yet a whole frame
  std::string out;        ///< bytes the socket did not take yet
  std::string fragments;  ///< a fragmented text message being put together
  bool in_fragments = false;
};

struct room_state {
  std::string name;
  std::vector<std::uint32_t> members;
  std::size_t next_sender = 0;          ///< round robin over the members
  std::vector<std::uint64_t> inflight;  ///< saturate: ids on their way
};

struct message_record {
  std::uint64_t id = no_id;
  std::int64_t sent_real_ns = 0;
  std::int64_t sent_mono_ns = 0;
  std::uint32_t room = 0;
  std::uint32_t node = 0;      ///< the sender's
  std::int32_t remaining = 0;  ///< deliveries still expected
  bool measured = false;       ///< sent inside the window: its latencies count
};

// The cmsg walk without glibc's CMSG_* macros (C casts, which -Wold-style-cast
// reports inside our code).
constexpr std::size_t cmsg_align(std::size_t n) noexcept {
  return (n + sizeof(std::size_t) - 1) & ~(sizeof(std::size_t) - 1);
}

class load_run {
 public:
  load_run(const options& o, std::vector<pid_t> server_pids, std::vector<std::uint16_t> ports)
      : o_(o),
        pids_(std::move(server_pids)),
        ports_(std::move(ports)),
        conns_(o.connections),
        rooms_(o.rooms),
        ring_(ring_size),
        rx_(rx_buffer_size) {
    for (std::size_t r = 0; r < o_.rooms; ++r)
      rooms_[r].name = "conversation:" + o_.room_prefix + std::to_string(r);
    for (std::size_t i = 0; i < o_.connections; ++i) {
      conns_[i].room = static_cast<std::uint32_t>(i % o_.rooms);
      // Member k of a room is connection room + k * rooms: alternate the
      // nodes along k, so every room has members on every node.
      conns_[i].node = static_cast<std::uint32_t>((i / o_.rooms) % ports_.size());
      rooms_[i % o_.rooms].members.push_back(static_cast<std::uint32_t>(i));
    }
    use_kernel_ts_ = o_.kernel_timestamps && o_.mode == run_mode::rate;
    for (const auto port : ports_) upgrades_.push_back(upgrade_request(o_.host, port, o_.path));
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  }

  load_run(const load_run&) = delete;
  load_run& operator=(const load_run&) = delete;

  ~load_run() {
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    if (timer_ >= 0) ::close(timer_);
    if (epoll_ >= 0) ::close(epoll_);
  }

  run_report run() {
    run_report rep;
    rep.label = o_.label;
    rep.mode = o_.mode;
    rep.connections = o_.connections;
    rep.rooms = o_.rooms;
    rep.users = o_.users;
    rep.text_bytes = o_.text_bytes;
    rep.inflight = o_.inflight;
    rep.rate = o_.rate;
    rep.kernel_timestamps = use_kernel_ts_;
    rep.nodes = ports_.size();
    rep.room_size_min = o_.connections / o_.rooms;
    rep.room_size_max = (o_.connections + o_.rooms - 1) / o_.rooms;

    if (epoll_ < 0) abort_run(std::string("epoll_create1: ") + std::strerror(errno));
    // The ring of message records must never come round to one still on
    // its way in a closed loop.
    if (o_.mode == run_mode::saturate && o_.rooms * o_.inflight > ring_size / 2)
      abort_run("--rooms x --inflight must stay below " + std::to_string(ring_size / 2));
    for (const auto port : ports_) {
      sockaddr_in a{};
      if (::inet_pton(AF_INET, o_.host.c_str(), &a.sin_addr) != 1)
        abort_run("--host must be an IPv4 address, got '" + o_.host + "'");
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      addrs_.push_back(a);
    }
    rep.rss_start_kib = rss();

    const auto setup_cpu_start = server_cpu();
    if (!failed_) setup();
    const auto setup_cpu_end = server_cpu();
    if (setup_cpu_start && setup_cpu_end)
      rep.setup_server_cpu_seconds = *setup_cpu_end - *setup_cpu_start;
    rep.ready = ready_;
    rep.setup_seconds =
        static_cast<double>((ready_ == o_.connections ? setup_end_ : mono_ns()) - setup_start_) / 1e9;
    if (!failed_) {
      run_for(static_cast<std::int64_t>(o_.settle_ms) * ms_ns);
      rep.rss_setup_kib = rss();
    }
    if (!failed_ && o_.mode != run_mode::connect) messages(rep);
    rep.rss_end_kib = rss();

    // Whatever never arrived (a message short of deliveries) is lost.
    for (const auto& r : ring_)
      if (r.id != no_id && r.remaining > 0) lost_ += static_cast<std::uint64_t>(r.remaining);

    rep.deliveries = window_deliveries_;
    rep.delivery_bytes = window_delivery_bytes_;
    rep.messages_sent = window_messages_;
    rep.latency = summarize(latencies_);
    rep.latency_same_node = summarize(latencies_same_node_);
    rep.latency_cross_node = summarize(latencies_cross_node_);
    rep.user_timestamps = use_kernel_ts_ ? user_timestamps_ : 0;
    rep.error_frames = error_frames_;
    rep.first_error_code = first_error_code_;
    rep.lost = lost_;
    rep.duplicates = duplicates_;
    rep.unknown = unknown_;
    rep.failed_connections = failed_connections_;
    if (interrupted && first_error_.empty()) first_error_ = "interrupted";
    if (first_error_.empty() && error_frames_ > 0) first_error_ = "the server answered with error frames";
    if (first_error_.empty() && (lost_ > 0 || duplicates_ > 0)) first_error_ = "deliveries lost or repeated";
    if (first_error_.empty() && o_.mode != run_mode::connect && window_deliveries_ == 0)
      first_error_ = "no delivery in the measured window";
    rep.error = first_error_;
    rep.ok = first_error_.empty();
    return rep;
  }

 private:
  // --- phases --------------------------------------------------------------

  void setup() {
    phase_ = phase::setup;
    setup_start_ = mono_ns();
    const std::int64_t deadline = setup_start_ + static_cast<std::int64_t>(o_.setup_timeout_ms) * ms_ns;
    std::size_t next = 0;
    while (!failed_ && ready_ < o_.connections) {
      while (next < o_.connections && next - ready_ < o_.connect_concurrency && !failed_)
        start_connect(static_cast<std::uint32_t>(next++));
      if (interrupted) return abort_run("interrupted");
      if (mono_ns() > deadline)
        return abort_run("setup timed out: " + std::to_string(ready_) + " of " +
                         std::to_string(o_.connections) + " connections ready");
      poll_once(10);
    }
  }

  void messages(run_report& rep) {
    phase_ = phase::warmup;
    const std::int64_t start = mono_ns();
    const std::int64_t window_start = start + static_cast<std::int64_t>(o_.warmup_ms) * ms_ns;
    const std::int64_t window_end = window_start + static_cast<std::int64_t>(o_.duration_ms) * ms_ns;
    if (window_start <= start) begin_window(window_start);
    if (o_.mode == run_mode::saturate) {
      for (std::uint32_t r = 0; r < rooms_.size(); ++r)
        for (std::size_t k = 0; k < o_.inflight; ++k) send_message(r);
    } else if (!arm_timer()) {
      return;
    }
    std::int64_t next_check = start + 100 * ms_ns;
    for (;;) {
      const std::int64_t now = mono_ns();
      if (phase_ == phase::warmup && now >= window_start) begin_window(now);
      if (now >= window_end || failed_ || interrupted) break;
      if (now >= next_check) {
        check_timeouts(now);
        next_check = now + 100 * ms_ns;
      }
      const std::int64_t until = std::min(phase_ == phase::warmup ? window_start : window_end, next_check);
      poll_once(static_cast<int>(std::clamp<std::int64_t>((until - now) / ms_ns, 0, 10)));
    }
    const std::int64_t end = mono_ns();
    const auto cpu_end = server_cpu();
    const double self_end = self_cpu_seconds();
    const bool measured = phase_ == phase::measure;
    phase_ = phase::drain;
    disarm_timer();
    if (measured) {
      rep.window_seconds = static_cast<double>(end - window_start_ns_) / 1e9;
      if (cpu_start_ && cpu_end) rep.server_cpu_seconds = *cpu_end - *cpu_start_;
      rep.generator_cpu_seconds = self_end - self_start_;
    }

    // Drain: what is on its way still counts against lost and repeated.
    const std::int64_t drain_end = end + static_cast<std::int64_t>(o_.drain_ms) * ms_ns;
    while (outstanding_ > 0 && !failed_ && !interrupted) {
      const std::int64_t now = mono_ns();
      if (now >= drain_end) break;
      poll_once(static_cast<int>(std::clamp<std::int64_t>((drain_end - now) / ms_ns, 0, 10)));
    }
  }

  void begin_window(std::int64_t now) {
    phase_ = phase::measure;
    window_start_ns_ = now;
    cpu_start_ = server_cpu();
    self_start_ = self_cpu_seconds();
  }

  /// Polls until `ns` have passed (or the run failed).
  void run_for(std::int64_t ns) {
    const std::int64_t end = mono_ns() + ns;
    while (!failed_ && !interrupted) {
      const std::int64_t now = mono_ns();
      if (now >= end) break;
      poll_once(static_cast<int>(std::clamp<std::int64_t>((end - now) / ms_ns, 0, 10)));
    }
  }

  // --- the event loop ------------------------------------------------------

  void poll_once(int timeout_ms) {
    epoll_event events[512];
    const int n = ::epoll_wait(epoll_, events, 512, timeout_ms);
    if (n < 0) {
      if (errno != EINTR) abort_run(std::string("epoll_wait: ") + std::strerror(errno));
      return;
    }
    for (int k = 0; k < n; ++k) {
      const std::uint64_t token = events[k].data.u64;
      if (token == timer_token) {
        on_timer();
        continue;
      }
      const auto i = static_cast<std::uint32_t>(token);
      connection& c = conns_[i];
      if (c.state == conn_state::failed || c.fd < 0) continue;
      const std::uint32_t e = events[k].events;
      if (c.state == conn_state::connecting) {
        finish_connect(i);
        continue;
      }
      if ((e & EPOLLIN) != 0) {
        on_readable(i);
      } else if ((e & (EPOLLERR | EPOLLHUP)) != 0) {
        fail(i, "socket error or hang-up");
        continue;
      }
      if (c.state != conn_state::failed && (e & EPOLLOUT) != 0) flush(i);
    }
  }

  // --- connections ---------------------------------------------------------

  void start_connect(std::uint32_t i) {
    connection& c = conns_[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(i, std::string("socket: ") + std::strerror(errno));
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (use_kernel_ts_) ::setsockopt(c.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    c.state = conn_state::connecting;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = i;
    c.polling_out = true;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) != 0)
      return fail(i, std::string("epoll_ctl: ") + std::strerror(errno));
    const sockaddr_in& addr = addrs_[c.node];
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS)
      return fail(i, std::string("connect: ") + std::strerror(errno));
  }

  void finish_connect(std::uint32_t i) {
    connection& c = conns_[i];
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return fail(i, std::string("connect: ") + std::strerror(err));
    c.state = conn_state::upgrading;
    c.out += upgrades_[c.node];
    flush(i);
  }

  void flush(std::uint32_t i) {
    connection& c = conns_[i];
    std::size_t sent = 0;
    for (int round = 0; round < 64 && sent < c.out.size(); ++round) {
      const ssize_t n = ::send(c.fd, c.out.data() + sent, c.out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        return fail(i, std::string("send: ") + std::strerror(errno));
      }
    }
    c.out.erase(0, sent);
    const bool want_out = !c.out.empty();
    if (want_out != c.polling_out) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0U);
      ev.data.u64 = i;
      if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev) != 0)
        return fail(i, std::string("epoll_ctl: ") + std::strerror(errno));
      c.polling_out = want_out;
    }
  }

  void fail(std::uint32_t i, const std::string& why) {
    connection& c = conns_[i];
    if (c.state == conn_state::failed) return;
    if (first_error_.empty()) first_error_ = "connection " + std::to_string(i) + ": " + why;
    c.state = conn_state::failed;
    if (c.fd >= 0) {
      ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
    ++failed_connections_;
    failed_ = true;  // a run with a missing member measures something else
  }

  void abort_run(const std::string& why) {
    if (first_error_.empty()) first_error_ = why;
    failed_ = true;
  }

  void send_frame(std::uint32_t i, opcode op, std::string_view payload) {
    // xorshift32: a different mask per frame for the price of three shifts
    mask_ ^= mask_ << 13;
    mask_ ^= mask_ >> 17;
    mask_ ^= mask_ << 5;
    append_client_frame(conns_[i].out, op, payload, mask_);
    flush(i);
  }

  // --- receiving -----------------------------------------------------------

  void on_readable(std::uint32_t i) {
    connection& c = conns_[i];
    iovec iov{rx_.data(), rx_.size()};
    alignas(cmsghdr) char control[128];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (use_kernel_ts_) {
      mh.msg_control = control;
      mh.msg_controllen = sizeof control;
    }
    const ssize_t n = ::recvmsg(c.fd, &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return fail(i, std::string("recv: ") + std::strerror(errno));
    }
    if (n == 0) return fail(i, "the server closed the TCP connection");
    std::int64_t ts = use_kernel_ts_ ? kernel_timestamp(mh, control) : 0;
    if (ts == 0) {
      ts = real_ns();
      ++user_timestamps_;
    }
    std::string_view data(rx_.data(), static_cast<std::size_t>(n));
    const bool buffered = !c.in.empty();
    if (buffered) {
      c.in.append(data);
      data = c.in;
    }
    const std::size_t used = consume(i, data, ts);
    if (c.state == conn_state::failed) {
      c.in.clear();
      return;
    }
    if (buffered)
      c.in.erase(0, used);
    else
      c.in.assign(data.substr(used));
  }

  static std::int64_t kernel_timestamp(const msghdr& mh, const char* control) noexcept {
    std::size_t off = 0;
    for (int k = 0; k < 8 && off + sizeof(cmsghdr) <= mh.msg_controllen; ++k) {
      cmsghdr h{};
      std::memcpy(&h, control + off, sizeof h);
      if (h.cmsg_len < sizeof(cmsghdr)) break;
      if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_TIMESTAMPNS &&
          h.cmsg_len >= cmsg_align(sizeof(cmsghdr)) + sizeof(timespec)) {
        timespec t{};
        std::memcpy(&t, control + off + cmsg_align(sizeof(cmsghdr)), sizeof t);
        return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
      }
      off += cmsg_align(h.cmsg_len);
    }
    return 0;
  }

  /// Handles the complete frames (and the upgrade answer) at the start of
  /// `data`; returns the bytes used.
  std::size_t consume(std::uint32_t i, std::string_view data, std::int64_t ts) {
    connection& c = conns_[i];
    std::size_t used = 0;
    if (c.state == conn_state::upgrading) {
      const auto a = parse_upgrade_response(data);
      if (a.status == upgrade_answer::incomplete) return 0;
      if (a.status == upgrade_answer::refused) {
        fail(i, "upgrade refused: " + std::string(a.status_line.substr(0, 200)));
        return 0;
      }
      used = a.consumed;
      c.state = conn_state::authenticating;
      send_frame(i, opcode::text,
                 "{\"type\":\"auth\",\"payload\":{\"token\":\"" + o_.user_prefix +
                     std::to_string(i % o_.users) + "\"}}");
    }
    while (used < data.size() && c.state != conn_state::failed) {
      frame_view f;
      const auto st = parse_server_frame(data.substr(used), max_frame_payload, f);
      if (st == frame_status::incomplete) break;
      if (st == frame_status::bad) {
        fail(i, "malformed frame from the server");
        break;
      }
      used += f.size;
      on_frame(i, f, ts);
    }
    return used;
  }

  void on_frame(std::uint32_t i, const frame_view& f, std::int64_t ts) {
    connection& c = conns_[i];
    switch (f.op) {
      case opcode::text:
        if (c.in_fragments) return fail(i, "a new message inside a fragmented one");
        if (f.fin) return on_text(i, f.payload, ts);
        c.fragments.assign(f.payload);
        c.in_fragments = true;
        return;
      case opcode::continuation: {
        if (!c.in_fragments) return fail(i, "a continuation frame with nothing to continue");
        c.fragments.append(f.payload);
        if (c.fragments.size() > max_frame_payload) return fail(i, "a fragmented message over 64 MiB");
        if (!f.fin) return;
        const std::string whole = std::move(c.fragments);
        c.fragments.clear();
        c.in_fragments = false;
        return on_text(i, whole, ts);
      }
      case opcode::ping:
        return send_frame(i, opcode::pong, f.payload);
      case opcode::pong:
        return;
      case opcode::close: {
        unsigned code = 1005;
        if (f.payload.size() >= 2)
          code = (static_cast<unsigned>(static_cast<unsigned char>(f.payload[0])) << 8) |
                 static_cast<unsigned char>(f.payload[1]);
        const std::string reason(f.payload.size() > 2 ? f.payload.substr(2, 120) : std::string_view{});
        return fail(i, "closed by the server: " + std::to_string(code) + " " + reason);
      }
      case opcode::binary:
      default:
        return fail(i, "an unexpected frame (binary or unknown opcode)");
    }
  }

  void on_text(std::uint32_t i, std::string_view p, std::int64_t ts) {
    constexpr std::string_view head = "{\"type\":\"";
    if (p.substr(0, head.size()) != head) return;  // not ours to judge
    const std::string_view rest = p.substr(head.size());
    const std::string_view type = rest.substr(0, rest.find('"'));
    connection& c = conns_[i];
    if (type == "new_message" || type == "message_sent" || type == "send_message") return on_delivery(i, p, ts);
    if (type == "auth_success") {
      if (c.state != conn_state::authenticating) return;
      c.state = conn_state::joining;
      return send_frame(i, opcode::text,
                        "{\"type\":\"join_room\",\"payload\":{\"room\":\"" + rooms_[c.room].name + "\"}}");
    }
    if (type == "conversation_update") {
      if (c.state != conn_state::joining) return;
      c.state = conn_state::ready;
      if (++ready_ == o_.connections) setup_end_ = mono_ns();
      return;
    }
    if (type == "error") {
      ++error_frames_;
      constexpr std::string_view code_key = "\"code\":\"";
      const auto at = p.find(code_key);
      std::string code = "?";
      if (at != std::string_view::npos) {
        const auto from = at + code_key.size();
        code = std::string(p.substr(from, std::min<std::size_t>(p.find('"', from) - from, 64)));
      }
      if (first_error_code_.empty()) first_error_code_ = code;
      if (c.state != conn_state::ready) fail(i, "error " + code + " during setup");
    }
    // Anything else (presence_update, operator_joined, ...) is part of what
    // the server does per connection; the generator only receives it.
  }

  void on_delivery(std::uint32_t receiver, std::string_view p, std::int64_t ts) {
    constexpr std::string_view marker = "\"text\":\"#";
    const auto at = p.find(marker);
    if (at == std::string_view::npos) {
      ++unknown_;
      return;
    }
    std::uint64_t id = 0;
    const char* first = p.data() + at + marker.size();
    const char* last = p.data() + p.size();
    const auto [end, ec] = std::from_chars(first, last, id);
    if (ec != std::errc() || end == last || *end != '#') {
      ++unknown_;
      return;
    }
    message_record& r = ring_[id & (ring_size - 1)];
    if (r.id != id) {
      ++unknown_;  // never sent, or given up on (already counted lost)
      return;
    }
    if (r.remaining <= 0) {
      ++duplicates_;
      return;
    }
    --r.remaining;
    if (phase_ == phase::measure) {
      ++window_deliveries_;
      window_delivery_bytes_ += p.size();  // the frame's payload, as received
    }
    if (r.measured && latencies_.size() < max_latency_samples) {
      const std::int64_t ns = std::max<std::int64_t>(0, ts - r.sent_real_ns);
      latencies_.push_back(ns);
      if (ports_.size() > 1)
        (conns_[receiver].node == r.node ? latencies_same_node_ : latencies_cross_node_).push_back(ns);
    }
    if (r.remaining == 0) complete(r);
  }

  void complete(const message_record& r) {
    --outstanding_;
    if (o_.mode != run_mode::saturate) return;
    const std::uint32_t room = r.room;
    auto& inflight = rooms_[room].inflight;
    const auto it = std::find(inflight.begin(), inflight.end(), r.id);
    if (it != inflight.end()) inflight.erase(it);
    if (phase_ == phase::warmup || phase_ == phase::measure) send_message(room);
  }

  // --- sending -------------------------------------------------------------

  void send_message(std::uint32_t room_index) {
    room_state& room = rooms_[room_index];
    if (room.members.empty()) return;
    const std::uint32_t sender = room.members[room.next_sender++ % room.members.size()];
    if (conns_[sender].state != conn_state::ready) return;
    const std::uint64_t id = next_id_++;
    message_record& r = ring_[id & (ring_size - 1)];
    if (r.id != no_id && r.remaining > 0) {  // the ring came round: it is not coming
      lost_ += static_cast<std::uint64_t>(r.remaining);
      --outstanding_;
    }
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, id);
    (void)ec;
    const std::string_view id_text(digits, static_cast<std::size_t>(end - digits));
    payload_.assign("{\"type\":\"send_message\",\"payload\":{\"room\":\"");
    payload_ += room.name;
    payload_ += "\",\"text\":\"#";
    payload_ += id_text;
    payload_ += '#';
    const std::size_t text_so_far = id_text.size() + 2;
    if (text_so_far < o_.text_bytes) payload_.append(o_.text_bytes - text_so_far, 'x');
    payload_ += '"';
    if (o_.client_msg_id) {
      payload_ += ",\"client_msg_id\":\"m";
      payload_ += id_text;
      payload_ += '"';
    }
    payload_ += "}}";
    r.id = id;
    r.room = room_index;
    r.node = conns_[sender].node;
    r.remaining = static_cast<std::int32_t>(room.members.size());
    r.measured = phase_ == phase::measure;
    r.sent_mono_ns = mono_ns();
    r.sent_real_ns = real_ns();
    ++outstanding_;
    if (phase_ == phase::measure) ++window_messages_;
    if (o_.mode == run_mode::saturate) room.inflight.push_back(id);
    send_frame(sender, opcode::text, payload_);
  }

  /// Saturate: a message short of deliveries after --message-timeout-ms
  /// is lost (an error frame such as rate_limited came instead, or the
  /// server dropped it); its room moves on so one loss does not stall it.
  void check_timeouts(std::int64_t now) {
    if (o_.mode != run_mode::saturate) return;
    const std::int64_t limit = static_cast<std::int64_t>(o_.message_timeout_ms) * ms_ns;
    for (std::uint32_t ri = 0; ri < rooms_.size(); ++ri) {
      auto& inflight = rooms_[ri].inflight;
      std::size_t expired = 0;
      for (std::size_t k = 0; k < inflight.size();) {
        message_record& r = ring_[inflight[k] & (ring_size - 1)];
        if (r.id == inflight[k] && r.remaining > 0 && now - r.sent_mono_ns <= limit) {
          ++k;
          continue;
        }
        if (r.id == inflight[k] && r.remaining > 0) {
          lost_ += static_cast<std::uint64_t>(r.remaining);
          r.remaining = 0;
          r.id = no_id;
          --outstanding_;
          ++expired;
        }
        inflight.erase(inflight.begin() + static_cast<std::ptrdiff_t>(k));
      }
      if (phase_ == phase::warmup || phase_ == phase::measure)
        for (std::size_t e = 0; e < expired; ++e) send_message(ri);
    }
  }

  bool arm_timer() {
    timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_ < 0) {
      abort_run(std::string("timerfd_create: ") + std::strerror(errno));
      return false;
    }
    const auto interval = static_cast<std::int64_t>(1e9 / o_.rate);
    itimerspec spec{};
    spec.it_interval.tv_sec = static_cast<time_t>(interval / 1'000'000'000);
    spec.it_interval.tv_nsec = static_cast<long>(interval % 1'000'000'000);
    spec.it_value.tv_nsec = 1;  // the first message at once
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = timer_token;
    if (::timerfd_settime(timer_, 0, &spec, nullptr) != 0 ||
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &ev) != 0) {
      abort_run(std::string("timerfd: ") + std::strerror(errno));
      return false;
    }
    return true;
  }

  void disarm_timer() {
    if (timer_ < 0) return;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, timer_, nullptr);
    ::close(timer_);
    timer_ = -1;
  }

  void on_timer() {
    std::uint64_t expirations = 0;
    if (::read(timer_, &expirations, sizeof expirations) != static_cast<ssize_t>(sizeof expirations)) return;
    if (phase_ != phase::warmup && phase_ != phase::measure) return;
    // Behind by more than this means the generator cannot keep the rate:
    // the run says so (lost ticks) instead of sending a burst.
    const std::uint64_t n = std::min<std::uint64_t>(expirations, 1000);
    if (expirations > n)
      abort_run("the generator fell behind --rate by " + std::to_string(expirations - n) + " messages");
    for (std::uint64_t k = 0; k < n; ++k)
      send_message(static_cast<std::uint32_t>(rate_cursor_++ % rooms_.size()));
  }

  // --- the server process --------------------------------------------------

  // Summed over every measured process; unknown if one cannot be read.
  std::optional<double> rss() const {
    if (pids_.empty()) return std::nullopt;
    double sum = 0;
    for (const pid_t pid : pids_) {
      const auto v = process_rss_kib(pid);
      if (!v) return std::nullopt;
      sum += static_cast<double>(*v);
    }
    return sum;
  }
  std::optional<double> server_cpu() const {
    if (pids_.empty()) return std::nullopt;
    double sum = 0;
    for (const pid_t pid : pids_) {
      const auto v = process_cpu_seconds(pid);
      if (!v) return std::nullopt;
      sum += *v;
    }
    return sum;
  }

  const options& o_;
  std::vector<pid_t> pids_;
  std::vector<std::uint16_t> ports_;
  std::vector<connection> conns_;
  std::vector<room_state> rooms_;
  std::vector<message_record> ring_;
  std::vector<char> rx_;
  std::vector<std::int64_t> latencies_, latencies_same_node_, latencies_cross_node_;
  std::vector<std::string> upgrades_;  ///< per node: the Host header names its port
  std::string payload_;
  std::vector<sockaddr_in> addrs_;  ///< per node
  int epoll_ = -1;
  int timer_ = -1;
  bool use_kernel_ts_ = false;
  bool failed_ = false;
  std::optional<double> cpu_start_;
  double self_start_ = 0;
  phase phase_ = phase::setup;
  std::uint32_t mask_ = 0x9E3779B9U;
  std::size_t ready_ = 0;
  std::int64_t setup_start_ = 0, setup_end_ = 0, window_start_ns_ = 0;
  std::uint64_t next_id_ = 0, outstanding_ = 0, rate_cursor_ = 0;
  std::uint64_t window_deliveries_ = 0, window_messages_ = 0;
  std::uint64_t window_delivery_bytes_ = 0;  ///< payload bytes of the window's deliveries
  std::uint64_t error_frames_ = 0, lost_ = 0, duplicates_ = 0, unknown_ = 0, failed_connections_ = 0;
  std::uint64_t user_timestamps_ = 0;
  std::string first_error_, first_error_code_;
};

/// Every connection needs a descriptor, here and in the server (a child
/// inherits the limit): raise the soft limit to the hard one.
bool raise_fd_limit(std::size_t need, std::string& error) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return true;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    error = "--connections needs " + std::to_string(need) + " file descriptors; the limit is " +
            std::to_string(rl.rlim_cur) + " (ulimit -n)";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (parsed.exit_code) {
    (*parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << std::flush;
    return *parsed.exit_code;
  }
  const options& o = parsed.opts;

  std::string error;
  if (!raise_fd_limit(o.connections + 64, error)) {
    std::cerr << "livechat-load: " << error << '\n';
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  // SIGPIPE cannot happen: every send() says MSG_NOSIGNAL.

  child_process server;
  std::vector<pid_t> pids = o.server_pids;
  std::vector<std::uint16_t> ports = o.ports;
  if (!o.server_command.empty()) {
    const auto started = server.start(o.server_command, o.server_log, std::chrono::seconds(15), error);
    if (!started) {
      std::cerr << "livechat-load: " << error << '\n';
      return 1;
    }
    ports = {*started};
    pids.push_back(server.pid());
  }

  run_report rep;
  {
    load_run run(o, std::move(pids), std::move(ports));
    rep = run.run();
  }  // every socket closed here, before the server is asked to stop
  server.stop();

  if (o.table) std::cerr << to_table(rep) << std::flush;
  std::cout << to_json(rep) << std::endl;
  return rep.ok ? 0 : 1;
}
