// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/error.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_error {

using livechat::errc;

namespace {

struct wire_case {
  errc code;
  std::string_view wire;
};

// Every enumerator, with the PROTOCOL.md error code it must produce.
constexpr wire_case all_codes[] = {
    {errc::invalid_json, "invalid_json"},
    {errc::unknown_type, "unknown_type"},
    {errc::validation_error, "validation_error"},
    {errc::not_authenticated, "not_authenticated"},
    {errc::already_authenticated, "already_authenticated"},
    {errc::auth_failed, "auth_failed"},
    {errc::not_in_room, "not_in_room"},
    {errc::forbidden, "forbidden"},
    {errc::session_already_claimed, "session_already_claimed"},
    {errc::limit_exceeded, "limit_exceeded"},
    {errc::rate_limited, "rate_limited"},
    {errc::unsupported_frame, "unsupported_frame"},
    {errc::internal, "internal"},
    {errc::store_failure, "internal"},
    {errc::not_found, "internal"},
    {errc::invalid_result, "internal"},
};

}  // namespace

TEST_CASE("wire_code maps every errc to its protocol string", "[error]") {
  for (const wire_case& c : all_codes) {
    INFO(static_cast<int>(c.code));
    CHECK(livechat::wire_code(c.code) == c.wire);
  }
  CHECK(livechat::wire_code(static_cast<errc>(9999)) == "internal");
}

TEST_CASE("errc values are stable", "[error]") {
  // They are part of the ABI of logs and metrics; retired ones stay reserved.
  CHECK(static_cast<int>(errc::invalid_json) == 1);
  CHECK(static_cast<int>(errc::internal) == 13);
  CHECK(static_cast<int>(errc::store_failure) == 100);
  CHECK(static_cast<int>(errc::not_found) == 101);
  CHECK(static_cast<int>(errc::invalid_result) == 102);
}

TEST_CASE("errc is a std::error_code enum in the livechat category", "[error]") {
  static_assert(std::is_error_code_enum<errc>::value, "errc must convert to error_code");

  const std::error_code ec = errc::forbidden;
  CHECK(ec);
  CHECK(ec.value() == static_cast<int>(errc::forbidden));
  CHECK(std::string(ec.category().name()) == "livechat");
  CHECK(&ec.category() == &livechat::error_category());
  CHECK(ec == errc::forbidden);
  CHECK(ec != errc::not_in_room);
  CHECK(ec == livechat::make_error_code(errc::forbidden));
  CHECK(ec.message() == "not allowed");

  SECTION("distinct from other categories with the same value") {
    const std::error_code generic = std::make_error_code(std::errc::operation_not_permitted);
    CHECK(generic.value() == 1);
    CHECK(generic != std::error_code(errc::invalid_json));
  }

  SECTION("every code has a non-empty, specific message") {
    for (const wire_case& c : all_codes) {
      const std::error_code e = c.code;
      INFO(static_cast<int>(c.code));
      CHECK_FALSE(e.message().empty());
      CHECK(e.message() != "unknown livechat error");
    }
    CHECK(livechat::error_category().message(9999) == "unknown livechat error");
  }
}

TEST_CASE("result<T>", "[error]") {
  SECTION("holds a value") {
    livechat::result<std::string> r = std::string("hello");
    REQUIRE(r.ok());
    CHECK(static_cast<bool>(r));
    CHECK_FALSE(r.error());
    CHECK(r.value() == "hello");
    CHECK(*r == "hello");
    CHECK(r->size() == 5);
    r.value() += "!";
    CHECK(*r == "hello!");
    const auto& cr = r;
    CHECK(cr.value() == "hello!");
    CHECK(cr->size() == 6);
    std::string moved = std::move(r).value();
    CHECK(moved == "hello!");
  }

  SECTION("holds an error from errc") {
    livechat::result<int> r = errc::not_found;
    CHECK_FALSE(r.ok());
    CHECK_FALSE(static_cast<bool>(r));
    CHECK(r.error() == errc::not_found);
    CHECK(r.error().category().name() == std::string("livechat"));
  }

  SECTION("holds an error from a foreign error_code") {
    livechat::result<int> r = std::make_error_code(std::errc::timed_out);
    CHECK_FALSE(r.ok());
    CHECK(r.error() == std::errc::timed_out);
  }

  SECTION("works with move-only values") {
    livechat::result<std::unique_ptr<int>> r = std::make_unique<int>(7);
    REQUIRE(r.ok());
    CHECK(**r == 7);
    std::unique_ptr<int> p = std::move(r).value();
    CHECK(*p == 7);
  }

  SECTION("a function can return either") {
    auto half = [](int x) -> livechat::result<int> {
      if (x % 2 != 0) return errc::validation_error;
      return x / 2;
    };
    CHECK(*half(8) == 4);
    CHECK(half(3).error() == errc::validation_error);
  }
}

TEST_CASE("result<void>", "[error]") {
  livechat::result<void> ok;
  CHECK(ok.ok());
  CHECK(static_cast<bool>(ok));
  CHECK_FALSE(ok.error());

  livechat::result<void> bad = errc::store_failure;
  CHECK_FALSE(bad.ok());
  CHECK_FALSE(static_cast<bool>(bad));
  CHECK(bad.error() == errc::store_failure);
  CHECK(livechat::wire_code(errc::store_failure) == "internal");

  livechat::result<void> foreign = std::make_error_code(std::errc::io_error);
  CHECK_FALSE(foreign.ok());
}

// These run in the optimized (-DNDEBUG) test tree too: the checks must not
// be assertions that compile away.
TEST_CASE("an error result is never built from an empty error_code", "[error]") {
  SECTION("result<void>: `return ec;` with an unset ec is a failure, not success") {
    const livechat::result<void> r = std::error_code{};
    CHECK_FALSE(r.ok());
    CHECK_FALSE(static_cast<bool>(r));
    CHECK(r.error() == errc::invalid_result);
    CHECK(livechat::wire_code(errc::invalid_result) == "internal");
  }
  SECTION("result<T>: the same, instead of an unset value reading as ok") {
    const livechat::result<int> r = std::error_code{};
    CHECK_FALSE(r.ok());
    CHECK(r.error() == errc::invalid_result);
  }
  SECTION("an errc of 0 (no enumerator) is no way around it") {
    const livechat::result<void> v = static_cast<errc>(0);
    CHECK(v.error() == errc::invalid_result);
    const livechat::result<std::string> t = static_cast<errc>(0);
    CHECK(t.error() == errc::invalid_result);
  }
  SECTION("a function returning an unset error_code") {
    auto write = [](bool fail) -> livechat::result<void> {
      std::error_code ec;
      if (fail) ec = errc::store_failure;
      return ec;  // the bug this guards against: success should be `return {};`
    };
    CHECK(write(true).error() == errc::store_failure);
    CHECK(write(false).error() == errc::invalid_result);
  }
  SECTION("a zero value of a foreign category is mapped too") {
    const livechat::result<void> r = std::error_code(0, std::generic_category());
    CHECK(r.error() == errc::invalid_result);
  }
}

TEST_CASE("result<T>::value() on an error throws in every build", "[error]") {
  livechat::result<std::string> r = errc::not_found;
  CHECK_THROWS_AS(r.value(), std::system_error);
  CHECK_THROWS_AS(*r, std::system_error);
  CHECK_THROWS_AS(r->size(), std::system_error);
  const auto& cr = r;
  CHECK_THROWS_AS(cr.value(), std::system_error);
  CHECK_THROWS_AS(std::move(r).value(), std::system_error);
  try {
    livechat::result<int> e = errc::store_failure;
    (void)e.value();
    FAIL("value() returned");
  } catch (const std::system_error& ex) {
    CHECK(ex.code() == errc::store_failure);
  }
  livechat::result<int> ok = 3;
  CHECK_NOTHROW(ok.value());
}

}  // namespace livechat_unit_error
