// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_BENCH_LOAD_WS_FRAME_HPP
#define LIVECHAT_BENCH_LOAD_WS_FRAME_HPP

// The client side of RFC 6455, only as much as a load generator needs: the
// upgrade request and the check of its answer, masked frames out, unmasked
// frames in. Hand-rolled so that one thread drives thousands of connections
// with one recvmsg() per readable socket and no allocation per frame: a
// general client library costs more CPU per frame than the server being
// measured, and then the generator, not the server, sets the pace.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace livechat_load {

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// The HTTP upgrade request of one connection. The key is fixed: the
/// server's Sec-WebSocket-Accept is not checked (status 101 is), which is
/// enough against a server we started ourselves on loopback.
inline std::string upgrade_request(std::string_view host, std::uint16_t port, std::string_view path) {
  std::string r;
  r.reserve(200 + path.size() + host.size());
  r.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host).append(":");
  r.append(std::to_string(port));
  r.append(
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return r;
}

/// What the start of a connection's input says about the upgrade.
struct upgrade_answer {
  enum status_kind { incomplete, accepted, refused } status = incomplete;
  std::size_t consumed = 0;      ///< bytes of the HTTP response (with the blank line)
  std::string_view status_line;  ///< for the error message when refused
};

/// Upgrade responses longer than this are refused (a server answering with
/// an error page larger than this is not one we can measure anyway).
inline constexpr std::size_t max_upgrade_response = 16 * 1024;

inline upgrade_answer parse_upgrade_response(std::string_view data) {
  upgrade_answer a;
  const auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > max_upgrade_response) {
      a.status = upgrade_answer::refused;
      a.status_line = data.substr(0, data.find("\r\n"));
    }
    return a;
  }
  a.consumed = end + 4;
  a.status_line = data.substr(0, data.find("\r\n"));
  a.status = a.status_line.rfind("HTTP/1.1 101", 0) == 0 ? upgrade_answer::accepted : upgrade_answer::refused;
  return a;
}

/// Appends one client frame (FIN set, masked with `mask`) to `out`.
/// RFC 6455 wants the key unpredictable to intermediaries; on loopback the
/// server only needs one, so the caller passes a cheap pseudo-random value.
inline void append_client_frame(std::string& out, opcode op, std::string_view payload, std::uint32_t mask) {
  char header[14];
  std::size_t n = 0;
  header[n++] = static_cast<char>(0x80U | static_cast<unsigned>(op));
  const std::uint64_t len = payload.size();
  if (len < 126) {
    header[n++] = static_cast<char>(0x80U | static_cast<unsigned>(len));
  } else if (len <= 0xFFFF) {
    header[n++] = static_cast<char>(0x80U | 126U);
    header[n++] = static_cast<char>((len >> 8) & 0xFFU);
    header[n++] = static_cast<char>(len & 0xFFU);
  } else {
    header[n++] = static_cast<char>(0x80U | 127U);
    for (int shift = 56; shift >= 0; shift -= 8) header[n++] = static_cast<char>((len >> shift) & 0xFFU);
  }
  const char key[4] = {static_cast<char>(mask >> 24), static_cast<char>((mask >> 16) & 0xFFU),
                       static_cast<char>((mask >> 8) & 0xFFU), static_cast<char>(mask & 0xFFU)};
  for (char k : key) header[n++] = k;
  out.append(header, n);
  const std::size_t start = out.size();
  out.append(payload);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out[start + i] = static_cast<char>(out[start + i] ^ key[i & 3U]);
}

/// One frame from the server, pointing into the caller's buffer.
struct frame_view {
  bool fin = false;
  opcode op = opcode::continuation;
  std::string_view payload;
  std::size_t size = 0;  ///< header + payload: what to consume
};

enum class frame_status { complete, incomplete, bad };

/// Parses the frame at the start of `data`. Server frames are never masked
/// and this tool negotiates no extension (RFC 6455 5.1, 5.2): a mask bit, a
/// reserved bit or a payload above `max_payload` is `bad`.
inline frame_status parse_server_frame(std::string_view data, std::uint64_t max_payload, frame_view& f) {
  if (data.size() < 2) return frame_status::incomplete;
  const auto b0 = static_cast<unsigned char>(data[0]);
  const auto b1 = static_cast<unsigned char>(data[1]);
  if ((b0 & 0x70U) != 0 || (b1 & 0x80U) != 0) return frame_status::bad;
  std::uint64_t len = b1 & 0x7FU;
  std::size_t header = 2;
  if (len == 126) {
    if (data.size() < 4) return frame_status::incomplete;
    len = (std::uint64_t{static_cast<unsigned char>(data[2])} << 8) | static_cast<unsigned char>(data[3]);
    header = 4;
  } else if (len == 127) {
    if (data.size() < 10) return frame_status::incomplete;
    len = 0;
    for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(data[i]);
    header = 10;
  }
  if (len > max_payload) return frame_status::bad;
  if (data.size() - header < len) return frame_status::incomplete;
  f.fin = (b0 & 0x80U) != 0;
  f.op = static_cast<opcode>(b0 & 0x0FU);
  f.payload = data.substr(header, static_cast<std::size_t>(len));
  f.size = header + static_cast<std::size_t>(len);
  return frame_status::complete;
}

}  // namespace livechat_load

#endif
