// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// The hub's ordering rules on their own (server/detail/commit_queue.hpp);
// tests/hub.test.cpp checks the same rules through the hub's frames.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <livechat/server/detail/commit_queue.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_commit_queue {

namespace {

struct conn {
  int id = 0;
};
using queue = livechat::server::detail::commit_queue<conn, int>;

livechat::server::payload_ptr frame(const std::string& s) {
  return std::make_shared<const std::string>(s);
}

/// What settle handed out, in order, as "to:payload", "out:text", "failed:type".
struct recorder {
  std::vector<std::string> log;

  void settle(queue& q, bool committed) {
    q.settle(
        committed, [&](conn& c, const livechat::server::payload_ptr& p) {
          log.push_back(std::to_string(c.id) + ":" + *p);
        },
        [&](const livechat::message& m) { log.push_back("out:" + m.text); },
        [&](const queue::write& w) {
          const std::string by = w.requester ? "@" + std::to_string(w.requester->id) : "";
          log.push_back("failed:" + w.request_type + by);
        });
  }
};

void write(queue& q, conn* requester, const char* type, int* opened = nullptr) {
  q.note_write(requester, std::nullopt, type, [&] {
    if (opened) ++*opened;
  });
}

livechat::message text(const char* t) {
  livechat::message m;
  m.text = t;
  return m;
}

}  // namespace

TEST_CASE("commit_queue: without a batch nothing is held", "[commit_queue]") {
  queue q;
  conn a{1};
  CHECK_FALSE(q.holding());
  CHECK_FALSE(q.defer(a, frame("x")));  // send it now
  q.defer_close(1, 1000, "bye");
  const auto closes = q.take_closes();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].id == 1);
  CHECK(closes[0].code == 1000);
  CHECK(closes[0].reason == "bye");
  CHECK(q.take_closes().empty());
  recorder r;
  r.settle(q, true);  // no batch: nothing to settle
  CHECK(r.log.empty());
}

TEST_CASE("commit_queue: the first write opens the batch once", "[commit_queue]") {
  queue q;
  conn a{1};
  int opened = 0;
  write(q, &a, "send_message", &opened);
  CHECK(q.holding());
  CHECK(q.current_write() == 1);
  write(q, &a, "mark_read", &opened);
  CHECK(opened == 1);
  CHECK(q.current_write() == 2);
  recorder r;
  r.settle(q, true);
  CHECK_FALSE(q.holding());
  CHECK(q.current_write() == 0);
  write(q, &a, "send_message", &opened);
  CHECK(opened == 2);  // a new batch after the settle
}

TEST_CASE("commit_queue: a committed batch sends everything in queue order", "[commit_queue]") {
  queue q;
  conn a{1}, b{2};
  write(q, &a, "send_message");
  CHECK(q.defer(a, frame("ack")));
  CHECK(q.defer(b, frame("new")));
  q.defer_outbound(text("hello"));
  q.end_call();
  CHECK(q.defer(b, frame("pong")));  // depends on no write, but keeps its place
  recorder r;
  r.settle(q, true);
  CHECK(r.log == std::vector<std::string>{"1:ack", "2:new", "2:pong", "out:hello"});
}

TEST_CASE("commit_queue: a failed commit drops what depended on a write and names the writers",
          "[commit_queue]") {
  queue q;
  conn a{1}, b{2};
  write(q, &a, "send_message");
  q.defer(a, frame("ack"));
  q.defer(b, frame("new"));
  q.defer_outbound(text("hello"));
  q.end_call();
  q.defer(b, frame("pong"));
  write(q, nullptr, "webhook");
  q.defer(b, frame("new2"));
  recorder r;
  r.settle(q, false);
  CHECK(r.log == std::vector<std::string>{"2:pong", "failed:send_message@1", "failed:webhook"});
  CHECK_FALSE(q.holding());
}

TEST_CASE("commit_queue: a duplicate's answer waits for the batch's commit", "[commit_queue]") {
  queue q;
  conn a{1};
  q.depend_on_batch();  // no batch: nothing to wait for
  CHECK(q.current_write() == 0);
  write(q, &a, "send_message");
  q.end_call();
  q.depend_on_batch();
  CHECK(q.current_write() == 1);
  q.defer(a, frame("dup-ack"));
  recorder r;
  r.settle(q, false);
  CHECK(r.log == std::vector<std::string>{"failed:send_message@1"});  // the ack went with the write
}

TEST_CASE("commit_queue: closes wait behind the frames queued before them", "[commit_queue]") {
  queue q;
  conn a{1};
  write(q, &a, "send_message");
  q.defer(a, frame("error"));
  q.defer_close(1, 4003, "auth failed");
  CHECK(q.take_closes().empty());
  recorder r;
  r.settle(q, true);
  CHECK(r.log == std::vector<std::string>{"1:error"});
  const auto closes = q.take_closes();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].code == 4003);
}

TEST_CASE("commit_queue: a retired connection lives until the batch is settled", "[commit_queue]") {
  auto owned = std::make_shared<int>(0);
  std::weak_ptr<int> watch = owned;
  struct tracked {
    std::shared_ptr<int> life;
  };
  livechat::server::detail::commit_queue<tracked, int> held;
  held.retire(std::make_unique<tracked>(tracked{owned}));  // no batch: let go at once
  owned.reset();
  CHECK(watch.expired());

  owned = std::make_shared<int>(0);
  watch = owned;
  held.note_write(nullptr, std::nullopt, "send_message", [] {});
  held.retire(std::make_unique<tracked>(tracked{owned}));
  owned.reset();
  CHECK_FALSE(watch.expired());
  held.settle(
      true, [](tracked&, const livechat::server::payload_ptr&) {}, [](const livechat::message&) {},
      [](const auto&) {});
  CHECK(watch.expired());
}

TEST_CASE("commit_queue: callbacks during settle see no batch and may queue again",
          "[commit_queue]") {
  queue q;
  conn a{1};
  write(q, &a, "send_message");
  q.defer(a, frame("ack"));
  q.defer_close(1, 1013, "slow consumer");
  std::vector<std::string> log;
  q.settle(
      true,
      [&](conn& c, const livechat::server::payload_ptr& p) {
        log.push_back(*p);
        CHECK_FALSE(q.holding());
        CHECK_FALSE(q.defer(c, frame("now")));  // goes out at once
        q.defer_close(2, 1013, "slow consumer");
      },
      [](const livechat::message&) {}, [](const queue::write&) {});
  CHECK(log == std::vector<std::string>{"ack"});
  CHECK(q.take_closes().size() == 2);
}

TEST_CASE("commit_queue: each send keeps its own payload when broadcasts interleave, batch after batch",
          "[commit_queue]") {
  queue q;
  conn a{1}, b{2}, c{3};
  const auto one = frame("one");
  const auto two = frame("two");
  for (int batch = 0; batch < 3; ++batch) {  // the second and third reuse the vectors
    write(q, &a, "send_message");
    CHECK(q.defer(a, one));
    CHECK(q.defer(b, one));
    CHECK(q.defer(c, two));
    CHECK(q.defer(a, one));  // the same payload again after another one
    CHECK(q.defer(b, frame("one")));  // equal text, another payload
    q.end_call();
    std::vector<livechat::server::payload_ptr> seen;  // owned: the queue lets go after settle
    q.settle(
        true, [&](conn&, const livechat::server::payload_ptr& p) { seen.push_back(p); },
        [](const livechat::message&) {}, [](const queue::write&) {});
    REQUIRE(seen.size() == 5);
    CHECK(seen[0] == one);
    CHECK(seen[1] == one);
    CHECK(seen[2] == two);
    CHECK(seen[3] == one);
    CHECK(seen[4] != one);
    CHECK(*seen[4] == "one");
    CHECK_FALSE(q.holding());
  }
}

// A write whose result comes with the commit keeps a place in line: what
// it sends once filled goes out there, before what was queued after it,
// and nothing of it (nor the write's own sends) survives a failed commit.
TEST_CASE("commit_queue: a place filled at the commit keeps its turn", "[commit_queue]") {
  queue q;
  conn a{1};
  conn b{2};
  write(q, &a, "send_message");
  const std::uint64_t first = q.current_write();
  const std::size_t place = q.hold_place();
  q.end_call();
  REQUIRE(q.defer(b, frame("after")));  // queued behind the place
  write(q, &a, "send_message");
  const std::size_t second = q.hold_place();
  const std::uint64_t second_write = q.current_write();
  q.end_call();

  SECTION("committed: each place's sends where it was held") {
    q.fill(second, second_write, [&] {
      CHECK(q.filling() == second);
      CHECK(q.current_write() == second_write);
      REQUIRE(q.defer(a, frame("ack2")));
    });
    CHECK(q.filling() == queue::no_place);
    CHECK(q.current_write() == 0);
    q.fill(place, first, [&] {
      REQUIRE(q.defer(a, frame("ack1")));
      REQUIRE(q.defer(b, frame("new1")));
      q.defer_outbound(text("m1"));
    });
    recorder r;
    r.settle(q, true);
    CHECK(r.log == std::vector<std::string>{"1:ack1", "2:new1", "2:after", "1:ack2", "out:m1"});
  }
  SECTION("failed: the places stay empty, their writes are named") {
    recorder r;
    r.settle(q, false);
    CHECK(r.log == std::vector<std::string>{"2:after", "failed:send_message@1",
                                            "failed:send_message@1"});
  }
}

}  // namespace livechat_unit_commit_queue
