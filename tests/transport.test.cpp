// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/server/transport.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_transport {

namespace {

using livechat::server::is_connection_id_v;
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

// ------------------------------------------------------------------ connection ids

}  // namespace

}  // namespace livechat_unit_transport

// A named namespace: Clang warns about operators of internal linkage that
// only unevaluated traits use. It stays outside livechat_unit_transport
// because the std::hash specializations below must be declared at a scope
// that encloses std.
namespace transport_test_ids {

struct hashed_id {
  int v = 0;
  friend bool operator==(const hashed_id& a, const hashed_id& b) { return a.v == b.v; }
};

struct id_without_hash {
  int v = 0;
  friend bool operator==(const id_without_hash& a, const id_without_hash& b) { return a.v == b.v; }
};

struct id_without_equality {
  int v = 0;
};

struct id_with_void_equality {
  int v = 0;
  friend void operator==(const id_with_void_equality&, const id_with_void_equality&) {}
};

struct id_with_bad_hash {
  int v = 0;
  friend bool operator==(const id_with_bad_hash& a, const id_with_bad_hash& b) { return a.v == b.v; }
};

}  // namespace transport_test_ids

template <>
struct std::hash<transport_test_ids::hashed_id> {
  std::size_t operator()(const transport_test_ids::hashed_id& id) const noexcept { return std::hash<int>{}(id.v); }
};
template <>
struct std::hash<transport_test_ids::id_without_equality> {
  std::size_t operator()(const transport_test_ids::id_without_equality& id) const noexcept {
    return std::hash<int>{}(id.v);
  }
};
template <>
struct std::hash<transport_test_ids::id_with_void_equality> {
  std::size_t operator()(const transport_test_ids::id_with_void_equality& id) const noexcept {
    return std::hash<int>{}(id.v);
  }
};
template <>
struct std::hash<transport_test_ids::id_with_bad_hash> {
  std::string operator()(const transport_test_ids::id_with_bad_hash&) const { return {}; }  // not a size_t
};

namespace livechat_unit_transport {

using transport_test_ids::hashed_id;
using transport_test_ids::id_with_bad_hash;
using transport_test_ids::id_with_void_equality;
using transport_test_ids::id_without_equality;
using transport_test_ids::id_without_hash;

namespace {

/// A conforming transport over any id type.
template <class Id>
struct transport_with_id {
  using connection_id = Id;
  void send(const connection_id&, const payload_ptr&) {}
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

}  // namespace

// Checked at compile time: a failure here stops the build with this line.
static_assert(is_transport_v<good_transport>);
static_assert(!is_transport_v<no_send>);
static_assert(is_transport_v<transport_with_id<hashed_id>>);
static_assert(!is_transport_v<transport_with_id<id_without_hash>>);
static_assert(!is_transport_v<transport_with_id<id_without_equality>>);
static_assert(is_connection_id_v<std::uint64_t>);
static_assert(!is_connection_id_v<id_without_hash>);

TEST_CASE("is_transport_v accepts conforming transports", "[transport]") {
  CHECK(is_transport_v<good_transport>);
  CHECK(is_transport_v<loose_transport>);
  CHECK(is_transport_v<template_transport>);
  CHECK(is_transport_v<transport_with_id<hashed_id>>);       // a user type with std::hash and ==
  CHECK(is_transport_v<transport_with_id<const char*>>);
}

TEST_CASE("is_connection_id_v: copyable, == and std::hash", "[transport]") {
  CHECK(is_connection_id_v<std::uint64_t>);
  CHECK(is_connection_id_v<std::string>);
  CHECK(is_connection_id_v<hashed_id>);
  CHECK(is_connection_id_v<std::shared_ptr<int>>);
  CHECK_FALSE(is_connection_id_v<id_without_hash>);
  CHECK_FALSE(is_connection_id_v<id_without_equality>);
  CHECK_FALSE(is_connection_id_v<id_with_void_equality>);
  CHECK_FALSE(is_connection_id_v<id_with_bad_hash>);
  CHECK_FALSE(is_connection_id_v<std::unique_ptr<int>>);  // hashable but not copyable
  CHECK_FALSE(is_connection_id_v<std::pair<int, int>>);
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
  SECTION("a connection_id the hub cannot key its connection map with") {
    CHECK_FALSE(is_transport_v<transport_with_id<id_without_hash>>);
    CHECK_FALSE(is_transport_v<transport_with_id<id_without_equality>>);
    CHECK_FALSE(is_transport_v<transport_with_id<id_with_void_equality>>);
    CHECK_FALSE(is_transport_v<transport_with_id<id_with_bad_hash>>);
    CHECK_FALSE(is_transport_v<transport_with_id<std::pair<int, int>>>);  // no std::hash
  }
  SECTION("not a class at all") {
    CHECK_FALSE(is_transport_v<int>);
    CHECK_FALSE(is_transport_v<void>);
    CHECK_FALSE(is_transport_v<good_transport*>);
  }
}

}  // namespace livechat_unit_transport
