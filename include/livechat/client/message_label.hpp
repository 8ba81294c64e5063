// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_MESSAGE_LABEL_HPP
#define LIVECHAT_CLIENT_MESSAGE_LABEL_HPP

// A one-line label for a message that is not plain text, for clients
// without a way to show files (a terminal): `[image name.jpg 123 KiB]`,
// `[video clip.mp4 pending]`, `[sticker]`, `[location Tokyo Tower]`.

#include <cstdint>
#include <string>
#include <variant>

#include <livechat/protocol/model.hpp>

namespace livechat::client {

/// "512 B", "123 KiB", "4.2 MiB" (KiB rounded down, MiB to one decimal).
inline std::string human_size(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  if (bytes < 1024 * 1024) return std::to_string(bytes / 1024) + " KiB";
  const std::uint64_t tenths = bytes * 10 / (1024 * 1024);
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MiB";
}

/// The message's `text` for a text message; else a label of its kind and
/// what it carries (a file's name and size, or its state while not ready).
inline std::string message_label(const message& m) {
  if (m.kind == message_kind::text) return m.text;
  std::string out = "[";
  out += to_string(m.kind);
  if (const auto* f = std::get_if<file_attachment>(&m.attachment)) {
    out += ' ';
    out += f->name.empty() ? m.text : f->name;
    out += ' ';
    out += f->status == attachment_status::ready ? human_size(f->size)
                                                 : std::string(to_string(f->status));
  } else if (const auto* l = std::get_if<location_attachment>(&m.attachment)) {
    if (!l->title.empty()) out += ' ' + l->title;
  }
  return out + "]";
}

}  // namespace livechat::client

#endif
