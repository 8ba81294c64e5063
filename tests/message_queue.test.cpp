// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include <livechat/client/message_queue.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_message_queue {

using namespace livechat::client;
using namespace std::chrono_literals;

namespace {
using queue = message_queue<livechat::manual_clock>;

queued_message item(const std::string& id, std::string text = "hello",
                    const std::string& room = "conversation:a") {
  queued_message m;
  m.room = room;
  m.text = std::move(text);
  m.client_msg_id = id;
  return m;
}

std::vector<std::string> ids(const queue& q) {
  std::vector<std::string> out;
  for (const auto& m : q.pending()) out.push_back(m.client_msg_id);
  return out;
}

/// Records every drop the queue reports.
struct drops {
  std::vector<std::pair<std::string, drop_reason>> seen;
  void attach(queue& q) {
    q.set_drop_handler(
        [this](const queued_message& m, drop_reason r) { seen.emplace_back(m.client_msg_id, r); });
  }
};

const time_point t0{};
}  // namespace

TEST_CASE("queue keeps order, pending, size, bytes, dequeue", "[message_queue]") {
  queue q;
  CHECK(q.empty());
  CHECK(q.enqueue(item("a", "one"), t0));
  CHECK(q.enqueue(item("b", "three"), t0 + 1s));
  CHECK(q.enqueue(item("c", "x"), t0 + 2s));
  CHECK(ids(q) == std::vector<std::string>{"a", "b", "c"});
  CHECK(q.size() == 3);
  CHECK(q.bytes() == 3 + 5 + 1);
  CHECK(q.pending()[1].enqueued_at == t0 + 1s);  // enqueue stamps the time
  auto m = q.dequeue(t0 + 3s);
  REQUIRE(m);
  CHECK(m->client_msg_id == "a");
  CHECK(q.size() == 2);
  CHECK(q.bytes() == 6);
  CHECK(q.counters().enqueued == 3);
  CHECK(q.counters().dequeued == 1);
  REQUIRE(q.find("c") != nullptr);
  CHECK(q.find("c")->text == "x");
  CHECK(q.find("a") == nullptr);
}

TEST_CASE("queue reject_new: the 101st message is refused, the first 100 kept", "[message_queue]") {
  queue q;  // defaults: 100 messages, reject_new
  drops d;
  d.attach(q);
  for (int i = 0; i < 100; ++i) REQUIRE(q.enqueue(item("m" + std::to_string(i)), t0));
  CHECK_FALSE(q.enqueue(item("m100"), t0));
  CHECK(q.size() == 100);
  CHECK(q.pending().front().client_msg_id == "m0");
  CHECK(q.pending().back().client_msg_id == "m99");
  CHECK(q.counters().dropped_overflow == 1);
  REQUIRE(d.seen.size() == 1);
  CHECK(d.seen[0] == std::make_pair(std::string("m100"), drop_reason::overflow));
}

TEST_CASE("queue drop_oldest evicts the oldest to make room", "[message_queue]") {
  queue_settings s;
  s.overflow = overflow_policy::drop_oldest;
  s.max_messages = 3;
  queue q(s);
  drops d;
  d.attach(q);
  for (const char* id : {"a", "b", "c", "d", "e"}) CHECK(q.enqueue(item(id), t0));
  CHECK(ids(q) == std::vector<std::string>{"c", "d", "e"});
  CHECK(q.counters().dropped_overflow == 2);
  CHECK(d.seen == std::vector<std::pair<std::string, drop_reason>>{{"a", drop_reason::overflow},
                                                                    {"b", drop_reason::overflow}});
}

TEST_CASE("queue byte cap under both policies", "[message_queue]") {
  queue_settings s;
  s.max_bytes = 10;
  SECTION("reject_new") {
    queue q(s);
    CHECK(q.enqueue(item("a", "12345"), t0));
    CHECK(q.enqueue(item("b", "1234"), t0));
    CHECK_FALSE(q.enqueue(item("c", "12"), t0));  // 9 + 2 > 10
    CHECK(q.enqueue(item("d", "1"), t0));         // 10 fits exactly
    CHECK(q.bytes() == 10);
    CHECK(ids(q) == std::vector<std::string>{"a", "b", "d"});
  }
  SECTION("drop_oldest evicts as many as needed") {
    s.overflow = overflow_policy::drop_oldest;
    queue q(s);
    CHECK(q.enqueue(item("a", "123"), t0));
    CHECK(q.enqueue(item("b", "123"), t0));
    CHECK(q.enqueue(item("c", "123"), t0));
    CHECK(q.enqueue(item("d", "12345678"), t0));  // needs a, b and c gone
    CHECK(ids(q) == std::vector<std::string>{"d"});
    CHECK(q.bytes() == 8);
    CHECK(q.counters().dropped_overflow == 3);
  }
}

TEST_CASE("queue refuses one item larger than max_bytes under every policy", "[message_queue]") {
  for (auto policy : {overflow_policy::reject_new, overflow_policy::drop_oldest}) {
    queue_settings s;
    s.max_bytes = 4;
    s.overflow = policy;
    queue q(s);
    drops d;
    d.attach(q);
    REQUIRE(q.enqueue(item("small", "1234"), t0));
    CHECK_FALSE(q.enqueue(item("big", "12345"), t0));
    CHECK(ids(q) == std::vector<std::string>{"small"});  // nothing evicted for it
    CHECK(q.counters().rejected_too_large == 1);
    CHECK(q.counters().dropped_overflow == 0);
    REQUIRE(d.seen.size() == 1);
    CHECK(d.seen[0] == std::make_pair(std::string("big"), drop_reason::too_large));
  }
}

TEST_CASE("queue max_messages 0 refuses everything", "[message_queue]") {
  queue_settings s;
  s.max_messages = 0;
  s.overflow = overflow_policy::drop_oldest;
  queue q(s);
  CHECK_FALSE(q.enqueue(item("a"), t0));
  CHECK(q.empty());
  CHECK(q.counters().dropped_overflow == 1);
}

TEST_CASE("queue expiry: dequeue skips and drops expired items", "[message_queue]") {
  queue_settings s;
  s.max_age = 60s;
  queue q(s);
  drops d;
  d.attach(q);
  q.enqueue(item("old1"), t0);
  q.enqueue(item("old2"), t0 + 10s);
  q.enqueue(item("young"), t0 + 30s);
  auto m = q.dequeue(t0 + 70s);  // old1 (70 s) and old2 (60 s: the limit) are expired
  REQUIRE(m);
  CHECK(m->client_msg_id == "young");
  CHECK(q.counters().dropped_expired == 2);
  CHECK(d.seen == std::vector<std::pair<std::string, drop_reason>>{{"old1", drop_reason::expired},
                                                                   {"old2", drop_reason::expired}});
  CHECK_FALSE(q.dequeue(t0 + 70s));
  CHECK(q.bytes() == 0);
}

TEST_CASE("queue expire() and enqueue drop stale items first", "[message_queue]") {
  queue_settings s;
  s.max_age = 10s;
  s.max_messages = 2;
  queue q(s);
  q.enqueue(item("a"), t0);
  q.enqueue(item("b"), t0 + 5s);
  CHECK(q.expire(t0 + 9s) == 0);
  // Full, but "a" has expired by now: it makes room instead of the new one being refused.
  CHECK(q.enqueue(item("c"), t0 + 12s));
  CHECK(ids(q) == std::vector<std::string>{"b", "c"});
  CHECK(q.expire(t0 + 100s) == 2);
  CHECK(q.empty());
  CHECK(q.counters().dropped_expired == 3);
}

TEST_CASE("queue requeue puts back at the front, up to max_retries", "[message_queue]") {
  queue_settings s;
  s.max_retries = 2;
  queue q(s);
  drops d;
  d.attach(q);
  q.enqueue(item("a"), t0);
  q.enqueue(item("b"), t0);
  auto a = q.dequeue(t0);
  REQUIRE(a);
  CHECK(q.requeue(*a));
  CHECK(ids(q) == std::vector<std::string>{"a", "b"});
  CHECK(q.pending().front().retries == 1);
  CHECK(q.bytes() == 10);
  a = q.dequeue(t0);
  CHECK(q.requeue(*a));
  CHECK(q.pending().front().retries == 2);
  a = q.dequeue(t0);
  CHECK_FALSE(q.requeue(*a));  // a third retry exceeds max_retries
  CHECK(ids(q) == std::vector<std::string>{"b"});
  CHECK(q.counters().dropped_retries == 1);
  REQUIRE(d.seen.size() == 1);
  CHECK(d.seen[0] == std::make_pair(std::string("a"), drop_reason::too_many_retries));
}

TEST_CASE("queue retry counts in place, dropping beyond max_retries", "[message_queue]") {
  queue_settings s;
  s.max_retries = 1;
  queue q(s);
  q.enqueue(item("a"), t0);
  q.enqueue(item("b"), t0);
  CHECK(q.retry("b"));
  CHECK(q.find("b")->retries == 1);
  CHECK(ids(q) == std::vector<std::string>{"a", "b"});  // order unchanged
  CHECK_FALSE(q.retry("b"));
  CHECK(ids(q) == std::vector<std::string>{"a"});
  CHECK(q.counters().dropped_retries == 1);
  CHECK_FALSE(q.retry("nope"));
}

TEST_CASE("queue remove, drop and clear", "[message_queue]") {
  queue q;
  drops d;
  d.attach(q);
  q.enqueue(item("a", "aa"), t0);
  q.enqueue(item("b", "bbb"), t0);
  q.enqueue(item("c", "c"), t0);
  CHECK(q.remove("b"));
  CHECK_FALSE(q.remove("b"));
  CHECK(ids(q) == std::vector<std::string>{"a", "c"});
  CHECK(q.bytes() == 3);
  CHECK(q.counters().removed == 1);
  CHECK(d.seen.empty());  // an acknowledgement is not a drop
  CHECK(q.drop("a", drop_reason::rejected));
  CHECK(q.counters().dropped_other == 1);
  REQUIRE(d.seen.size() == 1);
  CHECK(d.seen[0] == std::make_pair(std::string("a"), drop_reason::rejected));
  q.clear();
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
  CHECK(d.seen.size() == 1);  // clear reports nothing
  CHECK(q.counters().enqueued == 3);
}

TEST_CASE("queue survives a throwing drop handler", "[message_queue]") {
  queue_settings s;
  s.max_messages = 1;
  queue q(s);
  int calls = 0;
  q.set_drop_handler([&](const queued_message&, drop_reason) {
    ++calls;
    throw std::runtime_error("ui gone");
  });
  q.enqueue(item("a"), t0);
  CHECK_NOTHROW(q.enqueue(item("b"), t0));
  CHECK(calls == 1);
  CHECK(ids(q) == std::vector<std::string>{"a"});
}

TEST_CASE("drop_reason names", "[message_queue]") {
  CHECK(std::string(to_string(drop_reason::overflow)) == "overflow");
  CHECK(std::string(to_string(drop_reason::too_many_retries)) == "too_many_retries");
  CHECK(std::string(to_string(drop_reason::cancelled)) == "cancelled");
}

}  // namespace livechat_unit_message_queue
