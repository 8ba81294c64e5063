// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// The hub's customers (server/impl/hub_customers.hpp): a profile that
// changed reaches the inbox watchers as a whole conversation_update, and
// the inbox page's byte cap counts the `customer` of each row.
#include <livechat/server/hub.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "hub_harness.hpp"

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_hub_customers {

using namespace livechat_test;

namespace {

/// Names customers from a map the test changes (the server's profile cache).
struct map_resolver {
  std::map<std::string, std::string, std::less<>>* names;
  livechat::customer_profile operator()(std::string_view id) const {
    livechat::customer_profile c{std::string(id), std::string(id), {}};
    const auto it = names->find(id);
    if (it != names->end()) {
      c.name = it->second;
      c.picture_url = "https://profile.line-scdn.net/" + std::string(id);
    }
    return c;
  }
};

void customer_says(harness& h, const std::string& user, const std::string& text, const std::string& event) {
  livechat::server::inbound_message in;
  in.conversation_id = user;
  in.user_id = user;
  in.text = text;
  in.webhook_event_id = event;
  REQUIRE(h.hub.post_user_message(in).ok());
}

}  // namespace

TEST_CASE("customer_changed: conversation_update with the customer to the inbox watchers", "[hub][customers]") {
  harness h;
  std::map<std::string, std::string, std::less<>> names;
  h.hub.set_customer_resolver(map_resolver{&names});
  const std::string user = "U4af4980629";  // room_a's customer
  customer_says(h, user, "hello", "e1");
  customer_says(h, user, "anyone?", "e2");
  h.login(1, "alice");  // a watcher who read the first message
  h.login(2, "bob");    // a watcher
  h.login(3, "carol");  // not a watcher, in the room
  REQUIRE(h.store.mark_read(room_a, "alice", 1).ok());
  h.send(1, R"({"type":"watch_inbox"})");
  h.send(2, R"({"type":"watch_inbox"})");
  h.join(3, room_a);
  h.clear_all();

  names[user] = "Taro";
  h.hub.customer_changed(user);
  for (int c : {1, 2}) {
    frame u = h.next(c);
    INFO(u.raw);
    REQUIRE(u.type() == "conversation_update");
    CHECK(u.str("room") == room_a);
    CHECK(u.str("conversation_id") == user);
    CHECK(std::string(u.payload()["customer"]["name"].GetString()) == "Taro");
    CHECK(std::string(u.payload()["customer"]["picture_url"].GetString()) ==
          "https://profile.line-scdn.net/" + user);
    CHECK(u.payload()["last_seq"].GetUint64() == 2);
    REQUIRE(u.payload()["messages"].Size() == 2);
    CHECK(std::string(u.payload()["messages"][1]["text"].GetString()) == "anyone?");
    CHECK(std::string(u.payload()["epoch"].GetString()) == "epoch-1");
    // Each watcher's own read position.
    CHECK(u.payload()["read_seq"].GetUint64() == (c == 1 ? 1u : 0u));
    CHECK(h.pending(c) == 0);
  }
  CHECK(h.pending(3) == 0);

  // Not a conversation, or nobody watching: nothing.
  h.hub.customer_changed("not a valid id");
  CHECK(h.pending(1) == 0);
  h.send(1, R"({"type":"unwatch_inbox"})");
  h.send(2, R"({"type":"unwatch_inbox"})");
  h.clear_all();
  h.hub.customer_changed(user);
  CHECK(h.pending(1) == 0);
  CHECK(h.pending(2) == 0);
}

TEST_CASE("the inbox page's byte cap counts each row's customer", "[hub][customers]") {
  livechat::server::hub_config cfg;
  cfg.max_page_bytes = 2000;
  harness h(cfg);
  std::map<std::string, std::string, std::less<>> names;
  h.hub.set_customer_resolver(map_resolver{&names});
  for (const char* user : {"Ua1", "Ua2", "Ua3"}) customer_says(h, user, "hi", std::string("e") + user);
  h.login(1, "alice");

  // Three short rows fit in 2000 bytes...
  h.send(1, R"({"type":"watch_inbox"})");
  frame all = h.next(1);
  REQUIRE(all.type() == "inbox_update");
  CHECK(all.payload()["conversations"].Size() == 3);

  // ...but not with 900-byte names: two rows pass 2000 bytes, so the page
  // ends after the first (one is always kept).
  for (const char* user : {"Ua1", "Ua2", "Ua3"}) names[user] = std::string(900, 'n');
  h.send(1, R"({"type":"watch_inbox"})");
  frame capped = h.next(1);
  REQUIRE(capped.type() == "inbox_update");
  INFO(capped.raw.size());
  CHECK(capped.payload()["conversations"].Size() == 1);
}

}  // namespace livechat_unit_hub_customers
