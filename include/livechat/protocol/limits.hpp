// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_LIMITS_HPP
#define LIVECHAT_PROTOCOL_LIMITS_HPP

// The per-field limits of PROTOCOL.md, apart from the codec that enforces
// them: a configuration (`server::hub_config`) names them without pulling
// RapidJSON into every file that reads a flag.

#include <cstddef>

namespace livechat {

/// Limits the decoder enforces (PROTOCOL.md defaults).
struct codec_limits {
  std::size_t max_text_length = 5000;         ///< code points after trimming
  std::size_t max_ref_length = 64;            ///< code points
  std::size_t max_client_msg_id_length = 64;  ///< code points
  /// Code points of a frame's `type` echoed as `request_type` in an
  /// `error`: a 60 KB `type` must not come back as a 60 KB answer.
  std::size_t max_request_type_length = 64;
};

}  // namespace livechat

#endif
