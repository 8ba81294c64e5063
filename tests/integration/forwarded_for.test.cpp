// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The example server's --trusted-proxy rules (examples/server/http/
// forwarded_for.hpp), driven directly: address ranges and the
// X-Forwarded-For walk. With the integration tests because it is the
// server's code, not the library's.
#include "../../examples/server/http/forwarded_for.hpp"

#include <catch2/catch.hpp>

#include <string>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_forwarded_for {

using namespace livechat_server;

namespace {

address_range range(const std::string& text) {
  std::string why;
  auto r = address_range::parse(text, why);
  INFO(text << ": " << why);
  REQUIRE(r.has_value());
  return *r;
}

std::string refused(const std::string& text) {
  std::string why;
  auto r = address_range::parse(text, why);
  INFO(text);
  CHECK_FALSE(r.has_value());
  return why;
}

bool in(const address_range& r, const std::string& addr) {
  auto a = ip_address::parse(addr);
  INFO(addr);
  REQUIRE(a.has_value());
  return r.contains(*a);
}

trusted_proxies proxies(std::initializer_list<const char*> list) {
  trusted_proxies p;
  for (const char* s : list) p.add(range(s));
  return p;
}

}  // namespace

TEST_CASE("ip_address: strict text, IPv4-mapped folded", "[forwarded_for]") {
  CHECK(ip_address::parse("192.0.2.1")->to_string() == "192.0.2.1");
  CHECK(ip_address::parse("2001:DB8::1")->to_string() == "2001:db8::1");
  const auto mapped = ip_address::parse("::ffff:192.0.2.7");
  REQUIRE(mapped.has_value());
  CHECK_FALSE(mapped->v6);
  CHECK(mapped->to_string() == "192.0.2.7");
  for (const char* bad : {"", " 192.0.2.1", "192.0.2.1 ", "192.0.2", "192.0.2.256", "01.2.3.4",
                          "1.2.3.4.5", "[::1]", "::1%lo", "unknown", "host.example.com", "1.2.3.4:80",
                          "0x7f.0.0.1", "::g"})
    CHECK_FALSE(ip_address::parse(bad).has_value());
}

TEST_CASE("address_range: ADDR and ADDR/BITS, both families", "[forwarded_for]") {
  const auto one = range("10.1.2.3");
  CHECK(one.bits == 32);
  CHECK(in(one, "10.1.2.3"));
  CHECK_FALSE(in(one, "10.1.2.4"));

  const auto net = range("10.0.0.0/8");
  CHECK(in(net, "10.255.0.1"));
  CHECK_FALSE(in(net, "11.0.0.0"));
  CHECK_FALSE(in(net, "::ffff:11.0.0.1"));
  CHECK(in(net, "::ffff:10.0.0.1"));  // a mapped peer is the IPv4 client

  const auto odd = range("172.16.0.0/12");  // a prefix inside a byte
  CHECK(in(odd, "172.31.255.255"));
  CHECK_FALSE(in(odd, "172.32.0.0"));
  CHECK_FALSE(in(odd, "172.15.255.255"));

  const auto all4 = range("0.0.0.0/0");
  CHECK(in(all4, "203.0.113.9"));
  CHECK_FALSE(in(all4, "::1"));  // families never match each other

  const auto v6 = range("2001:db8:abcd::/48");
  CHECK(in(v6, "2001:db8:abcd:1::5"));
  CHECK_FALSE(in(v6, "2001:db8:abce::5"));
  CHECK_FALSE(in(v6, "10.0.0.1"));
  CHECK(range("::1").bits == 128);
  CHECK(range("fc00::/7").contains(*ip_address::parse("fdff::1")));
  CHECK_FALSE(range("fc00::/7").contains(*ip_address::parse("fe00::1")));

  const auto mapped = range("::ffff:10.0.0.0/104");  // folded: 10.0.0.0/8
  CHECK_FALSE(mapped.base.v6);
  CHECK(mapped.bits == 8);
  CHECK(in(mapped, "10.9.9.9"));
}

TEST_CASE("address_range: clear refusals", "[forwarded_for]") {
  CHECK(refused("10.0.0.1/8").find("10.0.0.0/8") != std::string::npos);  // host bits set
  CHECK(refused("10.0.0.0/33").find("0 to 32") != std::string::npos);
  CHECK(refused("::/129").find("0 to 128") != std::string::npos);
  CHECK(refused("10.0.0.0/").find("prefix length") != std::string::npos);
  CHECK(refused("10.0.0.0/+8").find("prefix length") != std::string::npos);
  CHECK(refused("10.0.0.0/08x").find("prefix length") != std::string::npos);
  CHECK(refused("::ffff:10.0.0.0/64").find("prefix length") != std::string::npos);
  CHECK(refused("proxy.example.com").find("not an IPv4 or IPv6 address") != std::string::npos);
  CHECK(refused("").find("not an IPv4 or IPv6 address") != std::string::npos);
  CHECK(refused("2001:db8::1/32").find("2001:db8::/32") != std::string::npos);
  CHECK(refused("fd00::/7").find("fc00::/7") != std::string::npos);
}

TEST_CASE("X-Forwarded-For: only from trusted peers, rightmost untrusted entry", "[forwarded_for]") {
  const auto p = proxies({"127.0.0.1", "10.0.0.0/8", "fd00::/8"});

  SECTION("an untrusted peer's header is ignored") {
    const auto c = client_address("198.51.100.7", "203.0.113.1", p);
    CHECK(c.address == "198.51.100.7");
    CHECK_FALSE(c.from_header);
    CHECK(c.malformed.empty());
    CHECK(client_address("127.0.0.1", "203.0.113.1", trusted_proxies()).address == "127.0.0.1");
  }
  SECTION("one hop") {
    const auto c = client_address("127.0.0.1", "203.0.113.1", p);
    CHECK(c.address == "203.0.113.1");
    CHECK(c.from_header);
  }
  SECTION("trusted hops on the right are skipped, the client's own claims on the left ignored") {
    // The client wrote "1.1.1.1, garbage"; nginx appended what it saw.
    CHECK(client_address("127.0.0.1", "1.1.1.1, not-an-ip, 203.0.113.1,10.2.3.4 ,\t10.0.0.9", p).address ==
          "203.0.113.1");
    CHECK(client_address("10.0.0.9", "198.51.100.20, 127.0.0.1", p).address == "198.51.100.20");
  }
  SECTION("IPv6, brackets and ports, mapped addresses") {
    CHECK(client_address("fd00::2", "2001:db8::7", p).address == "2001:db8::7");
    CHECK(client_address("127.0.0.1", "[2001:db8::8]:4711", p).address == "2001:db8::8");
    CHECK(client_address("127.0.0.1", "[2001:db8::9]", p).address == "2001:db8::9");
    CHECK(client_address("127.0.0.1", "203.0.113.5:1234", p).address == "203.0.113.5");
    CHECK(client_address("127.0.0.1", "::ffff:203.0.113.6", p).address == "203.0.113.6");
  }
  SECTION("no header from a trusted peer: the peer") {
    const auto c = client_address("127.0.0.1", " ", p);
    CHECK(c.address == "127.0.0.1");
    CHECK_FALSE(c.from_header);
    CHECK(c.malformed.empty());
  }
  SECTION("every hop trusted: the one furthest away") {
    CHECK(client_address("127.0.0.1", "10.0.0.5, 10.0.0.6", p).address == "10.0.0.5");
  }
  SECTION("a malformed entry that must be read: the peer, and why") {
    for (const char* bad : {"unknown", "203.0.113.1, ", "203.0.113.1,,10.0.0.1", "_hidden",
                            "[203.0.113.1]", "203.0.113.1:99999", "[2001:db8::1", "2001:db8::1]:80",
                            "203.0.113.1 10.0.0.1"}) {
      INFO(bad);
      const auto c = client_address("127.0.0.1", bad, p);
      CHECK(c.address == "127.0.0.1");
      CHECK_FALSE(c.from_header);
      CHECK_FALSE(c.malformed.empty());
    }
    CHECK(client_address("127.0.0.1", "203.0.113.1, 10.0.0.1, bogus", p).malformed ==
          "entry 1 from the right is not an IP address");
    CHECK(client_address("127.0.0.1", "bogus, 10.0.0.1", p).malformed ==
          "entry 2 from the right is not an IP address");
  }
  SECTION("the walk is bounded") {
    std::string chain = "203.0.113.1";
    for (std::size_t i = 0; i < max_forwarded_entries; ++i) chain += ", 10.0.0.1";
    const auto c = client_address("127.0.0.1", chain, p);
    CHECK(c.address == "127.0.0.1");
    CHECK_FALSE(c.malformed.empty());
    std::string shorter = "203.0.113.1";
    for (std::size_t i = 0; i + 1 < max_forwarded_entries; ++i) shorter += ", 10.0.0.1";
    CHECK(client_address("127.0.0.1", shorter, p).address == "203.0.113.1");
  }
}

}  // namespace livechat_itest_forwarded_for
