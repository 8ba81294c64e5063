// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_ATTACHMENTS_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_ATTACHMENTS_HPP

// POST /api/v1/attachments?name=FILE (an operator's upload, Bearer) and
// GET /api/v1/attachments/{id} (a signed url or Bearer): PROTOCOL.md "Rich
// messages". Files come from strangers (LINE customers) and operators
// alike, so nothing is ever served as a page: active types (HTML, SVG,
// XML, scripts) go out as application/octet-stream, everything but plain
// media is a download (Content-Disposition: attachment), and every answer
// is sandboxed (CSP) and never sniffed.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <livechat/auth/authenticator.hpp>
#include <livechat/detail/random.hpp>
#include <livechat/protocol/json_writer.hpp>
#include <livechat/store/message_store.hpp>
#include <livechat/text.hpp>

#include "attachment_url.hpp"
#include "bearer_token.hpp"
#include "json_errors.hpp"
#include "message.hpp"
#include "url.hpp"

namespace livechat_server {

/// ASCII lower case of a media type without its parameters (`; charset=…`).
inline std::string media_type_of(std::string_view content_type) {
  const std::size_t semi = content_type.find(';');
  std::string_view t = content_type.substr(0, semi);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string out(t);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// Media a browser shows without running anything: served inline (so an
/// <img>, <video> or <audio> works). SVG is an image that runs script.
inline bool inline_media(std::string_view media_type) {
  for (std::string_view t : {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif",
                             "image/bmp"})
    if (media_type == t) return true;
  return media_type.substr(0, 6) == "video/" || media_type.substr(0, 6) == "audio/";
}

/// Types a browser would run or render as a document: never sent as such.
inline bool active_media(std::string_view media_type) {
  if (media_type.empty() || media_type == "text/html" || media_type == "application/xhtml+xml" ||
      media_type == "image/svg+xml" || media_type == "text/xml" || media_type == "application/xml" ||
      media_type == "text/javascript" || media_type == "application/javascript" ||
      media_type == "text/xsl" || media_type == "application/pdf")
    return true;
  const std::size_t plus = media_type.rfind('+');
  return plus != std::string_view::npos && media_type.substr(plus) == "+xml";
}

/// A Content-Type worth keeping: a printable ASCII type/subtype of
/// sensible length; anything else is stored as application/octet-stream.
inline std::string checked_content_type(std::string_view v) {
  if (v.empty() || v.size() > 127 || v.find('/') == std::string_view::npos)
    return "application/octet-stream";
  for (char c : v)
    if (c < 0x20 || c > 0x7e) return "application/octet-stream";
  return std::string(v);
}

/// The last path component of a client's file name, without control
/// bytes, cut to 200 bytes on a character boundary; "file" when nothing
/// is left. Stored and shown as the name; never used as a path.
inline std::string clean_file_name(std::string_view raw) {
  const std::size_t cut = raw.find_last_of("/\\");
  if (cut != std::string_view::npos) raw.remove_prefix(cut + 1);
  std::string out;
  for (char c : raw) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    out.push_back(c);
  }
  while (!out.empty() && (out.front() == '.' || out.front() == ' ')) out.erase(0, 1);
  if (out.size() > 200) {
    std::size_t n = 200;
    while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0u) == 0x80u) --n;
    out.resize(n);
  }
  if (out.empty() || !livechat::is_valid_utf8(out)) return "file";
  return out;
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`
/// (RFC 6266): the ASCII fallback keeps letters, digits and `._-`.
inline std::string content_disposition(std::string_view kind, std::string_view name) {
  std::string ascii;
  std::string encoded;
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
    ascii.push_back(plain ? c : '_');
    if (plain) {
      encoded.push_back(c);
    } else {
      encoded.push_back('%');
      encoded.push_back(hex[u >> 4]);
      encoded.push_back(hex[u & 0x0f]);
    }
  }
  if (ascii.empty()) ascii = "file";
  return std::string(kind) + "; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

/// A single `bytes=` range of a body of `size` bytes: [first, last].
struct byte_range {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

/// nullopt: serve the whole body (no header, or one this server does not
/// take, e.g. several ranges); `unsatisfiable` set: answer 416.
inline std::optional<byte_range> parse_range(std::string_view h, std::uint64_t size,
                                             bool& unsatisfiable) {
  unsatisfiable = false;
  if (h.substr(0, 6) != "bytes=" || h.find(',') != std::string_view::npos) return std::nullopt;
  h.remove_prefix(6);
  const std::size_t dash = h.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto first = parse_uint(h.substr(0, dash));
  const auto last = parse_uint(h.substr(dash + 1));
  if (dash == 0) {  // bytes=-N: the last N
    if (!last) return std::nullopt;
    if (*last == 0 || size == 0) return unsatisfiable = true, std::nullopt;
    return byte_range{*last >= size ? 0 : size - *last, size - 1};
  }
  if (!first || (dash + 1 < h.size() && !last)) return std::nullopt;
  if (last && *last < *first) return std::nullopt;  // invalid: ignored (RFC 9110)
  if (*first >= size) return unsatisfiable = true, std::nullopt;
  return byte_range{*first, last && *last < size ? *last : size - 1};
}

template <class Hub, class Clock = livechat::default_clock>
class attachment_routes {
 public:
  using logger = std::function<void(std::string_view line)>;
  static constexpr std::string_view upload_path = livechat_server::upload_path;
  static constexpr const char* download_label = "/api/v1/attachments/{id}";

  attachment_routes(Hub& hub, livechat::message_store& store, livechat::authenticator& auth, Clock& clock,
                    const attachment_url_signer& signer, std::size_t max_bytes, logger log = {})
      : hub_(hub), store_(store), auth_(auth), clock_(clock), signer_(signer), max_bytes_(max_bytes),
        log_(std::move(log)) {}

  std::size_t max_bytes() const noexcept { return max_bytes_; }

  /// POST /api/v1/attachments?name=FILE, the file as the raw body.
  http_response upload(const http_request& req) {
    livechat::identity who;
    if (!authenticated(req, &who)) {
      // As the REST routes: an upload is an API call, not a link.
      http_response r = json_error(401, "not_authenticated", "send Authorization: Bearer <token>");
      r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="livechat")");
      return r;
    }
    if (req.body.size() > max_bytes_)
      return json_error(413, "payload_too_large",
                        "the file is larger than " + std::to_string(max_bytes_) + " bytes");
    if (req.body.empty()) return json_error(400, "validation_error", "the file is empty");
    const auto name = query_param(req.query, "name");
    if (!name.ok) return json_error(400, "validation_error", "name is malformed or given twice", "name");
    livechat::attachment_record a;
    a.id = livechat::detail::hex16(engine_()) + livechat::detail::hex16(engine_());
    a.owner = who.user_id;
    a.status = livechat::attachment_status::ready;
    a.content_type = checked_content_type(req.header("Content-Type"));
    a.name = clean_file_name(name.value.value_or("file"));
    a.created_at = clock_.system_now();
    // The hub's writes of this turn first: this flush must not take them
    // along (a failure would lose them behind the hub's back).
    if (hub_.commit_pending()) hub_.commit();
    auto stored = store_.put_attachment(a, req.body);
    if (stored) stored = store_.flush();
    if (!stored) {
      if (stored.error() == livechat::errc::limit_exceeded)
        return json_error(413, "payload_too_large", "the file is larger than the store allows");
      if (log_) log_("api: attachment not stored: " + stored.error().message());
      return json_error(500, "internal", "could not store the file; try again");
    }
    livechat::file_attachment f = a.as_file();
    f.size = req.body.size();
    f.url = signer_.sign(a.id, clock_.system_now());
    return json_response(201, livechat::json_document([&](livechat::json_writer& w) {
      w.StartObject();
      livechat::write_json_key(w, "attachment");
      livechat::write_json(w, f);
      w.EndObject();
    }));
  }

  /// GET /api/v1/attachments/{id}
  http_response download(const http_request& req) {
    std::string_view id = req.path.substr(attachment_url_signer::path_prefix.size());
    if (!livechat::is_valid_attachment_id(id)) return json_error(404, "no such attachment");
    if (!signer_.verify(id, req.query, clock_.system_now()) && !authenticated(req, nullptr))
      return forbidden();
    auto record = store_.find_attachment(id);
    if (!record) return store_failed(record.error());
    if (!*record) return json_error(404, "no such attachment");
    auto content = store_.attachment_content(id);
    if (!content) return store_failed(content.error());
    if (!*content) return json_error(404, "the attachment is not ready");
    const livechat::attachment_record& a = **record;
    const std::string& bytes = **content;

    http_response r;
    const std::string media = media_type_of(a.content_type);
    r.content_type = active_media(media) ? "application/octet-stream" : a.content_type;
    r.headers.emplace_back("Content-Disposition",
                           content_disposition(inline_media(media) ? "inline" : "attachment", a.name));
    r.headers.emplace_back("Content-Security-Policy", "sandbox");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    // The bytes of an id never change once ready: a strong validator.
    const std::string etag = "\"" + a.id + "\"";
    r.headers.emplace_back("ETag", etag);
    r.headers.emplace_back("Accept-Ranges", "bytes");
    r.headers.emplace_back("Cache-Control", "private, max-age=3600");
    if (req.header("If-None-Match") == etag) {
      r.status = 304;
      return r;
    }
    bool unsatisfiable = false;
    const std::string_view if_range = req.header("If-Range");
    const auto range = if_range.empty() || if_range == etag
                           ? parse_range(req.header("Range"), bytes.size(), unsatisfiable)
                           : std::nullopt;
    if (unsatisfiable) {
      http_response e = json_error(416, "range_not_satisfiable", "the range is outside the file");
      e.headers.emplace_back("Content-Range", "bytes */" + std::to_string(bytes.size()));
      return e;
    }
    if (range) {
      r.status = 206;
      r.headers.emplace_back("Content-Range", "bytes " + std::to_string(range->first) + "-" +
                                                  std::to_string(range->last) + "/" +
                                                  std::to_string(bytes.size()));
      r.body = bytes.substr(static_cast<std::size_t>(range->first),
                            static_cast<std::size_t>(range->last - range->first + 1));
    } else {
      r.body = bytes;
    }
    return r;
  }

 private:
  bool authenticated(const http_request& req, livechat::identity* who) {
    const auto token = bearer_token(req.header("Authorization"));
    if (!token) return false;
    auto id = auth_.authenticate(*token, clock_.system_now());
    if (!id) return false;
    if (who != nullptr) *who = std::move(id.value());
    return true;
  }

  http_response store_failed(std::error_code ec) const {
    if (log_) log_("api: attachment read failed: " + ec.message());
    return json_error(500, "internal", "the message store failed; try again");
  }

  static http_response forbidden() {
    return json_error(403, "forbidden", "a valid signed url or Authorization: Bearer is required");
  }

  Hub& hub_;
  livechat::message_store& store_;
  livechat::authenticator& auth_;
  Clock& clock_;
  const attachment_url_signer& signer_;
  std::size_t max_bytes_;
  logger log_;
  std::mt19937_64 engine_ = livechat::detail::seeded_engine();
};

}  // namespace livechat_server

#endif
