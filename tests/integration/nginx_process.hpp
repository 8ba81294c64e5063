// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_TESTS_INTEGRATION_NGINX_PROCESS_HPP
#define LIVECHAT_TESTS_INTEGRATION_NGINX_PROCESS_HPP

// A throwaway nginx in front of livechat-server nodes, for the tests: the
// configuration docs/cluster.md shows (WebSocket upgrade headers, a read
// timeout above the heartbeat, X-Forwarded-For from
// $proxy_add_x_forwarded_for), generated into a temp dir with its error
// log, started in the foreground on a free loopback port (`-p DIR -c CONF
// -g 'daemon off; pid ...;'`), stopped by its pid and removed.
//
// Besides `/` (balanced over the cluster's nodes), `/node-N/` reaches node
// N alone, so a test can say which node a client lands on.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace livechat_itest {

/// nginx from PATH or /usr/sbin (Debian installs it there, off a user's
/// PATH); empty when there is none.
inline std::string find_nginx() {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string p = path;
    for (std::size_t start = 0; start <= p.size();) {
      const auto colon = p.find(':', start);
      dirs.push_back(p.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  dirs.push_back("/usr/sbin");
  dirs.push_back("/usr/local/sbin");
  for (const auto& d : dirs) {
    if (d.empty()) continue;
    const std::string f = d + "/nginx";
    if (::access(f.c_str(), X_OK) == 0) return f;
  }
  return {};
}

/// The proxy part of the configuration (inside `http { }`): what
/// docs/cluster.md shows. `nodes` are the livechat-server ports.
inline std::string nginx_livechat_config(std::uint16_t listen_port, const std::vector<std::uint16_t>& nodes,
                                         std::size_t balanced_nodes) {
  std::string c;
  c += "  # Connection: upgrade only when the client asked for a WebSocket.\n"
       "  map $http_upgrade $connection_upgrade {\n"
       "    default upgrade;\n"
       "    ''      close;\n"
       "  }\n"
       "  upstream livechat {\n";
  for (std::size_t i = 0; i < balanced_nodes && i < nodes.size(); ++i)
    c += "    server 127.0.0.1:" + std::to_string(nodes[i]) + ";\n";
  c += "  }\n";
  for (std::size_t i = 0; i < nodes.size(); ++i)
    c += "  upstream livechat_node" + std::to_string(i) + " {\n    server 127.0.0.1:" +
         std::to_string(nodes[i]) + ";\n  }\n";
  c += "  server {\n"
       "    listen 127.0.0.1:" + std::to_string(listen_port) + ";\n"
       "    proxy_http_version 1.1;\n"
       "    proxy_set_header Upgrade $http_upgrade;\n"
       "    proxy_set_header Connection $connection_upgrade;\n"
       "    proxy_set_header Host $host;\n"
       "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
       "    proxy_set_header X-Forwarded-Proto $scheme;\n"
       "    # Above the server's 25 s heartbeat and 60 s idle timeout: nginx\n"
       "    # must not be the one to end a quiet WebSocket.\n"
       "    proxy_read_timeout 75s;\n"
       "    proxy_send_timeout 75s;\n"
       "    location / {\n"
       "      proxy_pass http://livechat;\n"
       "    }\n";
  for (std::size_t i = 0; i < nodes.size(); ++i)
    c += "    location /node-" + std::to_string(i) + "/ {\n      proxy_pass http://livechat_node" +
         std::to_string(i) + "/;\n    }\n";
  c += "  }\n";
  return c;
}

class NginxProcess {
 public:
  /// Starts nginx in front of `nodes` (the first `balanced_nodes` behind
  /// `/`). ok() says whether it runs; error() why not.
  NginxProcess(const std::string& binary, const std::vector<std::uint16_t>& nodes, std::size_t balanced_nodes) {
    char tmpl[] = "/tmp/livechat-nginx-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    // Workers run as `nobody` when the master is root: they must reach
    // the temp dirs nginx creates (and chowns) in here.
    ::chmod(dir_.c_str(), 0755);
    // A port found free may be taken before nginx binds it: a few tries.
    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) {
      port_ = free_port();
      if (port_ == 0) continue;
      write_config(nodes, balanced_nodes);
      start(binary);
    }
  }

  ~NginxProcess() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  bool ok() const { return pid_ > 0; }
  std::uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }
  std::string error_log() const { return read_file(dir_ + "/error.log"); }

  /// SIGTERM (fast shutdown) to the master, by pid; SIGKILL after 5 s.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!wait_exit(std::chrono::seconds(5))) {
      ::kill(pid_, SIGKILL);
      wait_exit(std::chrono::seconds(5));
    }
    pid_ = -1;
  }

 private:
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    return port;
  }

  static std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  void write_config(const std::vector<std::uint16_t>& nodes, std::size_t balanced_nodes) {
    std::ofstream out(dir_ + "/nginx.conf", std::ios::trunc);
    out << "worker_processes 1;\n"
           "error_log " << dir_ << "/error.log warn;\n"
           "events {\n  worker_connections 512;\n}\n"
           "http {\n"
           "  access_log off;\n"
           "  client_body_temp_path " << dir_ << "/client_body;\n"
           "  proxy_temp_path " << dir_ << "/proxy;\n"
           "  fastcgi_temp_path " << dir_ << "/fastcgi;\n"
           "  uwsgi_temp_path " << dir_ << "/uwsgi;\n"
           "  scgi_temp_path " << dir_ << "/scgi;\n"
        << nginx_livechat_config(port_, nodes, balanced_nodes) << "}\n";
  }

  bool accepting() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  void start(const std::string& binary) {
    const std::string conf = dir_ + "/nginx.conf";
    const std::string globals = "daemon off; pid " + dir_ + "/nginx.pid;";
    const std::string startup_log = dir_ + "/error.log";
    const pid_t pid = ::fork();
    if (pid < 0) {
      error_ = "fork failed";
      return;
    }
    if (pid == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
      }
      // -e: the log nginx writes before it has read the configuration
      // (else the system's /var/log/nginx/error.log).
      ::execl(binary.c_str(), binary.c_str(), "-e", startup_log.c_str(), "-p", dir_.c_str(), "-c",
              conf.c_str(), "-g", globals.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_ = pid;
    // Up when the port accepts; a failed start (port taken) exits.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (accepting()) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "nginx exited at start: " + error_log();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    error_ = "nginx did not accept on its port within 10 s: " + error_log();
    stop();
  }

  bool wait_exit(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || r < 0) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::string dir_;
  std::string error_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace livechat_itest

#endif
