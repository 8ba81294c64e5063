// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_AUTH_JWT_AUTHENTICATOR_HPP
#define LIVECHAT_AUTH_JWT_AUTHENTICATOR_HPP

// `--auth jwt`: HS256 JSON Web Tokens (RFC 7519 / RFC 7515 compact form) as
// PROTOCOL.md "Identity and rooms" specifies. Needs RapidJSON and OpenSSL's
// libcrypto (CMake target livechat::jwt).

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <rapidjson/document.h>

#include <livechat/auth/authenticator.hpp>
#include <livechat/detail/base64.hpp>
#include <livechat/detail/hmac_sha256.hpp>
#include <livechat/detail/utf8.hpp>
#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/timestamp.hpp>

#ifndef LIVECHAT_NO_EXCEPTIONS
#include <stdexcept>
#endif

namespace livechat {

struct jwt_options {
  /// HMAC key shared with the token issuer. Must not be empty: an empty key
  /// is public knowledge, so anyone could mint tokens.
  std::string secret;
  /// When set, `iss` is required and must equal it exactly; keeps tokens
  /// from another issuer that happens to share the secret out.
  std::optional<std::string> issuer;
  /// When set, `aud` is required and must equal it (or, as an array, hold
  /// it); keeps tokens minted for a sibling service out.
  std::optional<std::string> audience;
  /// Clock skew tolerated between the issuer and us, applied to `exp` and
  /// `nbf`. Longer means an expired token stays usable for longer.
  std::chrono::seconds leeway{60};
};

namespace detail::jwt {

// Member lookup that refuses duplicate names: RapidJSON keeps duplicates and
// FindMember returns the first, while other parsers keep the last. A token
// that reads differently to the issuer and to us must not verify.
enum class lookup { absent, found, duplicate };

inline lookup find_member(const rapidjson::Value& object, std::string_view name,
                          const rapidjson::Value*& out) noexcept {
  out = nullptr;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    const std::string_view key(it->name.GetString(), it->name.GetStringLength());
    if (key != name) continue;
    if (out != nullptr) return lookup::duplicate;
    out = &it->value;
  }
  return out != nullptr ? lookup::found : lookup::absent;
}

inline std::string_view as_view(const rapidjson::Value& v) noexcept {
  return {v.GetString(), v.GetStringLength()};
}

// Parses one decoded segment as a JSON object. Iterative parsing keeps the
// stack flat whatever the nesting; encoding validation rejects bytes that
// are not UTF-8, which RFC 8259 requires of JSON text.
inline bool parse_object(const std::string& json, rapidjson::Document& doc) {
  constexpr unsigned flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  doc.Parse<flags>(json.data(), json.size());
  return !doc.HasParseError() && doc.IsObject();
}

}  // namespace detail::jwt

/// Verifies HS256 JWTs: signature, `alg`, `exp`/`nbf` with leeway,
/// optional `iss`/`aud`, and maps `sub`/`name`/`role` to an identity.
/// Every rejection is `errc::auth_failed`, whatever the reason.
///
/// The signature is checked before either JSON segment is parsed, so a
/// client without the secret never reaches the JSON parser. With one
/// accepted algorithm the header need not be read to pick a key.
///
/// @par Thread Safety
/// Immutable after construction; see authenticator for the counters.
///
/// @throws std::invalid_argument from the constructor if `secret` is empty
/// or `leeway` is negative (LIVECHAT_ASSERT under LIVECHAT_NO_EXCEPTIONS).
///
/// @code
/// livechat::jwt_authenticator auth({"s3cret", "https://idp.example", std::nullopt});
/// auto id = auth.authenticate(token, livechat::to_system_time(std::chrono::system_clock::now()));
/// if (!id) close(4003);
/// @endcode
class jwt_authenticator final : public authenticator {
 public:
  explicit jwt_authenticator(jwt_options options) : options_(std::move(options)) {
#ifndef LIVECHAT_NO_EXCEPTIONS
    if (options_.secret.empty())
      throw std::invalid_argument("livechat: jwt_options.secret must not be empty");
    if (options_.leeway.count() < 0)
      throw std::invalid_argument("livechat: jwt_options.leeway must not be negative");
#else
    LIVECHAT_ASSERT(!options_.secret.empty());
    LIVECHAT_ASSERT(options_.leeway.count() >= 0);
#endif
  }

  const jwt_options& options() const noexcept { return options_; }

 protected:
  result<identity> do_authenticate(std::string_view token, system_time now) override {
    // With exceptions and asserts both off, an empty secret still must not
    // mean "anyone can sign".
    if (options_.secret.empty()) return errc::auth_failed;

    // Compact serialisation: exactly three segments.
    const std::size_t dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return errc::auth_failed;
    const std::size_t dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) return errc::auth_failed;
    if (token.find('.', dot2 + 1) != std::string_view::npos) return errc::auth_failed;

    const std::string_view signing_input = token.substr(0, dot2);
    const std::string_view header_b64 = token.substr(0, dot1);
    const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view signature_b64 = token.substr(dot2 + 1);

    const auto signature = detail::base64url_decode(signature_b64);
    if (!signature || signature->size() != 32) return errc::auth_failed;
    const auto expected = detail::try_hmac_sha256(options_.secret, signing_input);
    if (!expected) return errc::auth_failed;
    const std::string_view expected_view(reinterpret_cast<const char*>(expected->data()),
                                         expected->size());
    if (!detail::constant_time_equal(*signature, expected_view)) return errc::auth_failed;

    // Authentic from here on; still validated strictly, since a buggy
    // issuer should not be able to create odd identities either.
    const auto header_json = detail::base64url_decode(header_b64);
    const auto payload_json = detail::base64url_decode(payload_b64);
    if (!header_json || !payload_json) return errc::auth_failed;

    rapidjson::Document header;
    if (!detail::jwt::parse_object(*header_json, header) || !check_header(header))
      return errc::auth_failed;

    rapidjson::Document payload;
    if (!detail::jwt::parse_object(*payload_json, payload)) return errc::auth_failed;
    return check_claims(payload, now);
  }

 private:
  static bool check_header(const rapidjson::Value& header) {
    using detail::jwt::lookup;
    const rapidjson::Value* v = nullptr;
    // Only HS256: "none" and every other algorithm would let the token
    // pick how (or whether) it is verified.
    if (detail::jwt::find_member(header, "alg", v) != lookup::found || !v->IsString() ||
        detail::jwt::as_view(*v) != "HS256")
      return false;
    const lookup typ = detail::jwt::find_member(header, "typ", v);
    if (typ == lookup::duplicate || (typ == lookup::found && !v->IsString())) return false;
    // RFC 7515 4.1.11: extensions listed in `crit` must be understood, and
    // we understand none.
    if (detail::jwt::find_member(header, "crit", v) != lookup::absent) return false;
    return true;
  }

  // `exp`/`nbf` are NumericDate: seconds, possibly fractional. Compared in
  // milliseconds as double: exact for integral seconds and for any `now`
  // this side of year 285000, and far-future values only get more distant.
  static double to_ms(double seconds) noexcept { return seconds * 1000.0; }

  result<identity> check_claims(const rapidjson::Value& claims, system_time now) const {
    using detail::jwt::lookup;
    const rapidjson::Value* v = nullptr;
    identity id;

    if (detail::jwt::find_member(claims, "sub", v) != lookup::found || !v->IsString())
      return errc::auth_failed;
    const std::string_view sub = detail::jwt::as_view(*v);
    if (!is_valid_user_id(sub)) return errc::auth_failed;  // as dev tokens: same ids in both modes
    id.user_id = std::string(sub);

    const double now_ms = static_cast<double>(now.time_since_epoch().count());
    const double leeway_ms = static_cast<double>(options_.leeway.count()) * 1000.0;

    if (detail::jwt::find_member(claims, "exp", v) != lookup::found || !v->IsNumber())
      return errc::auth_failed;
    if (now_ms > to_ms(v->GetDouble()) + leeway_ms) return errc::auth_failed;

    lookup l = detail::jwt::find_member(claims, "nbf", v);
    if (l == lookup::duplicate) return errc::auth_failed;
    if (l == lookup::found) {
      if (!v->IsNumber()) return errc::auth_failed;
      if (now_ms + leeway_ms < to_ms(v->GetDouble())) return errc::auth_failed;
    }

    l = detail::jwt::find_member(claims, "name", v);
    if (l == lookup::duplicate || (l == lookup::found && !v->IsString())) return errc::auth_failed;
    if (l == lookup::found && v->GetStringLength() > 0) {
      // Same rule as sub: the name is shown to other operators, and
      // RapidJSON decodes an escaped lone low surrogate into bytes that
      // are not UTF-8, which the codec could not write back out.
      const std::string_view name = detail::jwt::as_view(*v);
      if (!detail::is_printable_utf8(name)) return errc::auth_failed;
      id.name = std::string(name);
    } else {
      id.name = id.user_id;  // an empty display name would show as a blank sender
    }

    l = detail::jwt::find_member(claims, "role", v);
    if (l == lookup::duplicate) return errc::auth_failed;
    id.role = user_role::operator_;
    if (l == lookup::found) {
      if (!v->IsString()) return errc::auth_failed;
      const auto role = parse_user_role(detail::jwt::as_view(*v));
      if (!role) return errc::auth_failed;
      id.role = *role;
    }

    // `iss`/`aud` are type-checked even when not configured, so that a
    // malformed token is malformed whatever the server's options.
    l = detail::jwt::find_member(claims, "iss", v);
    if (l == lookup::duplicate || (l == lookup::found && !v->IsString())) return errc::auth_failed;
    if (options_.issuer &&
        (l != lookup::found || detail::jwt::as_view(*v) != *options_.issuer))
      return errc::auth_failed;

    l = detail::jwt::find_member(claims, "aud", v);
    if (l == lookup::duplicate) return errc::auth_failed;
    bool audience_matched = false;
    if (l == lookup::found) {
      if (v->IsString()) {
        audience_matched = options_.audience && detail::jwt::as_view(*v) == *options_.audience;
      } else if (v->IsArray()) {
        for (const auto& a : v->GetArray()) {
          if (!a.IsString()) return errc::auth_failed;
          if (options_.audience && detail::jwt::as_view(a) == *options_.audience)
            audience_matched = true;
        }
      } else {
        return errc::auth_failed;
      }
    }
    if (options_.audience && !audience_matched) return errc::auth_failed;

    return id;
  }

  jwt_options options_;
};

}  // namespace livechat

#endif
