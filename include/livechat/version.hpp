// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_VERSION_HPP
#define LIVECHAT_VERSION_HPP

#define LIVECHAT_VERSION_MAJOR 0
#define LIVECHAT_VERSION_MINOR 1
#define LIVECHAT_VERSION_PATCH 0
#define LIVECHAT_VERSION_STRING "0.1.0"

namespace livechat {
/// Wire protocol version announced in `auth_success.protocol`.
inline constexpr int protocol_version = 1;
}  // namespace livechat

#endif
