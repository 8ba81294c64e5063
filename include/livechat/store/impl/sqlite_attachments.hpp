// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_IMPL_SQLITE_ATTACHMENTS_HPP
#define LIVECHAT_STORE_IMPL_SQLITE_ATTACHMENTS_HPP

// The bodies of sqlite_store's attachment hooks: upload records, their
// content, the pending ones, and the finish that also reads the message
// showing the file. Each write is a savepoint of the open batch, like
// every other write of the store.

#include <livechat/store/sqlite_store.hpp>  // first: this file is only the second half of it

#include <algorithm>  // std::min
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace livechat {

inline result<void> sqlite_store::do_put_attachment(const attachment_record& a,
                                                   std::string_view content) {
  if (auto ec = precheck()) return ec;
  detail::sqlite_transaction::write w(tx_, db_);
  if (int rc = w.begin(); rc != SQLITE_OK) return fail(rc, "put_attachment: begin");
  detail::sqlite_query q(stmt(sid::put_attachment));
  detail::sql_bind_new_attachment(q, a, content);
  const int rc = q.step();
  if (rc != SQLITE_DONE) return fail(rc, "put_attachment");
  const bool inserted = sqlite3_changes(db_) > 0;
  if (int f = w.finish(inserted); f != SQLITE_OK) return fail(f, "put_attachment: commit");
  if (!inserted) return errc::validation_error;  // the id is taken
  return {};
}

inline result<std::optional<attachment_record>> sqlite_store::do_find_attachment(
    std::string_view id) {
  if (auto ec = precheck()) return ec;
  return read_attachment(id);
}

inline result<std::optional<std::string>> sqlite_store::do_attachment_content(
    std::string_view id) {
  if (auto ec = precheck()) return ec;
  detail::sqlite_query q(stmt(sid::attachment_content));
  q.text(id);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return fail(rc, "attachment_content");
  return std::optional<std::string>(q.blob_at(0));
}

inline result<attachment_update> sqlite_store::do_finish_attachment(
    std::string_view id, attachment_status status, std::string_view content,
    std::string_view content_type) {
  if (auto ec = precheck()) return ec;
  detail::sqlite_transaction::write w(tx_, db_);
  if (int rc = w.begin(); rc != SQLITE_OK) return fail(rc, "finish_attachment: begin");
  {
    detail::sqlite_query q(stmt(sid::finish_attachment));
    detail::sql_bind_finished_attachment(q, id, status, content, content_type);
    const int rc = q.step();
    if (rc != SQLITE_DONE) return fail(rc, "finish_attachment");
  }
  const bool changed = sqlite3_changes(db_) > 0;
  auto record = read_attachment(id);
  if (!record) return record.error();
  attachment_update out;
  std::error_code refused;
  if (!*record) refused = errc::not_found;
  else if (!changed) refused = errc::validation_error;  // not pending
  if (!refused) {
    out.attachment = std::move(**record);
    if (out.attachment.seq != 0) {
      detail::sqlite_query q(stmt(sid::select_message_at));
      q.text(out.attachment.room).integer(static_cast<std::int64_t>(out.attachment.seq));
      const int rc = q.step();
      if (rc == SQLITE_ROW) out.message = detail::sql_read_message(q, 0);
      else if (rc != SQLITE_DONE) return fail(rc, "finish_attachment: read the message");
    }
  }
  if (int rc = w.finish(changed); rc != SQLITE_OK) return fail(rc, "finish_attachment: commit");
  if (refused) return refused;
  return out;
}

inline result<std::vector<std::string>> sqlite_store::do_pending_attachments(
    std::size_t limit) {
  if (auto ec = precheck()) return ec;
  detail::sqlite_query q(stmt(sid::pending_attachments));
  q.integer(static_cast<std::int64_t>(std::min<std::size_t>(limit, 1u << 30)));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < limit; ++i) {
    const int rc = q.step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return fail(rc, "pending_attachments");
    out.push_back(q.text_at(0));
  }
  return out;
}

inline result<std::optional<attachment_record>> sqlite_store::read_attachment(
    std::string_view id) {
  detail::sqlite_query q(stmt(sid::find_attachment));
  q.text(id);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<attachment_record>();
  if (rc != SQLITE_ROW) return fail(rc, "find_attachment");
  return std::optional<attachment_record>(detail::sql_read_attachment(q, 0));
}

}  // namespace livechat

#endif
