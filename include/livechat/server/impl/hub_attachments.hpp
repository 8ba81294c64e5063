// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_IMPL_HUB_ATTACHMENTS_HPP
#define LIVECHAT_SERVER_IMPL_HUB_ATTACHMENTS_HPP

// hub's bodies for file attachments (PROTOCOL.md "Rich messages"): an
// upload sent with send_message, the signed urls of every delivery, and a
// pending file that became ready or failed. Included by server/hub.hpp.

#include <string>
#include <string_view>
#include <variant>

#include <livechat/server/hub.hpp>
#include <livechat/store/attachment_record.hpp>

namespace livechat::server {

template <class Transport, class Clock>
inline void hub<Transport, Clock>::sign_url(message& m) const {
  auto* f = std::get_if<file_attachment>(&m.attachment);
  if (f == nullptr) return;
  f->url.clear();  // never a stale one: each delivery signs its own
  if (sign_url_ && f->status == attachment_status::ready) f->url = sign_url_(*f);
}

template <class Transport, class Clock>
template <class Messages>
inline void hub<Transport, Clock>::sign_urls(Messages& messages) const {
  for (message& m : messages) sign_url(m);
}

/// Fills `req` from the sender's upload `ev.attachment_id`; false (and the
/// error answered) when it is not one: unknown, someone else's, or not
/// ready. All three read the same, so ids of others cannot be probed.
template <class Transport, class Clock>
inline bool hub<Transport, Clock>::attach_upload(connection& c,
                                                 const client_events::send_message& ev,
                                                 append_request& req, const ref_type& ref) {
  auto found = store_.find_attachment(*ev.attachment_id);
  if (store_failed(c, found, ev, ref)) return false;
  const auto& record = found.value();
  if (!record || record->owner != c.who.user_id || record->status != attachment_status::ready) {
    reply_error(c, errc::validation_error, "attachment_id is not an upload of yours",
                std::string(client_events::send_message::type_name), std::string("attachment_id"),
                ref);
    return false;
  }
  req.kind = file_kind(record->content_type);
  req.attachment = record->as_file();
  if (req.text.empty()) req.text = fallback_text(record->name, config_.codec.max_text_length);
  return true;
}

/// The pending record of an end user's file, made before its message (the
/// message shows the record). Already there: a redelivery, or an earlier
/// try whose message failed; it is the same file, so it is kept.
template <class Transport, class Clock>
inline result<void> hub<Transport, Clock>::pending_file(const inbound_message& in,
                                                        system_time now) {
  const auto* f = std::get_if<file_attachment>(&in.attachment);
  if (f == nullptr) return {};
  auto found = store_.find_attachment(f->id);
  if (!found) return found.error();
  if (*found) return {};
  attachment_record r;
  r.id = f->id;
  r.owner = in.user_id;
  r.status = attachment_status::pending;
  r.content_type = f->content_type;
  r.name = f->name;
  r.size = f->size;
  r.duration_ms = f->duration_ms;
  r.created_at = now;
  return store_.put_attachment(r, {});
}

template <class Transport, class Clock>
inline result<attachment_update> hub<Transport, Clock>::finish_attachment(
    std::string_view attachment_id, attachment_status status, std::string_view content,
    std::string_view content_type) {
  return guarded_call<result<attachment_update>>(
      [&] { return finish_upload(attachment_id, status, content, content_type); });
}

template <class Transport, class Clock>
inline result<attachment_update> hub<Transport, Clock>::finish_upload(
    std::string_view id, attachment_status status, std::string_view content,
    std::string_view content_type) {
  auto done = store_.finish_attachment(id, status, content, content_type);
  if (!done) return done.error();
  note_write(nullptr, std::nullopt, "attachment_updated");
  if (done->message) {
    sign_url(*done->message);
    const message& m = *done->message;
    const auto& file = std::get<file_attachment>(m.attachment);
    to_room_and_watchers(m.room, make(server_events::attachment_updated{m.room, m.id, m.seq, file}));
  }
  if (!commit_outbox()) return errc::store_failure;
  return done;
}

}  // namespace livechat::server

#endif
