// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_FORWARDED_FOR_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_FORWARDED_FOR_HPP

// Who the client is behind a reverse proxy (--trusted-proxy): IP addresses
// and ranges (ADDR[/BITS], IPv4 and IPv6), and the walk over
// `X-Forwarded-For` that finds the client address a trusted proxy vouches
// for. Pure functions over text, no sockets, so the rules are unit-tested
// on their own.
//
// The walk goes from the right: each proxy appends the address it got the
// request from, so the rightmost entries were written by our own proxies
// and everything left of the first address we do not trust was written by
// someone we do not trust (the client can send any `X-Forwarded-For` it
// likes; nginx's `$proxy_add_x_forwarded_for` keeps it and appends). The
// first untrusted entry from the right is therefore the client as far as
// our proxies know, and nothing left of it is ever read, so garbage a
// client puts there changes nothing. A malformed entry that has to be read
// means a proxy we trust is misconfigured: the peer address is used (the
// proxy's own, counted like any client) and the caller says so.

#include <arpa/inet.h>  // inet_pton, inet_ntop: the one strict parser of both families

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livechat_server {

/// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
/// is folded to IPv4, as the accept loop folds peers, so one client is one
/// address however it connected.
struct ip_address {
  std::array<unsigned char, 16> bytes{};  ///< network order; IPv4 in the first 4
  bool v6 = false;

  std::size_t size() const noexcept { return v6 ? 16 : 4; }

  /// Plain text only: "192.0.2.1", "2001:db8::1" (no brackets, port, zone
  /// or surrounding space); nullopt otherwise.
  static std::optional<ip_address> parse(std::string_view text) {
    // inet_pton wants a NUL-terminated string; the longest IPv6 text is 45.
    if (text.empty() || text.size() > 45) return std::nullopt;
    char buf[46] = {};
    std::memcpy(buf, text.data(), text.size());
    ip_address a;
    if (::inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
    if (::inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
    a.v6 = true;
    static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.bytes.data(), mapped, sizeof mapped) == 0) {
      std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
      std::memset(a.bytes.data() + 4, 0, 12);
      a.v6 = false;
    }
    return a;
  }

  /// The canonical text (inet_ntop), as the accept loop writes peers.
  std::string to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf) == nullptr) return {};
    return buf;
  }
};

/// ADDR/BITS: every address whose first BITS bits are ADDR's.
struct address_range {
  ip_address base;
  unsigned bits = 0;

  bool contains(const ip_address& a) const noexcept {
    if (a.v6 != base.v6) return false;
    const unsigned whole = bits / 8, rest = bits % 8;
    if (std::memcmp(a.bytes.data(), base.bytes.data(), whole) != 0) return false;
    if (rest == 0) return true;
    const auto mask = static_cast<unsigned char>(0xffu << (8 - rest));
    return (a.bytes[whole] & mask) == (base.bytes[whole] & mask);
  }

  std::string to_string() const { return base.to_string() + "/" + std::to_string(bits); }

  /// "ADDR" (one address) or "ADDR/BITS"; nullopt with `why` set on
  /// anything else, host bits set after the prefix included (10.0.0.1/8
  /// is a typo for 10.0.0.0/8 or for 10.0.0.1: refused rather than guessed).
  static std::optional<address_range> parse(std::string_view text, std::string& why) {
    const auto slash = text.find('/');
    const auto addr_text = text.substr(0, slash);
    const auto addr = ip_address::parse(addr_text);
    if (!addr) {
      why = "'" + std::string(addr_text) + "' is not an IPv4 or IPv6 address";
      return std::nullopt;
    }
    address_range r;
    r.base = *addr;
    const unsigned max_bits = addr->v6 ? 128 : 32;
    r.bits = max_bits;
    if (slash != std::string_view::npos) {
      const auto bits_text = text.substr(slash + 1);
      unsigned bits = 0;
      bool ok = !bits_text.empty() && bits_text.size() <= 3;
      for (char c : bits_text) {
        if (c < '0' || c > '9') ok = false;
        if (ok) bits = bits * 10 + static_cast<unsigned>(c - '0');
      }
      // An IPv4-mapped range (::ffff:10.0.0.0/104) was folded to IPv4.
      const bool folded = !addr->v6 && addr_text.find(':') != std::string_view::npos;
      if (ok && folded) {
        ok = bits >= 96;
        bits -= ok ? 96 : 0;
      }
      if (!ok || bits > max_bits) {
        why = "the prefix length after '/' must be a number from 0 to " +
              std::to_string(folded ? 128 : max_bits) + ", got '" + std::string(bits_text) + "'";
        return std::nullopt;
      }
      r.bits = bits;
    }
    address_range network = r;
    for (unsigned i = r.bits; i < max_bits; ++i)
      network.base.bytes[i / 8] = static_cast<unsigned char>(network.base.bytes[i / 8] & ~(0x80u >> (i % 8)));
    if (network.base.bytes != r.base.bytes) {
      why = "'" + std::string(text) + "' has bits set after the /" + std::to_string(r.bits) +
            " prefix; the range is " + network.to_string() + ", the one address " +
            r.base.to_string() + "/" + std::to_string(max_bits);
      return std::nullopt;
    }
    return r;
  }
};

/// The proxies whose `X-Forwarded-For` is believed (--trusted-proxy).
class trusted_proxies {
 public:
  void add(const address_range& r) { ranges_.push_back(r); }
  bool empty() const noexcept { return ranges_.empty(); }
  const std::vector<address_range>& ranges() const noexcept { return ranges_; }

  bool trusts(const ip_address& a) const noexcept {
    for (const auto& r : ranges_)
      if (r.contains(a)) return true;
    return false;
  }
  /// `address` as the accept loop writes it (text); false when it is not
  /// an address at all.
  bool trusts(std::string_view address) const {
    if (ranges_.empty()) return false;  // the usual case: no parse per accept
    const auto a = ip_address::parse(address);
    return a && trusts(*a);
  }

 private:
  std::vector<address_range> ranges_;
};

/// Where a connection's client address came from.
struct forwarded_client {
  std::string address;  ///< the address to count and log
  bool from_header = false;  ///< true: an X-Forwarded-For entry; false: the peer
  /// Set when the header had to be read and could not be: `address` is
  /// then the peer's, and this says why (for a log line).
  std::string malformed;
};

namespace forwarded_detail {

inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

/// One entry: "ADDR", "[IPv6]", and the "IPv4:port" / "[IPv6]:port" some
/// proxies write. nullopt for anything else ("unknown", obfuscated ids,
/// empty).
inline std::optional<ip_address> parse_entry(std::string_view e) {
  auto port_ok = [](std::string_view p) {
    if (p.empty() || p.size() > 5) return false;
    unsigned long n = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<unsigned long>(c - '0');
    }
    return n <= 65535;
  };
  if (!e.empty() && e.front() == '[') {
    const auto close = e.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = e.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !port_ok(rest.substr(1)))) return std::nullopt;
    const auto a = ip_address::parse(e.substr(1, close - 1));
    if (!a || !a->v6) return std::nullopt;  // brackets are for IPv6 only
    return a;
  }
  const auto colon = e.find(':');
  if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos) {
    // One colon: IPv4 with a port (IPv6 text has at least two).
    if (!port_ok(e.substr(colon + 1))) return std::nullopt;
    const auto a = ip_address::parse(e.substr(0, colon));
    if (!a || a->v6) return std::nullopt;
    return a;
  }
  return ip_address::parse(e);
}

}  // namespace forwarded_detail

/// Entries read from the right at most: a longer chain of trusted hops is
/// a loop or an attack, not a deployment.
inline constexpr std::size_t max_forwarded_entries = 32;

/// The client address of a connection from `peer` (the accept loop's
/// text) carrying `x_forwarded_for` (every such header of the request,
/// joined with commas, as HTTP allows; empty when there was none). From a
/// peer `proxies` does not trust, the header is ignored.
inline forwarded_client client_address(const std::string& peer, std::string_view x_forwarded_for,
                                       const trusted_proxies& proxies) {
  forwarded_client out;
  out.address = peer;
  if (proxies.empty() || !proxies.trusts(peer)) return out;
  if (forwarded_detail::trim(x_forwarded_for).empty()) return out;  // a check from the proxy itself

  std::optional<ip_address> leftmost;
  std::string_view rest = x_forwarded_for;
  for (std::size_t n = 1;; ++n) {
    if (n > max_forwarded_entries) {
      out.malformed = "more than " + std::to_string(max_forwarded_entries) + " trusted entries";
      return out;
    }
    const auto comma = rest.rfind(',');
    const auto entry = forwarded_detail::trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    const auto a = forwarded_detail::parse_entry(entry);
    if (!a) {
      out.malformed = "entry " + std::to_string(n) + " from the right is not an IP address";
      return out;
    }
    if (!proxies.trusts(*a)) {
      out.address = a->to_string();
      out.from_header = true;
      return out;
    }
    leftmost = a;
    if (comma == std::string_view::npos) break;
    rest = rest.substr(0, comma);
  }
  // Every hop is one of ours (a check from inside): the one furthest away.
  out.address = leftmost->to_string();
  out.from_header = true;
  return out;
}

}  // namespace livechat_server

#endif
