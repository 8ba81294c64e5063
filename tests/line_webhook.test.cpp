// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/line_webhook.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_line_webhook {

namespace {

using livechat::errc;
using livechat::line_event_outcome;
using livechat::line_webhook_result;
using livechat::parse_line_webhook;

const std::string user = "U4af4980629abcdef0123456789abcdef";

/// One LINE text message event as the platform sends it, with `text`
/// already a JSON literal (so tests can put escapes in it).
std::string text_event(const std::string& text_json, const std::string& extra = {}) {
  return R"({"type":"message","mode":"active","timestamp":1732566265123,)"
         R"("source":{"type":"user","userId":")" + user + R"("},)"
         R"("webhookEventId":"01HZX6T1Q8F9K4A2B3C5D7E9GH","deliveryContext":{"isRedelivery":false},)"
         R"("replyToken":"b60d432864f44d079f6d8efe86cf404b",)" + extra +
         R"("message":{"id":"444573844083572737","type":"text","quoteToken":"q3Plxr4AgKd","text":)" +
         text_json + "}}";
}

std::string body_of(const std::vector<std::string>& events) {
  std::string s = R"({"destination":"Udeadbeefdeadbeefdeadbeefdeadbeef","events":[)";
  for (std::size_t i = 0; i < events.size(); ++i) s += (i ? "," : "") + events[i];
  return s + "]}";
}

/// The outcome of the single event in `event`'s body.
line_event_outcome outcome_of(const std::string& event) {
  const auto r = parse_line_webhook(body_of({event}));
  REQUIRE(r.ok());
  REQUIRE(r.webhook.events.size() == 1);
  return r.webhook.events[0].outcome;
}

std::string reason_of(const std::string& event) {
  const auto r = parse_line_webhook(body_of({event}));
  REQUIRE(r.ok());
  REQUIRE(r.webhook.events.size() == 1);
  CHECK(r.webhook.events[0].outcome == line_event_outcome::invalid);
  return r.webhook.events[0].reason;
}

}  // namespace

TEST_CASE("parse_line_webhook: a text message event", "[line_webhook]") {
  const auto r = parse_line_webhook(body_of({text_event(R"("  hello there ")")}));
  REQUIRE(r.ok());
  CHECK(r.webhook.destination == "Udeadbeefdeadbeefdeadbeefdeadbeef");
  REQUIRE(r.webhook.events.size() == 1);
  const auto& e = r.webhook.events[0];
  CHECK(e.index == 0);
  CHECK(e.outcome == line_event_outcome::text_message);
  CHECK(e.reason.empty());
  CHECK(e.message.user_id == user);
  CHECK(e.message.text == "  hello there ");  // as sent: the hub trims when it stores
  CHECK(e.message.message_id == "444573844083572737");
  CHECK(e.message.webhook_event_id == "01HZX6T1Q8F9K4A2B3C5D7E9GH");
  REQUIRE(e.message.timestamp);
  CHECK(*e.message.timestamp == 1732566265123);
  CHECK_FALSE(e.message.is_redelivery);
  CHECK(r.webhook.count(line_event_outcome::text_message) == 1);
  CHECK(r.webhook.count(line_event_outcome::ignored) == 0);
}

TEST_CASE("parse_line_webhook: optional and informational fields", "[line_webhook]") {
  SECTION("a redelivery") {
    std::string ev = text_event(R"("hi")");
    ev.replace(ev.find(R"("isRedelivery":false)"), 20, R"("isRedelivery":true )");
    const auto r = parse_line_webhook(body_of({ev}));
    REQUIRE(r.ok());
    CHECK(r.webhook.events.at(0).message.is_redelivery);
  }
  SECTION("the bare minimum: no id, timestamp, deliveryContext or source.type") {
    const std::string ev = R"({"type":"message","source":{"userId":"u1"},"webhookEventId":"w1",)"
                           R"("message":{"type":"text","text":"x"}})";
    const auto r = parse_line_webhook(body_of({ev}));
    REQUIRE(r.ok());
    const auto& e = r.webhook.events.at(0);
    REQUIRE(e.outcome == line_event_outcome::text_message);
    CHECK(e.message.user_id == "u1");
    CHECK(e.message.text == "x");
    CHECK(e.message.message_id.empty());
    CHECK(e.message.webhook_event_id == "w1");
    CHECK_FALSE(e.message.timestamp);
    CHECK_FALSE(e.message.is_redelivery);
  }
  SECTION("odd types of informational fields are tolerated, not trusted") {
    const std::string ev = R"({"type":"message","source":{"type":"user","userId":"u1"},)"
                           R"("timestamp":1.5,"deliveryContext":{"isRedelivery":"yes"},"webhookEventId":"w2",)"
                           R"("message":{"type":"text","text":"x","id":42}})";
    const auto r = parse_line_webhook(body_of({ev}));
    REQUIRE(r.ok());
    const auto& e = r.webhook.events.at(0);
    REQUIRE(e.outcome == line_event_outcome::text_message);
    CHECK(e.message.message_id.empty());
    CHECK(e.message.webhook_event_id == "w2");
    CHECK_FALSE(e.message.timestamp);
    CHECK_FALSE(e.message.is_redelivery);
  }
  SECTION("webhookEventId of 1 and 128 bytes") {
    for (std::size_t n : {std::size_t{1}, std::size_t{128}}) {
      const std::string id(n, 'e');
      std::string ev = text_event(R"("hi")");
      ev.replace(ev.find("01HZX6T1Q8F9K4A2B3C5D7E9GH"), 26, id);
      const auto r = parse_line_webhook(body_of({ev}));
      REQUIRE(r.ok());
      CHECK(r.webhook.events.at(0).message.webhook_event_id == id);
    }
  }
  SECTION("multibyte text, raw and escaped") {
    const auto r = parse_line_webhook(
        body_of({text_event("\"caf\xC3\xA9 \xF0\x9F\x98\x80\""), text_event(R"("\u65e5\ud83d\ude00")")}));
    REQUIRE(r.ok());
    CHECK(r.webhook.events.at(0).message.text == "caf\xC3\xA9 \xF0\x9F\x98\x80");
    CHECK(r.webhook.events.at(1).message.text == "\xE6\x97\xA5\xF0\x9F\x98\x80");
  }
  SECTION("no destination") {
    const auto r = parse_line_webhook(R"({"events":[]})");
    REQUIRE(r.ok());
    CHECK(r.webhook.destination.empty());
  }
}

TEST_CASE("parse_line_webhook: events that are acknowledged and ignored", "[line_webhook]") {
  for (const std::string& ev : {
           // Not a message event.
           std::string(R"({"type":"follow","source":{"type":"user","userId":"u1"},"replyToken":"r"})"),
           std::string(R"({"type":"unsend","source":{"type":"user","userId":"u1"},"unsend":{"messageId":"1"}})"),
           std::string(R"({"source":{"type":"user","userId":"u1"},"message":{"type":"text","text":"x"}})"),
           std::string(R"({"type":7,"message":{"type":"text","text":"x"}})"),
           std::string("{}"),
           // A message of a type this version does not know.
           std::string(R"({"type":"message","source":{"type":"user","userId":"u1"},)"
                       R"("message":{"type":"poll","id":"1"}})"),
           std::string(R"({"type":"message","source":{"type":"user","userId":"u1"},"message":{"text":"x"}})"),
           // A group or multi-person chat.
           std::string(R"({"type":"message","source":{"type":"group","groupId":"C1","userId":"u1"},)"
                       R"("message":{"type":"text","text":"x"}})"),
           std::string(R"({"type":"message","source":{"type":"room","roomId":"R1","userId":"u1"},)"
                       R"("message":{"type":"text","text":"x"}})"),
       }) {
    INFO(ev);
    CHECK(outcome_of(ev) == line_event_outcome::ignored);
  }
}

TEST_CASE("parse_line_webhook: invalid text message events are skipped with a reason",
          "[line_webhook]") {
  CHECK(reason_of("[]") == "not an object");
  CHECK(reason_of("\"message\"") == "not an object");
  CHECK(reason_of("null") == "not an object");
  CHECK(reason_of(R"({"type":"message","source":{"type":"user","userId":"u1"}})") ==
        "message is not an object");
  CHECK(reason_of(R"({"type":"message","message":"hi"})") == "message is not an object");
  CHECK(reason_of(R"({"type":"message","message":{"type":"text","text":"x"}})") ==
        "source is not an object");
  CHECK(reason_of(R"({"type":"message","source":[],"message":{"type":"text","text":"x"}})") ==
        "source is not an object");
  for (const char* source : {R"({"type":"user"})", R"({"type":"user","userId":""})",
                             R"({"type":"user","userId":12})", R"({"type":"user","userId":"a b"})",
                             R"({"type":"user","userId":"a/b"})"}) {
    INFO(source);
    CHECK(reason_of(std::string(R"({"type":"message","source":)") + source +
                    R"(,"message":{"type":"text","text":"x"}})") ==
          "source.userId is not a valid conversation id");
  }
  CHECK(reason_of(std::string(R"({"type":"message","source":{"userId":")") + std::string(129, 'u') +
                  R"("},"message":{"type":"text","text":"x"}})") ==
        "source.userId is not a valid conversation id");
  CHECK(reason_of(text_event("null")) == "message.text is not a string");
  CHECK(reason_of(text_event("[\"x\"]")) == "message.text is not a string");
  // A lone low surrogate decodes to bytes that are not UTF-8.
  CHECK(reason_of(text_event(R"("a\udc00b")")) == "message.text is not valid UTF-8");
  CHECK(reason_of(text_event(R"("")")) == "message.text is empty");
  CHECK(reason_of(text_event(R"(" \t\r\n ")")) == "message.text is empty");
  for (const char* id : {R"("")", "12", "true", "{}", "[]"}) {
    INFO(id);
    std::string ev = text_event(R"("hi")");
    ev.replace(ev.find(R"("01HZX6T1Q8F9K4A2B3C5D7E9GH")"), 28, id);
    CHECK(reason_of(ev) == "webhookEventId is not a string of 1-128 bytes");
  }
  std::string ev = text_event(R"("hi")");
  ev.replace(ev.find("01HZX6T1Q8F9K4A2B3C5D7E9GH"), 26, std::string(129, 'e'));
  CHECK(reason_of(ev) == "webhookEventId is not a string of 1-128 bytes");
}

TEST_CASE("parse_line_webhook: a text message without webhookEventId is skipped, never stored",
          "[line_webhook]") {
  // Without the id a redelivery could not be recognised: storing it would
  // store every replay again.
  const std::string with_id = text_event(R"("hi")");
  std::string absent = with_id;
  absent.erase(absent.find(R"("webhookEventId":)"), std::string(R"("webhookEventId":"01HZX6T1Q8F9K4A2B3C5D7E9GH",)").size());
  REQUIRE(absent.find("webhookEventId") == std::string::npos);
  CHECK(reason_of(absent) == "webhookEventId is missing");
  std::string null_id = with_id;
  null_id.replace(null_id.find(R"("01HZX6T1Q8F9K4A2B3C5D7E9GH")"), 28, "null");
  CHECK(reason_of(null_id) == "webhookEventId is missing");
  CHECK(reason_of(R"({"type":"message","source":{"userId":"u1"},"message":{"type":"text","text":"x"}})") ==
        "webhookEventId is missing");
  // Events that are not text messages need no id: they are acknowledged.
  CHECK(outcome_of(R"({"type":"follow","source":{"type":"user","userId":"u1"}})") ==
        line_event_outcome::ignored);
}

TEST_CASE("parse_line_webhook: at most 1000 events per body", "[line_webhook]") {
  std::vector<std::string> events(livechat::max_line_webhook_events, R"({"type":"follow"})");
  CHECK(livechat::max_line_webhook_events == 1000);
  const auto r = parse_line_webhook(body_of(events));
  REQUIRE(r.ok());
  CHECK(r.webhook.events.size() == 1000);

  events.push_back(text_event(R"("one too many")"));
  const auto refused = parse_line_webhook(body_of(events));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error->code == errc::validation_error);
  CHECK(refused.error->field == "events");
  CHECK(refused.error->message == "events must not hold more than 1000 elements");
  CHECK(refused.webhook.events.empty());
}

TEST_CASE("parse_line_webhook: events keep their order and index", "[line_webhook]") {
  const auto r = parse_line_webhook(body_of({
      R"({"type":"follow"})",
      text_event(R"("first")"),
      "42",
      text_event(R"("second")"),
  }));
  REQUIRE(r.ok());
  REQUIRE(r.webhook.events.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(r.webhook.events[i].index == i);
  CHECK(r.webhook.events[0].outcome == line_event_outcome::ignored);
  CHECK(r.webhook.events[1].message.text == "first");
  CHECK(r.webhook.events[2].outcome == line_event_outcome::invalid);
  CHECK(r.webhook.events[3].message.text == "second");
  CHECK(r.webhook.count(line_event_outcome::text_message) == 2);
  CHECK(r.webhook.count(line_event_outcome::ignored) == 1);
  CHECK(r.webhook.count(line_event_outcome::invalid) == 1);
}

TEST_CASE("parse_line_webhook: bodies that are refused whole", "[line_webhook]") {
  auto refused = [](std::string_view body) {
    const line_webhook_result r = parse_line_webhook(body);
    REQUIRE_FALSE(r.ok());
    return *r.error;
  };
  SECTION("not a JSON object: invalid_json") {
    using namespace std::string_view_literals;
    for (std::string_view body :
         {""sv, " "sv, "null"sv, "[]"sv, "\"events\""sv, "{"sv, R"({"events":[]} x)"sv,
          R"({"events":[],})"sv, "{\"events\":[]}\0"sv, "{\"events\":\0[]}"sv,
          "{\"events\":[],\"x\":\"\xC3\"}"sv,       // truncated UTF-8 sequence
          "{\"events\":[],\"x\":\"\xED\xA0\x80\"}"sv,  // raw surrogate bytes
          "{\"events\":[],\"x\":\"\xFF\"}"sv}) {
      INFO(std::string(body));
      const auto e = refused(body);
      CHECK(e.code == errc::invalid_json);
      CHECK(e.field.empty());
      CHECK(e.message == "the body must be a JSON object");
    }
  }
  SECTION("events missing or not an array: validation_error on events") {
    for (std::string_view body : {R"({})", R"({"destination":"U1"})", R"({"events":null})",
                                  R"({"events":{}})", R"({"events":"[]"})", R"({"Events":[]})"}) {
      INFO(std::string(body));
      const auto e = refused(body);
      CHECK(e.code == errc::validation_error);
      CHECK(e.field == "events");
      CHECK(e.message == "events must be an array");
    }
  }
}

TEST_CASE("parse_line_webhook: an empty events list and deep nesting", "[line_webhook]") {
  SECTION("no events") {
    const auto r = parse_line_webhook(body_of({}));
    REQUIRE(r.ok());
    CHECK(r.webhook.events.empty());
  }
  SECTION("an event nested 100000 arrays deep costs no native stack") {
    const std::size_t depth = 100000;
    const std::string ev = std::string(depth, '[') + std::string(depth, ']');
    const auto r = parse_line_webhook(body_of({ev, text_event(R"("after")")}));
    REQUIRE(r.ok());
    REQUIRE(r.webhook.events.size() == 2);
    CHECK(r.webhook.events[0].outcome == line_event_outcome::invalid);
    CHECK(r.webhook.events[1].message.text == "after");
  }
}

TEST_CASE("parse_line_webhook: every message type is stored (PROTOCOL.md rich messages)",
          "[line_webhook]") {
  auto one = [](const std::string& message) {
    const std::string body = R"({"events":[{"type":"message","webhookEventId":"E1",)"
                             R"("source":{"type":"user","userId":"U1"},"message":)" +
                             message + "}]}";
    auto r = livechat::parse_line_webhook(body);
    REQUIRE(r.ok());
    REQUIRE(r.webhook.events.size() == 1);
    return r.webhook.events[0];
  };
  using livechat::message_kind;
  SECTION("image, video, audio: pending files named by kind, with LINE's id and duration") {
    auto e = one(R"({"type":"image","id":"325708","contentProvider":{"type":"line"}})");
    REQUIRE(e.outcome == line_event_outcome::text_message);
    CHECK(e.message.kind == message_kind::image);
    CHECK(e.message.text == "[image]");
    const auto& f = std::get<livechat::file_attachment>(e.message.attachment);
    CHECK(f.id == "line-325708");
    CHECK(f.status == livechat::attachment_status::pending);
    CHECK(f.name == "image");
    e = one(R"({"type":"video","id":"9","duration":60000})");
    CHECK(e.message.kind == message_kind::video);
    CHECK(std::get<livechat::file_attachment>(e.message.attachment).duration_ms ==
          std::optional<std::uint32_t>(60000));
    e = one(R"({"type":"audio","id":"10","duration":1200})");
    CHECK(e.message.kind == message_kind::audio);
    CHECK(e.message.text == "[audio]");
  }
  SECTION("file: its name is the text, its size kept") {
    auto e = one(R"({"type":"file","id":"11","fileName":"report.pdf","fileSize":2138})");
    CHECK(e.message.kind == message_kind::file);
    CHECK(e.message.text == "report.pdf");
    const auto& f = std::get<livechat::file_attachment>(e.message.attachment);
    CHECK(f.name == "report.pdf");
    CHECK(f.size == 2138);
    CHECK(one(R"({"type":"file","id":"12","fileName":"  "})").message.text == "file");
  }
  SECTION("sticker and location as metadata") {
    auto e = one(R"({"type":"sticker","id":"1","packageId":"446","stickerId":"1988"})");
    CHECK(e.message.kind == message_kind::sticker);
    CHECK(e.message.text == "[sticker]");
    CHECK(std::get<livechat::sticker_attachment>(e.message.attachment).sticker_id == "1988");
    e = one(R"({"type":"location","id":"2","title":"Tower","address":"Tokyo","latitude":35.65,"longitude":139.7})");
    CHECK(e.message.kind == message_kind::location);
    CHECK(e.message.text == "Tower");
    const auto& l = std::get<livechat::location_attachment>(e.message.attachment);
    CHECK(l.address == "Tokyo");
    CHECK(l.latitude == 35.65);
    CHECK(one(R"({"type":"location","latitude":1,"longitude":2})").message.text == "[location]");
  }
  SECTION("unusable: a file without LINE's id, a sticker or location without its fields") {
    for (const char* m : {R"({"type":"image"})", R"({"type":"image","id":"../1"})",
                          R"({"type":"sticker","packageId":"1"})",
                          R"({"type":"location","latitude":"x","longitude":2})"}) {
      INFO(m);
      CHECK(one(m).outcome == line_event_outcome::invalid);
    }
  }
}

}  // namespace livechat_unit_line_webhook
