// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_JSON_ERRORS_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_JSON_ERRORS_HPP

// JSON answers, errors above all: PROTOCOL.md gives every HTTP error the
// body `{"error": {"code", "message"[, "field"]}}`, whether a route, the
// router or websocketpp itself (websocket_http.hpp) refuses.

#include <string>
#include <string_view>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "message.hpp"

namespace livechat_server {

/// The machine-readable `code` of PROTOCOL.md's error body for a status
/// websocketpp or a route produces.
inline std::string_view http_error_code(int status) noexcept {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 411: return "length_required";
    case 413: return "payload_too_large";
    case 426: return "upgrade_required";
    case 429: return "rate_limited";
    case 431: return "request_header_fields_too_large";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal" : "bad_request";
  }
}

/// `{"error": {"code", "message"[, "field"]}}`, the body of every HTTP
/// error. `field` (the offending parameter or body key) only when not empty.
inline std::string json_error_body(std::string_view code, std::string_view message,
                                   std::string_view field = {}) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  if (!field.empty()) {
    w.Key("field");
    w.String(field.data(), static_cast<rapidjson::SizeType>(field.size()));
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

inline http_response json_response(int status, std::string body) {
  http_response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

inline http_response json_error(int status, std::string_view message) {
  return json_response(status, json_error_body(http_error_code(status), message));
}

/// An error with a code of its own (e.g. PROTOCOL.md's `validation_error`
/// for a 400, `auth_failed` for a 401) instead of the status's generic one.
inline http_response json_error(int status, std::string_view code, std::string_view message,
                                std::string_view field = {}) {
  return json_response(status, json_error_body(code, message, field));
}

}  // namespace livechat_server

#endif
