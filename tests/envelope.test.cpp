// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <livechat/cluster/envelope.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_envelope {

using namespace livechat::cluster;
using livechat::server::cluster_audience;

TEST_CASE("cluster envelope: events round-trip with their frame as bytes", "[envelope]") {
  const std::string frame = "{\"type\":\"new_message\",\"payload\":{\"text\":\"a\\nb\"}}\n\x01tail";
  const std::string rec = encode_event("node-1", cluster_audience::message, 42, "conversation:x", frame);
  auto r = decode_event(rec);
  REQUIRE(r);
  CHECK(r->origin == "node-1");
  CHECK(r->to == cluster_audience::message);
  CHECK(r->seq == 42);
  CHECK(r->room == "conversation:x");
  CHECK(r->frame == frame);
  const std::string watchers = encode_event("n", cluster_audience::watchers, 0, "", "{}");
  auto w = decode_event(watchers);  // views into `watchers`
  REQUIRE(w);
  CHECK(w->room.empty());
  CHECK(w->to == cluster_audience::watchers);
}

TEST_CASE("cluster envelope: anything else is refused", "[envelope]") {
  CHECK_FALSE(decode_event(""));
  CHECK_FALSE(decode_event("lc2\nn\n1\n0\nr\n{}"));
  CHECK_FALSE(decode_event("lc1\nbad node\n1\n0\nr\n{}"));
  CHECK_FALSE(decode_event("lc1\nn\n9\n0\nr\n{}"));
  CHECK_FALSE(decode_event("lc1\nn\n0\n0\nr\n{}"));
  CHECK_FALSE(decode_event("lc1\nn\n1\n-1\nr\n{}"));
  CHECK_FALSE(decode_event("lc1\nn\n1\n12345678901234567890\nr\n{}"));
  CHECK_FALSE(decode_event("lc1\nn\n1\n0\nr"));
  CHECK(decode_event("lc1\nn\n5\n7\nr\n"));  // a `message` mark: no frame, only the seq
  CHECK(is_valid_node_id("node-a.1_b"));
  CHECK_FALSE(is_valid_node_id(""));
  CHECK_FALSE(is_valid_node_id(std::string(65, 'a')));
  CHECK_FALSE(is_valid_node_id("a:b"));
}

TEST_CASE("cluster envelope: presence records", "[envelope]") {
  presence_record p{"node-b", presence_op::share, {{"alice", "Ali \"ce\"", 2}, {"bob", "", 1}}};
  auto r = decode_presence(encode_presence(p));
  REQUIRE(r);
  CHECK(r->node == "node-b");
  CHECK(r->op == presence_op::share);
  REQUIRE(r->users.size() == 2);
  CHECK(r->users[0].name == "Ali \"ce\"");
  CHECK(r->users[1].connections == 1);
  CHECK(decode_presence(encode_presence({"n", presence_op::hello, {}}))->op == presence_op::hello);
  CHECK_FALSE(decode_presence("{}"));
  CHECK_FALSE(decode_presence(R"({"v":2,"node":"n","op":"set","users":[]})"));
  CHECK_FALSE(decode_presence(R"({"v":1,"node":"n","op":"nope","users":[]})"));
  CHECK_FALSE(decode_presence(R"({"v":1,"node":"n","op":"set","users":[["",  "x", 1]]})"));
  CHECK_FALSE(decode_presence(R"({"v":1,"node":"n","op":"set","users":[["a","x",-1]]})"));
  CHECK_FALSE(decode_presence(R"({"v":1,"node":"n","op":"set","users":[["a","x",5]]})", 10, 4));
  CHECK_FALSE(decode_presence(R"({"v":1,"node":"n","op":"set","users":[["a","x",1],["b","y",1]]})", 1));
}

TEST_CASE("cluster envelope: presence entries name their rooms", "[envelope]") {
  presence_record p{"node-b", presence_op::set, {{"alice", "Alice", 2, {"conversation:x", "conversation:y"}}}};
  const std::string encoded = encode_presence(p);
  CHECK(encoded.find(R"(["alice","Alice",2,["conversation:x","conversation:y"]])") != std::string::npos);
  auto r = decode_presence(encoded);
  REQUIRE(r);
  REQUIRE(r->users.size() == 1);
  CHECK(r->users[0].rooms == std::vector<std::string>{"conversation:x", "conversation:y"});
  // No rooms: left out, as before.
  CHECK(encode_presence({"n", presence_op::set, {{"bob", "Bob", 1}}}).find(R"(["bob","Bob",1])") !=
        std::string::npos);
  CHECK_FALSE(decode_presence(R"({"v":1,"node":"n","op":"set","users":[["a","x",1,["not a room"]]]})"));
  CHECK_FALSE(decode_presence(R"({"v":1,"node":"n","op":"set","users":[["a","x",1,"conversation:x"]]})"));
  CHECK_FALSE(decode_presence(R"({"v":1,"node":"n","op":"set","users":[["a","x",1,[],5]]})"));
  CHECK_FALSE(decode_presence(
      R"({"v":1,"node":"n","op":"set","users":[["a","x",1,["conversation:x","conversation:y"]]]})", 10, 10, 1));
}

TEST_CASE("cluster envelope: customer records carry a checked profile", "[envelope]") {
  const livechat::customer_profile c{"U0123abc", "Taro \xe5\xb1\xb1\xe7\x94\xb0", "https://profile.example/p.jpg"};
  const std::string rec = encode_event("n", cluster_audience::customer, 0, "conversation:U0123abc",
                                       encode_customer(c));
  auto r = decode_event(rec);
  REQUIRE(r);
  CHECK(r->to == cluster_audience::customer);
  auto back = decode_customer(r->frame);
  REQUIRE(back);
  CHECK(back->id == c.id);
  CHECK(back->name == c.name);
  CHECK(back->picture_url == c.picture_url);
  // Exactly the JSON: no bytes after it (the writer's unused room once
  // went out as NUL bytes, which the decoder took for the end).
  CHECK(encode_customer({"U1", "Hanako", {}}) ==
        R"({"id":"U1","name":"Hanako","picture_url":null})");
  const std::string presence = encode_presence({"n", presence_op::set, {{"bob", "Bob", 1}}});
  CHECK(presence.find('\0') == std::string::npos);
  CHECK(presence.back() == '}');
  auto no_picture = decode_customer(encode_customer({"U1", "Hanako", {}}));
  REQUIRE(no_picture);
  CHECK(no_picture->picture_url.empty());
  CHECK_FALSE(decode_customer(R"({"id":"U1","name":"a","picture_url":"http://plain.example/p"})"));
  CHECK_FALSE(decode_customer(R"({"id":"bad id","name":"a"})"));
  CHECK_FALSE(decode_customer(R"({"id":"U1"})"));
  CHECK_FALSE(decode_customer(R"({"id":"U1","name":"a","picture_url":7})"));
  CHECK_FALSE(decode_customer("not json"));
  CHECK_FALSE(decode_customer(R"({"id":"U1","name":")" + std::string(2000, 'a') + R"("})"));
}

}  // namespace livechat_unit_envelope
