// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// What the stress tests (hostile_input, slow_consumer, churn) measure the
// server with, and the raw-socket client they drive it with.
//
//  - /proc readings of the server process: resident memory (VmRSS), open
//    file descriptors, and the sockets of the server's port in CLOSE_WAIT
//    (the kernel saw the peer's FIN but the server never closed its end: a
//    leaked connection).
//  - /metrics scraping: one sample by name.
//  - raw_ws: a minimal non-blocking WebSocket client over a plain socket.
//    WsClient (ws_client.hpp) runs a websocketpp endpoint and a thread per
//    connection and refuses to send what a browser could not; these tests
//    need a thousand connections from one thread, frames websocketpp will
//    not produce (invalid UTF-8, unmasked, reserved bits), a receive buffer
//    that is never read, and a TCP reset instead of a close handshake.
//  - Environment helpers: the sanitizer build, RLIMIT_NOFILE, env knobs.
//
// Linux only (the integration tests already are: fork/exec, prctl).
#ifndef LIVECHAT_TESTS_INTEGRATION_PROC_STATS_HPP
#define LIVECHAT_TESTS_INTEGRATION_PROC_STATS_HPP

#include "ws_client.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define LIVECHAT_ITEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LIVECHAT_ITEST_ASAN 1
#endif
#endif

namespace livechat_itest {

// ---------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------

/// True when the server under test is built with AddressSanitizer:
/// everything runs several times slower and freed memory sits in ASan's
/// quarantine, so the stress tests scale their load down and make the
/// server's quarantine small enough for RSS to mean something. That is this
/// binary's own build (a harness of the sanitizer tree), or the environment
/// saying so: the sanitizer tree of scripts/test.sh runs the optimized
/// tree's harness against its sanitized server and client
/// (LIVECHAT_ITEST_SANITIZED_SERVER=1, tests/CMakeLists.txt).
inline bool sanitized_server() {
#ifdef LIVECHAT_ITEST_ASAN
    return true;
#else
    const char* v = std::getenv("LIVECHAT_ITEST_SANITIZED_SERVER");
    return v != nullptr && std::string_view(v) == "1";
#endif
}
inline const bool kAddressSanitizer = sanitized_server();

/// The integer in environment variable `name`, or `fallback` when it is
/// unset or not a positive number.
inline long env_long(const char* name, long fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return (end != nullptr && *end == '\0' && n > 0) ? n : fallback;
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (children inherit it) and
/// returns the soft limit now in force.
inline long raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit want = rl;
        want.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : static_cast<long>(rl.rlim_cur);
}

/// Sets an environment variable for the children started while it lives
/// (fork copies the environment), then restores the old value. Only use it
/// on the test thread before any client thread runs: setenv is not
/// thread-safe against a concurrent getenv.
class scoped_env {
public:
    scoped_env(std::string name, const std::string& value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = std::string(old);
        ::setenv(name_.c_str(), value.c_str(), 1);
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;
    ~scoped_env() {
        if (old_)
            ::setenv(name_.c_str(), old_->c_str(), 1);
        else
            ::unsetenv(name_.c_str());
    }

private:
    std::string name_;
    std::optional<std::string> old_;
};

/// The environment of a server whose resident memory a test compares
/// across time; construct it before the ServerProcess (fork copies the
/// environment) and keep it for the test.
///
///  - glibc: the heap is never trimmed (MALLOC_TRIM_THRESHOLD_), so VmRSS is
///    the high-water mark of the heap rather than whatever happened to be
///    returned to the kernel at the moment of reading: a stable figure that
///    still grows with a leak.
///  - ASan: a quarantine of 4 MiB instead of 256 MiB, which would otherwise
///    keep every freed block resident and hide any trend.
class memory_measurement_env {
public:
    memory_measurement_env() : trim_("MALLOC_TRIM_THRESHOLD_", "4294967296") {
        if (!kAddressSanitizer) return;
        const char* old = std::getenv("ASAN_OPTIONS");
        std::string s = old != nullptr ? old : "";
        if (!s.empty()) s += ':';
        asan_.emplace("ASAN_OPTIONS", s + "quarantine_size_mb=4:thread_local_quarantine_size_kb=64");
    }

private:
    scoped_env trim_;
    std::optional<scoped_env> asan_;
};

/// A SQLite database path in the temporary directory, unique to this
/// process and `name`; the file and its WAL companions are removed before
/// and after.
class temp_sqlite_db {
public:
    explicit temp_sqlite_db(const std::string& name)
        : path((std::filesystem::temp_directory_path() /
                ("livechat-" + name + "-itest-" + std::to_string(::getpid()) + ".db"))
                   .string()) {
        remove_all();
    }
    temp_sqlite_db(const temp_sqlite_db&) = delete;
    temp_sqlite_db& operator=(const temp_sqlite_db&) = delete;
    ~temp_sqlite_db() { remove_all(); }

    const std::string path;

private:
    void remove_all() const {
        for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    }
};

/// The last `n` characters of `s` (a server's log, for a failure message).
inline std::string tail(const std::string& s, std::size_t n) {
    return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// The KiB figure of one line of /proc/PID/status (`key` with its colon,
/// e.g. "VmRSS:"), or -1 when unreadable.
inline long proc_status_kib(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) != 0) continue;
        return std::strtol(line.c_str() + key.size(), nullptr, 10);
    }
    return -1;
}

/// Resident set size of `pid` in KiB (VmRSS), or -1 when unreadable.
inline long rss_kib(pid_t pid) { return proc_status_kib(pid, "VmRSS:"); }

/// Peak resident set size of `pid` in KiB (VmHWM), or -1 when unreadable.
/// Unlike VmRSS it never goes down, so a heap trim between two readings
/// does not hide growth.
inline long peak_rss_kib(pid_t pid) { return proc_status_kib(pid, "VmHWM:"); }

/// Number of open file descriptors of `pid`, or -1 when unreadable.
inline int open_fd_count(pid_t pid) {
    DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (d == nullptr) return -1;
    int n = 0;
    while (const dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

/// TCP socket states of /proc/net/tcp (include/net/tcp_states.h).
enum class tcp_state : int {
    established = 1, syn_sent, syn_recv, fin_wait1, fin_wait2, time_wait, close, close_wait, last_ack,
    listen, closing
};

/// How many sockets whose *local* port is `port` are in each TCP state,
/// over /proc/net/tcp and /proc/net/tcp6 (the whole network namespace, so
/// the server's sockets are the ones bound to its port).
inline std::map<int, int> tcp_states_of_port(std::uint16_t port) {
    std::map<int, int> out;
    for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(path);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            // "  sl  local_address rem_address   st ..." with ADDR:PORT in hex.
            std::istringstream fields(line);
            std::string sl, local, remote, st;
            if (!(fields >> sl >> local >> remote >> st)) continue;
            const std::size_t colon = local.rfind(':');
            if (colon == std::string::npos) continue;
            const unsigned long p = std::strtoul(local.c_str() + colon + 1, nullptr, 16);
            if (p != port) continue;
            ++out[static_cast<int>(std::strtol(st.c_str(), nullptr, 16))];
        }
    }
    return out;
}

/// Sockets of the server's `port` in CLOSE_WAIT.
inline int close_wait_count(std::uint16_t port) {
    const auto states = tcp_states_of_port(port);
    const auto it = states.find(static_cast<int>(tcp_state::close_wait));
    return it == states.end() ? 0 : it->second;
}

// ---------------------------------------------------------------------------
// /metrics
// ---------------------------------------------------------------------------

/// The value of the sample written exactly as `key` (a bare name, or
/// `name{label="value"}` as the server writes it) in a Prometheus text
/// exposition, or nothing when there is no such line.
inline std::optional<double> metric_value(const std::string& exposition, const std::string& key) {
    std::size_t pos = 0;
    while (pos < exposition.size()) {
        std::size_t end = exposition.find('\n', pos);
        if (end == std::string::npos) end = exposition.size();
        const std::string_view line(exposition.data() + pos, end - pos);
        if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == ' ')
            return std::strtod(std::string(line.substr(key.size() + 1)).c_str(), nullptr);
        pos = end + 1;
    }
    return std::nullopt;
}

/// GET /metrics; the body, or "" when the request failed.
inline std::string scrape_metrics(std::uint16_t port) {
    const HttpResponse r = http_get(port, "/metrics");
    return r.status == 200 ? r.body : std::string();
}

/// One sample from a fresh scrape; -1 when missing.
inline double metric_now(std::uint16_t port, const std::string& key) {
    return metric_value(scrape_metrics(port), key).value_or(-1.0);
}

// ---------------------------------------------------------------------------
// raw_ws: a WebSocket client over a non-blocking socket
// ---------------------------------------------------------------------------

namespace ws_opcode {
inline constexpr std::uint8_t continuation = 0x0;
inline constexpr std::uint8_t text = 0x1;
inline constexpr std::uint8_t binary = 0x2;
inline constexpr std::uint8_t close = 0x8;
inline constexpr std::uint8_t ping = 0x9;
inline constexpr std::uint8_t pong = 0xA;
}  // namespace ws_opcode

/// One received WebSocket message (fragments reassembled) or control frame.
struct ws_frame {
    std::uint8_t opcode = 0;
    std::string payload;

    bool is_text() const { return opcode == ws_opcode::text; }
    bool is_close() const { return opcode == ws_opcode::close; }
    /// The status code of a close frame; 1005 (RFC 6455: none present) if it has none.
    int close_code() const {
        if (payload.size() < 2) return 1005;
        return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
    }
};

/// The `type` of a server event, read without a JSON parse when the frame
/// starts the way the server's encoder writes it (`{"type":"...`); other
/// frames are parsed.
inline std::string event_type_of(std::string_view payload) {
    static constexpr std::string_view prefix = "{\"type\":\"";
    if (payload.compare(0, prefix.size(), prefix) == 0) {
        const std::size_t end = payload.find('"', prefix.size());
        if (end != std::string_view::npos) return std::string(payload.substr(prefix.size(), end - prefix.size()));
    }
    return Event::from_text(std::string(payload)).type();
}

/// A WebSocket client connection over a plain non-blocking TCP socket.
///
/// Drive it with poll() (`pump`) or epoll (`ws_epoll`): `poll_events()` says
/// what to wait for, `on_ready()` does the I/O, `pop()` hands out complete
/// frames. The blocking helpers
/// (`connect`, `next`, `flush`) do the same on this one socket, bounded by
/// a timeout. Client frames are masked (RFC 6455) unless a test asks for a
/// protocol violation. Not thread-safe; one owner thread.
class raw_ws {
public:
    using Clock = std::chrono::steady_clock;

    raw_ws() = default;
    raw_ws(const raw_ws&) = delete;
    raw_ws& operator=(const raw_ws&) = delete;
    raw_ws(raw_ws&& o) noexcept { *this = std::move(o); }
    raw_ws& operator=(raw_ws&& o) noexcept {
        if (this != &o) {
            close_fd();
            fd_ = std::exchange(o.fd_, -1);
            connecting_ = o.connecting_;
            upgraded_ = o.upgraded_;
            eof_ = o.eof_;
            http_status_ = o.http_status_;
            error_ = std::move(o.error_);
            out_ = std::move(o.out_);
            out_off_ = o.out_off_;
            in_ = std::move(o.in_);
            in_off_ = o.in_off_;
            partial_ = std::move(o.partial_);
            partial_opcode_ = o.partial_opcode_;
            mask_counter_ = o.mask_counter_;
            bytes_read_ = o.bytes_read_;
            reset_ = o.reset_;
        }
        return *this;
    }
    ~raw_ws() { close_fd(); }

    /// Starts a non-blocking connect to 127.0.0.1:`port` and queues the
    /// upgrade request for `path`. `rcvbuf` > 0 sets SO_RCVBUF first (before
    /// connect, so the window advertised in the handshake is already small).
    bool start(std::uint16_t port, int rcvbuf = 0, const std::string& path = kWsPath) {
        close_fd();
        *this = raw_ws();
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return fail("socket");
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            if (errno != EINPROGRESS) return fail("connect");
            connecting_ = true;
        }
        out_ = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
               "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        if (!connecting_) write_some();
        return true;
    }

    int fd() const { return fd_; }
    bool is_open() const { return fd_ >= 0; }
    /// The 101 response arrived (as far as read so far); frames can be
    /// read and written.
    bool upgraded() { return parse_handshake(); }
    /// The HTTP status of the handshake response (0 until it arrived).
    int http_status() const { return http_status_; }
    /// The peer closed the TCP connection (or it failed).
    bool eof() const { return eof_; }
    const std::string& error() const { return error_; }
    /// Bytes queued and not yet accepted by the kernel.
    std::size_t pending_output() const { return out_.size() - out_off_; }
    /// Bytes read from the socket so far (handshake response included).
    std::uint64_t bytes_read() const { return bytes_read_; }
    /// A send failed with EPIPE/ECONNRESET or a read with ECONNRESET: the
    /// server reset the connection. A browser then reports 1006, whatever
    /// close frame may still be readable.
    bool was_reset() const { return reset_; }

    short poll_events() const {
        if (fd_ < 0) return 0;
        short ev = eof_ ? 0 : POLLIN;
        if (connecting_ || pending_output() > 0) ev |= POLLOUT;
        return ev;
    }

    /// Does the I/O poll() reported: finishes the connect, writes what is
    /// queued, reads what arrived. Returns false once the peer closed the
    /// connection or it failed (queued frames can still be popped).
    bool on_ready(short revents) {
        if (fd_ < 0) return false;
        if (connecting_ && (revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                errno = err;
                fail("connect");
                eof_ = true;
                return false;
            }
            connecting_ = false;
        }
        if (!connecting_ && (revents & POLLOUT) != 0) write_some();
        if ((revents & (POLLIN | POLLERR | POLLHUP)) != 0) read_some();
        return !eof_;
    }

    /// The next complete frame, if one has arrived (fragmented messages are
    /// handed out once complete; control frames as they come).
    std::optional<ws_frame> pop() {
        if (!upgraded_ && !parse_handshake()) return std::nullopt;
        for (;;) {
            const std::size_t avail = in_.size() - in_off_;
            if (avail < 2) return std::nullopt;
            const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + in_off_);
            const bool fin = (p[0] & 0x80u) != 0;
            const std::uint8_t opcode = p[0] & 0x0Fu;
            const bool masked = (p[1] & 0x80u) != 0;
            std::uint64_t len = p[1] & 0x7Fu;
            std::size_t head = 2;
            if (len == 126) {
                if (avail < 4) return std::nullopt;
                len = (static_cast<std::uint64_t>(p[2]) << 8) | p[3];
                head = 4;
            } else if (len == 127) {
                if (avail < 10) return std::nullopt;
                len = 0;
                for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
                head = 10;
            }
            const std::size_t mask_at = head;
            if (masked) head += 4;
            if (avail < head || avail - head < len) return std::nullopt;
            std::string payload(in_.data() + in_off_ + head, static_cast<std::size_t>(len));
            if (masked)
                for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ p[mask_at + i % 4]);
            in_off_ += head + static_cast<std::size_t>(len);
            if (opcode >= 0x8 || (fin && opcode != ws_opcode::continuation))
                return ws_frame{opcode, std::move(payload)};
            if (opcode != ws_opcode::continuation) {
                partial_opcode_ = opcode;
                partial_.clear();
            }
            partial_ += payload;
            if (fin) {
                ws_frame f{partial_opcode_, std::move(partial_)};
                partial_.clear();
                return f;
            }
        }
    }

    /// Queues one frame and writes what the socket takes now. `mask` false
    /// and `rsv` != 0 break RFC 6455 on purpose.
    void send_frame(std::uint8_t opcode, std::string_view payload, bool fin = true, bool mask = true,
                    std::uint8_t rsv = 0) {
        if (fd_ < 0) return;
        std::string f;
        f.reserve(payload.size() + 14);
        f.push_back(static_cast<char>((fin ? 0x80u : 0u) | ((rsv & 0x7u) << 4) | (opcode & 0x0Fu)));
        const unsigned mask_bit = mask ? 0x80u : 0u;
        const std::uint64_t n = payload.size();
        if (n < 126) {
            f.push_back(static_cast<char>(mask_bit | n));
        } else if (n <= 0xFFFF) {
            f.push_back(static_cast<char>(mask_bit | 126u));
            f.push_back(static_cast<char>((n >> 8) & 0xFF));
            f.push_back(static_cast<char>(n & 0xFF));
        } else {
            f.push_back(static_cast<char>(mask_bit | 127u));
            for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
        }
        if (mask) {
            // Any key will do for a test; it only has to differ between frames.
            const std::uint32_t seed = 0x9e3779b9u * ++mask_counter_;
            const unsigned char key[4] = {static_cast<unsigned char>(seed >> 24), static_cast<unsigned char>(seed >> 16),
                                          static_cast<unsigned char>(seed >> 8), static_cast<unsigned char>(seed)};
            f.append(reinterpret_cast<const char*>(key), 4);
            const std::size_t at = f.size();
            f.append(payload.data(), payload.size());
            // Eight bytes at a time: 64 KiB frames byte by byte are slow in
            // an unoptimized, sanitized build.
            unsigned char key8[8];
            for (int i = 0; i < 8; ++i) key8[i] = key[i % 4];
            std::uint64_t k8;
            std::memcpy(&k8, key8, 8);
            char* p = &f[at];
            std::size_t i = 0;
            for (; i + 8 <= payload.size(); i += 8) {
                std::uint64_t w;
                std::memcpy(&w, p + i, 8);
                w ^= k8;
                std::memcpy(p + i, &w, 8);
            }
            for (; i < payload.size(); ++i) p[i] = static_cast<char>(p[i] ^ key[i % 4]);
        } else {
            f.append(payload.data(), payload.size());
        }
        queue_bytes(f);
    }

    void send_text(std::string_view s) { send_frame(ws_opcode::text, s); }

    /// Queues a close frame with `code` (the start or the answer of a close handshake).
    void send_close(std::uint16_t code = 1000) {
        const char body[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
        send_frame(ws_opcode::close, std::string_view(body, 2));
    }

    /// Queues raw bytes, e.g. a hand-made frame.
    void queue_bytes(std::string_view bytes) {
        if (fd_ < 0) return;
        if (out_off_ > 0 && out_off_ == out_.size()) {
            out_.clear();
            out_off_ = 0;
        }
        out_.append(bytes.data(), bytes.size());
        if (!connecting_) write_some();
    }

    /// Drops the connection with a TCP reset (SO_LINGER 0): no close frame, no FIN.
    void reset() {
        if (fd_ < 0) return;
        linger lg{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close_fd();
    }

    /// Sends a FIN (shutdown for writing) without a close frame; reading
    /// goes on, so the server's own close can be seen.
    void shutdown_write() {
        if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
    }

    /// Closes the socket (a FIN, or a reset if unread data is pending), no close frame.
    void close_fd() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    // --- Blocking helpers, each bounded by its timeout ---------------------

    /// start() and wait for the 101 response. False on refusal or timeout.
    bool connect(std::uint16_t port, Millis timeout = kDefaultTimeout, int rcvbuf = 0) {
        if (!start(port, rcvbuf)) return false;
        const auto deadline = Clock::now() + timeout;
        while (!upgraded_ && http_status_ == 0 && !eof_) {
            if (!wait(deadline)) break;
            parse_handshake();
        }
        if (!upgraded_ && error_.empty())
            error_ = http_status_ != 0 ? "handshake refused with HTTP " + std::to_string(http_status_)
                                       : "no handshake response";
        return upgraded_;
    }

    /// The next frame within `timeout`, or nothing (timeout, or the
    /// connection ended with nothing more queued).
    std::optional<ws_frame> next(Millis timeout = kDefaultTimeout) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            if (auto f = pop()) return f;
            if (eof_ || fd_ < 0) return std::nullopt;
            if (!wait(deadline)) return pop();
        }
    }

    /// Writes everything queued within `timeout`; false if some is left.
    bool flush(Millis timeout = kDefaultTimeout) {
        const auto deadline = Clock::now() + timeout;
        while (fd_ >= 0 && pending_output() > 0 && !eof_)
            if (!wait(deadline)) break;
        return pending_output() == 0;
    }

    /// Reads until the peer closes the TCP connection (discarding frames), at
    /// most `timeout`. True when it did.
    bool wait_eof(Millis timeout = kDefaultTimeout) {
        const auto deadline = Clock::now() + timeout;
        while (fd_ >= 0 && !eof_) {
            while (pop()) {
            }
            if (!wait(deadline)) break;
        }
        return eof_;
    }

private:
    bool fail(const char* what) {
        error_ = std::string(what) + ": " + std::strerror(errno);
        return false;
    }

    /// One poll() on this socket until `deadline`; false on timeout.
    bool wait(Clock::time_point deadline) {
        const auto now = Clock::now();
        if (now >= deadline || fd_ < 0) return false;
        const int ms = static_cast<int>(std::chrono::duration_cast<Millis>(deadline - now).count()) + 1;
        pollfd p{fd_, poll_events(), 0};
        const int r = ::poll(&p, 1, std::min(ms, 1000));
        if (r < 0 && errno != EINTR) return false;
        if (r > 0) on_ready(p.revents);
        return true;
    }

    void write_some() {
        while (fd_ >= 0 && pending_output() > 0) {
            const ssize_t n = ::send(fd_, out_.data() + out_off_, pending_output(), MSG_NOSIGNAL);
            if (n > 0) {
                out_off_ += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            // EPIPE/ECONNRESET: the server dropped us (e.g. after a 1009
            // close). What it sent before is still readable.
            if (errno == EPIPE || errno == ECONNRESET) reset_ = true;
            fail("send");
            out_.clear();
            out_off_ = 0;
            return;
        }
        if (out_off_ == out_.size()) {
            out_.clear();
            out_off_ = 0;
        }
    }

    void read_some() {
        if (in_off_ > 0 && (in_off_ == in_.size() || in_off_ > (1u << 20))) {
            in_.erase(0, in_off_);
            in_off_ = 0;
        }
        // One scratch buffer for every connection of the thread: growing
        // `in_` by a chunk per read would zero-fill it each time.
        constexpr std::size_t chunk = 256 * 1024;
        static thread_local std::unique_ptr<char[]> scratch(new char[chunk]);
        // Until EAGAIN, even after a short read: the edge-triggered ws_epoll
        // gets no second event for a FIN that came with the last data.
        for (int i = 0; i < 1024 && fd_ >= 0; ++i) {
            const ssize_t n = ::recv(fd_, scratch.get(), chunk, 0);
            if (n > 0) {
                in_.append(scratch.get(), static_cast<std::size_t>(n));
                bytes_read_ += static_cast<std::uint64_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n < 0 && errno == ECONNRESET) reset_ = true;
            if (n < 0) fail("recv");
            eof_ = true;
            return;
        }
    }

    bool parse_handshake() {
        if (upgraded_) return true;
        const std::size_t end = in_.find("\r\n\r\n", in_off_);
        if (end == std::string::npos) return false;
        const std::string head = in_.substr(in_off_, end - in_off_);
        in_off_ = end + 4;
        const std::size_t sp = head.find(' ');
        if (head.rfind("HTTP/1.1 ", 0) == 0 && sp != std::string::npos)
            http_status_ = std::atoi(head.c_str() + sp + 1);
        upgraded_ = http_status_ == 101;
        if (!upgraded_) eof_ = true;  // a refused handshake: the server answers and closes
        return upgraded_;
    }

    int fd_ = -1;
    bool connecting_ = false;
    bool upgraded_ = false;
    bool eof_ = false;
    int http_status_ = 0;
    std::string error_;
    std::string out_;
    std::size_t out_off_ = 0;
    std::string in_;
    std::size_t in_off_ = 0;
    std::string partial_;
    std::uint8_t partial_opcode_ = 0;
    std::uint32_t mask_counter_ = 0;
    std::uint64_t bytes_read_ = 0;
    bool reset_ = false;
};

/// One poll() over `conns` (null entries and closed sockets skipped), at
/// most `timeout`; calls on_ready for each that is ready. Returns how many were.
inline int pump(const std::vector<raw_ws*>& conns, Millis timeout) {
    std::vector<pollfd> fds;
    std::vector<raw_ws*> who;
    fds.reserve(conns.size());
    who.reserve(conns.size());
    for (raw_ws* c : conns) {
        if (c == nullptr || c->fd() < 0) continue;
        const short ev = c->poll_events();
        if (ev == 0) continue;
        fds.push_back(pollfd{c->fd(), ev, 0});
        who.push_back(c);
    }
    if (fds.empty()) return 0;
    const int r = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    if (r <= 0) return 0;
    for (std::size_t i = 0; i < fds.size(); ++i)
        if (fds[i].revents != 0) who[i]->on_ready(fds[i].revents);
    return r;
}

/// Readiness for many raw_ws at once through epoll, edge-triggered: with a
/// thousand sockets, poll() would scan all of them for every event. Each
/// socket is registered once after `start()` (for reading and writing) and
/// leaves the set by itself when it is closed. The raw_ws objects must not
/// move while registered.
class ws_epoll {
public:
    ws_epoll() : ep_(::epoll_create1(EPOLL_CLOEXEC)) {}
    ws_epoll(const ws_epoll&) = delete;
    ws_epoll& operator=(const ws_epoll&) = delete;
    ~ws_epoll() {
        if (ep_ >= 0) ::close(ep_);
    }

    bool add(raw_ws& c) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = &c;
        return ep_ >= 0 && c.fd() >= 0 && ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd(), &ev) == 0;
    }

    /// Waits up to `timeout` and does the I/O of every ready socket; returns
    /// how many were ready and, if `ready` is given, which.
    int wait(Millis timeout, std::vector<raw_ws*>* ready = nullptr) {
        epoll_event events[256];
        const int n = ::epoll_wait(ep_, events, 256, static_cast<int>(timeout.count()));
        if (ready != nullptr) ready->clear();
        for (int i = 0; i < n; ++i) {
            auto* c = static_cast<raw_ws*>(events[i].data.ptr);
            if (ready != nullptr) ready->push_back(c);
            short rev = 0;
            if ((events[i].events & EPOLLIN) != 0) rev |= POLLIN;
            if ((events[i].events & EPOLLOUT) != 0) rev |= POLLOUT;
            if ((events[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0) rev |= POLLIN | POLLERR;
            c->on_ready(rev);
        }
        return n < 0 ? 0 : n;
    }

private:
    int ep_;
};

/// Closes every open connection of `conns` with a close handshake (code
/// 1000), discarding whatever else arrives, and waits for the server to
/// close each TCP connection, all within `timeout`; then closes the
/// sockets. Returns how many finished the handshake in time.
inline int close_all(const std::vector<raw_ws*>& conns, Millis timeout = kDefaultTimeout) {
    std::vector<raw_ws*> open;
    for (raw_ws* c : conns)
        if (c != nullptr && c->is_open() && !c->eof()) {
            c->send_close(1000);
            open.push_back(c);
        }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int done = 0;
    while (!open.empty() && std::chrono::steady_clock::now() < deadline) {
        pump(open, Millis(50));
        for (auto it = open.begin(); it != open.end();) {
            raw_ws* c = *it;
            while (c->pop()) {
            }
            if (c->eof()) {
                ++done;
                c->close_fd();
                it = open.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (raw_ws* c : open) c->close_fd();
    return done;
}

}  // namespace livechat_itest

#endif  // LIVECHAT_TESTS_INTEGRATION_PROC_STATS_HPP
