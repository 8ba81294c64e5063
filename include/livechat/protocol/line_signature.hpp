// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_LINE_SIGNATURE_HPP
#define LIVECHAT_PROTOCOL_LINE_SIGNATURE_HPP

// The `X-Line-Signature` check of a LINE webhook request (the body's rules
// are in line_webhook.hpp). Needs OpenSSL's libcrypto: CMake target
// livechat::jwt, like the JWT authenticator.

#include <string>
#include <string_view>

#include <livechat/detail/base64.hpp>
#include <livechat/detail/hmac_sha256.hpp>

namespace livechat {

/// True when `signature` is base64(HMAC-SHA256(channel_secret, body)),
/// compared in constant time. False when libcrypto fails: a request is
/// rejected rather than compared against some placeholder digest.
inline bool line_signature_valid(std::string_view channel_secret, std::string_view body,
                                 std::string_view signature) {
  const auto mac = detail::try_hmac_sha256(channel_secret, body);
  if (!mac) return false;
  const std::string expected = detail::base64_encode(mac->data(), mac->size());
  return detail::constant_time_equal(expected, signature);
}

}  // namespace livechat

#endif
