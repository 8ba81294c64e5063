// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The example server's log sink (examples/server/log/sink.hpp) and its
// websocketpp logger policy, driven directly: no server, a manual clock. It
// lives with the integration tests because it is the server's code, not the
// library's.
#include "../../examples/server/log/sink.hpp"
#include "../../examples/server/log/websocketpp_logger.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <websocketpp/concurrency/none.hpp>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_log_sink {

using namespace livechat_server::logging;
using namespace std::chrono_literals;

namespace {

struct captured {
  std::vector<std::string> lines;
  sink::clock::time_point now{};

  std::unique_ptr<sink> make(level min = level::info, rate_limit limit = {}) {
    auto s = std::make_unique<sink>(min, limit, [this](std::string_view line) { lines.emplace_back(line); });
    s->set_timestamps(false);
    s->set_clock([this] { return now; });
    return s;
  }
};

std::string value_of(std::string_view v) {
  std::string out;
  append_value(out, v);
  return out;
}

}  // namespace

TEST_CASE("log sink: values are bare, or quoted with every control byte escaped", "[log]") {
  CHECK(value_of("127.0.0.1:5555") == "127.0.0.1:5555");
  CHECK(value_of("conversation:U1") == "conversation:U1");
  CHECK(value_of("") == "\"\"");
  CHECK(value_of("two words") == "\"two words\"");
  CHECK(value_of("a=b") == "\"a=b\"");
  CHECK(value_of("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(value_of("back\\slash") == "\"back\\\\slash\"");
  // A peer cannot end the line and start a forged one, nor hide text with
  // terminal escapes or bytes a viewer might read as a line break.
  CHECK(value_of("x\nts=0 level=error event=forged") == "\"x\\nts=0 level=error event=forged\"");
  CHECK(value_of("\r\t\x1b[2J\x7f") == "\"\\r\\t\\x1b[2J\\x7f\"");
  CHECK(value_of(std::string("nul\0byte", 8)) == "\"nul\\x00byte\"");
  CHECK(value_of("\xe2\x80\xa8") == "\"\\xe2\\x80\\xa8\"");  // U+2028 LINE SEPARATOR
  // Long values are cut, so one line stays one screen.
  const std::string long_value(1000, 'a');
  const std::string v = value_of(long_value);
  CHECK(v.size() == max_value_bytes + 5);
  CHECK(v.substr(v.size() - 4) == "...\"");
}

TEST_CASE("log sink: one key=value line per event, numbers and levels", "[log]") {
  captured c;
  auto s = c.make();
  s->warn("handshake_refused", {{"remote", "127.0.0.1:5555"}, {"status", 403}, {"reason", "origin"}});
  s->info("outbound_not_pushed", {{"seq", std::uint64_t{18446744073709551615ULL}},
                                 {"delta", -42},
                                 {"bytes", std::size_t{0}},
                                 {"ok", true}});
  s->error("fatal", {{"what", std::string("bad\nthing")}});
  REQUIRE(c.lines.size() == 3);
  CHECK(c.lines[0] == "level=warn event=handshake_refused remote=127.0.0.1:5555 status=403 reason=origin\n");
  CHECK(c.lines[1] ==
        "level=info event=outbound_not_pushed seq=18446744073709551615 delta=-42 bytes=0 ok=true\n");
  CHECK(c.lines[2] == "level=error event=fatal what=\"bad\\nthing\"\n");

  sink with_ts(level::info, {}, [&c](std::string_view line) { c.lines.emplace_back(line); });
  with_ts.info("x");
  REQUIRE(c.lines.size() == 4);
  // ts=2026-11-25T20:24:25.123Z level=info event=x
  CHECK(c.lines[3].rfind("ts=", 0) == 0);
  CHECK(c.lines[3].size() == 3 + 24 + 1 + std::string("level=info event=x\n").size());
  CHECK(c.lines[3].substr(3 + 23, 1) == "Z");
}

TEST_CASE("log sink: --log-level filters by severity", "[log]") {
  CHECK(parse_level("trace") == level::trace);
  CHECK(parse_level("debug") == level::debug);
  CHECK(parse_level("info") == level::info);
  CHECK(parse_level("warn") == level::warn);
  CHECK(parse_level("error") == level::error);
  CHECK(parse_level("off") == level::off);
  CHECK_FALSE(parse_level("bogus"));
  CHECK_FALSE(parse_level("INFO"));
  CHECK_FALSE(parse_level(""));

  captured c;
  auto s = c.make(level::warn);
  s->trace("a");
  s->debug("b");
  s->info("c");
  s->warn("d");
  s->error("e");
  CHECK(c.lines == std::vector<std::string>{"level=warn event=d\n", "level=error event=e\n"});

  captured quiet;
  auto off = quiet.make(level::off);
  off->error("e");
  off->write(level::off, "f");
  CHECK(quiet.lines.empty());
}

TEST_CASE("log sink: at most N lines per kind per window, then one suppressed= summary", "[log]") {
  captured c;
  {
    auto s = c.make(level::info, rate_limit{3, 1000ms});
    for (int i = 0; i < 100; ++i) s->warn("flood", {{"i", i}});
    s->info("other");  // another kind has its own budget
    CHECK(c.lines.size() == 4);
    c.now += 500ms;
    s->flush_suppressed();  // the window has not ended: nothing yet
    CHECK(c.lines.size() == 4);
    c.now += 500ms;
    s->flush_suppressed();
    REQUIRE(c.lines.size() == 5);
    CHECK(c.lines[4] == "level=warn event=log_suppressed kind=flood suppressed=97 window_ms=1000\n");
    // A new window: three more lines, and the summary comes with the next
    // line of that kind once the window is over, without a flush.
    for (int i = 0; i < 5; ++i) s->warn("flood");
    CHECK(c.lines.size() == 8);
    c.now += 1000ms;
    s->warn("flood");
    REQUIRE(c.lines.size() == 10);
    CHECK(c.lines[8] == "level=warn event=log_suppressed kind=flood suppressed=2 window_ms=1000\n");
    CHECK(c.lines[9] == "level=warn event=flood\n");
    for (int i = 0; i < 10; ++i) s->info("flood");
  }
  // Destroyed mid-window: what was left out is still reported.
  REQUIRE(c.lines.size() == 13);
  CHECK(c.lines[12] == "level=info event=log_suppressed kind=flood suppressed=8 window_ms=1000\n");

  captured unlimited;
  auto u = unlimited.make(level::info, rate_limit{0, 1000ms});
  for (int i = 0; i < 100; ++i) u->info("x");
  CHECK(unlimited.lines.size() == 100);
}

TEST_CASE("log sink: the websocketpp logger policy forwards by channel", "[log]") {
  namespace wl = websocketpp::log;
  // Copied: websocketpp's static const levels have no definitions to bind to.
  const wl::level rerror = wl::elevel::rerror, fatal = wl::elevel::fatal, warn = wl::elevel::warn,
                  none = 0, disconnect = wl::alevel::disconnect;
  // At the default level, the error channels the server always had on.
  CHECK(elog_channels(level::info) == (rerror | fatal));
  CHECK(elog_channels(level::error) == fatal);
  CHECK(elog_channels(level::off) == none);
  CHECK((elog_channels(level::debug) & warn) != 0);
  // Access channels never include those that quote the request URI.
  CHECK(alog_channels(level::info) == none);
  CHECK(alog_channels(level::trace) == disconnect);

  captured c;
  auto s = c.make(level::info);
  websocketpp_logger<websocketpp::concurrency::none, wl::elevel> elog(wl::elevel::all,
                                                                       wl::channel_type_hint::error);
  elog.write(wl::elevel::rerror, "dropped: no sink yet");
  elog.set_sink(s.get());
  elog.write(wl::elevel::rerror, "enabled by no channel");
  elog.set_channels(elog_channels(level::info));
  elog.write(wl::elevel::rerror, std::string("handle_read_frame error: \"x\"\n"));
  elog.write(wl::elevel::fatal, "lost");
  elog.write(wl::elevel::warn, "got non-close frame while closing");  // channel off
  elog.write(wl::elevel::rerror, "Handshake ended with HTTP error: 403");  // debug: the server logs its own
  REQUIRE(c.lines.size() == 2);
  CHECK(c.lines[0] == "level=warn event=websocketpp_error msg=\"handle_read_frame error: \\\"x\\\"\\n\"\n");
  CHECK(c.lines[1] == "level=error event=websocketpp_fatal msg=lost\n");
}

}  // namespace livechat_itest_log_sink
