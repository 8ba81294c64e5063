// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_WEBSOCKETPP_DETAIL_CLOSE_REASON_HPP
#define LIVECHAT_WEBSOCKETPP_DETAIL_CLOSE_REASON_HPP

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace livechat::wspp::detail {

/// RFC 6455: a close reason must fit a control frame (125 bytes with the
/// code), and websocketpp refuses one that is not valid UTF-8, so it is cut
/// at 123 bytes on a character boundary.
inline std::string close_reason(std::string_view reason) {
  std::size_t n = std::min<std::size_t>(reason.size(), 123);
  while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  return std::string(reason.substr(0, n));
}

}  // namespace livechat::wspp::detail

#endif
