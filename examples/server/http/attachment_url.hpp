// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_ATTACHMENT_URL_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_ATTACHMENT_URL_HPP

// Signed, expiring attachment urls (PROTOCOL.md "Rich messages"):
// `/api/v1/attachments/{id}?exp=E&sig=S`, S = base64url(HMAC-SHA256(secret,
// "attachment\n{id}\n{E}")), E in Unix seconds. A url works without an
// Authorization header (an <img>, a download link) for an hour and for
// that attachment only; each delivery carries a fresh one.

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <livechat/clock.hpp>
#include <livechat/detail/base64.hpp>
#include <livechat/detail/hmac_sha256.hpp>

#include "url.hpp"

namespace livechat_server {

class attachment_url_signer {
 public:
  static constexpr std::string_view path_prefix = "/api/v1/attachments/";
  static constexpr std::chrono::seconds lifetime{3600};

  /// A secret of this process (32 bytes from the OS): urls it signed stop
  /// working when it restarts, as a session would.
  static std::string random_secret() {
    std::random_device rd;  // /dev/urandom on the platforms we build for
    std::string s(32, '\0');
    for (char& c : s) c = static_cast<char>(rd() & 0xffu);
    return s;
  }

  explicit attachment_url_signer(std::string secret) : secret_(std::move(secret)) {}

  /// The path and query of `id`'s url, valid until now + lifetime.
  std::string sign(std::string_view id, livechat::system_time now) const {
    return sign(id, now, lifetime);
  }

  /// The same, valid until now + `valid_for` (a url pushed to LINE, which
  /// fetches it when the user opens the message).
  std::string sign(std::string_view id, livechat::system_time now, std::chrono::seconds valid_for) const {
    const std::int64_t exp =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch() + valid_for).count();
    std::string url(path_prefix);
    url.append(id).append("?exp=").append(std::to_string(exp)).append("&sig=");
    url.append(signature(id, exp));
    return url;
  }

  /// True when `query` holds an unexpired signature for `id`. Compared in
  /// constant time; a malformed, repeated or missing parameter fails.
  bool verify(std::string_view id, std::string_view query, livechat::system_time now) const {
    const auto exp = query_param(query, "exp");
    const auto sig = query_param(query, "sig");
    if (!exp.ok || !sig.ok || !exp.value || !sig.value) return false;
    const auto e = parse_uint(*exp.value);
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    if (!e || *e > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) || static_cast<std::int64_t>(*e) <= now_s)
      return false;
    return livechat::detail::constant_time_equal(signature(id, static_cast<std::int64_t>(*e)),
                                                 *sig.value);
  }

 private:
  std::string signature(std::string_view id, std::int64_t exp) const {
    std::string data = "attachment\n";
    data.append(id).append(1, '\n').append(std::to_string(exp));
    const auto mac = livechat::detail::hmac_sha256(secret_, data);
    return livechat::detail::base64url_encode(mac.data(), mac.size());
  }

  std::string secret_;
};

}  // namespace livechat_server

#endif
