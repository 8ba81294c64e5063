// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_AUTH_DEV_AUTHENTICATOR_HPP
#define LIVECHAT_AUTH_DEV_AUTHENTICATOR_HPP

// `--auth dev`: the token is the user id. For local development and tests
// only; it proves nothing about who is on the other end.

#include <cstddef>
#include <string>
#include <string_view>

#include <livechat/auth/authenticator.hpp>
#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace livechat {

namespace detail {

/// True if `s` is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF) and holds no control character: C0 (< 0x20),
/// DEL, or C1 (U+0080..U+009F). A user id is echoed into presence lists,
/// logs and operators' screens, where controls could forge lines or
/// terminal escapes (C1 includes the 8-bit CSI, U+009B).
inline bool is_printable_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      if (b0 < 0x20 || b0 == 0x7F) return false;
      ++i;
      continue;
    }
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {  // 0xC0/0xC1 could only start overlong forms
      len = 2;
      cp = b0 & 0x1Fu;
      min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0Fu;
      min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07u;
      min = 0x10000;
    } else {
      return false;  // stray continuation byte or 0xF5..0xFF
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp >= 0x80 && cp <= 0x9F) return false;  // C1 controls
    i += len;
  }
  return true;
}

}  // namespace detail

/// Accepts any token of 1..128 bytes of printable UTF-8 as the user id;
/// `name` is the user id and `role` is operator.
///
/// @par Thread Safety
/// Stateless; see authenticator for the counters.
///
/// @code
/// livechat::dev_authenticator auth;
/// auto id = auth.authenticate("alice", now);  // {"alice", "alice", operator_}
/// @endcode
class dev_authenticator final : public authenticator {
 public:
  /// Same bound as a JWT `sub`, so switching modes never changes which
  /// user ids can exist.
  static constexpr std::size_t max_user_id_length = 128;

 protected:
  result<identity> do_authenticate(std::string_view token, system_time /*now*/) override {
    if (token.empty() || token.size() > max_user_id_length || !detail::is_printable_utf8(token))
      return errc::auth_failed;
    identity id;
    id.user_id = std::string(token);
    id.name = id.user_id;
    id.role = user_role::operator_;
    return id;
  }
};

}  // namespace livechat

#endif
