// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Starts the built `livechat-server` binary for the integration tests.
//
// The binary's path comes from the compile definition LIVECHAT_SERVER_BINARY
// (a string literal). ServerProcess runs it on 127.0.0.1 with `--port 0`,
// waits (bounded) for the line
//     livechat-server listening on http://127.0.0.1:PORT
// on its stdout and parses PORT. The destructor (or stop()) sends SIGTERM to
// that one pid, waits up to 5 s, then SIGKILLs it. Nothing else is ever
// signalled. On Linux the child also gets PR_SET_PDEATHSIG, so a crashed
// test run does not leave servers behind.
#ifndef LIVECHAT_TESTS_INTEGRATION_SERVER_PROCESS_HPP
#define LIVECHAT_TESTS_INTEGRATION_SERVER_PROCESS_HPP

#ifndef LIVECHAT_SERVER_BINARY
#error "LIVECHAT_SERVER_BINARY must be defined to the path of the livechat-server binary"
#endif

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
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

/// LIVECHAT_SERVER_BINARY_OVERRIDE, when set, runs the tests against another
/// build of the server (e.g. an older one, to see a test fail before a fix).
inline const char* server_binary() {
    const char* override_path = std::getenv("LIVECHAT_SERVER_BINARY_OVERRIDE");
    return override_path != nullptr && *override_path != '\0' ? override_path : LIVECHAT_SERVER_BINARY;
}

namespace detail {

using SteadyClock = std::chrono::steady_clock;

inline int remaining_ms(SteadyClock::time_point deadline) {
    const auto now = SteadyClock::now();
    if (now >= deadline) return 0;
    return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) + 1;
}

/// Exit code of a waitpid status: the exit status, or 128 + signal number
/// when the process was killed by a signal (as a shell reports it).
inline int decode_wait_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

/// Polls waitpid(pid, WNOHANG) until the child exits or the deadline passes.
inline std::optional<int> wait_child(pid_t pid, SteadyClock::time_point deadline) {
    for (int i = 0; i < 100000; ++i) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return decode_wait_status(status);
        if (r < 0 && errno != EINTR) return -1;  // not our child any more
        if (SteadyClock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
}

/// fork + execv of the server binary with `args` (argv[0] excluded).
/// The child's stdout (and stderr, if `merge_stderr`) go to a new pipe whose
/// read end is returned in `out_fd` (close-on-exec). stdin is /dev/null.
inline pid_t spawn_server(const std::vector<std::string>& args, bool merge_stderr, int& out_fd) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

    // Everything the child needs is prepared before fork: after fork only
    // async-signal-safe calls are made.
    std::vector<std::string> storage;
    storage.reserve(args.size() + 1);
    storage.emplace_back(server_binary());
    for (const auto& a : args) storage.push_back(a);
    std::vector<char*> argv;
    argv.reserve(storage.size() + 1);
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) {
        const int e = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        if (devnull >= 0) ::close(devnull);
        throw std::runtime_error(std::string("fork: ") + std::strerror(e));
    }
    if (pid == 0) {
#if defined(__linux__)
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
#else
        (void)parent;
#endif
        if (devnull >= 0) ::dup2(devnull, 0);
        ::dup2(fds[1], 1);
        if (merge_stderr) ::dup2(fds[1], 2);
        // Do not leak the test's sockets or pipes into the server.
        const long max_fd = ::sysconf(_SC_OPEN_MAX);
        const int limit = (max_fd > 0 && max_fd < 65536) ? static_cast<int>(max_fd) : 65536;
        for (int fd = 3; fd < limit; ++fd) ::close(fd);
        // Restore default signal dispositions the test runner may have changed.
        ::signal(SIGPIPE, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        ::signal(SIGINT, SIG_DFL);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    if (devnull >= 0) ::close(devnull);
    out_fd = fds[0];
    return pid;
}

/// Reads what is available from `fd` within `wait_ms`; false on EOF/error.
inline bool read_some(int fd, std::string& into, int wait_ms) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, wait_ms);
    if (r < 0) return errno == EINTR;
    if (r == 0) return true;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
        into.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    return false;  // EOF
}

}  // namespace detail

/// A running livechat-server on 127.0.0.1 with a free port.
class ServerProcess {
public:
    using Millis = std::chrono::milliseconds;

    /// Starts the server with `--host 127.0.0.1 --port 0 --store memory`
    /// plus `extra_args` (an extra `--host`, `--port` or `--store` replaces
    /// the default one). If LIVECHAT_TEST_WEB_ROOT is defined, `--web-root`
    /// defaults to it. Throws std::runtime_error if the server exits or does
    /// not print its listening line within `startup_timeout`. With
    /// `capture_stderr`, stderr goes to the same pipe and output() holds both
    /// (for tests that audit what the server logs); otherwise it is inherited.
    explicit ServerProcess(std::vector<std::string> extra_args = {}, Millis startup_timeout = Millis(10000),
                           bool capture_stderr = false) {
        std::vector<std::pair<std::string, std::string>> defaults = {
            {"--host", "127.0.0.1"},
            {"--port", "0"},
            {"--store", "memory"},
#ifdef LIVECHAT_TEST_WEB_ROOT
            {"--web-root", LIVECHAT_TEST_WEB_ROOT},
#endif
        };
        std::vector<std::string> args;
        for (const auto& d : defaults) {
            bool overridden = false;
            for (const auto& a : extra_args)
                if (a == d.first || a.rfind(d.first + "=", 0) == 0) overridden = true;
            if (!overridden) {
                args.push_back(d.first);
                args.push_back(d.second);
            }
        }
        for (auto& a : extra_args) args.push_back(std::move(a));
        args_ = args;

        pid_ = detail::spawn_server(args, capture_stderr, out_fd_);

        const auto deadline = detail::SteadyClock::now() + startup_timeout;
        static const std::string kPrefix = "livechat-server listening on http://";
        std::size_t scanned = 0;
        for (int i = 0; i < 100000 && port_ == 0; ++i) {
            const int left = detail::remaining_ms(deadline);
            if (left <= 0) break;
            const bool alive = detail::read_some(out_fd_, output_, left < 100 ? left : 100);
            // Look at every complete line not yet scanned.
            for (;;) {
                const std::size_t nl = output_.find('\n', scanned);
                if (nl == std::string::npos) break;
                std::string line = output_.substr(scanned, nl - scanned);
                scanned = nl + 1;
                if (!line.empty() && line.back() == '\r') line.pop_back();
                const std::size_t at = line.find(kPrefix);
                if (at == std::string::npos) continue;
                const std::string hostport = line.substr(at + kPrefix.size());
                const std::size_t colon = hostport.rfind(':');
                if (colon == std::string::npos) continue;
                try {
                    std::size_t used = 0;
                    const int p = std::stoi(hostport.substr(colon + 1), &used);
                    if (p > 0 && p < 65536) port_ = static_cast<std::uint16_t>(p);
                } catch (...) {
                }
                if (port_ != 0) break;
            }
            if (!alive) break;
        }
        if (port_ == 0) {
            const int code = stop(Millis(2000));
            ::close(out_fd_);
            out_fd_ = -1;
            throw std::runtime_error("livechat-server (" + std::string(server_binary()) + " " + joined_args() +
                                     ") did not report a listening port; exit code " + std::to_string(code) +
                                     "; stdout: " + output_);
        }
        drain_ = std::thread([this] { drain_loop(); });
    }

    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    ~ServerProcess() {
        stop();
        stop_drain_ = true;
        if (drain_.joinable()) drain_.join();
        if (out_fd_ >= 0) ::close(out_fd_);
    }

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    bool running() const { return !exit_code_.has_value(); }

    /// Sends `sig` to the server's pid, only while it has not been reaped.
    bool signal(int sig) {
        if (exit_code_ || pid_ <= 0) return false;
        return ::kill(pid_, sig) == 0;
    }

    /// Waits up to `timeout` for the server to exit; its exit code if it did.
    std::optional<int> wait_exit(Millis timeout) {
        if (exit_code_) return exit_code_;
        if (pid_ <= 0) return std::nullopt;
        exit_code_ = detail::wait_child(pid_, detail::SteadyClock::now() + timeout);
        return exit_code_;
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit code
    /// (128 + signal if killed by a signal, so a clean shutdown is 0).
    /// Idempotent: later calls return the recorded code.
    int stop(Millis grace = Millis(5000)) {
        if (exit_code_) return *exit_code_;
        if (pid_ <= 0) return -1;
        ::kill(pid_, SIGTERM);
        if (auto c = wait_exit(grace)) return *c;
        killed_ = true;
        ::kill(pid_, SIGKILL);
        if (auto c = wait_exit(Millis(5000))) return *c;
        return -1;
    }

    /// True if stop() had to fall back to SIGKILL.
    bool was_killed() const { return killed_; }

    /// Everything the server wrote to stdout (and stderr, if captured) so far.
    std::string output() const {
        std::lock_guard<std::mutex> lk(out_mu_);
        return output_;
    }

    /// Once the server has exited: waits (bounded) until the reader has
    /// seen the end of its output, then returns all of it.
    std::string output_after_exit(Millis timeout = Millis(2000)) const {
        const auto deadline = detail::SteadyClock::now() + timeout;
        while (!output_closed_ && detail::SteadyClock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return output();
    }

    const std::vector<std::string>& args() const { return args_; }

private:
    std::string joined_args() const {
        std::string s;
        for (const auto& a : args_) s += (s.empty() ? "" : " ") + a;
        return s;
    }

    // Keeps reading stdout so the server never blocks on a full pipe.
    void drain_loop() {
        for (int i = 0; i < 100000000 && !stop_drain_; ++i) {
            std::string chunk;
            const bool alive = detail::read_some(out_fd_, chunk, 100);
            if (!chunk.empty()) {
                std::lock_guard<std::mutex> lk(out_mu_);
                if (output_.size() < (1u << 20)) output_ += chunk;
            }
            if (!alive) {
                output_closed_ = true;
                return;
            }
        }
    }

    std::vector<std::string> args_;
    pid_t pid_ = -1;
    int out_fd_ = -1;
    std::uint16_t port_ = 0;
    std::optional<int> exit_code_;
    bool killed_ = false;
    mutable std::mutex out_mu_;
    std::string output_;
    std::thread drain_;
    std::atomic<bool> stop_drain_{false};
    std::atomic<bool> output_closed_{false};
};

/// Result of running the binary to completion.
struct RunResult {
    int exit_code = -1;  ///< -1 if it had to be killed after the timeout
    bool timed_out = false;
    std::string output;  ///< stdout and stderr, interleaved
};

/// Runs the server binary with exactly `args` (no defaults added), collects
/// stdout+stderr and waits for it to exit, bounded by `timeout` (then it is
/// SIGKILLed and timed_out is set). For flag handling (`--help`, bad flags).
inline RunResult run_server_binary(const std::vector<std::string>& args,
                                   std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    RunResult r;
    int fd = -1;
    const pid_t pid = detail::spawn_server(args, /*merge_stderr=*/true, fd);
    const auto deadline = detail::SteadyClock::now() + timeout;
    for (int i = 0; i < 100000; ++i) {
        const int left = detail::remaining_ms(deadline);
        if (left <= 0) break;
        if (!detail::read_some(fd, r.output, left < 100 ? left : 100)) break;  // EOF: child closed stdout
    }
    ::close(fd);
    std::optional<int> code = detail::wait_child(pid, deadline);
    if (!code) {
        r.timed_out = true;
        ::kill(pid, SIGKILL);
        code = detail::wait_child(pid, detail::SteadyClock::now() + std::chrono::seconds(5));
        r.exit_code = -1;
        return r;
    }
    r.exit_code = *code;
    return r;
}

}  // namespace livechat_itest

#endif  // LIVECHAT_TESTS_INTEGRATION_SERVER_PROCESS_HPP
