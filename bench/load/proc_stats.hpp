// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_BENCH_LOAD_PROC_STATS_HPP
#define LIVECHAT_BENCH_LOAD_PROC_STATS_HPP

// What the load tool reads about the server process (Linux /proc) and about
// itself: CPU time and resident memory. CPU from /proc/PID/stat (utime +
// stime, every thread of the process, in clock ticks: 10 ms at the usual
// 100 Hz, so a window of a few seconds is good to a fraction of a percent).

#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <optional>
#include <string>
#include <string_view>

namespace livechat_load {

/// The whole of a small /proc file, or nullopt when it cannot be read (the
/// process is gone).
inline std::optional<std::string> read_proc_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (int i = 0; i < 64; ++i) {  // /proc/PID/status is ~1.5 KiB; 256 KiB is plenty
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (out.empty()) return std::nullopt;
  return out;
}

/// utime + stime of `pid` in seconds (every thread), from /proc/PID/stat.
inline std::optional<double> process_cpu_seconds(pid_t pid) {
  const auto stat = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces:
  // count fields from the last ')'. Field 3 (state) is the first after it,
  // so utime (14) and stime (15) are the 12th and 13th.
  const auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::string_view rest(*stat);
  rest.remove_prefix(close + 1);
  std::uint64_t ticks = 0;
  int field = 0;
  std::size_t i = 0;
  while (i < rest.size() && field < 13) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < rest.size() && rest[i] != ' ') ++i;
    if (start == i) break;
    ++field;
    if (field == 12 || field == 13) {
      std::uint64_t v = 0;
      for (std::size_t j = start; j < i; ++j) {
        if (rest[j] < '0' || rest[j] > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(rest[j] - '0');
      }
      ticks += v;
    }
  }
  if (field < 13) return std::nullopt;
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return std::nullopt;
  return static_cast<double>(ticks) / static_cast<double>(hz);
}

/// VmRSS of `pid` in KiB, from /proc/PID/status.
inline std::optional<std::uint64_t> process_rss_kib(pid_t pid) {
  const auto status = read_proc_file("/proc/" + std::to_string(pid) + "/status");
  if (!status) return std::nullopt;
  const auto at = status->find("\nVmRSS:");
  if (at == std::string::npos) return std::nullopt;
  std::size_t i = at + 7;
  while (i < status->size() && ((*status)[i] == ' ' || (*status)[i] == '\t')) ++i;
  std::uint64_t v = 0;
  const std::size_t start = i;
  while (i < status->size() && (*status)[i] >= '0' && (*status)[i] <= '9')
    v = v * 10 + static_cast<std::uint64_t>((*status)[i++] - '0');
  if (i == start) return std::nullopt;
  return v;  // the kernel writes "kB", which is KiB
}

/// This process's user + system CPU time in seconds (is the generator
/// itself the bottleneck?).
inline double self_cpu_seconds() noexcept {
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

}  // namespace livechat_load

#endif
