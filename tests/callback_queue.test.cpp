// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// client::detail::callback_queue on its own: callbacks wait for the
// outermost entry, never nest, and nothing they throw escapes.
#include <livechat/client/detail/callback_queue.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_callback_queue {

using livechat::client::detail::callback_queue;

TEST_CASE("callback_queue runs callbacks in order once the outermost entry ends",
          "[callback_queue]") {
  callback_queue q;
  std::vector<std::string> log;
  q.enter();
  q.push([&] { log.push_back("a"); });
  q.enter();  // a nested entry (a transport that reports back before returning)
  q.push([&] { log.push_back("b"); });
  CHECK_FALSE(q.leave());
  CHECK(log.empty());
  CHECK(q.size() == 2);
  REQUIRE(q.leave());
  q.drain([](const char*) noexcept {});
  CHECK(log == std::vector<std::string>{"a", "b"});
  CHECK(q.empty());
}

TEST_CASE("callback_queue: a callback's own callbacks run after the current ones, not nested",
          "[callback_queue]") {
  callback_queue q;
  std::vector<std::string> log;
  const auto on_throw = [](const char*) noexcept {};
  q.push([&] {
    log.push_back("first");
    // What an entry point called from a callback does.
    q.enter();
    q.push([&] { log.push_back("queued by first"); });
    if (q.leave()) q.drain(on_throw);  // reentrant: returns at once
    log.push_back("first done");
  });
  q.push([&] { log.push_back("second"); });
  q.drain(on_throw);
  CHECK(log == std::vector<std::string>{"first", "first done", "second", "queued by first"});
}

TEST_CASE("callback_queue: nothing a callback throws escapes", "[callback_queue]") {
  callback_queue q;
  std::vector<std::string> thrown;
  bool after = false;
  q.push([] { throw std::runtime_error("boom"); });
  q.push([] { throw 42; });
  q.push([&] { after = true; });
  q.drain([&](const char* what) noexcept { thrown.emplace_back(what); });
  CHECK(thrown == std::vector<std::string>{"boom", "unknown exception"});
  CHECK(after);
}

TEST_CASE("callback_queue::notify copies the arguments and checks the callback when it runs",
          "[callback_queue]") {
  callback_queue q;
  std::vector<std::string> got;
  std::function<void(const std::string&)> f = [&](const std::string& s) { got.push_back(s); };
  std::function<void(const std::string&)> unset;
  std::string arg = "before";
  q.notify(f, arg);
  q.notify(unset, arg);  // not queued
  CHECK(q.size() == 1);
  arg = "after";
  q.notify(f, arg);
  q.push([&] { f = nullptr; });  // an earlier callback clears it
  q.notify(f, arg);
  q.drain([](const char*) noexcept {});
  CHECK(got == std::vector<std::string>{"before", "after"});
}

}  // namespace livechat_unit_callback_queue
