// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The codec against bare RapidJSON on the same bytes:
//  - decode_client_frame of a typical send_message frame vs a bare
//    rapidjson::Document::Parse (default flags, and the codec's flags);
//  - encode(new_message) vs a bare Writer<StringBuffer> writing the same JSON.
// bench/main.cpp prints the ratios after the table.

#include <chrono>
#include <cstring>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace {

constexpr std::string_view frame =
    R"({"type":"send_message","payload":{"room":"conversation:U4af4980629abcdef",)"
    R"("text":"Hello, I have a question about my order #12345, can you help?",)"
    R"("client_msg_id":"c-7f3a9b"},"ref":"r42"})";

// ------------------------------------------------------------------ decode

void BM_decode_send_message(benchmark::State& state) {
  const livechat::decoded_frame check = livechat::decode_client_frame(frame);
  if (!check.ok() || check.kind != livechat::client_event_type::send_message) {
    state.SkipWithError("the frame did not decode as a valid send_message");
    return;
  }
  for (auto _ : state) {
    livechat::decoded_frame d = livechat::decode_client_frame(frame);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(frame.size()));
}
BENCHMARK(BM_decode_send_message);

template <unsigned Flags>
void bare_parse(benchmark::State& state) {
  {
    rapidjson::Document d;
    d.Parse<Flags>(frame.data(), frame.size());
    if (d.HasParseError() || !d.IsObject()) {
      state.SkipWithError("bare RapidJSON did not parse the frame");
      return;
    }
  }
  for (auto _ : state) {
    rapidjson::Document d;
    d.Parse<Flags>(frame.data(), frame.size());
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(frame.size()));
}

void BM_bare_parse(benchmark::State& state) { bare_parse<rapidjson::kParseDefaultFlags>(state); }
BENCHMARK(BM_bare_parse);

void BM_bare_parse_codec_flags(benchmark::State& state) {
  bare_parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(state);
}
BENCHMARK(BM_bare_parse_codec_flags);

// ------------------------------------------------------------------ encode

livechat::message sample_message() {
  livechat::message m;
  m.id = "3f9a1c2e7b4d5a60-1042";
  m.room = "conversation:U4af4980629abcdef";
  m.seq = 42;
  m.sender = livechat::sender{livechat::sender_type::operator_, "op-alice", "Alice"};
  m.text = "Hello, I have a question about my order #12345, can you help?";
  m.created_at = livechat::system_time(std::chrono::milliseconds(1764102265123));
  m.client_msg_id = "c-7f3a9b";
  return m;
}

const livechat::system_time event_time = livechat::system_time(std::chrono::milliseconds(1764102265125));

void BM_encode_new_message(benchmark::State& state) {
  const livechat::server_events::new_message event{sample_message()};
  for (auto _ : state) {
    std::string out = livechat::encode(event, event_time);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_encode_new_message);

using bare_writer = rapidjson::Writer<rapidjson::StringBuffer>;

template <std::size_t N>
void key(bare_writer& w, const char (&k)[N]) {
  w.Key(k, static_cast<rapidjson::SizeType>(N - 1));
}
void str(bare_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

/// The same bytes as encode(new_message): timestamps are formatted once,
/// outside the loop, so this is RapidJSON's writing cost alone.
void write_bare(rapidjson::StringBuffer& sb, const livechat::message& m, std::string_view created_at,
                std::string_view timestamp) {
  bare_writer w(sb);
  w.StartObject();
  key(w, "type"); str(w, "new_message");
  key(w, "payload");
  w.StartObject();
  key(w, "message");
  w.StartObject();
  key(w, "id"); str(w, m.id);
  key(w, "room"); str(w, m.room);
  key(w, "seq"); w.Uint64(m.seq);
  key(w, "sender");
  w.StartObject();
  key(w, "type"); str(w, livechat::to_string(m.sender.type));
  key(w, "id"); str(w, m.sender.id);
  key(w, "name"); str(w, m.sender.name);
  w.EndObject();
  key(w, "text"); str(w, m.text);
  key(w, "created_at"); str(w, created_at);
  key(w, "client_msg_id"); str(w, m.client_msg_id);
  w.EndObject();
  w.EndObject();
  key(w, "timestamp"); str(w, timestamp);
  w.EndObject();
}

void BM_bare_write_new_message(benchmark::State& state) {
  const livechat::message m = sample_message();
  const std::string created_at = livechat::format_timestamp(m.created_at);
  const std::string timestamp = livechat::format_timestamp(event_time);
  {
    rapidjson::StringBuffer sb;
    write_bare(sb, m, created_at, timestamp);
    const std::string expected = livechat::encode(livechat::server_events::new_message{m}, event_time);
    if (std::string_view(sb.GetString(), sb.GetSize()) != expected) {
      state.SkipWithError("the bare writer's JSON differs from encode(new_message)");
      return;
    }
  }
  for (auto _ : state) {
    rapidjson::StringBuffer sb;
    write_bare(sb, m, created_at, timestamp);
    benchmark::DoNotOptimize(sb.GetString());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_bare_write_new_message);

/// One of the two timestamps encode() formats per event (for reading the
/// encode / bare gap).
void BM_format_timestamp(benchmark::State& state) {
  livechat::system_time t = event_time;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t);
    std::string s = livechat::format_timestamp(t);
    benchmark::DoNotOptimize(s.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_format_timestamp);

}  // namespace
