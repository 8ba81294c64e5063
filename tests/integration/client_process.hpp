// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Runs the built `livechat-client` binary for the integration tests.
//
// The binary's path comes from the compile definition LIVECHAT_CLIENT_BINARY.
// ClientProcess starts it with a pipe on stdin (write_line, close_stdin) and
// collects stdout lines and stderr text on a reader thread, so the client
// never blocks on a full pipe. Every wait is bounded. The destructor sends
// SIGTERM to that one pid, waits, then SIGKILLs it; nothing else is ever
// signalled. The child gets PR_SET_PDEATHSIG on Linux.
#ifndef LIVECHAT_TESTS_INTEGRATION_CLIENT_PROCESS_HPP
#define LIVECHAT_TESTS_INTEGRATION_CLIENT_PROCESS_HPP

#ifndef LIVECHAT_CLIENT_BINARY
#error "LIVECHAT_CLIENT_BINARY must be defined to the path of the livechat-client binary"
#endif

#include "server_process.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

namespace livechat_itest {

/// The client under test: LIVECHAT_CLIENT_BINARY_OVERRIDE when set (the
/// sanitizer tree runs this harness against its own client), else the one
/// built beside this harness.
inline const char* client_binary() {
    const char* override_path = std::getenv("LIVECHAT_CLIENT_BINARY_OVERRIDE");
    return override_path != nullptr && *override_path != '\0' ? override_path : LIVECHAT_CLIENT_BINARY;
}

/// `ws://127.0.0.1:PORT/api/v1/ws/live-chat`
inline std::string ws_url(std::uint16_t port) {
    return "ws://127.0.0.1:" + std::to_string(port) + "/api/v1/ws/live-chat";
}

class ClientProcess {
public:
    using Millis = std::chrono::milliseconds;
    using Clock = std::chrono::steady_clock;

    /// Starts `livechat-client args...`. Throws std::runtime_error when the
    /// pipes or the fork fail.
    explicit ClientProcess(const std::vector<std::string>& args) {
        // A write to the stdin of a client that already exited must fail
        // with EPIPE, not kill the test runner.
        ::signal(SIGPIPE, SIG_IGN);
        int in[2], out[2], err[2];
        if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
        if (::pipe2(out, O_CLOEXEC) != 0) {
            ::close(in[0]);
            ::close(in[1]);
            throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
        }
        if (::pipe2(err, O_CLOEXEC) != 0) {
            for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
            throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
        }
        std::vector<std::string> storage;
        storage.reserve(args.size() + 1);
        storage.emplace_back(client_binary());
        for (const auto& a : args) storage.push_back(a);
        std::vector<char*> argv;
        for (auto& s : storage) argv.push_back(s.data());
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();

        pid_ = ::fork();
        if (pid_ < 0) {
            const int e = errno;
            for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
            throw std::runtime_error(std::string("fork: ") + std::strerror(e));
        }
        if (pid_ == 0) {
#if defined(__linux__)
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
#else
            (void)parent;
#endif
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            ::dup2(err[1], 2);
            const long max_fd = ::sysconf(_SC_OPEN_MAX);
            const int limit = (max_fd > 0 && max_fd < 65536) ? static_cast<int>(max_fd) : 65536;
            for (int fd = 3; fd < limit; ++fd) ::close(fd);
            ::signal(SIGPIPE, SIG_DFL);
            ::signal(SIGTERM, SIG_DFL);
            ::signal(SIGINT, SIG_DFL);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(in[0]);
        ::close(out[1]);
        ::close(err[1]);
        stdin_fd_ = in[1];
        out_fd_ = out[0];
        err_fd_ = err[0];
        reader_ = std::thread([this] { read_loop(); });
    }

    ClientProcess(const ClientProcess&) = delete;
    ClientProcess& operator=(const ClientProcess&) = delete;

    ~ClientProcess() {
        close_stdin();
        stop();
        stop_reader_ = true;
        if (reader_.joinable()) reader_.join();
        if (out_fd_ >= 0) ::close(out_fd_);
        if (err_fd_ >= 0) ::close(err_fd_);
    }

    pid_t pid() const { return pid_; }

    /// Writes `line` + '\n' to the client's stdin (blocking; the client
    /// reads continuously). False once stdin is closed or the client is gone.
    bool write_line(const std::string& line) {
        if (stdin_fd_ < 0) return false;
        const std::string data = line + "\n";
        std::size_t done = 0;
        for (int i = 0; i < 100000 && done < data.size(); ++i) {
            const ssize_t n = ::write(stdin_fd_, data.data() + done, data.size() - done);
            if (n > 0) {
                done += static_cast<std::size_t>(n);
            } else if (n < 0 && errno != EINTR) {
                return false;  // EPIPE: the client exited
            }
        }
        return done == data.size();
    }

    void close_stdin() {
        if (stdin_fd_ >= 0) ::close(stdin_fd_);
        stdin_fd_ = -1;
    }

    bool signal(int sig) {
        if (exit_code_ || pid_ <= 0) return false;
        return ::kill(pid_, sig) == 0;
    }

    std::optional<int> wait_exit(Millis timeout) {
        if (exit_code_) return exit_code_;
        if (pid_ <= 0) return std::nullopt;
        exit_code_ = detail::wait_child(pid_, Clock::now() + timeout);
        return exit_code_;
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; the exit code.
    int stop(Millis grace = Millis(3000)) {
        if (exit_code_) return *exit_code_;
        if (pid_ <= 0) return -1;
        ::kill(pid_, SIGTERM);
        if (auto c = wait_exit(grace)) return *c;
        ::kill(pid_, SIGKILL);
        if (auto c = wait_exit(Millis(5000))) return *c;
        return -1;
    }

    /// Complete stdout lines so far (without '\n').
    std::vector<std::string> lines() const {
        std::lock_guard<std::mutex> lk(mu_);
        return lines_;
    }

    std::size_t line_count() const {
        std::lock_guard<std::mutex> lk(mu_);
        return lines_.size();
    }

    std::string stderr_text() const {
        std::lock_guard<std::mutex> lk(mu_);
        return err_;
    }

    /// Waits until `pred(lines)` holds; false after `timeout`.
    bool wait_until(const std::function<bool(const std::vector<std::string>&)>& pred, Millis timeout) {
        std::unique_lock<std::mutex> lk(mu_);
        return cv_.wait_for(lk, timeout, [&] { return pred(lines_); });
    }

    /// Waits until the output holds at least `n` lines that satisfy `pred`.
    bool wait_for_lines(std::size_t n, const std::function<bool(const std::string&)>& pred, Millis timeout) {
        return wait_until(
            [&](const std::vector<std::string>& ls) {
                std::size_t k = 0;
                for (const auto& l : ls) if (pred(l)) ++k;
                return k >= n;
            },
            timeout);
    }

    /// Waits until the client closed stdout and stderr (it exited, usually).
    bool wait_eof(Millis timeout) {
        std::unique_lock<std::mutex> lk(mu_);
        return cv_.wait_for(lk, timeout, [&] { return eof_; });
    }

    /// Waits for a stderr text containing `needle`.
    bool wait_for_stderr(const std::string& needle, Millis timeout) {
        std::unique_lock<std::mutex> lk(mu_);
        return cv_.wait_for(lk, timeout, [&] { return err_.find(needle) != std::string::npos; });
    }

private:
    void read_loop() {
        bool out_open = true, err_open = true;
        std::string partial;
        for (long i = 0; i < 100000000 && !stop_reader_ && (out_open || err_open); ++i) {
            pollfd p[2] = {{out_open ? out_fd_ : -1, POLLIN, 0}, {err_open ? err_fd_ : -1, POLLIN, 0}};
            const int r = ::poll(p, 2, 100);
            if (r < 0 && errno != EINTR) return;
            if (r <= 0) continue;
            char buf[16384];
            if (out_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                const ssize_t n = ::read(out_fd_, buf, sizeof buf);
                if (n > 0) {
                    partial.append(buf, static_cast<std::size_t>(n));
                    std::lock_guard<std::mutex> lk(mu_);
                    std::size_t start = 0;
                    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1)
                        lines_.push_back(partial.substr(start, nl - start));
                    partial.erase(0, start);
                    cv_.notify_all();
                } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                    out_open = false;
                }
            }
            if (err_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                const ssize_t n = ::read(err_fd_, buf, sizeof buf);
                if (n > 0) {
                    std::lock_guard<std::mutex> lk(mu_);
                    if (err_.size() < (1u << 20)) err_.append(buf, static_cast<std::size_t>(n));
                    cv_.notify_all();
                } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                    err_open = false;
                }
            }
        }
        std::lock_guard<std::mutex> lk(mu_);
        if (!partial.empty()) lines_.push_back(partial);
        eof_ = true;
        cv_.notify_all();
    }

    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
    std::optional<int> exit_code_;
    std::thread reader_;
    std::atomic<bool> stop_reader_{false};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> lines_;
    std::string err_;
    bool eof_ = false;
};

/// Runs the client to completion with `args` (stdin closed at once); exit
/// code, stdout lines and stderr. Bounded by `timeout` (then SIGKILLed: -1).
struct ClientRun {
    int exit_code = -1;
    std::vector<std::string> lines;
    std::string err;
};

inline ClientRun run_client(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    ClientProcess p(args);
    p.close_stdin();
    ClientRun r;
    auto code = p.wait_exit(timeout);
    r.exit_code = code ? *code : -1;
    if (!code) p.stop(std::chrono::milliseconds(0));
    p.wait_eof(std::chrono::milliseconds(2000));  // what it wrote before it exited
    r.lines = p.lines();
    r.err = p.stderr_text();
    return r;
}

}  // namespace livechat_itest

#endif  // LIVECHAT_TESTS_INTEGRATION_CLIENT_PROCESS_HPP
