// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_SQL_ROWS_HPP
#define LIVECHAT_STORE_DETAIL_SQL_ROWS_HPP

// What both SQL stores (sqlite_store, postgresql_store) share above their
// drivers: the column order of a message, a session and an attachment row
// and how to read them, the parameters of the writes both run in the same
// order, and which conversation-list statement a query picks. Templates
// over each driver's row (`text_at`, `integer_at`, `unsigned_at`,
// `real_at`, `is_null`, by column) and parameter list (`text`,
// `text_or_null`, `integer`, `real`, `blob`, `null`), so each store only
// writes its SQL and runs it; a change to a column order is made once.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>

#include <livechat/protocol/model.hpp>
#include <livechat/store/attachment_record.hpp>
#include <livechat/store/pages.hpp>

namespace livechat::detail {

/// A message's columns, from the first one a row reader is given: room,
/// seq, id, sender type/id/name, text, created_at (ms), client_msg_id,
/// kind (NULL: text), attachment_id, sticker package/id, location title/
/// address/latitude/longitude, then the file's status, content_type, size,
/// name, duration_ms (from the attachment row the message joins).
inline constexpr int sql_message_columns = 22;

/// An integer column is a signed 64-bit one in both databases: larger
/// values (none occur: seqs, versions and sizes count up from 0) are
/// stored as the largest one rather than wrapping to a negative.
inline std::int64_t sql_int(std::uint64_t v) noexcept {
  constexpr auto top = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(v < top ? v : top);
}

/// A file's metadata columns, in the order both a message row (from its
/// join) and an attachment row have them: status, content_type, size,
/// name, duration_ms. `File`: file_attachment or attachment_record.
template <class Row, class File>
void sql_read_file_fields(const Row& r, int col, File& f) {
  f.status = parse_attachment_status(r.text_at(col)).value_or(attachment_status::failed);
  f.content_type = r.text_at(col + 1);
  f.size = r.unsigned_at(col + 2);
  f.name = r.text_at(col + 3);
  if (!r.is_null(col + 4)) f.duration_ms = static_cast<std::uint32_t>(r.integer_at(col + 4));
}

template <class Row>
message sql_read_message(const Row& r, int col) {
  message m;
  m.room = r.text_at(col);
  m.seq = r.unsigned_at(col + 1);
  m.id = r.text_at(col + 2);
  // The schema's CHECK keeps anything else out.
  m.sender.type = parse_sender_type(r.text_at(col + 3)).value_or(sender_type::system);
  m.sender.id = r.text_at(col + 4);
  m.sender.name = r.text_at(col + 5);
  m.text = r.text_at(col + 6);
  m.created_at = system_time(std::chrono::milliseconds(r.integer_at(col + 7)));
  m.client_msg_id = r.text_at(col + 8);
  // NULL kind is a text message (every row written before rich messages).
  if (r.is_null(col + 9)) return m;
  m.kind = parse_message_kind(r.text_at(col + 9)).value_or(message_kind::text);
  if (m.kind == message_kind::sticker) {
    m.attachment = sticker_attachment{r.text_at(col + 11), r.text_at(col + 12)};
  } else if (m.kind == message_kind::location) {
    m.attachment = location_attachment{r.text_at(col + 13), r.text_at(col + 14),
                                       r.real_at(col + 15), r.real_at(col + 16)};
  } else if (has_file(m.kind)) {
    file_attachment a;
    a.id = r.text_at(col + 10);
    sql_read_file_fields(r, col + 17, a);
    m.attachment = std::move(a);
  }
  return m;
}

/// A session's columns: status (NULL: never saved), claimed_by id and
/// name, updated_at (ms), version.
template <class Row>
session_state sql_read_session(const Row& r, int col) {
  session_state s;
  if (r.is_null(col)) return s;  // never saved: the default session
  s.status = parse_session_status(r.text_at(col)).value_or(session_status::open);
  if (!r.is_null(col + 1)) s.claimed_by = user_ref{r.text_at(col + 1), r.text_at(col + 2)};
  s.updated_at = system_time(std::chrono::milliseconds(r.integer_at(col + 3)));
  s.version = r.unsigned_at(col + 4);
  return s;
}

/// An attachment's columns (find_attachment): id, owner, room, seq,
/// status, content_type, size, name, duration_ms, created_at (ms).
template <class Row>
attachment_record sql_read_attachment(const Row& r, int col) {
  attachment_record a;
  a.id = r.text_at(col);
  a.owner = r.text_at(col + 1);
  a.room = r.text_at(col + 2);
  a.seq = r.unsigned_at(col + 3);
  sql_read_file_fields(r, col + 4, a);
  a.created_at = system_time(std::chrono::milliseconds(r.integer_at(col + 9)));
  return a;
}

/// A conversation-list row (a message, its room's session, then last_at
/// and last_order) into `out`: false once the page is complete.
template <class Row>
bool sql_add_conversation(const Row& r, conversation_sink& out) {
  constexpr int n = sql_message_columns;
  const conversation_position at{r.integer_at(n + 5), r.integer_at(n + 6)};
  return out.add(sql_read_message(r, 0), sql_read_session(r, n), at);
}

/// The kind and what it carries, eight parameters (NULLs for text): kind,
/// attachment_id, sticker package/id, location title/address/lat/long.
template <class Params>
void sql_bind_rich(Params& p, message_kind kind, const message_attachment& a) {
  if (kind == message_kind::text) {
    for (int i = 0; i < 8; ++i) p.null();
    return;
  }
  p.text(to_string(kind));
  const auto* f = std::get_if<file_attachment>(&a);
  p.text_or_null(f != nullptr ? std::string_view(f->id) : std::string_view());
  if (const auto* s = std::get_if<sticker_attachment>(&a))
    p.text(s->package_id).text(s->sticker_id);
  else
    p.null().null();
  if (const auto* l = std::get_if<location_attachment>(&a))
    p.text(l->title).text(l->address).real(l->latitude).real(l->longitude);
  else
    p.null().null().null().null();
}

/// save_session's parameters: room, status, claimed_by id and name (NULLs
/// when unclaimed), updated_at (ms), version.
template <class Params>
void sql_bind_session(Params& p, std::string_view room, const session_state& s) {
  p.text(room).text(to_string(s.status));
  if (s.claimed_by)
    p.text(s.claimed_by->user_id).text(s.claimed_by->name);
  else
    p.null().null();
  p.integer(s.updated_at.time_since_epoch().count()).integer(sql_int(s.version));
}

/// put_attachment's parameters: id, owner, status, content_type, size,
/// name, duration_ms, created_at (ms), content (NULL unless ready).
template <class Params>
void sql_bind_new_attachment(Params& p, const attachment_record& a, std::string_view content) {
  p.text(a.id).text(a.owner).text(to_string(a.status)).text(a.content_type)
      .integer(sql_int(a.size)).text(a.name);
  if (a.duration_ms) p.integer(*a.duration_ms); else p.null();
  p.integer(a.created_at.time_since_epoch().count());
  if (a.status == attachment_status::ready) p.blob(content); else p.null();
}

/// finish_attachment's parameters: id, status, size, content (NULL unless
/// ready), content_type (NULL: keep the stored one).
template <class Params>
void sql_bind_finished_attachment(Params& p, std::string_view id, attachment_status status,
                                  std::string_view content, std::string_view content_type) {
  p.text(id).text(to_string(status)).integer(sql_int(content.size()));
  if (status == attachment_status::ready) p.blob(content); else p.null();
  p.text_or_null(content_type);
}

/// The conversation-list statement for `q`'s filter: each store has the
/// four (`Sid::list_all`, `list_status`, `list_claimer`,
/// `list_claimer_status`), each using the index of its filter.
template <class Sid>
Sid sql_list_statement(const conversation_query& q) noexcept {
  const bool by_status = q.status.has_value();
  const bool by_claimer = !q.claimed_by.empty();
  return by_status && by_claimer ? Sid::list_claimer_status
         : by_claimer            ? Sid::list_claimer
         : by_status             ? Sid::list_status
                                 : Sid::list_all;
}

/// Its parameters: the cursor's place (the top for the first page), the
/// filter's values (claimer, then status), and the row limit: one row more
/// than the page, which tells whether a next page exists.
template <class Params>
void sql_bind_list(Params& p, const conversation_query& q,
                   const std::optional<conversation_position>& after) {
  constexpr std::int64_t top = std::numeric_limits<std::int64_t>::max();
  p.integer(after ? after->last_at : top).integer(after ? after->order : top);
  if (!q.claimed_by.empty()) p.text(q.claimed_by);
  if (q.status) p.text(to_string(*q.status));
  constexpr auto max_limit = static_cast<std::uint64_t>(top - 1);
  const auto lim = static_cast<std::uint64_t>(q.limit);
  p.integer(static_cast<std::int64_t>(lim < max_limit ? lim : max_limit) + 1);
}

}  // namespace livechat::detail

#endif
