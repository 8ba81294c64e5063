// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LINE_PUSH_REQUEST_HPP
#define LIVECHAT_EXAMPLES_SERVER_LINE_PUSH_REQUEST_HPP

// What one LINE push request is made of: the endpoint (from `api_base`,
// checked with libcurl's URL parser), the JSON body (a text, or an
// operator's file as a media message or a link) and the retry key.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include <livechat/protocol/model.hpp>

#include <curl/curl.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace livechat_server::line {

/// `api_base`, taken apart.
struct target {
  bool tls = true;
  std::string host;         ///< no brackets around an IPv6 literal
  std::string port;         ///< always set (the scheme's default when absent)
  std::string host_header;  ///< `Host:` value (brackets, and the port when not the default)
  std::string path;         ///< request target: prefix + /v2/bot/message/push
  std::string url;          ///< the whole push URL, for libcurl
};

/// Parses `http(s)://host[:port][/prefix]` with curl_url (RFC 3986 as curl
/// reads it: IPv6 literals, ports, bad characters in the host), then
/// applies this client's own rules. Throws std::invalid_argument naming
/// what is wrong.
inline target parse_api_base(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("line api_base '" + std::string(url) + "': " + why);
  };
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), &curl_url_cleanup);
  if (!u) throw std::runtime_error("curl_url: out of memory");
  const std::string text(url);
  if (url.find("://") == std::string_view::npos)
    throw bad("expected http://HOST[:PORT] or https://HOST[:PORT]");
  // No CURLU_DEFAULT_SCHEME / GUESS_SCHEME: the scheme is required.
  if (const CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME);
      rc != CURLUE_OK)
    throw bad(curl_url_strerror(rc));
  auto part = [&](CURLUPart p, unsigned flags = 0) -> std::optional<std::string> {
    char* s = nullptr;
    if (curl_url_get(u.get(), p, &s, flags) != CURLUE_OK || s == nullptr) return std::nullopt;
    std::string out(s);
    curl_free(s);
    return out;
  };
  target t;
  const std::string scheme = part(CURLUPART_SCHEME).value_or("");  // lowercased by curl
  if (scheme == "https")
    t.tls = true;
  else if (scheme == "http")
    t.tls = false;
  else
    throw bad("the scheme must be http or https");
  if (part(CURLUPART_USER) || part(CURLUPART_PASSWORD) || part(CURLUPART_OPTIONS))
    throw bad("no user info allowed");
  if (part(CURLUPART_QUERY) || part(CURLUPART_FRAGMENT) || text.find_first_of("?#") != std::string::npos)
    throw bad("no query or fragment allowed");
  std::string host = part(CURLUPART_HOST).value_or("");
  const bool v6 = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (v6) host = host.substr(1, host.size() - 2);
  if (host.empty()) throw bad("no host");
  const std::string default_port = t.tls ? "443" : "80";
  const std::optional<std::string> port = part(CURLUPART_PORT);
  if (port && (*port == "0" || port->find_first_not_of('0') == std::string::npos)) throw bad("invalid port");
  std::string prefix = part(CURLUPART_PATH).value_or("/");
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  for (char c : prefix) {
    const auto ch = static_cast<unsigned char>(c);
    if (ch <= 0x20 || ch >= 0x7f) throw bad("invalid character in the path");
  }
  t.host = host;
  t.port = port.value_or(default_port);
  t.host_header = v6 ? "[" + host + "]" : host;
  if (t.port != default_port) t.host_header += ":" + t.port;
  t.path = prefix + "/v2/bot/message/push";
  t.url = scheme + "://" + t.host_header + t.path;
  return t;
}

/// A random (version 4) UUID in lowercase hex. LINE needs the retry key to
/// be unique per message, not secret; random_device reads the kernel's
/// generator on Linux.
inline std::string make_uuid_v4() {
  std::random_device rd;
  unsigned char b[16];
  for (std::size_t i = 0; i < sizeof b; i += 4) {
    const std::uint32_t r = rd();
    for (std::size_t k = 0; k < 4; ++k) b[i + k] = static_cast<unsigned char>((r >> (8 * k)) & 0xffu);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0fu) | 0x40u);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3fu) | 0x80u);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < sizeof b; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0fu]);
  }
  return out;
}

/// One message to push: a text, or an image, video or audio LINE fetches
/// from `url` (PROTOCOL.md "Rich messages": operators' files).
struct outgoing {
  std::string type = "text";  ///< text, image, video or audio
  std::string text;           ///< type text
  std::string url;            ///< image, video, audio: originalContentUrl (and the image's preview)
  std::string preview_url;    ///< video: previewImageUrl
  std::uint32_t duration_ms = 0;  ///< audio
};

/// The still LINE shows for a video until it plays: the server makes no
/// frame of its own, so every video shows the console's play picture
/// (examples/server/web/video-preview.png, served at this path).
inline constexpr std::string_view video_preview_path = "/video-preview.png";

/// How long a url pushed to LINE stays valid: LINE fetches the content when
/// the user opens the message, which may be days later.
inline constexpr std::chrono::hours pushed_url_lifetime{24 * 7};

/// What an operator's message becomes on LINE. `public_base`: the server's
/// public https base, empty when not known; `signed_path(id)`: the path and
/// query of a signed url of attachment `id` valid pushed_url_lifetime.
/// Images (JPEG or PNG, all LINE shows), MP4 video (with the generic
/// preview above) and audio with a known duration (LINE requires it) go as
/// media when the base is known; every other file goes as its text with
/// the link (a bare path when the base is unknown).
template <class SignedPath>
outgoing outgoing_for(const livechat::message& m, std::string_view public_base,
                      const SignedPath& signed_path) {
  outgoing o;
  o.text = m.text;
  const auto* f = std::get_if<livechat::file_attachment>(&m.attachment);
  if (!f || !livechat::has_file(m.kind) || f->status != livechat::attachment_status::ready) return o;
  const std::string url = std::string(public_base) + signed_path(f->id);
  if (!public_base.empty()) {
    const bool image = m.kind == livechat::message_kind::image &&
                       (f->content_type == "image/jpeg" || f->content_type == "image/png");
    const bool video = m.kind == livechat::message_kind::video && f->content_type == "video/mp4";
    const bool audio = m.kind == livechat::message_kind::audio && f->duration_ms && *f->duration_ms > 0;
    if (image || video || audio) {
      o.type = image ? "image" : video ? "video" : "audio";
      o.url = url;
      if (video) o.preview_url = std::string(public_base) + std::string(video_preview_path);
      o.duration_ms = audio ? *f->duration_ms : 0;
      return o;
    }
  }
  if (!o.text.empty()) o.text += "\n";
  o.text += url;
  return o;
}

/// `{"to":"<to>","messages":[<o as a LINE message object>]}`.
inline std::string push_body(std::string_view to, const outgoing& o) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("to");
  str(to);
  w.Key("messages");
  w.StartArray();
  w.StartObject();
  w.Key("type");
  str(o.type);
  if (o.type == "text") {
    w.Key("text");
    str(o.text);
  } else {
    w.Key("originalContentUrl");
    str(o.url);
    if (o.type == "image" || o.type == "video") {
      w.Key("previewImageUrl");
      str(o.type == "image" ? o.url : o.preview_url);
    } else {
      w.Key("duration");
      w.Uint(o.duration_ms);
    }
  }
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

/// `{"to":"<to>","messages":[{"type":"text","text":"<text>"}]}`.
inline std::string push_body(std::string_view to, std::string_view text) {
  outgoing o;
  o.text = std::string(text);
  return push_body(to, o);
}

}  // namespace livechat_server::line

#endif
