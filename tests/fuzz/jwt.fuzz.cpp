// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Fuzz target: jwt_authenticator (livechat/auth/jwt_authenticator.hpp), the
// `auth` token of `--auth jwt` and the REST fallback's Bearer token.
//
// Input layout: byte 0 picks variations, the rest is read twice:
// 1. as a whole token, verified as it stands (what an attacker without the
//    key sends: the signature check must stop it);
// 2. as `HEADER_JSON '\n' PAYLOAD_JSON` (or only PAYLOAD_JSON, with the
//    header {"alg":"HS256","typ":"JWT"}), base64url-encoded and signed
//    with the right key, so that the header and claim checks are reached.
//
// Beyond "no crash, no leak, no UB, no exception", it checks that an
// accepted identity is one the rest of the server can use; that requiring
// `iss`/`aud` only ever takes acceptance away; that a token with any
// signature byte changed, or signed with another key, is rejected; and that
// base64url decoding is canonical (a decoded segment encodes back to itself).

#include <livechat/auth/jwt_authenticator.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "fuzz_check.hpp"

namespace {

const std::string key = "fuzz-secret-0123456789abcdef";
const std::string issuer = "https://idp.example";
const std::string audience = "livechat";
// 2026-01-01T00:00:00Z: the corpus' exp/nbf values are around it.
const livechat::system_time now{std::chrono::milliseconds(1767225600000)};

livechat::jwt_options options(std::optional<std::string> iss, std::optional<std::string> aud,
                             std::chrono::seconds leeway) {
  return livechat::jwt_options{key, std::move(iss), std::move(aud), leeway};
}

/// The same key under each combination of requirements; `strict` also
/// allows no clock skew.
struct authenticators {
  livechat::jwt_authenticator plain{options(std::nullopt, std::nullopt, std::chrono::seconds(60))};
  livechat::jwt_authenticator with_iss{options(issuer, std::nullopt, std::chrono::seconds(60))};
  livechat::jwt_authenticator with_aud{options(std::nullopt, audience, std::chrono::seconds(60))};
  livechat::jwt_authenticator strict{options(issuer, audience, std::chrono::seconds(0))};
};

authenticators& auths() {
  static authenticators a;
  return a;
}

bool same(const livechat::identity& a, const livechat::identity& b) {
  return a.user_id == b.user_id && a.name == b.name && a.role == b.role;
}

void check_identity(const livechat::identity& id) {
  LIVECHAT_FUZZ_CHECK(!id.user_id.empty());
  LIVECHAT_FUZZ_CHECK(id.user_id.size() <= livechat::jwt_authenticator::max_user_id_length);
  LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(id.user_id));
  LIVECHAT_FUZZ_CHECK(!id.name.empty());
  LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(id.name));
  for (char c : id.user_id + id.name) {
    const auto u = static_cast<unsigned char>(c);
    LIVECHAT_FUZZ_CHECK(u >= 0x20 && u != 0x7F);
  }
  LIVECHAT_FUZZ_CHECK(id.role == livechat::user_role::operator_ || id.role == livechat::user_role::admin);
}

/// Verifies `token` with the most lenient configuration only: enough for
/// tokens that must be rejected whatever the claims (HMAC is the cost).
bool accepted(std::string_view token) {
  const auto r = auths().plain.authenticate(token, now);
  if (r.ok()) check_identity(r.value());
  else LIVECHAT_FUZZ_CHECK(r.error() == livechat::errc::auth_failed);
  return r.ok();
}

/// Verifies `token` with every configuration and checks how they relate.
/// Returns whether the most lenient one accepted it.
bool verify(std::string_view token) {
  auto& a = auths();
  const auto plain = a.plain.authenticate(token, now);
  const auto with_iss = a.with_iss.authenticate(token, now);
  const auto with_aud = a.with_aud.authenticate(token, now);
  const auto strict = a.strict.authenticate(token, now);
  for (const auto* r : {&plain, &with_iss, &with_aud, &strict}) {
    if (r->ok()) check_identity(r->value());
    else LIVECHAT_FUZZ_CHECK(r->error() == livechat::errc::auth_failed);
  }
  // A requirement can only take acceptance away, never change the identity.
  if (with_iss) LIVECHAT_FUZZ_CHECK(plain && same(plain.value(), with_iss.value()));
  if (with_aud) LIVECHAT_FUZZ_CHECK(plain && same(plain.value(), with_aud.value()));
  if (strict) LIVECHAT_FUZZ_CHECK(with_iss && with_aud && same(with_iss.value(), strict.value()));
  return plain.ok();
}

void check_canonical_base64(std::string_view token) {
  std::size_t start = 0;
  while (start <= token.size()) {
    std::size_t dot = token.find('.', start);
    if (dot == std::string_view::npos) dot = token.size();
    const std::string_view segment = token.substr(start, dot - start);
    if (const auto bytes = livechat::detail::base64url_decode(segment))
      LIVECHAT_FUZZ_CHECK(livechat::detail::base64url_encode(*bytes) == segment);
    start = dot + 1;
  }
}

std::string sign(std::string_view signing_input, std::string_view with_key) {
  const auto mac = livechat::detail::hmac_sha256(with_key, signing_input);
  return livechat::detail::base64url_encode(mac.data(), mac.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t variation = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  // 1. The bytes as a token, unsigned by us.
  check_canonical_base64(rest);
  // Only a token made with the key verifies, and the fuzzer does not have it.
  LIVECHAT_FUZZ_CHECK(!accepted(rest));

  // 2. Header and payload from the input, signed with the right key.
  std::string_view header = R"({"alg":"HS256","typ":"JWT"})";
  std::string_view payload = rest;
  if (const std::size_t nl = rest.find('\n'); nl != std::string_view::npos) {
    header = rest.substr(0, nl);
    payload = rest.substr(nl + 1);
  }
  const std::string signing_input =
      livechat::detail::base64url_encode(header) + "." + livechat::detail::base64url_encode(payload);
  const std::string signature = sign(signing_input, key);
  const std::string token = signing_input + "." + signature;
  const bool signed_accepted = verify(token);
  if (token.size() > livechat::authenticator::max_token_length) LIVECHAT_FUZZ_CHECK(!signed_accepted);

  // Any change to the signature, and the wrong key, must be rejected. The
  // changed symbol is picked by the input; base64url is canonical, so a
  // different symbol is always a different signature.
  std::string tampered = token;
  const std::size_t at = signing_input.size() + 1 + variation % signature.size();
  tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
  LIVECHAT_FUZZ_CHECK(!accepted(tampered));
  LIVECHAT_FUZZ_CHECK(!accepted(signing_input + "." + sign(signing_input, key + "x")));
  // A second dot or a missing signature never verifies either.
  LIVECHAT_FUZZ_CHECK(!accepted(token + "."));
  LIVECHAT_FUZZ_CHECK(!accepted(signing_input + "."));
  return 0;
}
