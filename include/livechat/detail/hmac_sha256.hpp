// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_DETAIL_HMAC_SHA256_HPP
#define LIVECHAT_DETAIL_HMAC_SHA256_HPP

// HMAC-SHA256 and a constant-time comparison, for JWT HS256 and the LINE
// webhook signature. Needs OpenSSL's libcrypto (CMake target livechat::jwt).
//
// OpenSSL 3.0 deprecates HMAC_CTX_*, but not the one-shot HMAC(), which is
// all we need: inputs are whole tokens or bodies already in memory.

#include <array>
#include <climits>
#include <cstddef>
#include <optional>
#include <string_view>

#include <openssl/crypto.h>  // CRYPTO_memcmp
#include <openssl/evp.h>     // EVP_sha256
#include <openssl/hmac.h>    // HMAC

#ifndef LIVECHAT_NO_EXCEPTIONS
#include <stdexcept>
#else
#include <cstdlib>  // std::abort
#endif

namespace livechat::detail {

using hmac_sha256_digest = std::array<unsigned char, 32>;

/// HMAC-SHA256(key, data), or std::nullopt if libcrypto fails (allocation,
/// a provider that will not load, or inputs beyond HMAC()'s `int` key
/// length). Verifiers use this form so that a library failure rejects the
/// signature instead of comparing against some placeholder digest.
inline std::optional<hmac_sha256_digest> try_hmac_sha256(std::string_view key,
                                                         std::string_view data) noexcept {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) return std::nullopt;
  // An empty string_view may carry a null pointer, and OpenSSL 3.0's HMAC()
  // treats a null key as "no key set" and fails; any valid address with
  // length 0 means the empty key.
  static const unsigned char empty = 0;
  const void* key_ptr = key.empty() ? static_cast<const void*>(&empty) : key.data();
  const unsigned char* data_ptr =
      data.empty() ? &empty : reinterpret_cast<const unsigned char*>(data.data());
  hmac_sha256_digest out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), data_ptr, data.size(), out.data(),
           &len) == nullptr ||
      len != out.size())
    return std::nullopt;
  return out;
}

/// HMAC-SHA256(key, data). libcrypto failing here is an environment fault,
/// not bad input, so it throws std::runtime_error (or aborts under
/// LIVECHAT_NO_EXCEPTIONS) rather than return a digest that could match.
inline hmac_sha256_digest hmac_sha256(std::string_view key, std::string_view data) {
  auto r = try_hmac_sha256(key, data);
  if (!r) {
#ifndef LIVECHAT_NO_EXCEPTIONS
    throw std::runtime_error("livechat: HMAC-SHA256 failed in libcrypto");
#else
    std::abort();
#endif
  }
  return *r;
}

/// Equality whose running time depends only on the lengths, so a forger
/// cannot learn a MAC byte by byte from response timing. The lengths are
/// compared first and openly: a MAC's length is public.
inline bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace livechat::detail

#endif
