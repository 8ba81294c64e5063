// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_ERROR_HPP
#define LIVECHAT_ERROR_HPP

#include <cassert>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#ifndef LIVECHAT_ASSERT
#define LIVECHAT_ASSERT(cond) assert(cond)
#endif

namespace livechat {

/// Expected failures. The first block maps one-to-one onto PROTOCOL.md's
/// error codes; values are stable (retired ones stay reserved).
enum class errc {
  invalid_json = 1,
  unknown_type = 2,
  validation_error = 3,
  not_authenticated = 4,
  already_authenticated = 5,
  auth_failed = 6,
  not_in_room = 7,
  forbidden = 8,
  session_already_claimed = 9,
  limit_exceeded = 10,
  rate_limited = 11,
  unsupported_frame = 12,
  internal = 13,
  // Library-side failures; on the wire they all read `internal`.
  store_failure = 100,  ///< the message store could not read or write
  not_found = 101,      ///< no such conversation / record
  /// An error result was built from an empty std::error_code: a bug in the
  /// code that returned it, kept as a failure so nothing is acknowledged.
  invalid_result = 102,
};

/// The PROTOCOL.md error code string for `e` (`internal` for library-side codes).
inline std::string_view wire_code(errc e) noexcept {
  switch (e) {
    case errc::invalid_json: return "invalid_json";
    case errc::unknown_type: return "unknown_type";
    case errc::validation_error: return "validation_error";
    case errc::not_authenticated: return "not_authenticated";
    case errc::already_authenticated: return "already_authenticated";
    case errc::auth_failed: return "auth_failed";
    case errc::not_in_room: return "not_in_room";
    case errc::forbidden: return "forbidden";
    case errc::session_already_claimed: return "session_already_claimed";
    case errc::limit_exceeded: return "limit_exceeded";
    case errc::rate_limited: return "rate_limited";
    case errc::unsupported_frame: return "unsupported_frame";
    case errc::internal:
    case errc::store_failure:
    case errc::not_found:
    case errc::invalid_result: break;
  }
  return "internal";
}

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "livechat"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::invalid_json: return "frame is not a JSON object";
      case errc::unknown_type: return "unknown event type";
      case errc::validation_error: return "invalid field";
      case errc::not_authenticated: return "authenticate first";
      case errc::already_authenticated: return "connection is already authenticated";
      case errc::auth_failed: return "authentication failed";
      case errc::not_in_room: return "join the room first";
      case errc::forbidden: return "not allowed";
      case errc::session_already_claimed: return "session is claimed by another operator";
      case errc::limit_exceeded: return "limit exceeded";
      case errc::rate_limited: return "too many events, slow down";
      case errc::unsupported_frame: return "binary frames are not supported";
      case errc::internal: return "internal error";
      case errc::store_failure: return "message store failure";
      case errc::not_found: return "not found";
      case errc::invalid_result: return "error result built from an empty error_code";
    }
    return "unknown livechat error";
  }
};
}  // namespace detail

inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl instance;
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

namespace detail {
// An empty error_code means "no error", so an error result cannot hold
// one: a `return ec;` with an unset `ec` would otherwise read as success
// (result<void>) or as a value that was never set (result<T>). Mapped in
// every build, not asserted, so release builds fail safe too.
inline std::error_code nonzero_error(std::error_code ec) noexcept {
  return ec ? ec : make_error_code(errc::invalid_result);
}

[[noreturn]] inline void throw_bad_result_access(std::error_code ec) {
#ifndef LIVECHAT_NO_EXCEPTIONS
  throw std::system_error(ec, "livechat::result::value() on an error");
#else
  (void)ec;
  std::abort();
#endif
}
}  // namespace detail

/// A value or an error: the small result type of STYLE.md (until
/// std::expected is the floor). `ok()` tells which. Constructing from an
/// empty `std::error_code` yields the error `errc::invalid_result`, never
/// success. `value()` (and `*`, `->`) on an error throws `std::system_error`
/// with the error, in every build (`std::abort()` under LIVECHAT_NO_EXCEPTIONS).
template <class T>
class result {
 public:
  result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  result(std::error_code ec) : ec_(detail::nonzero_error(ec)) {}  // NOLINT
  result(errc e) : ec_(detail::nonzero_error(make_error_code(e))) {}  // NOLINT

  bool ok() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return ok(); }
  std::error_code error() const noexcept { return ec_; }

  T& value() & { check(); return value_; }
  const T& value() const& { check(); return value_; }
  T&& value() && { check(); return std::move(value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void check() const {
    if (ec_) detail::throw_bad_result_access(ec_);
  }

  T value_{};
  std::error_code ec_{};
};

/// Success or an error; like result<T>, an empty `std::error_code` is the
/// error `errc::invalid_result` (success is `result<void>{}` only).
template <>
class result<void> {
 public:
  result() = default;
  result(std::error_code ec) : ec_(detail::nonzero_error(ec)) {}  // NOLINT
  result(errc e) : ec_(detail::nonzero_error(make_error_code(e))) {}  // NOLINT
  bool ok() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return ok(); }
  std::error_code error() const noexcept { return ec_; }

 private:
  std::error_code ec_{};
};

}  // namespace livechat

namespace std {
template <>
struct is_error_code_enum<livechat::errc> : true_type {};
}  // namespace std

#endif
