// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// What the tests' in-process HTTP stubs (the LINE API stubs in
// line_content.test.cpp and line_files.test.cpp) answer on an accepted
// socket: a whole response with Connection: close, written in full.
#ifndef LIVECHAT_TESTS_INTEGRATION_STUB_REPLY_HPP
#define LIVECHAT_TESTS_INTEGRATION_STUB_REPLY_HPP

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace livechat_itest {

/// Writes all of `s` to `fd` (no SIGPIPE); false when the peer is gone.
/// Bounded: a peer that stops reading fails the send, it cannot spin.
inline bool send_all(int fd, std::string_view s) {
  std::size_t done = 0;
  for (int i = 0; i < 100000 && done < s.size(); ++i) {
    const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return done == s.size();
}

/// Sends `status` with `body` as `content_type` and Connection: close.
inline void send_stub_reply(int fd, int status, std::string_view content_type, std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: ";
  out.append(content_type);
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  out.append(body);
  send_all(fd, out);
}

}  // namespace livechat_itest

#endif
