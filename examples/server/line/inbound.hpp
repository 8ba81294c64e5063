// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LINE_INBOUND_HPP
#define LIVECHAT_EXAMPLES_SERVER_LINE_INBOUND_HPP

// What the server fetches from LINE about what customers send: the content
// of their images, video, audio and files (content_fetcher.hpp), and their
// display names and pictures (profiles.hpp), both off the hub's thread on
// one HTTP client; and, at startup, the fetches a stopped or killed server
// left unfinished. Wiring only: main.cpp calls these once.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <livechat/store/attachment_record.hpp>

#include "../http/byte_budget.hpp"
#include "../startup.hpp"
#ifdef LIVECHAT_SERVER_WITH_LINE_PUSH
#include <asio/io_context.hpp>

#include "content_fetcher.hpp"
#include "profiles.hpp"
#endif

namespace livechat_server {

#ifdef LIVECHAT_SERVER_WITH_LINE_PUSH
/// The two LINE clients; empty without a channel token. They live as long
/// as this does (their handlers hold weak references).
struct line_inbound {
  std::shared_ptr<line_content_fetcher> content;
  std::shared_ptr<line_profiles> profiles;  // after content: uses its HTTP client
};

/// Starts both clients when `opts` has a channel token, and hooks them into
/// the webhook (`api_opts.fetch_line_content`, `line_customer_seen`) and the
/// hub (`finish_attachment`, the customer resolver).
template <class Options, class Hub, class Store, class Log, class ApiOptions>
line_inbound start_line_inbound(asio::io_context& io, const Options& opts, Hub& hub, Store& store,
                                Log& log, const std::shared_ptr<byte_budget>& memory,
                                ApiOptions& api_opts) {
  line_inbound out;
  if (opts.line_channel_token.empty()) return out;
  line_content_options co;
  co.channel_token = opts.line_channel_token;
  // LINE serves content from its data host; another base (a stub) serves both.
  co.api_base = opts.line_api_base == "https://api.line.me" ? "https://api-data.line.me"
                                                           : opts.line_api_base;
  co.max_bytes = opts.max_attachment_bytes;
  co.memory = memory;
  co.log = [&log](std::string_view line) { log.warn("line_content", {{"msg", line}}); };
  out.content = line_content_fetcher::make(
      io, std::move(co),
      [&hub, &store, &log](const std::string& id, bool ok, std::string body, std::string type) {
        guarded("line_content", [&] {
          if (!ok) {
            // A retried fetch of a file already failed: it stays failed, said once.
            auto found = store.find_attachment(id);
            if (found && *found && (*found)->status == livechat::attachment_status::failed) return;
          }
          auto done = hub.finish_attachment(
              id, ok ? livechat::attachment_status::ready : livechat::attachment_status::failed,
              body, type);
          if (!done && ok)  // e.g. larger than the store takes: failed, not pending forever
            done = hub.finish_attachment(id, livechat::attachment_status::failed);
          if (!done)
            log.warn("line_content", {{"msg", "attachment not updated"}, {"id", id},
                                      {"error", done.error().message()}});
        });
      });
  api_opts.fetch_line_content = [fetcher = out.content.get(), &store](
                                    const std::string& id, const std::string& message_id) {
    if (fetcher->active(id)) return;
    auto found = store.find_attachment(id);
    if (!found || !*found) return;
    const auto status = (*found)->status;
    if (status == livechat::attachment_status::pending ||
        (status == livechat::attachment_status::failed && fetcher->failed_transiently(id)))
      fetcher->fetch(id, message_id);
  };
  // Customers' display names and pictures, on the same HTTP client.
  line_profile_options po;
  po.channel_token = opts.line_channel_token;
  po.api_base = opts.line_api_base;
  po.log = [&log](std::string_view line) { log.warn("line_profile", {{"msg", line}}); };
  po.changed = [&hub](const std::string& user_id) {
    guarded("line_profile", [&] { hub.customer_changed(user_id); });
  };
  out.profiles = line_profiles::make(out.content->http(), std::move(po));
  api_opts.line_customer_seen = [profiles = out.profiles.get()](const std::string& user_id) {
    return profiles->seen(user_id);
  };
  hub.set_customer_resolver(
      [profiles = out.profiles.get()](std::string_view id) { return profiles->customer(id); });
  // Profiles another node fetched (a cluster): later summaries here name them too.
  hub.set_customer_learner(
      [profiles = out.profiles.get()](const livechat::customer_profile& c) { profiles->learn(c); });
  return out;
}
#endif

/// A fetch a stopped (or killed) server left unfinished leaves its file
/// pending in the store: resume it (within the fetcher's queue bound; the
/// rest at the next start), or fail it where nothing can fetch it (no
/// channel token). Uploads are never pending, so every pending file is a
/// customer's.
template <class Hub, class Store, class Log, class ApiOptions>
void resume_pending_fetches(Hub& hub, Store& store, Log& log, const ApiOptions& api_opts,
                            const std::function<std::string()>& store_last_error) {
  constexpr std::size_t max_resumed = 1000;  // the content fetcher's queue bound
  auto pending = store.pending_attachments(max_resumed);
  if (!pending) {
    log.error("store_error", {{"msg", "pending attachments not read"}, {"reason", store_last_error()}});
    return;
  }
  const std::string_view line_prefix = "line-";
  for (const std::string& id : *pending) {
    if (id.compare(0, line_prefix.size(), line_prefix) != 0) continue;
    if (api_opts.fetch_line_content) {
      api_opts.fetch_line_content(id, id.substr(line_prefix.size()));
    } else if (auto done = hub.finish_attachment(id, livechat::attachment_status::failed); !done) {
      log.warn("line_content", {{"msg", "attachment not updated"}, {"id", id},
                                {"error", done.error().message()}});
    }
  }
  if (!pending->empty())
    log.info("line_content", {{"msg", "pending attachments resumed"},
                              {"count", std::to_string(pending->size())}});
}

}  // namespace livechat_server

#endif
