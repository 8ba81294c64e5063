// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_IMPL_POSTGRESQL_ATTACHMENTS_HPP
#define LIVECHAT_STORE_IMPL_POSTGRESQL_ATTACHMENTS_HPP

// The bodies of postgresql_store's attachment hooks: upload records, their
// content, the pending ones, and the finish that also reads the message
// showing the file. Attachment writes take the batch's lock order below
// every room (`attachment_lock_room`).

#include <livechat/store/postgresql_store.hpp>  // first: this file is only the second half of it

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livechat {

inline result<void> postgresql_store::do_put_attachment(const attachment_record& a,
                                                       std::string_view content) {
  if (auto ec = precheck()) return ec;
  if (auto ec = begin_write("put_attachment: begin", attachment_lock_room)) return ec;
  detail::pg_params p;
  detail::sql_bind_new_attachment(p, a, content);
  if (p.overflow()) return fail_logic("put_attachment: too large for PostgreSQL");
  auto r = run(sid::put_attachment, p);
  if (!r.ok()) return fail(r, "put_attachment");
  const bool inserted = r.rows() > 0;
  if (auto ec = conn_.finish_write(inserted, "put_attachment: commit")) return ec;
  if (!inserted) return errc::validation_error;  // the id is taken
  return {};
}

inline result<std::optional<attachment_record>> postgresql_store::do_find_attachment(
    std::string_view id) {
  if (auto ec = precheck()) return ec;
  return read_attachment(id);
}

inline result<std::optional<std::string>> postgresql_store::do_attachment_content(
    std::string_view id) {
  if (auto ec = precheck()) return ec;
  detail::pg_params p;
  p.text(id);
  auto r = run(sid::attachment_content, p);
  if (!r.ok()) return fail(r, "attachment_content");
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.text_at(0, 0));
}

inline result<attachment_update> postgresql_store::do_finish_attachment(
    std::string_view id, attachment_status status, std::string_view content,
    std::string_view content_type) {
  if (auto ec = precheck()) return ec;
  if (auto ec = begin_write("finish_attachment: begin", attachment_lock_room)) return ec;
  detail::pg_params p;
  detail::sql_bind_finished_attachment(p, id, status, content, content_type);
  if (p.overflow()) return fail_logic("finish_attachment: too large for PostgreSQL");
  auto r = run(sid::finish_attachment, p);
  if (!r.ok()) return fail(r, "finish_attachment");
  const bool changed = r.rows() > 0;
  auto record = read_attachment(id);
  if (!record) return record.error();
  attachment_update out;
  if (changed && *record) {
    out.attachment = std::move(**record);
    if (out.attachment.seq != 0) {
      detail::pg_params m;
      m.text(out.attachment.room).integer(detail::sql_int(out.attachment.seq));
      auto msg = run(sid::select_message_at, m);
      if (!msg.ok()) return fail(msg, "finish_attachment: read the message");
      if (msg.rows() > 0) out.message = detail::sql_read_message(detail::pg_row(msg, 0), 0);
    }
  }
  if (auto ec = conn_.finish_write(changed, "finish_attachment: commit")) return ec;
  if (!*record) return errc::not_found;
  if (!changed) return errc::validation_error;  // not pending
  return out;
}

inline result<std::vector<std::string>> postgresql_store::do_pending_attachments(
    std::size_t limit) {
  if (auto ec = precheck()) return ec;
  detail::pg_params p;
  p.integer(detail::sql_int(limit));
  auto r = run(sid::pending_attachments, p);
  if (!r.ok()) return fail(r, "pending_attachments");
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.text_at(i, 0));
  return out;
}

inline result<std::optional<attachment_record>> postgresql_store::read_attachment(
    std::string_view id) {
  detail::pg_params p;
  p.text(id);
  auto r = run(sid::find_attachment, p);
  if (!r.ok()) return fail(r, "find_attachment");
  if (r.rows() == 0) return std::optional<attachment_record>();
  return std::optional<attachment_record>(detail::sql_read_attachment(detail::pg_row(r, 0), 0));
}

}  // namespace livechat

#endif
