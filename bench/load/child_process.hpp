// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_BENCH_LOAD_CHILD_PROCESS_HPP
#define LIVECHAT_BENCH_LOAD_CHILD_PROCESS_HPP

// The server under test as a child of the load tool: started from a command
// line, its port read from the "listening on http://HOST:PORT" line both
// servers print, stopped by its pid (SIGTERM, then SIGKILL after a bounded
// wait). The tool owning the process keeps the measurement honest (the pid
// read in /proc is the server's) and leaves nothing behind: the child also
// gets SIGTERM if the tool dies first (PR_SET_PDEATHSIG).

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace livechat_load {

class child_process {
 public:
  child_process() = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() { stop(); }

  /// Starts `argv` with stdout on a pipe and stderr to `log_path`, then
  /// waits up to `timeout` for its "listening on" line. The port, or
  /// nullopt with `error` set (the child is stopped again).
  std::optional<std::uint16_t> start(std::vector<std::string> argv, const std::string& log_path,
                                     std::chrono::milliseconds timeout, std::string& error) {
    if (argv.empty()) {
      error = "no server command";
      return std::nullopt;
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      error = std::string("pipe: ") + std::strerror(errno);
      return std::nullopt;
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(&a[0]);
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      error = std::string("fork: ") + std::strerror(errno);
      ::close(out[0]);
      ::close(out[1]);
      return std::nullopt;
    }
    if (pid == 0) {  // the child: only async-signal-safe calls until exec
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(126);
      ::dup2(out[1], 1);
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (log >= 0) ::dup2(log, 2);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    pid_ = pid;
    stdout_ = out[0];

    // Read stdout until the line; bounded by `timeout` and by its size.
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int round = 0; round < 100'000; ++round) {
      const auto newline = seen.find('\n');
      if (newline != std::string::npos) {
        const std::string line = seen.substr(0, newline);
        seen.erase(0, newline + 1);
        if (const auto port = port_of(line)) return port;
        continue;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || seen.size() > 64 * 1024) break;
      pollfd p{stdout_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      char buf[1024];
      const ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = "the server exited before listening (see --server-log)";
        stop();
        return std::nullopt;
      }
      seen.append(buf, static_cast<std::size_t>(n));
    }
    if (error.empty()) error = "the server printed no 'listening on http://HOST:PORT' line in time";
    stop();
    return std::nullopt;
  }

  pid_t pid() const noexcept { return pid_; }

  /// SIGTERM, up to ~6 s for the exit, then SIGKILL. Only this child, by pid.
  void stop() noexcept {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      bool gone = false;
      for (int i = 0; i < 300 && !gone; ++i) {  // 300 x 20 ms
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
          gone = true;
          break;
        }
        timespec ts{0, 20'000'000};
        ::nanosleep(&ts, nullptr);
      }
      if (!gone) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
    if (stdout_ >= 0) {
      ::close(stdout_);
      stdout_ = -1;
    }
  }

  /// The port of "... listening on http://HOST:PORT" (HOST may be [v6]).
  static std::optional<std::uint16_t> port_of(const std::string& line) {
    const std::string marker = "listening on http://";
    const auto at = line.find(marker);
    if (at == std::string::npos) return std::nullopt;
    std::string rest = line.substr(at + marker.size());
    while (!rest.empty() && (rest.back() == '/' || rest.back() == '\r' || rest.back() == ' '))
      rest.pop_back();
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon + 1 == rest.size() || rest.size() - colon > 6)
      return std::nullopt;
    std::uint32_t port = 0;
    for (std::size_t i = colon + 1; i < rest.size(); ++i) {
      if (rest[i] < '0' || rest[i] > '9') return std::nullopt;
      port = port * 10 + static_cast<std::uint32_t>(rest[i] - '0');
    }
    if (port == 0 || port > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(port);
  }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
};

}  // namespace livechat_load

#endif
