// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_TEXT_HPP
#define LIVECHAT_TEXT_HPP

// UTF-8 checks for text an application sends (a message, a command-line
// argument): the library's own decoder (detail/utf8.hpp, RFC 3629), so an
// application measures a text as the server and the client session do.

#include <livechat/detail/utf8.hpp>

namespace livechat {

/// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF). A server closes a connection (1007) whose text
/// frame is not, so check text before sending it.
using detail::is_valid_utf8;

/// Code points in valid UTF-8: the unit of every length limit of
/// PROTOCOL.md (`codec_limits`). Meaningless on invalid input.
using detail::utf8_length;

}  // namespace livechat

#endif
