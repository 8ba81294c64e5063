// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LINE_PROFILES_HPP
#define LIVECHAT_EXAMPLES_SERVER_LINE_PROFILES_HPP

// Customers' LINE profiles (PROTOCOL.md "Rich messages ... and customers"):
// `GET {api_base}/v2/bot/profile/{userId}` with the channel token, on the
// line::http_client the content fetcher uses (its worker thread, so the
// hub's thread never waits on LINE), on a
// customer's first message and then at most once per `refresh` (a failed
// fetch is tried again after `retry_after`). Bounded: `max_in_flight`
// requests at once (beyond, the next message tries again), `max_entries`
// profiles (beyond, the one fetched longest ago goes).
//
// Kept in memory, not in the message store: a profile is a cache of LINE's
// data, not a record (LINE stays its source, and a restart or another node
// fetches it again on the customer's next message), and a table would mean
// a schema change and a migration in three stores for it.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <rapidjson/document.h>

#include <livechat/protocol/model.hpp>

#include "http_client.hpp"

namespace livechat_server {

struct line_profile_options {
  std::string channel_token;
  /// `{api_base}/v2/bot/profile/{userId}`.
  std::string api_base = "https://api.line.me";
  std::chrono::seconds refresh{24 * 3600};
  std::chrono::seconds retry_after{600};
  std::chrono::milliseconds request_timeout{10000};
  std::size_t max_in_flight = 4;
  std::size_t max_entries = 100000;
  std::size_t max_body = 64 * 1024;
  std::string ca_file;
  std::function<void(std::string_view line)> log;
  /// A profile arrived whose name or picture differs from what was known
  /// (the first one included): the server tells the inbox watchers.
  std::function<void(const std::string& user_id)> changed;
};

/// See the top of this file. Every member function runs on the
/// io_context's thread (the hub's).
class line_profiles : public std::enable_shared_from_this<line_profiles> {
 public:
  /// `http` outlives the result (the content fetcher's client).
  static std::shared_ptr<line_profiles> make(line::http_client& http, line_profile_options o) {
    if (o.channel_token.empty()) throw std::invalid_argument("line profiles: no channel token");
    if (o.max_in_flight < 1 || o.max_entries < 1)
      throw std::invalid_argument("line profiles: max_in_flight and max_entries must be >= 1");
    while (!o.api_base.empty() && o.api_base.back() == '/') o.api_base.pop_back();
    return std::shared_ptr<line_profiles>(new line_profiles(http, std::move(o)));
  }

  line_profiles(const line_profiles&) = delete;
  line_profiles& operator=(const line_profiles&) = delete;

  /// A message from `user_id`: fetches the profile when due; the display
  /// name when known, else empty.
  std::string seen(const std::string& user_id) {
    if (!valid_user_id(user_id)) return {};
    const auto now = std::chrono::steady_clock::now();
    auto it = entries_.find(user_id);
    if (it == entries_.end()) {
      if (entries_.size() >= opts_.max_entries) evict_oldest();
      it = entries_.emplace(user_id, entry{}).first;
    }
    entry& e = it->second;
    if (!e.in_flight && (!e.next_fetch || now >= *e.next_fetch) && in_flight_ < opts_.max_in_flight)
      start(user_id, e, now);
    return e.display_name;
  }

  /// The customer `user_id` as known now (name: the id until known).
  livechat::customer_profile customer(std::string_view user_id) const {
    livechat::customer_profile c;
    c.id = std::string(user_id);
    c.name = c.id;
    const auto it = entries_.find(c.id);
    if (it != entries_.end() && !it->second.display_name.empty()) {
      c.name = it->second.display_name;
      c.picture_url = it->second.picture_url;
    }
    return c;
  }

  /// A profile another node of the cluster fetched: known here until the
  /// next refresh, as if fetched here (no `changed`: that node told the
  /// watchers). A fetch in flight here still records what it gets.
  void learn(const livechat::customer_profile& c) {
    if (!valid_user_id(c.id) || c.name.empty()) return;
    auto it = entries_.find(c.id);
    if (it == entries_.end()) {
      if (entries_.size() >= opts_.max_entries) evict_oldest();
      it = entries_.emplace(c.id, entry{}).first;
    }
    entry& e = it->second;
    e.display_name = c.name;
    e.picture_url = c.picture_url;
    const auto now = std::chrono::steady_clock::now();
    e.touched = now;
    if (!e.in_flight) e.next_fetch = now + opts_.refresh;
  }

  /// Ends every fetch; nothing more is recorded.
  void stop() noexcept { stopped_ = true; }

 private:
  struct entry {
    std::string display_name;  ///< empty: not known
    std::string picture_url;
    std::optional<std::chrono::steady_clock::time_point> next_fetch;  ///< none: at once
    std::chrono::steady_clock::time_point touched{};  ///< last fetch started
    bool in_flight = false;
  };

  line_profiles(line::http_client& http, line_profile_options o) : opts_(std::move(o)), http_(http) {}

  /// LINE user ids are `U` and 32 hex digits; anything that goes into the
  /// path is at least letters and digits only.
  static bool valid_user_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
    return true;
  }

  void evict_oldest() {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (!it->second.in_flight && (oldest == entries_.end() || it->second.touched < oldest->second.touched))
        oldest = it;
    if (oldest != entries_.end()) entries_.erase(oldest);
  }

  void start(const std::string& user_id, entry& e, std::chrono::steady_clock::time_point now) {
    e.in_flight = true;
    e.touched = now;
    ++in_flight_;
    line::http_request r;
    r.url = opts_.api_base + "/v2/bot/profile/" + user_id;
    r.headers.push_back("Authorization: Bearer " + opts_.channel_token);
    r.timeout = opts_.request_timeout;
    r.max_body = opts_.max_body;
    r.ca_file = opts_.ca_file;
    std::weak_ptr<line_profiles> self = weak_from_this();
    http_.submit(std::move(r), [self, user_id](line::http_response resp) {
      if (auto s = self.lock()) s->on_result(user_id, resp);
    });
  }

  void on_result(const std::string& user_id, const line::http_response& resp) {
    --in_flight_;
    if (stopped_) return;
    const auto it = entries_.find(user_id);
    if (it == entries_.end()) return;
    entry& e = it->second;
    e.in_flight = false;
    const auto now = std::chrono::steady_clock::now();
    std::string name;
    std::string picture;
    if (resp.status == 200 && !resp.body_truncated && parse(resp.body, name, picture)) {
      const bool changed = name != e.display_name || picture != e.picture_url;
      e.display_name = std::move(name);
      e.picture_url = std::move(picture);
      e.next_fetch = now + opts_.refresh;
      if (changed && opts_.changed) opts_.changed(user_id);
      return;
    }
    e.next_fetch = now + opts_.retry_after;
    log("profile of " + user_id + " not fetched: " +
        (resp.status != 0 ? "status " + std::to_string(resp.status) : resp.error));
  }

  /// `displayName` (required, non-empty) and `pictureUrl` (https only,
  /// else left out: it ends up in an <img> of the console).
  static bool parse(const std::string& body, std::string& name, std::string& picture) {
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    if (d.HasParseError() || !d.IsObject()) return false;
    const auto n = d.FindMember("displayName");
    if (n == d.MemberEnd() || !n->value.IsString() || n->value.GetStringLength() == 0 ||
        n->value.GetStringLength() > 200)
      return false;
    name.assign(n->value.GetString(), n->value.GetStringLength());
    const auto p = d.FindMember("pictureUrl");
    if (p != d.MemberEnd() && p->value.IsString() && p->value.GetStringLength() <= 2000) {
      std::string url(p->value.GetString(), p->value.GetStringLength());
      if (url.rfind("https://", 0) == 0) picture = std::move(url);
    }
    return true;
  }

  void log(const std::string& line) const {
    if (opts_.log) opts_.log(line);
  }

  line_profile_options opts_;
  line::http_client& http_;
  std::unordered_map<std::string, entry> entries_;
  std::size_t in_flight_ = 0;
  bool stopped_ = false;
};

}  // namespace livechat_server

#endif
