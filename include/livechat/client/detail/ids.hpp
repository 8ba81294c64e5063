// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_DETAIL_IDS_HPP
#define LIVECHAT_CLIENT_DETAIL_IDS_HPP

// Random client_msg_ids, and the UTF-8 check for outgoing text.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include <livechat/detail/utf8.hpp>

namespace livechat::client::detail {

/// A generator of 32 lowercase hex digits (128 random bits). Ids only need
/// to be unique per user and room (the server's dedupe key), so a seeded
/// mt19937_64 is plenty; the time and the address of the engine are mixed
/// into the seed because random_device may be deterministic on some
/// platforms, and two sessions must not produce the same sequence.
inline std::function<std::string()> random_id_generator() {
  std::random_device rd;
  const auto ticks =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  auto engine = std::make_shared<std::mt19937_64>();
  const auto addr = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(engine.get()));
  std::seed_seq seed{rd(), rd(), rd(), rd(), static_cast<std::uint32_t>(ticks),
                     static_cast<std::uint32_t>(ticks >> 32), static_cast<std::uint32_t>(addr),
                     static_cast<std::uint32_t>(addr >> 32)};
  engine->seed(seed);
  return [engine] {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(32, '0');
    for (std::size_t half = 0; half < 32; half += 16) {
      std::uint64_t v = (*engine)();
      for (std::size_t i = 0; i < 16; ++i, v >>= 4) s[half + i] = digits[v & 0xfu];
    }
    return s;
  };
}

// session.hpp checks outgoing text and ids with the library's one decoder
// under this name.
using livechat::detail::is_valid_utf8;

}  // namespace livechat::client::detail

#endif
