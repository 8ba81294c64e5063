// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// Test doubles for driving server::hub without sockets or sleeps: a
// transport that records every frame and close per connection, a manual
// clock, an in-memory store and an authenticator that knows admins.
#ifndef LIVECHAT_TESTS_HUB_HARNESS_HPP
#define LIVECHAT_TESTS_HUB_HARNESS_HPP

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include <livechat/auth/dev_authenticator.hpp>
#include <livechat/server/hub.hpp>
#include <livechat/store/memory_store.hpp>

namespace livechat_test {

struct recorded_close {
  std::uint16_t code = 0;
  std::string reason;
};

/// Records sends and closes; `buffered` (per connection) lets a test play a
/// slow consumer, and `buffered_calls` counts what the hub asks about it.
struct recording_transport {
  using connection_id = int;

  std::map<int, std::deque<std::string>> inbox;
  std::map<int, recorded_close> closes;
  std::map<int, std::size_t> buffered;
  std::size_t buffered_calls = 0;
  std::vector<const std::string*> buffers;  // identity of every payload sent
  bool throw_on_send = false;
  bool accumulate = false;  // true: every send adds its size to `buffered` (a reader that reads nothing)

  void send(const int& c, const livechat::server::payload_ptr& p) {
    if (throw_on_send) throw std::runtime_error("transport failure");
    inbox[c].push_back(*p);
    buffers.push_back(p.get());
    if (accumulate) buffered[c] += p->size();
  }
  void close(const int& c, std::uint16_t code, std::string_view reason) {
    closes[c] = recorded_close{code, std::string(reason)};
  }
  std::size_t buffered_amount(const int& c) {
    ++buffered_calls;
    auto it = buffered.find(c);
    return it == buffered.end() ? 0 : it->second;
  }
};

/// dev tokens, plus `admin:NAME` → role admin.
class test_authenticator final : public livechat::authenticator {
 protected:
  livechat::result<livechat::identity> do_authenticate(std::string_view token,
                                                        livechat::system_time) override {
    if (token == "bad") return livechat::errc::auth_failed;
    if (token.substr(0, 6) == "admin:")
      return livechat::identity{std::string(token.substr(6)), std::string(token.substr(6)),
                                livechat::user_role::admin};
    return livechat::identity{std::string(token), std::string(token), livechat::user_role::operator_};
  }
};

/// A parsed frame; `type()`, `payload()` and `ref()` read the envelope.
struct frame {
  std::shared_ptr<rapidjson::Document> doc;
  std::string raw;

  std::string type() const { return (*doc)["type"].GetString(); }
  const rapidjson::Value& payload() const { return (*doc)["payload"]; }
  bool has_ref() const { return doc->HasMember("ref"); }
  std::string ref() const { return (*doc)["ref"].GetString(); }
  std::string str(const char* key) const { return payload()[key].GetString(); }
  std::string error_code() const { return str("code"); }
  std::string error_field() const {
    return payload().HasMember("field") ? payload()["field"].GetString() : std::string();
  }
};

struct harness {
  recording_transport transport;
  livechat::manual_clock clock;
  livechat::memory_store store{"epoch-1"};
  test_authenticator auth;
  livechat::server::hub<recording_transport, livechat::manual_clock> hub;

  explicit harness(livechat::server::hub_config cfg = {})
      : hub(transport, clock, store, auth, cfg) {}

  void open(int c) { hub.on_open(c); }
  void send(int c, std::string_view text) { hub.on_message(c, text); }

  /// Opens `c` and authenticates it as `token`, discarding the replies.
  void login(int c, const std::string& token) {
    open(c);
    send(c, R"({"type":"auth","payload":{"token":")" + token + R"("}})");
    clear(c);
  }
  void join(int c, const std::string& room, const std::string& extra = "") {
    send(c, R"({"type":"join_room","payload":{"room":")" + room + "\"" + extra + "}}");
  }
  void say(int c, const std::string& room, const std::string& text, const std::string& cmid = "") {
    std::string f = R"({"type":"send_message","payload":{"room":")" + room + R"(","text":")" + text + "\"";
    if (!cmid.empty()) f += R"(,"client_msg_id":")" + cmid + "\"";
    send(c, f + "}}");
  }
  void room_event(int c, const std::string& type, const std::string& room) {
    send(c, R"({"type":")" + type + R"(","payload":{"room":")" + room + R"("}})");
  }
  void advance(std::chrono::milliseconds d) {
    clock.advance(d);
    hub.tick(clock.now());
  }

  std::size_t pending(int c) { return transport.inbox[c].size(); }
  void clear(int c) { transport.inbox[c].clear(); }
  void clear_all() {
    for (auto& [c, q] : transport.inbox) q.clear();
  }

  /// The next frame sent to `c`; an empty frame (null doc) when none.
  frame next(int c) {
    auto& q = transport.inbox[c];
    frame f;
    if (q.empty()) return f;
    f.raw = q.front();
    q.pop_front();
    f.doc = std::make_shared<rapidjson::Document>();
    f.doc->Parse(f.raw.c_str());
    return f;
  }

  /// Types of every frame pending for `c`, consuming them.
  std::vector<std::string> types(int c) {
    std::vector<std::string> out;
    while (pending(c) != 0) out.push_back(next(c).type());
    return out;
  }

  std::optional<recorded_close> closed(int c) {
    auto it = transport.closes.find(c);
    if (it == transport.closes.end()) return std::nullopt;
    return it->second;
  }
};

/// The default config without the rate limit, for tests that send a lot.
inline livechat::server::hub_config unlimited() {
  livechat::server::hub_config cfg;
  cfg.rate_burst = 1e9;
  cfg.rate_per_second = 1e9;
  return cfg;
}

inline const std::string room_a = "conversation:U4af4980629";
inline const std::string room_b = "conversation:Ubbbb";

}  // namespace livechat_test

#endif
