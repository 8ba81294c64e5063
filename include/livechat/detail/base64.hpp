// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_DETAIL_BASE64_HPP
#define LIVECHAT_DETAIL_BASE64_HPP

// RFC 4648 base64 (section 4, padded) and base64url (section 5, unpadded as
// JWS uses it). Bytes travel in std::string, which holds binary fine.
//
// Both decoders are strict: every input has exactly one accepted spelling.
// Lenient decoders let `...Q` and `...R` decode to the same bytes, which
// makes signed tokens malleable (a second, different-looking token that
// still verifies) and makes "compare the encoded strings" and "compare the
// decoded bytes" disagree. So: no whitespace, no foreign alphabet, and the
// unused low bits of the last symbol must be zero (RFC 4648 section 3.5).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace livechat::detail {

namespace base64_impl {

inline constexpr std::string_view standard_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
inline constexpr std::string_view url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline constexpr std::uint8_t invalid = 0xFF;

// 256-entry reverse table so decoding is one lookup per symbol and any byte
// outside the alphabet (including '=' and NUL) maps to `invalid`.
constexpr std::array<std::uint8_t, 256> make_table(std::string_view alphabet) noexcept {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = invalid;
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
  return t;
}

inline constexpr std::array<std::uint8_t, 256> standard_table = make_table(standard_alphabet);
inline constexpr std::array<std::uint8_t, 256> url_table = make_table(url_alphabet);

inline std::string encode(const unsigned char* data, std::size_t size, std::string_view alphabet,
                          bool pad) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const std::uint32_t n = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) |
                            std::uint32_t{data[i + 2]};
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  const std::size_t rest = size - i;
  if (rest == 1) {
    const std::uint32_t n = std::uint32_t{data[i]} << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    const std::uint32_t n = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

// Decodes symbols only (the caller has stripped any padding). A length of
// 1 mod 4 cannot come from any byte string: one symbol carries 6 bits,
// less than a byte.
inline std::optional<std::string> decode_symbols(std::string_view in,
                                                 const std::array<std::uint8_t, 256>& table) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const std::uint8_t v = table[static_cast<unsigned char>(c)];
    if (v == invalid) return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
      acc &= (std::uint32_t{1} << bits) - 1;
    }
  }
  // Leftover bits (2 or 4) are padding bits; nonzero means a non-canonical
  // spelling of the same bytes.
  if (acc != 0) return std::nullopt;
  return out;
}

}  // namespace base64_impl

/// Standard base64 with `=` padding.
inline std::string base64_encode(const unsigned char* data, std::size_t size) {
  return base64_impl::encode(data, size, base64_impl::standard_alphabet, true);
}

inline std::string base64_encode(std::string_view bytes) {
  return base64_encode(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

/// Standard base64; padding is required (length a multiple of 4, at most
/// two trailing `=`). std::nullopt on any deviation.
inline std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!in.empty() && in.back() == '=') {
    pad = 1;
    if (in[in.size() - 2] == '=') pad = 2;  // size is a nonzero multiple of 4 here
  }
  in.remove_suffix(pad);
  // Any '=' left (a third pad, or one mid-string) is not in the table, so
  // decode_symbols rejects it.
  return base64_impl::decode_symbols(in, base64_impl::standard_table);
}

/// base64url without padding (RFC 7515 section 2, "Base64url Encoding").
inline std::string base64url_encode(const unsigned char* data, std::size_t size) {
  return base64_impl::encode(data, size, base64_impl::url_alphabet, false);
}

inline std::string base64url_encode(std::string_view bytes) {
  return base64url_encode(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

/// base64url without padding: `=` is rejected like any other foreign byte,
/// since JWS forbids it and accepting it would give a token two spellings.
inline std::optional<std::string> base64url_decode(std::string_view in) {
  return base64_impl::decode_symbols(in, base64_impl::url_table);
}

}  // namespace livechat::detail

#endif
