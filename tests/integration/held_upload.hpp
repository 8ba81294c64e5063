// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_TESTS_INTEGRATION_HELD_UPLOAD_HPP
#define LIVECHAT_TESTS_INTEGRATION_HELD_UPLOAD_HPP

// An upload held open: POST /api/v1/attachments with its headers and the
// first bytes of its body sent, the rest when the test says. The server
// holds its memory meanwhile (--max-upload-memory-bytes). 127.0.0.1 only.

#include "stub_reply.hpp"
#include "ws_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace livechat_itest {

class held_upload {
 public:
  /// Sends the headers of a `body`-sized upload (Bearer `token`) and its
  /// first `first` bytes. ok() false when the connection failed.
  held_upload(std::uint16_t port, std::string body, std::size_t first, const std::string& token = "op")
      : body_(std::move(body)), sent_(0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    const std::string head = "POST /api/v1/attachments?name=held.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Authorization: Bearer " + token +
                             "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                             std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n";
    ok_ = send_all(head) && send_all(body_.substr(0, first));
    sent_ = first;
  }
  ~held_upload() {
    if (fd_ >= 0) ::close(fd_);
  }
  held_upload(const held_upload&) = delete;
  held_upload& operator=(const held_upload&) = delete;

  bool ok() const noexcept { return ok_; }

  /// Sends the rest of the body and reads the answer (at most 10 s).
  HttpResponse finish() {
    HttpResponse out;
    if (!ok_ || !send_all(body_.substr(sent_))) {
      out.error = "send failed";
      return out;
    }
    std::string raw;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && !detail::http_response_complete(raw)) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      raw.append(buf, static_cast<std::size_t>(n));
    }
    detail::parse_http_response(raw, out);
    return out;
  }

 private:
  bool send_all(const std::string& s) { return livechat_itest::send_all(fd_, s); }

  int fd_ = -1;
  std::string body_;
  std::size_t sent_;
  bool ok_ = false;
};

}  // namespace livechat_itest

#endif
