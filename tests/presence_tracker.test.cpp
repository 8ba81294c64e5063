// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/presence/presence_tracker.hpp>
#include <livechat/protocol/codec.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_presence_tracker {

namespace {

using livechat::presence_entry;
using livechat::presence_tracker;

void check_entry(const presence_entry& e, const std::string& user_id, const std::string& name,
                 std::uint32_t connections) {
  CHECK(e.user_id == user_id);
  CHECK(e.name == name);
  CHECK(e.connections == connections);
}

/// The online list as the plain encoder writes it: the codec's writer
/// over online(), entry by entry (what online_json() must equal).
std::string plain_json(const presence_tracker& p) {
  std::string out;
  livechat::detail::string_output stream{out};
  livechat::detail::json_writer w(stream);
  livechat::detail::write_array(w, p.online());
  stream.finish();
  return out;
}

/// online_json() against the plain encoder, and the frames made from it
/// against encode() of the same events.
void check_encoded(const presence_tracker& p) {
  const livechat::system_time t{std::chrono::milliseconds(1795638265123)};
  const std::string json(p.online_json());
  CHECK(json == plain_json(p));
  CHECK(livechat::encode_presence_update(json, t) ==
        livechat::encode(livechat::server_events::presence_update{p.online()}, t));
  livechat::conversation_summary row;
  row.room = "conversation:c1";
  row.conversation_id = "c1";
  row.last_seq = 7;
  const std::vector<livechat::conversation_summary> rows{row};
  CHECK(livechat::encode_inbox_update(rows, json, t, std::string_view("r\"1")) ==
        livechat::encode(livechat::server_events::inbox_update{rows, p.online()}, t,
                         std::string_view("r\"1")));
}

std::vector<std::string> ids(const std::vector<presence_entry>& online) {
  std::vector<std::string> out;
  for (const auto& e : online) out.push_back(e.user_id);
  return out;
}

}  // namespace

TEST_CASE("presence_tracker counts connections per user", "[presence_tracker]") {
  presence_tracker p;
  CHECK(p.user_count() == 0);
  CHECK(p.online().empty());
  CHECK_FALSE(p.is_online("alice"));
  CHECK(p.connections_of("alice") == 0);

  SECTION("connect counts up, disconnect counts down, offline at zero") {
    check_entry(p.connect("alice", "Alice"), "alice", "Alice", 1);
    CHECK(p.is_online("alice"));
    check_entry(p.connect("alice", "Alice"), "alice", "Alice", 2);
    check_entry(p.connect("alice", "Alice"), "alice", "Alice", 3);
    CHECK(p.connections_of("alice") == 3);
    CHECK(p.user_count() == 1);

    check_entry(p.disconnect("alice"), "alice", "Alice", 2);
    check_entry(p.disconnect("alice"), "alice", "Alice", 1);
    CHECK(p.is_online("alice"));
    check_entry(p.disconnect("alice"), "alice", "Alice", 0);
    CHECK_FALSE(p.is_online("alice"));
    CHECK(p.connections_of("alice") == 0);
    CHECK(p.user_count() == 0);
    CHECK(p.online().empty());
  }

  SECTION("users are independent") {
    p.connect("alice", "Alice");
    p.connect("bob", "Bob");
    p.connect("bob", "Bob");
    CHECK(p.user_count() == 2);
    check_entry(p.disconnect("alice"), "alice", "Alice", 0);
    CHECK_FALSE(p.is_online("alice"));
    CHECK(p.is_online("bob"));
    CHECK(p.connections_of("bob") == 2);
    CHECK(p.user_count() == 1);
  }

  SECTION("disconnect of an unknown user changes nothing") {
    p.connect("bob", "Bob");
    presence_entry e = p.disconnect("ghost");
    CHECK(e.user_id == "ghost");
    CHECK(e.connections == 0);
    CHECK_FALSE(p.is_online("ghost"));
    CHECK(p.user_count() == 1);
    CHECK(ids(p.online()) == std::vector<std::string>{"bob"});
    // Once more after going offline: still nothing, no underflow.
    p.disconnect("bob");
    check_entry(p.disconnect("bob"), "bob", "", 0);
    CHECK(p.user_count() == 0);
    CHECK(p.connect("bob", "Bob").connections == 1);
  }

  SECTION("coming back after going offline starts at 1") {
    p.connect("alice", "Alice");
    p.disconnect("alice");
    check_entry(p.connect("alice", "Alice"), "alice", "Alice", 1);
  }
}

TEST_CASE("presence_tracker online() is sorted by user id in byte order", "[presence_tracker]") {
  presence_tracker p;
  const std::string e_acute = "\xC3\xA9";  // U+00E9, bytes C3 A9: after every ASCII byte
  for (const std::string& id : {std::string("a"), e_acute, std::string("_"), std::string("B"),
                                std::string("ab"), std::string("A"), std::string("0"),
                                std::string("b"), std::string("Z")}) {
    p.connect(id, "name of " + id);
  }
  p.connect("a", "name of a");  // a second tab

  const std::vector<std::string> expected = {"0", "A", "B", "Z", "_", "a", "ab", "b", e_acute};
  std::vector<presence_entry> online = p.online();
  CHECK(ids(online) == expected);
  REQUIRE(online.size() == expected.size());
  for (const auto& e : online) {
    CHECK(e.name == "name of " + e.user_id);
    CHECK(e.connections == (e.user_id == "a" ? 2u : 1u));
  }

  p.disconnect("B");
  CHECK(ids(p.online()) == std::vector<std::string>{"0", "A", "Z", "_", "a", "ab", "b", e_acute});
}

TEST_CASE("presence_tracker keeps the name of the latest connect", "[presence_tracker]") {
  presence_tracker p;
  check_entry(p.connect("alice", "Alice"), "alice", "Alice", 1);
  check_entry(p.connect("alice", "Alice Liddell"), "alice", "Alice Liddell", 2);
  REQUIRE(p.online().size() == 1);
  CHECK(p.online()[0].name == "Alice Liddell");
  // Disconnecting does not bring back an older name.
  check_entry(p.disconnect("alice"), "alice", "Alice Liddell", 1);
  CHECK(p.online()[0].name == "Alice Liddell");
  // A new name after going offline.
  p.disconnect("alice");
  check_entry(p.connect("alice", "A."), "alice", "A.", 1);
}

TEST_CASE("presence_tracker online_json() is the plain encoder's bytes after every change",
          "[presence_tracker]") {
  presence_tracker p;
  check_encoded(p);  // []
  CHECK(p.online_json() == "[]");
  const std::uint64_t v0 = p.version();

  p.connect("bob", "Bob");
  check_encoded(p);
  CHECK(p.version() != v0);
  p.connect("alice", "Alice");  // in front of bob
  p.connect("carol", "Carol");  // behind
  check_encoded(p);
  CHECK(p.online_json() ==
        R"([{"user_id":"alice","name":"Alice","connections":1},)"
        R"({"user_id":"bob","name":"Bob","connections":1},)"
        R"({"user_id":"carol","name":"Carol","connections":1}])");

  SECTION("connection counts, up and down, and one more digit") {
    for (int i = 0; i < 10; ++i) p.connect("bob", "Bob");
    check_encoded(p);
    CHECK(p.connections_of("bob") == 11);
    p.disconnect("bob");
    p.disconnect("bob");
    check_encoded(p);
  }
  SECTION("removes: first, middle, last, all") {
    p.disconnect("alice");
    check_encoded(p);
    p.connect("alice", "Alice");
    p.disconnect("bob");
    check_encoded(p);
    p.disconnect("carol");
    check_encoded(p);
    p.disconnect("alice");
    check_encoded(p);
    CHECK(p.online_json() == "[]");
  }
  SECTION("names and ids that need escapes, non-ASCII, a long name") {
    p.connect("q\"uote", "say \"hi\"\\ back");
    p.connect("ctl", std::string("tab\there\nnew line \x01\x1f end"));
    p.connect("\xC3\xA9t\xC3\xA9", "\xE2\x82\xAC and \xF0\x9F\x98\x80");
    p.connect("long", std::string(400, 'n'));
    p.connect("long-escaped", std::string(300, '"'));
    check_encoded(p);
    CHECK(p.online_json().find(R"("name":"say \"hi\"\\ back")") != std::string_view::npos);
    p.connect("ctl", "plain now");  // the latest name wins, encoded again
    check_encoded(p);
    CHECK(p.online_json().find("tab") == std::string_view::npos);
  }
  SECTION("a disconnect of someone offline changes nothing") {
    const std::string before(p.online_json());
    const std::uint64_t v = p.version();
    p.disconnect("nobody");
    CHECK(p.version() == v);
    CHECK(p.online_json() == before);
  }
}

TEST_CASE("presence_tracker online_json() follows a random run of connects and disconnects",
          "[presence_tracker]") {
  presence_tracker p;
  std::mt19937 rng(20261207);
  const std::vector<std::string> names{"A", "B \"b\"", "\\", "\xC3\xA9", "x\ny", ""};
  std::uniform_int_distribution<int> user(0, 39), name(0, 5), op(0, 2);
  std::size_t checked = 0;
  for (int step = 0; step < 600; ++step) {
    const std::string id = "u" + std::to_string(user(rng));
    if (op(rng) == 0)
      p.disconnect(id);
    else
      p.connect(id, names[static_cast<std::size_t>(name(rng))]);
    if (step % 3 == 0) {
      check_encoded(p);
      ++checked;
    } else if (p.online_json() != plain_json(p)) {
      FAIL("online_json() differs from the plain encoder at step " << step);
    }
  }
  CHECK(checked == 200);
  CHECK(p.user_count() > 0);
}

}  // namespace livechat_unit_presence_tracker
