// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_CLOSE_CODES_HPP
#define LIVECHAT_PROTOCOL_CLOSE_CODES_HPP

#include <cstdint>

namespace livechat::close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;        ///< shutdown, idle 60 s
inline constexpr std::uint16_t invalid_payload = 1007;   ///< invalid UTF-8 in a text frame
inline constexpr std::uint16_t policy_violation = 1008;  ///< > 100 refused frames in 10 s
inline constexpr std::uint16_t message_too_big = 1009;   ///< frame or message > 64 KiB
inline constexpr std::uint16_t try_again_later = 1013;   ///< slow consumer (> 1 MiB unsent)
inline constexpr std::uint16_t auth_timeout = 4001;      ///< no `auth` within 10 s
inline constexpr std::uint16_t auth_failed = 4003;       ///< rejected token
}  // namespace livechat::close_code

#endif
