// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// cluster::node: two hubs in one process, one shared memory_store, joined
// by an in-memory bus whose deliveries the test orders, drops or repeats.
#include <catch2/catch.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <livechat/cluster/node.hpp>

#include "hub_harness.hpp"

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_cluster_node {

namespace {

using namespace std::chrono_literals;
using hub_type = livechat::server::hub<livechat_test::recording_transport, livechat::manual_clock>;
using node_type = livechat::cluster::node<hub_type, livechat::manual_clock>;
const std::string room = "conversation:r";

/// Pub/sub in memory: a publish is queued per subscriber; the test pumps.
struct memory_broker {
  struct delivery {
    std::string to;  // node id
    std::string channel;
    std::string message;
  };
  std::map<std::string, std::set<std::string>> subs;  // channel -> node ids
  std::deque<delivery> queue;
  bool up = true;
};

class memory_bus final : public livechat::cluster::bus {
 public:
  memory_bus(memory_broker& b, std::string id) : b_(b), id_(std::move(id)) {}
  bool publish(std::string_view channel, std::string_view message) override {
    if (!b_.up) return false;
    for (const auto& to : b_.subs[std::string(channel)])
      b_.queue.push_back({to, std::string(channel), std::string(message)});
    return true;
  }
  void subscribe(const std::string& channel) override {
    b_.subs[channel].insert(id_);
    confirmations.push_back(channel);
  }
  void unsubscribe(const std::string& channel) override { b_.subs[channel].erase(id_); }
  bool command(const std::vector<std::string>& argv) override {
    commands.push_back(argv);
    return b_.up;
  }
  bool up() const override { return b_.up; }
  void flush() override {
    if (on_flush) on_flush();
  }
  std::function<void()> on_flush;
  std::vector<std::string> confirmations;
  std::vector<std::vector<std::string>> commands;

 private:
  memory_broker& b_;
  std::string id_;
};

struct member_node {
  livechat_test::recording_transport transport;
  livechat_test::test_authenticator auth;
  hub_type hub;
  memory_bus bus;
  std::vector<std::function<void()>> posted;
  node_type node;
  /// `group_commit`: writes wait for hub.commit(), as in the server.
  member_node(memory_broker& b, livechat::memory_store& store, livechat::manual_clock& clock, std::string id,
              bool group_commit = false)
      : hub(transport, clock, store, auth, hub_options(group_commit)), bus(b, id),
        node(hub, store, bus, clock, options(id), [this](std::function<void()> f) { posted.push_back(std::move(f)); }) {
    hub.set_cluster_link(&node);
  }
  static livechat::server::hub_config hub_options(bool group_commit) {
    livechat::server::hub_config c;
    c.group_commit = group_commit;
    return c;
  }
  static livechat::cluster::node_options options(std::string id) {
    livechat::cluster::node_options o;
    o.node_id = std::move(id);
    o.presence_ttl = 1500ms;
    return o;
  }
  /// Runs posted work and confirms subscriptions.
  void settle() {
    for (int i = 0; i < 10 && (!posted.empty() || !bus.confirmations.empty()); ++i) {
      auto p = std::move(posted);
      posted.clear();
      for (auto& f : p) f();
      auto c = std::move(bus.confirmations);
      bus.confirmations.clear();
      for (auto& ch : c) node.on_subscribed(ch);
    }
  }
  void send(int c, const std::string& text) { hub.on_message(c, text); settle(); }
  void login(int c, const std::string& user) {
    hub.on_open(c);
    send(c, R"({"type":"auth","payload":{"token":")" + user + R"("}})");
  }
  void join(int c) { send(c, R"({"type":"join_room","payload":{"room":")" + room + R"("}})"); }
  void say(int c, const std::string& text) {
    send(c, R"({"type":"send_message","payload":{"room":")" + room + R"(","text":")" + text + R"("}})");
  }
  /// Types of the frames `c` got, and their seqs for new_message.
  std::vector<std::string> frames(int c) {
    std::vector<std::string> out(transport.inbox[c].begin(), transport.inbox[c].end());
    transport.inbox[c].clear();
    return out;
  }
};

std::vector<std::uint64_t> new_message_seqs(const std::vector<std::string>& frames) {
  std::vector<std::uint64_t> out;
  for (const auto& f : frames) {
    rapidjson::Document d;
    d.Parse(f.c_str());
    if (std::string(d["type"].GetString()) == "new_message")
      out.push_back(d["payload"]["message"]["seq"].GetUint64());
  }
  return out;
}

struct cluster {
  /// `b_groups_commits`: B's writes wait for c.b.hub.commit().
  explicit cluster(bool b_groups_commits = false) : b{broker, store, clock, "b", b_groups_commits} {}
  livechat::manual_clock clock;
  livechat::memory_store store{"epoch-1"};
  memory_broker broker;
  member_node a{broker, store, clock, "a"};
  member_node b;

  /// Delivers queued records for which `keep` holds (the rest are lost), in `order`.
  void pump(const std::function<bool(const memory_broker::delivery&)>& keep = {}, bool reverse = false) {
    auto q = std::move(broker.queue);
    broker.queue.clear();
    if (reverse) std::reverse(q.begin(), q.end());
    for (auto& d : q) {
      if (keep && !keep(d)) continue;
      member_node& n = d.to == "a" ? a : b;
      n.node.on_message(d.channel, d.message);
      n.settle();
    }
  }
  void tick(std::chrono::milliseconds dt) {
    clock.advance(dt);
    for (member_node* n : {&a, &b}) {
      n->hub.tick(clock.now());
      n->node.tick();
      n->settle();
    }
  }
};

bool is_room_message(const memory_broker::delivery& d) { return d.channel == "livechat:room:" + room; }

}  // namespace

TEST_CASE("cluster node: a room's messages reach the other node once, in seq order, as the same bytes",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.a.login(2, "anna");
  c.a.join(2);
  c.b.login(3, "bob");
  c.b.join(3);
  c.pump();
  for (int id : {1, 2}) c.a.frames(id);
  c.b.frames(3);

  c.a.say(1, "one");
  c.a.say(1, "two");
  c.a.say(1, "three");
  // Local delivery goes through the same order: anna has all three at once.
  const auto anna = c.a.frames(2);
  CHECK(new_message_seqs(anna) == std::vector<std::uint64_t>{1, 2, 3});
  // The broker brings them to B backwards: B holds 3 and 2 back until 1 came.
  c.pump({}, true);
  const auto bob = c.b.frames(3);
  CHECK(new_message_seqs(bob) == std::vector<std::uint64_t>{1, 2, 3});
  // Forwarded as bytes: bob's frame is anna's.
  std::vector<std::string> anna_msgs, bob_msgs;
  for (const auto& f : anna) if (f.find("\"new_message\"") != std::string::npos) anna_msgs.push_back(f);
  for (const auto& f : bob) if (f.find("\"new_message\"") != std::string::npos) bob_msgs.push_back(f);
  CHECK(anna_msgs == bob_msgs);
  CHECK(c.b.node.stats().hold_back_count == 2);

  // Repeated records are not delivered again.
  c.a.say(1, "four");
  auto q = c.broker.queue;
  c.pump();
  c.broker.queue = q;
  c.pump();
  CHECK(new_message_seqs(c.b.frames(3)) == std::vector<std::uint64_t>{4});
  CHECK(c.b.node.stats().duplicates >= 1);
}

TEST_CASE("cluster node: a commit's records are flushed to the broker before its local sends",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.a.login(2, "anna");
  c.a.join(2);
  c.b.login(3, "bob");
  c.b.join(3);
  c.pump();
  for (int id : {1, 2}) c.a.frames(id);
  c.b.frames(3);

  // At each flush: the records published so far, and whether anna (on the
  // writer's node) already got the message. A publish that waited for the
  // local sends would reach the other node a whole fan-out later.
  std::vector<std::pair<std::size_t, bool>> flushes;
  c.a.bus.on_flush = [&] {
    bool anna_has_it = false;
    for (const auto& f : c.a.transport.inbox[2])
      if (f.find("\"new_message\"") != std::string::npos) anna_has_it = true;
    std::size_t to_b = 0;
    for (const auto& d : c.broker.queue) to_b += d.to == "b" && is_room_message(d) ? 1u : 0u;
    flushes.emplace_back(to_b, anna_has_it);
  };
  c.a.say(1, "one");
  REQUIRE_FALSE(flushes.empty());
  CHECK(flushes.front() == std::pair<std::size_t, bool>{1, false});
  CHECK(new_message_seqs(c.a.frames(2)) == std::vector<std::uint64_t>{1});
  c.pump();
  CHECK(new_message_seqs(c.b.frames(3)) == std::vector<std::uint64_t>{1});
}

TEST_CASE("cluster node: a message the broker lost is filled from the store after the wait",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.b.login(3, "bob");
  c.b.join(3);
  c.pump();
  c.b.frames(3);
  c.a.say(1, "lost");
  c.pump([](const memory_broker::delivery& d) { return !is_room_message(d); });  // the room's record is lost
  c.a.say(1, "kept");
  c.pump();
  CHECK(new_message_seqs(c.b.frames(3)).empty());  // 2 waits for 1
  c.tick(100ms);
  CHECK(new_message_seqs(c.b.frames(3)).empty());
  c.tick(100ms);  // past gap_wait (150 ms)
  CHECK(new_message_seqs(c.b.frames(3)) == std::vector<std::uint64_t>{1, 2});
  CHECK(c.b.node.stats().gap_fills >= 1);
  CHECK(c.b.node.stats().filled_messages == 1);

  // Lost with nothing after it: the node that could not publish marks the
  // room when the broker is back, and the other fills up to the mark.
  c.broker.up = false;
  c.a.say(1, "while down");
  CHECK(c.a.node.stats().publish_dropped >= 1);
  c.broker.up = true;
  c.a.node.on_up();
  c.pump();
  CHECK(new_message_seqs(c.b.frames(3)) == std::vector<std::uint64_t>{3});
}

TEST_CASE("cluster node: presence across nodes, and a node that stops renewing loses its users",
          "[cluster_node]") {
  cluster c;
  c.b.login(3, "watcher");
  c.b.send(3, R"({"type":"watch_inbox"})");
  c.pump();
  c.b.frames(3);
  c.a.login(1, "alice");
  c.a.login(2, "alice");  // a second tab
  c.pump();
  auto f = c.b.frames(3);
  REQUIRE(f.size() == 2);
  CHECK(f[0].find(R"("online":[{"user_id":"alice","name":"alice","connections":1}])") != std::string::npos);
  CHECK(f[1].find(R"("connections":2)") != std::string::npos);
  CHECK(c.b.hub.users_online() == 2);
  // The per-user cap counts this node's connections only.
  CHECK(c.b.hub.user_connection_count("alice") == 0);
  c.b.login(5, "alice");
  c.pump();
  CHECK(c.b.hub.user_connection_count("alice") == 1);
  CHECK(c.a.hub.user_connection_count("alice") == 2);
  f = c.b.frames(3);
  REQUIRE(f.size() == 1);
  CHECK(f[0].find(R"("connections":3)") != std::string::npos);
  c.b.hub.on_close(5);
  c.pump();
  f = c.b.frames(3);
  REQUIRE(f.size() == 1);
  CHECK(f[0].find(R"("connections":2)") != std::string::npos);
  // A's lease lives in the broker too: a hash per node with an expiry.
  bool hset = false;
  for (const auto& cmd : c.a.bus.commands) hset = hset || (cmd[0] == "HSET" && cmd[1] == "livechat:presence:a");
  CHECK(hset);

  // A types in a room B's watcher also joined, then A goes silent (killed):
  // nothing from A any more, and B ticks on.
  c.b.join(3);
  c.a.join(1);
  c.pump();
  c.b.frames(3);
  c.a.send(1, R"({"type":"typing_start","payload":{"room":")" + room + R"("}})");
  c.pump();
  CHECK(c.b.frames(3).size() == 1);  // typing true
  for (int i = 0; i < 14; ++i) {  // 1.4 s: within the lease
    c.clock.advance(100ms);
    c.b.hub.tick(c.clock.now());
    c.b.node.tick();
    c.b.settle();
  }
  CHECK(c.b.hub.users_online() == 2);
  for (int i = 0; i < 2; ++i) {
    c.clock.advance(100ms);
    c.b.hub.tick(c.clock.now());
    c.b.node.tick();
    c.b.settle();
  }
  CHECK(c.b.hub.users_online() == 1);
  f = c.b.frames(3);
  std::string all;
  for (const auto& x : f) all += x + "\n";
  INFO(all);
  CHECK(all.find(R"("offline":["alice"])") != std::string::npos);
  CHECK(all.find(R"("is_typing":false)") != std::string::npos);
  CHECK(c.b.node.stats().nodes_expired == 1);
}

TEST_CASE("cluster node: inbox events reach the watchers of a node whose writer has none, once",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");  // A: a member, no watcher
  c.a.join(1);
  c.b.login(3, "watcher");  // B: a watcher that is also in the room, and one that is not
  c.b.send(3, R"({"type":"watch_inbox"})");
  c.b.join(3);
  c.b.login(4, "outsider");
  c.b.send(4, R"({"type":"watch_inbox"})");
  c.pump();
  c.b.frames(3);
  c.b.frames(4);
  c.a.say(1, "hello");
  c.a.send(1, R"({"type":"claim_session","payload":{"room":")" + room + R"("}})");
  c.pump();
  auto count = [](const std::vector<std::string>& frames, const std::string& type) {
    std::size_t n = 0;
    for (const auto& f : frames) n += f.find("\"type\":\"" + type + "\"") != std::string::npos ? 1u : 0u;
    return n;
  };
  const auto in_room = c.b.frames(3);
  const auto outside = c.b.frames(4);
  CHECK(count(in_room, "conversation_activity") == 1);
  CHECK(count(outside, "conversation_activity") == 1);
  CHECK(count(in_room, "session_claimed") == 1);  // member and watcher: once
  CHECK(count(outside, "session_claimed") == 1);
  CHECK(count(in_room, "new_message") == 1);
  CHECK(count(outside, "new_message") == 0);
}

namespace {

/// The frame types `frames` holds, new_message with its seq ("new_message 2").
std::vector<std::string> types_of(const std::vector<std::string>& frames) {
  std::vector<std::string> out;
  for (const auto& f : frames) {
    rapidjson::Document d;
    d.Parse(f.c_str());
    std::string t = d["type"].GetString();
    if (t == "new_message") t += " " + std::to_string(d["payload"]["message"]["seq"].GetUint64());
    out.push_back(t);
  }
  return out;
}

/// conversation_update.members of the last conversation_update in `frames`.
std::string members_in(const std::vector<std::string>& frames) {
  std::string out = "(none)";
  for (const auto& f : frames) {
    rapidjson::Document d;
    d.Parse(f.c_str());
    if (std::string(d["type"].GetString()) != "conversation_update") continue;
    out.clear();
    for (const auto& m : d["payload"]["members"].GetArray()) out += std::string(m["user_id"].GetString()) + " ";
  }
  return out;
}

}  // namespace

TEST_CASE("cluster node: a room's other events wait on the other node for the message sent before them",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.b.login(3, "bob");
  c.b.join(3);
  c.pump();
  c.b.frames(3);
  c.a.say(1, "lost");
  c.pump([](const memory_broker::delivery& d) { return !is_room_message(d); });  // seq 1 never arrives
  // On one server bob would get 2, then the claim, then the typing.
  c.a.say(1, "kept");
  c.a.send(1, R"({"type":"claim_session","payload":{"room":")" + room + R"("}})");
  c.a.send(1, R"({"type":"typing_start","payload":{"room":")" + room + R"("}})");
  c.pump();
  CHECK(types_of(c.b.frames(3)).empty());  // all wait for 1
  c.tick(200ms);                           // past gap_wait: 1 is read from the store
  CHECK(types_of(c.b.frames(3)) ==
        std::vector<std::string>{"new_message 1", "new_message 2", "session_claimed", "typing"});
  CHECK(c.b.node.stats().events_held == 4);  // and the two conversation_activity
  // Nothing missing: the next ones go at once, still in order.
  c.a.say(1, "three");
  c.a.send(1, R"({"type":"close_session","payload":{"room":")" + room + R"("}})");
  c.pump();
  // (the message ends alice's typing)
  CHECK(types_of(c.b.frames(3)) == std::vector<std::string>{"new_message 3", "typing", "session_closed"});
}

TEST_CASE("cluster node: conversation_update.members lists every node's members, and a silent node's go with its lease",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.a.login(2, "anna");
  c.a.join(2);
  c.a.login(4, "anna");  // a second tab of anna's: she is listed once
  c.a.join(4);
  c.b.login(3, "bob");
  c.b.login(5, "anna");  // and anna on B too
  c.b.join(5);
  c.pump();
  c.b.join(3);
  CHECK(members_in(c.b.frames(3)) == "alice anna bob ");
  c.pump();
  c.a.join(1);  // answered on A: B's members too
  CHECK(members_in(c.a.frames(1)) == "alice anna bob ");

  // Alice leaves the room on A; anna closes one tab there (still a member).
  c.a.send(1, R"({"type":"leave_room","payload":{"room":")" + room + R"("}})");
  c.a.hub.on_close(4);
  c.pump();
  c.b.join(3);
  CHECK(members_in(c.b.frames(3)) == "anna bob ");
  // Anna leaves on B: A still has her.
  c.b.hub.on_close(5);
  c.pump();
  c.b.join(3);
  CHECK(members_in(c.b.frames(3)) == "anna bob ");

  // A goes silent: after the lease, B lists its own members only.
  for (int i = 0; i < 16; ++i) {
    c.clock.advance(100ms);
    c.b.hub.tick(c.clock.now());
    c.b.node.tick();
    c.b.settle();
  }
  c.b.join(3);
  CHECK(members_in(c.b.frames(3)) == "bob ");
}

TEST_CASE("cluster node: on the writer's node too, a room's events follow the message sent before them",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.a.login(2, "anna");
  c.a.join(2);
  c.b.login(3, "bob");
  c.b.join(3);
  c.pump();
  c.a.frames(2);
  // Alice's message ends her typing: anna gets the message, then the end
  // of the indicator, as from one server (the message waits for its
  // commit; the typing event, sent in the same call, must not pass it).
  c.a.send(1, R"({"type":"typing_start","payload":{"room":")" + room + R"("}})");
  CHECK(types_of(c.a.frames(2)) == std::vector<std::string>{"typing"});
  c.a.say(1, "one");
  CHECK(types_of(c.a.frames(2)) == std::vector<std::string>{"new_message 1", "typing"});
  c.pump();
  c.b.frames(3);

  // Bob's message 2 never reaches A: A holds alice's 3, and her claim
  // waits behind it on A as well.
  c.b.say(3, "lost on the way to A");
  c.pump([](const memory_broker::delivery& d) { return !(d.to == "a" && is_room_message(d)); });
  c.a.frames(2);
  c.b.frames(3);
  c.a.say(1, "three");
  c.a.send(1, R"({"type":"claim_session","payload":{"room":")" + room + R"("}})");
  CHECK(types_of(c.a.frames(2)).empty());
  c.tick(200ms);
  CHECK(types_of(c.a.frames(2)) ==
        std::vector<std::string>{"new_message 2", "new_message 3", "session_claimed"});
  c.pump();
  CHECK(types_of(c.b.frames(3)) == std::vector<std::string>{"new_message 3", "session_claimed"});
}

}  // namespace livechat_unit_cluster_node

namespace livechat_unit_cluster_node {

namespace {

std::size_t count_of(const std::vector<std::string>& frames, const std::string& type) {
  std::size_t n = 0;
  for (const auto& t : types_of(frames)) n += t == type ? 1u : 0u;
  return n;
}

/// The customer name of each conversation_update in `frames`.
std::vector<std::string> customers_in(const std::vector<std::string>& frames) {
  std::vector<std::string> out;
  for (const auto& f : frames) {
    rapidjson::Document d;
    d.Parse(f.c_str());
    if (std::string(d["type"].GetString()) == "conversation_update")
      out.emplace_back(d["payload"]["customer"]["name"].GetString());
  }
  return out;
}

const std::string watch = R"({"type":"watch_inbox"})";

}  // namespace

TEST_CASE("cluster node: conversation_activity follows its new_message where the room has members",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.b.login(3, "bob");  // B: a watcher in the room, and one outside it
  c.b.send(3, watch);
  c.b.join(3);
  c.b.login(4, "outsider");
  c.b.send(4, watch);
  c.pump();
  c.b.frames(3);
  c.b.frames(4);
  c.a.say(1, "lost");
  c.pump([](const memory_broker::delivery& d) { return !is_room_message(d); });  // 1 lost, its activity not
  // The activity names seq 1, which B has not delivered: it waits for it.
  CHECK(types_of(c.b.frames(3)).empty());
  CHECK(types_of(c.b.frames(4)).empty());
  c.tick(200ms);  // 1 filled from the store, then the activity
  CHECK(types_of(c.b.frames(3)) == std::vector<std::string>{"new_message 1", "conversation_activity"});
  CHECK(types_of(c.b.frames(4)) == std::vector<std::string>{"conversation_activity"});
  // Nothing missing: at once.
  c.a.say(1, "two");
  c.pump();
  CHECK(types_of(c.b.frames(3)) == std::vector<std::string>{"new_message 2", "conversation_activity"});
  CHECK(types_of(c.b.frames(4)) == std::vector<std::string>{"conversation_activity"});
}

TEST_CASE("cluster node: on the writer's node, conversation_activity waits with its held message",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.a.login(2, "anna");  // A: a watcher in the room
  c.a.send(2, watch);
  c.a.join(2);
  c.b.login(3, "bob");
  c.b.join(3);
  c.pump();
  c.a.frames(2);
  c.b.say(3, "lost on the way to A");  // 1 never reaches A; its activity does
  c.pump([](const memory_broker::delivery& d) { return !(d.to == "a" && is_room_message(d)); });
  c.a.say(1, "two");  // held on A behind 1, and its activity with it
  CHECK(types_of(c.a.frames(2)).empty());
  c.tick(200ms);
  CHECK(types_of(c.a.frames(2)) == std::vector<std::string>{"new_message 1", "conversation_activity",
                                                            "new_message 2", "conversation_activity"});
}

TEST_CASE("cluster node: one operator_joined and one operator_left per user and room, whichever nodes the tabs are on",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.b.login(3, "bob");
  c.b.join(3);
  c.pump();
  c.a.frames(1);
  c.b.frames(3);
  // Carol's first tab joins on A: one operator_joined each.
  c.a.login(2, "carol");
  c.a.join(2);
  c.pump();
  CHECK(count_of(c.a.frames(1), "operator_joined") == 1);
  CHECK(count_of(c.b.frames(3), "operator_joined") == 1);
  // Her second tab, on B: she was in the room already.
  c.b.login(4, "carol");
  c.b.join(4);
  c.pump();
  CHECK(count_of(c.a.frames(1), "operator_joined") == 0);
  CHECK(count_of(c.b.frames(3), "operator_joined") == 0);
  CHECK(members_in(c.b.frames(4)) == "alice bob carol ");
  // The tab on A leaves: she is still in the room on B.
  c.a.send(2, R"({"type":"leave_room","payload":{"room":")" + room + R"("}})");
  c.pump();
  CHECK(count_of(c.a.frames(1), "operator_left") == 0);
  CHECK(count_of(c.b.frames(3), "operator_left") == 0);
  // And back on A, then both tabs close: one operator_joined never came,
  // one operator_left comes when the last one goes.
  c.a.join(2);
  c.pump();
  CHECK(count_of(c.a.frames(1), "operator_joined") == 0);
  CHECK(count_of(c.b.frames(3), "operator_joined") == 0);
  c.b.hub.on_close(4);
  c.pump();
  CHECK(count_of(c.a.frames(1), "operator_left") == 0);
  CHECK(count_of(c.b.frames(3), "operator_left") == 0);
  c.a.hub.on_close(2);
  c.pump();
  CHECK(count_of(c.a.frames(1), "operator_left") == 1);
  CHECK(count_of(c.b.frames(3), "operator_left") == 1);
}

TEST_CASE("cluster node: the users of a node that stops renewing leave its rooms with its lease: one operator_left",
          "[cluster_node]") {
  cluster c;
  c.a.login(1, "alice");
  c.a.join(1);
  c.b.login(3, "bob");  // in the room on B only
  c.b.join(3);
  c.b.login(4, "alice");  // alice on B too: she stays, on A
  c.b.join(4);
  c.pump();
  c.a.frames(1);
  for (int i = 0; i < 16; ++i) {  // B goes silent: past the lease, A alone
    c.clock.advance(100ms);
    c.a.hub.tick(c.clock.now());
    c.a.node.tick();
    c.a.settle();
  }
  const auto left = c.a.frames(1);
  CHECK(count_of(left, "operator_left") == 1);
  CHECK(left.size() == 1);
  CHECK(left.front().find("\"user_id\":\"bob\"") != std::string::npos);
  c.tick(2000ms);  // once
  CHECK(count_of(c.a.frames(1), "operator_left") == 0);
}

TEST_CASE("cluster node: a customer profile fetched on one node reaches every node's inbox watchers once",
          "[cluster_node]") {
  cluster c;
  std::map<std::string, livechat::customer_profile> on_a, on_b;  // each node's profile cache
  auto resolver = [](std::map<std::string, livechat::customer_profile>& known) {
    return [&known](std::string_view id) {
      auto it = known.find(std::string(id));
      return it != known.end() ? it->second
                               : livechat::customer_profile{std::string(id), std::string(id), {}};
    };
  };
  c.a.hub.set_customer_resolver(resolver(on_a));
  c.b.hub.set_customer_resolver(resolver(on_b));
  c.b.hub.set_customer_learner([&](const livechat::customer_profile& p) { on_b[p.id] = p; });
  c.a.login(1, "alice");
  c.a.send(1, watch);
  c.b.login(3, "bob");
  c.b.send(3, watch);
  c.b.login(4, "ben");
  c.b.send(4, watch);
  c.pump();
  for (int id : {1}) c.a.frames(id);
  for (int id : {3, 4}) c.b.frames(id);

  on_a["r"] = {"r", "Carol", "https://example.com/carol.png"};  // fetched on A
  c.a.hub.customer_changed("r");
  c.a.settle();
  c.pump();
  c.pump();
  CHECK(customers_in(c.a.frames(1)) == std::vector<std::string>{"Carol"});
  CHECK(customers_in(c.b.frames(3)) == std::vector<std::string>{"Carol"});
  CHECK(customers_in(c.b.frames(4)) == std::vector<std::string>{"Carol"});
  REQUIRE(on_b.count("r") == 1);  // B's cache learned it: its next summaries name her too
  CHECK(on_b["r"].picture_url == "https://example.com/carol.png");
}

TEST_CASE("cluster node: a gap due while a batch of writes is open is filled at that batch's commit",
          "[cluster_node]") {
  cluster c(true);
  c.a.login(1, "alice");
  c.a.join(1);
  c.b.login(3, "bob");
  c.b.join(3);
  c.pump();
  c.b.frames(3);
  c.a.say(1, "lost");
  c.pump([](const memory_broker::delivery& d) { return !is_room_message(d); });  // 1 never reaches B
  c.a.say(1, "two");
  c.pump();  // B holds 2 behind the gap
  CHECK(new_message_seqs(c.b.frames(3)).empty());
  // Bob writes: B's batch is open when the gap falls due, so the store may
  // not be read then (it holds bob's uncommitted 3).
  c.b.say(3, "three");
  c.tick(200ms);
  CHECK(new_message_seqs(c.b.frames(3)).empty());
  // The commit reads it at once rather than at a later tick that finds no
  // batch open (under steady writes, rarely).
  c.b.hub.commit();
  c.b.settle();
  CHECK(new_message_seqs(c.b.frames(3)) == std::vector<std::uint64_t>{1, 2});
  c.pump();
  CHECK(new_message_seqs(c.a.frames(1)) == std::vector<std::uint64_t>{3});
}

}  // namespace livechat_unit_cluster_node
