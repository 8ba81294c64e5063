// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// One posted operation for a burst of websocketpp dispatches.
#include <livechat/websocketpp/detail/dispatch_batch.hpp>

#include <memory>
#include <stdexcept>
#include <string>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_dispatch_batch {

using livechat::wspp::detail::dispatch_batch;

TEST_CASE("dispatch_batch: a burst runs in order from one posted operation, later",
          "[dispatch_batch]") {
  asio::io_context io;
  auto& batch = asio::use_service<dispatch_batch>(io);
  CHECK(&batch == &asio::use_service<dispatch_batch>(io));  // one per io_context
  std::string ran;
  batch.queue([&] { ran += 'a'; });
  batch.queue([&] { ran += 'b'; });
  batch.queue([&] { ran += 'c'; });
  CHECK(ran.empty());  // never inline: websocketpp's callers hold state
  CHECK(batch.pending() == 3);
  CHECK(io.poll_one() == 1);  // one operation ran all three
  CHECK(ran == "abc");
  CHECK(batch.pending() == 0);
  CHECK(io.poll() == 0);  // and nothing else was posted
}

TEST_CASE("dispatch_batch: a handler queued by a running one waits for the next burst, after "
          "what was posted meanwhile",
          "[dispatch_batch]") {
  asio::io_context io;
  auto& batch = asio::use_service<dispatch_batch>(io);
  std::string ran;
  batch.queue([&] {
    ran += '1';
    batch.queue([&] { ran += '3'; });
  });
  asio::post(io, [&] { ran += '2'; });  // posted between the two bursts
  CHECK(io.poll_one() == 1);
  CHECK(ran == "1");
  CHECK(batch.pending() == 1);
  io.poll();
  CHECK(ran == "123");
}

TEST_CASE("dispatch_batch: a handler that throws leaves run() as a posted one would; the rest "
          "run next, in order, before handlers queued later",
          "[dispatch_batch]") {
  asio::io_context io;
  auto& batch = asio::use_service<dispatch_batch>(io);
  std::string ran;
  batch.queue([&] { ran += 'a'; });
  batch.queue([&] {
    ran += 'b';
    throw std::runtime_error("from a handler");
  });
  batch.queue([&] { ran += 'c'; });
  batch.queue([&] { ran += 'd'; });
  CHECK_THROWS_AS(io.poll(), std::runtime_error);
  CHECK(ran == "ab");
  CHECK(batch.pending() == 2);
  batch.queue([&] { ran += 'e'; });
  io.restart();
  io.poll();
  CHECK(ran == "abcde");
  CHECK(batch.pending() == 0);
}

TEST_CASE("dispatch_batch: an io_context destroyed with a burst queued releases what the "
          "handlers hold",
          "[dispatch_batch]") {
  auto held = std::make_shared<int>(7);
  {
    asio::io_context io;
    auto& batch = asio::use_service<dispatch_batch>(io);
    batch.queue([held] { FAIL("never runs"); });
    batch.queue([held] { FAIL("never runs"); });
    CHECK(held.use_count() == 3);
  }
  CHECK(held.use_count() == 1);  // LeakSanitizer sees the rest
}

}  // namespace livechat_unit_dispatch_batch
