// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Fuzz target: the LINE webhook body parser
// (livechat/protocol/line_webhook.hpp), which reads whatever reaches
// POST /api/v1/webhook (after the signature check, or without one in dev).
//
// Beyond "no crash, no leak, no UB, no exception", it checks that every
// event is classified exactly once, in order, and that a text message event
// only carries what the hub can store and the codec can write: a valid
// conversation id, a text that is valid UTF-8 and not blank, a
// webhookEventId of 1-128 bytes (so a redelivery is always recognised),
// and that no body with more than 1000 events is accepted.

#include <livechat/protocol/line_webhook.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using livechat::line_event_outcome;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const livechat::line_webhook_result r = livechat::parse_line_webhook(body);
  if (!r.ok()) {
    const auto& e = *r.error;
    LIVECHAT_FUZZ_CHECK(e.code == livechat::errc::invalid_json ||
                        e.code == livechat::errc::validation_error);
    LIVECHAT_FUZZ_CHECK((e.code == livechat::errc::validation_error) == (e.field == "events"));
    LIVECHAT_FUZZ_CHECK(r.webhook.events.empty());
    return 0;
  }

  // Accepted only what an independent parse sees as an object whose
  // `events` is an array, with one classified event per element.
  std::string copy(body);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(copy.data(),
                                                                                   copy.size());
  LIVECHAT_FUZZ_CHECK(!doc.HasParseError() && doc.IsObject());
  const auto events = doc.FindMember("events");
  LIVECHAT_FUZZ_CHECK(events != doc.MemberEnd() && events->value.IsArray());
  LIVECHAT_FUZZ_CHECK(events->value.Size() == r.webhook.events.size());
  LIVECHAT_FUZZ_CHECK(r.webhook.events.size() <= livechat::max_line_webhook_events);

  std::size_t counted = 0;
  for (std::size_t i = 0; i < r.webhook.events.size(); ++i) {
    const auto& e = r.webhook.events[i];
    LIVECHAT_FUZZ_CHECK(e.index == i);
    switch (e.outcome) {
      case line_event_outcome::text_message: {
        const auto& m = e.message;
        LIVECHAT_FUZZ_CHECK(e.reason.empty());
        LIVECHAT_FUZZ_CHECK(livechat::is_valid_conversation_id(m.user_id));
        LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(m.text));
        LIVECHAT_FUZZ_CHECK(!livechat::detail::trim(m.text).empty());
        LIVECHAT_FUZZ_CHECK(!m.webhook_event_id.empty() && m.webhook_event_id.size() <= 128);
        LIVECHAT_FUZZ_CHECK(events->value[static_cast<rapidjson::SizeType>(i)].IsObject());
        break;
      }
      case line_event_outcome::ignored:
        LIVECHAT_FUZZ_CHECK(e.reason.empty());
        LIVECHAT_FUZZ_CHECK(e.message.user_id.empty() && e.message.text.empty());
        break;
      case line_event_outcome::invalid:
        LIVECHAT_FUZZ_CHECK(!e.reason.empty());
        LIVECHAT_FUZZ_CHECK(e.message.user_id.empty() && e.message.text.empty());
        break;
    }
    ++counted;
  }
  LIVECHAT_FUZZ_CHECK(r.webhook.count(line_event_outcome::text_message) +
                          r.webhook.count(line_event_outcome::ignored) +
                          r.webhook.count(line_event_outcome::invalid) ==
                      counted);
  return 0;
}
