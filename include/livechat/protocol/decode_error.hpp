// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_DECODE_ERROR_HPP
#define LIVECHAT_PROTOCOL_DECODE_ERROR_HPP

// What a decoder reports about a bad frame: the PROTOCOL.md error code, the
// field it names and a message for humans. Apart from the codec so the
// payload reader and the frame decoder share it without a cycle.

#include <string>

#include <livechat/error.hpp>

namespace livechat {

/// One refused frame or field (PROTOCOL.md "Errors").
struct decode_error {
  errc code = errc::validation_error;
  std::string field;  ///< empty when the error names no field
  std::string message;
};

}  // namespace livechat

#endif
