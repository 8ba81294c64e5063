// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_PAGE_CAP_HPP
#define LIVECHAT_STORE_PAGE_CAP_HPP

// The 1 MiB page cap of PROTOCOL.md: every page of messages (and of the
// conversation list) stops before its encoded items pass the cap, keeping
// at least one. The stores stop early on raw sizes (`history_query::
// max_bytes`), which are never above the encoded ones, so the server never
// loads much more than a page; these functions then cut by the exact JSON
// size, which escapes can make up to six times the raw size (U+0001 is
// written `\u0001`).

#include <cstddef>
#include <string>
#include <vector>

#include <livechat/error.hpp>  // LIVECHAT_ASSERT
#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/store/message_store.hpp>

namespace livechat {

/// PROTOCOL.md's cap on the encoded items of one page.
inline constexpr std::size_t default_max_page_bytes = 1024 * 1024;

/// The bytes `item` adds to a JSON array: its encoding plus a separator.
template <class T>
std::size_t encoded_item_size(const T& item, std::string& scratch) {
  scratch.clear();
  detail::string_output out{scratch};
  detail::json_writer w(out);
  detail::write(w, item);
  out.finish();
  return scratch.size() + 1;
}

/// Cuts `page` to the messages whose encodings fit in `max_bytes` (at
/// least one), keeping the newest when `keep_newest` (a latest or
/// before_seq page) and the oldest otherwise (a since_seq page). A cut
/// page gets `has_more`. Returns whether it cut.
inline bool cap_history_page(history_page& page, std::size_t max_bytes, bool keep_newest) {
  std::string scratch;
  std::size_t used = 0;
  std::size_t keep = 0;
  const std::size_t n = page.messages.size();
  for (; keep < n; ++keep) {
    const message& m = page.messages[keep_newest ? n - 1 - keep : keep];
    const std::size_t size = encoded_item_size(m, scratch);
    if (keep > 0 && (size > max_bytes || used > max_bytes - size)) break;
    used += size;
  }
  if (keep == n) return false;
  using diff = std::vector<message>::difference_type;
  if (keep_newest)
    page.messages.erase(page.messages.begin(),
                        page.messages.begin() + static_cast<diff>(n - keep));
  else
    page.messages.resize(keep);
  page.has_more = true;
  return true;
}

/// Cuts `page` to the conversations whose encodings fit in `max_bytes`
/// (at least one); `next_cursor` then continues after the last one kept.
/// Returns whether it cut.
inline bool cap_conversation_page(conversation_page& page, std::size_t max_bytes) {
  std::string scratch;
  std::size_t used = 0;
  std::size_t keep = 0;
  const std::size_t n = page.conversations.size();
  // Without a cursor per row a cut would end the walk early: better one
  // page over the cap than conversations no client can reach.
  LIVECHAT_ASSERT(page.cursors.size() == n);
  if (page.cursors.size() != n) return false;
  for (; keep < n; ++keep) {
    const std::size_t size = encoded_item_size(page.conversations[keep], scratch);
    if (keep > 0 && (size > max_bytes || used > max_bytes - size)) break;
    used += size;
  }
  if (keep == n) return false;
  page.conversations.resize(keep);
  page.cursors.resize(keep);
  page.next_cursor = page.cursors.back();
  return true;
}

}  // namespace livechat

#endif
