// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_ATTACHMENT_RECORD_HPP
#define LIVECHAT_STORE_ATTACHMENT_RECORD_HPP

// What a store keeps about a file attachment besides its bytes: who may
// send it, where it was first used, and the metadata every delivery
// repeats (PROTOCOL.md "Rich messages"). The bytes live in the same store,
// so servers sharing a database share the files and a backup holds them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <livechat/protocol/model.hpp>

namespace livechat {

/// The default bound on one attachment's bytes (`message_store::set_max_attachment_bytes`).
inline constexpr std::size_t default_max_attachment_bytes = std::size_t{10} << 20;

/// Attachment ids are made by the server; a store refuses anything longer
/// or outside [A-Za-z0-9_-], so an id is safe in a URL path and a log line.
inline constexpr std::size_t max_attachment_id_bytes = 64;

inline bool is_valid_attachment_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_attachment_id_bytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

/// The message kind of a file by its content type. SVG is a `file`, never
/// an `image`: a client that shows images inline must not run its script.
inline message_kind file_kind(std::string_view content_type) noexcept {
  auto starts = [&](std::string_view p) {
    if (content_type.size() < p.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i) {
      char c = content_type[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != p[i]) return false;
    }
    return true;
  };
  if (starts("image/svg")) return message_kind::file;
  if (starts("image/")) return message_kind::image;
  if (starts("video/")) return message_kind::video;
  if (starts("audio/")) return message_kind::audio;
  return message_kind::file;
}

/// A file message's fallback `text` (PROTOCOL.md: the file name): `name`
/// cut to `max_code_points` on a character boundary, or "file" when empty.
inline std::string fallback_text(std::string_view name, std::size_t max_code_points) {
  std::size_t end = 0;
  std::size_t points = 0;
  while (end < name.size() && points < max_code_points) {
    const auto lead = static_cast<unsigned char>(name[end]);
    const std::size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (end + n > name.size()) break;
    end += n;
    ++points;
  }
  std::string out(name.substr(0, end));
  // The text rules trim these; a name of only them still needs a text.
  const auto first = out.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "file";
  out.erase(0, first);
  out.erase(out.find_last_not_of(" \t\r\n") + 1);
  return out;
}

struct attachment_record {
  std::string id;
  /// The user whose file it is: the operator who uploaded it (only they
  /// may send it), or the end user whose message carried it.
  std::string owner;
  /// The room of the first message that carries it; empty until one does.
  std::string room;
  std::uint64_t seq = 0;  ///< that message's seq (0: none yet)
  attachment_status status = attachment_status::pending;
  std::string content_type;
  std::uint64_t size = 0;  ///< bytes of the content (0 while pending)
  std::string name;
  std::optional<std::uint32_t> duration_ms;
  system_time created_at{};

  /// The message-side view (no url: the server signs one per delivery).
  file_attachment as_file() const {
    return file_attachment{id, status, content_type, size, name, std::string(), duration_ms};
  }
};

/// What `message_store::finish_attachment` reports: the record as now
/// stored, and the message that carries it (if one does yet).
struct attachment_update {
  attachment_record attachment;
  std::optional<livechat::message> message;
};

}  // namespace livechat

#endif
