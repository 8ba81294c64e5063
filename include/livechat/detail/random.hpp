// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_DETAIL_RANDOM_HPP
#define LIVECHAT_DETAIL_RANDOM_HPP

// The one way livechat seeds a random engine, for values that must differ
// between instances (store epochs, client_msg_ids), not for secrets.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace livechat::detail {

/// An mt19937_64 that differs from every other one this process seeds.
/// random_device alone may be deterministic on some platforms (old MinGW),
/// so the seed also mixes in the time and a process-wide counter.
inline std::mt19937_64 seeded_engine() {
  static std::atomic<std::uint64_t> instances{0};
  std::random_device rd;
  const auto ticks =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const std::uint64_t n = instances.fetch_add(1, std::memory_order_relaxed);
  std::seed_seq seed{rd(), rd(), rd(), rd(), static_cast<std::uint32_t>(ticks),
                     static_cast<std::uint32_t>(ticks >> 32), static_cast<std::uint32_t>(n),
                     static_cast<std::uint32_t>(n >> 32)};
  return std::mt19937_64(seed);
}

/// `v` as 16 lowercase hex digits, most significant first.
inline std::string hex16(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (std::size_t i = 16; i-- > 0;) {
    s[i] = digits[v & 0xfu];
    v >>= 4;
  }
  return s;
}

}  // namespace livechat::detail

#endif
