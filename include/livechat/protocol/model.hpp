// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_MODEL_HPP
#define LIVECHAT_PROTOCOL_MODEL_HPP

// The nouns of PROTOCOL.md: identities, messages, sessions, conversations.
// Plain aggregates with no behaviour; the codec writes and reads them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <livechat/protocol/timestamp.hpp>

namespace livechat {

/// `operator` is a keyword, hence the trailing underscore.
enum class user_role { operator_, admin };

inline std::string_view to_string(user_role r) noexcept {
  return r == user_role::admin ? "admin" : "operator";
}

inline std::optional<user_role> parse_user_role(std::string_view s) noexcept {
  if (s == "operator") return user_role::operator_;
  if (s == "admin") return user_role::admin;
  return std::nullopt;
}

/// Who a connection speaks for once authenticated.
struct identity {
  std::string user_id;
  std::string name;
  user_role role = user_role::operator_;
};

/// `{user_id, name}` as in `members` and `claimed_by`.
struct user_ref {
  std::string user_id;
  std::string name;
  friend bool operator==(const user_ref& a, const user_ref& b) {
    return a.user_id == b.user_id && a.name == b.name;
  }
};

enum class sender_type { operator_, user, system };

inline std::string_view to_string(sender_type t) noexcept {
  switch (t) {
    case sender_type::operator_: return "operator";
    case sender_type::user: return "user";
    case sender_type::system: return "system";
  }
  return "system";
}

inline std::optional<sender_type> parse_sender_type(std::string_view s) noexcept {
  if (s == "operator") return sender_type::operator_;
  if (s == "user") return sender_type::user;
  if (s == "system") return sender_type::system;
  return std::nullopt;
}

struct sender {
  sender_type type = sender_type::operator_;
  std::string id;
  std::string name;
};

/// What a message is (PROTOCOL.md "Rich messages"). `text` is the
/// default and left out of the wire when text; for every other kind the
/// message's `text` stays a short readable fallback.
enum class message_kind { text, image, video, audio, file, sticker, location };

inline std::string_view to_string(message_kind k) noexcept {
  switch (k) {
    case message_kind::text: return "text";
    case message_kind::image: return "image";
    case message_kind::video: return "video";
    case message_kind::audio: return "audio";
    case message_kind::file: return "file";
    case message_kind::sticker: return "sticker";
    case message_kind::location: return "location";
  }
  return "text";
}

inline std::optional<message_kind> parse_message_kind(std::string_view s) noexcept {
  for (auto k : {message_kind::text, message_kind::image, message_kind::video, message_kind::audio,
                 message_kind::file, message_kind::sticker, message_kind::location})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

/// Image, video, audio and file messages carry their content as a file.
inline bool has_file(message_kind k) noexcept {
  return k == message_kind::image || k == message_kind::video || k == message_kind::audio ||
         k == message_kind::file;
}

enum class attachment_status { pending, ready, failed };

inline std::string_view to_string(attachment_status s) noexcept {
  switch (s) {
    case attachment_status::pending: return "pending";
    case attachment_status::ready: return "ready";
    case attachment_status::failed: return "failed";
  }
  return "failed";
}

inline std::optional<attachment_status> parse_attachment_status(std::string_view s) noexcept {
  if (s == "pending") return attachment_status::pending;
  if (s == "ready") return attachment_status::ready;
  if (s == "failed") return attachment_status::failed;
  return std::nullopt;
}

/// `attachment` of an image, video, audio or file message. `url` is not
/// stored: the server signs a fresh one for each delivery of a `ready` file.
struct file_attachment {
  std::string id;
  attachment_status status = attachment_status::pending;
  std::string content_type;
  std::uint64_t size = 0;
  std::string name;
  std::string url;                           ///< empty: none (left out of the wire)
  std::optional<std::uint32_t> duration_ms;  ///< video and audio, when known
};

/// `attachment` of a sticker message (LINE's ids).
struct sticker_attachment {
  std::string package_id;
  std::string sticker_id;
};

/// `attachment` of a location message.
struct location_attachment {
  std::string title;
  std::string address;
  double latitude = 0;
  double longitude = 0;
};

/// None (a text message), or what the message's kind carries.
using message_attachment =
    std::variant<std::monostate, file_attachment, sticker_attachment, location_attachment>;

/// A stored chat message. `seq` starts at 1 per room and grows by exactly 1.
struct message {
  std::string id;  ///< unique across the server
  std::string room;
  std::uint64_t seq = 0;
  livechat::sender sender;
  std::string text;
  system_time created_at{};
  std::string client_msg_id;  ///< empty when the sender gave none
  message_kind kind = message_kind::text;
  message_attachment attachment{};  ///< matches `kind`: a file, a sticker, a location or none
};

enum class session_status { open, claimed, closed };

inline std::string_view to_string(session_status s) noexcept {
  switch (s) {
    case session_status::open: return "open";
    case session_status::claimed: return "claimed";
    case session_status::closed: return "closed";
  }
  return "open";
}

inline std::optional<session_status> parse_session_status(std::string_view s) noexcept {
  if (s == "open") return session_status::open;
  if (s == "claimed") return session_status::claimed;
  if (s == "closed") return session_status::closed;
  return std::nullopt;
}

/// A conversation's session. `version` grows by 1 with every change so a
/// client that sees states arrive by different paths keeps the highest.
struct session_state {
  session_status status = session_status::open;
  std::optional<user_ref> claimed_by;
  system_time updated_at{};
  std::uint64_t version = 0;
};

/// The end user of a conversation (PROTOCOL.md "Rich messages ... and
/// customers"): `name` is the id until the messenger's profile is known;
/// `picture_url` empty: none (null on the wire).
struct customer_profile {
  std::string id;
  std::string name;
  std::string picture_url;
};

/// One row of the conversation list (`inbox_update`, REST list).
struct conversation_summary {
  std::string room;
  std::string conversation_id;
  std::optional<message> last_message;
  std::uint64_t last_seq = 0;
  session_state session;
  /// The receiving user's read position (0: none), so `last_seq - read_seq`
  /// is their unread count. Per user: the store's list leaves it 0 and the
  /// server fills it for whoever the page is for.
  std::uint64_t read_seq = 0;
  /// Filled in by the server when it hands the row out; not stored.
  std::optional<customer_profile> customer;
};

/// One user in `presence_update` / `presence_diff`.
struct presence_entry {
  std::string user_id;
  std::string name;
  std::uint32_t connections = 0;
};

}  // namespace livechat

#endif
