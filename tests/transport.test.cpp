// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/server/transport.hpp>

#include <livechat/clock.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace {

using livechat::server::is_clock_v;
using livechat::server::is_transport_v;
using livechat::server::payload_ptr;

// ------------------------------------------------------------------ transports

struct good_transport {
  using connection_id = std::uint64_t;
  void send(const connection_id&, const payload_ptr&) {}
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

/// Other spellings that satisfy the same expressions.
struct loose_transport {
  using connection_id = std::string;
  bool send(connection_id, payload_ptr) { return true; }                // by value, any result
  int close(connection_id, unsigned, std::string_view) { return 0; }     // wider parameter types
  int buffered_amount(connection_id) { return 0; }                       // convertible result
};

struct template_transport {
  using connection_id = int;
  template <class Id, class P>
  void send(const Id&, const P&) {}
  template <class... A>
  void close(A&&...) {}
  template <class Id>
  std::size_t buffered_amount(const Id&) { return 0; }
};

struct no_connection_id {
  void send(const int&, const payload_ptr&) {}
  void close(const int&, std::uint16_t, std::string_view) {}
  std::size_t buffered_amount(const int&) const { return 0; }
};

struct no_send {
  using connection_id = int;
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

struct no_close {
  using connection_id = int;
  void send(const connection_id&, const payload_ptr&) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

struct no_buffered_amount {
  using connection_id = int;
  void send(const connection_id&, const payload_ptr&) {}
  void close(const connection_id&, std::uint16_t, std::string_view) {}
};

struct send_takes_a_string {
  using connection_id = int;
  void send(const connection_id&, const std::string&) {}  // payload_ptr does not convert
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

struct close_without_reason {
  using connection_id = int;
  void send(const connection_id&, const payload_ptr&) {}
  void close(const connection_id&, std::uint16_t) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

struct buffered_amount_returns_void {
  using connection_id = int;
  void send(const connection_id&, const payload_ptr&) {}
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  void buffered_amount(const connection_id&) const {}
};

struct buffered_amount_returns_a_string {
  using connection_id = int;
  void send(const connection_id&, const payload_ptr&) {}
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  std::string buffered_amount(const connection_id&) const { return {}; }
};

struct move_only_connection_id {
  using connection_id = std::unique_ptr<int>;
  void send(const connection_id&, const payload_ptr&) {}
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

class private_send {
 public:
  using connection_id = int;
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }

 private:
  void send(const connection_id&, const payload_ptr&) {}
};

// ------------------------------------------------------------------ clocks

struct no_time_point {
  std::chrono::steady_clock::time_point now() const { return {}; }
  livechat::system_time system_now() const { return {}; }
};

struct no_now {
  using time_point = std::chrono::steady_clock::time_point;
  livechat::system_time system_now() const { return {}; }
};

struct no_system_now {
  using time_point = std::chrono::steady_clock::time_point;
  time_point now() const { return {}; }
};

struct now_returns_another_type {
  using time_point = std::chrono::steady_clock::time_point;
  std::chrono::system_clock::time_point now() const { return {}; }
  livechat::system_time system_now() const { return {}; }
};

struct non_const_now {
  using time_point = std::chrono::steady_clock::time_point;
  time_point now() { return {}; }
  livechat::system_time system_now() const { return {}; }
};

struct custom_clock {
  using time_point = std::chrono::time_point<std::chrono::steady_clock, std::chrono::milliseconds>;
  time_point now() const { return {}; }
  livechat::system_time system_now() const { return {}; }
};

}  // namespace

// Checked at compile time: a failure here stops the build with this line.
static_assert(is_transport_v<good_transport>);
static_assert(!is_transport_v<no_send>);
static_assert(livechat::server::is_clock_v<livechat::default_clock>);
static_assert(livechat::server::is_clock_v<livechat::manual_clock>);
static_assert(!livechat::server::is_clock_v<int>);

TEST_CASE("is_transport_v accepts conforming transports", "[transport]") {
  CHECK(is_transport_v<good_transport>);
  CHECK(is_transport_v<loose_transport>);
  CHECK(is_transport_v<template_transport>);
}

TEST_CASE("is_transport_v rejects a type missing any requirement", "[transport]") {
  SECTION("a missing member") {
    CHECK_FALSE(is_transport_v<no_connection_id>);
    CHECK_FALSE(is_transport_v<no_send>);
    CHECK_FALSE(is_transport_v<no_close>);
    CHECK_FALSE(is_transport_v<no_buffered_amount>);
  }
  SECTION("a member with the wrong signature or access") {
    CHECK_FALSE(is_transport_v<send_takes_a_string>);
    CHECK_FALSE(is_transport_v<close_without_reason>);
    CHECK_FALSE(is_transport_v<buffered_amount_returns_void>);
    CHECK_FALSE(is_transport_v<buffered_amount_returns_a_string>);
    CHECK_FALSE(is_transport_v<private_send>);
  }
  SECTION("a connection_id that cannot be copied") {
    CHECK_FALSE(is_transport_v<move_only_connection_id>);
  }
  SECTION("not a class at all") {
    CHECK_FALSE(is_transport_v<int>);
    CHECK_FALSE(is_transport_v<void>);
    CHECK_FALSE(is_transport_v<good_transport*>);
  }
}

TEST_CASE("is_clock_v", "[transport][clock]") {
  SECTION("the library's clocks") {
    CHECK(is_clock_v<livechat::default_clock>);
    CHECK(is_clock_v<livechat::manual_clock>);
    CHECK(is_clock_v<custom_clock>);
  }
  SECTION("not clocks") {
    CHECK_FALSE(is_clock_v<int>);
    CHECK_FALSE(is_clock_v<void>);
    CHECK_FALSE(is_clock_v<std::chrono::steady_clock::time_point>);
    CHECK_FALSE(is_clock_v<no_time_point>);
    CHECK_FALSE(is_clock_v<no_now>);
    CHECK_FALSE(is_clock_v<no_system_now>);
    CHECK_FALSE(is_clock_v<now_returns_another_type>);
    CHECK_FALSE(is_clock_v<non_const_now>);
  }
}
