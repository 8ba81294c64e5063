// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: two livechat-server processes on one PostgreSQL store
// (`--store postgresql://...`): one epoch, one seq per room, dedupe and
// claims across servers, a restart that keeps everything, a database
// outage (writes refused, then written again by itself). Without a broker
// the servers don't forward live events to each other; what is checked
// here is what lives in the store. Built where libpq is (the throwaway
// server of tests/postgres_fixture.hpp).
#if defined(LIVECHAT_TEST_POSTGRESQL)

#include "postgres_fixture.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <livechat/detail/base64.hpp>
#include <livechat/detail/hmac_sha256.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_postgresql {

using namespace livechat_itest;

namespace {

const std::string kSharedRoom = "conversation:Ushared";

Event join(WsClient& c, const std::string& extra = "") {
  REQUIRE(c.send("join_room", "{\"room\":\"" + kSharedRoom + "\"" + extra + "}"));
  return c.wait_for("conversation_update");
}

Event say_expecting(WsClient& c, const std::string& text, const std::string& id,
                    const std::string& type) {
  REQUIRE(c.send("send_message", "{\"room\":\"" + kSharedRoom + "\",\"text\":\"" + text +
                                     "\",\"client_msg_id\":\"" + id + "\"}"));
  return c.wait_for(type);
}

Event say(WsClient& c, const std::string& text, const std::string& id) {
  REQUIRE(c.send("send_message", "{\"room\":\"" + kSharedRoom + "\",\"text\":\"" + text +
                                     "\",\"client_msg_id\":\"" + id + "\"}"));
  return c.wait_for("message_sent");
}

}  // namespace

TEST_CASE("PostgreSQL store: two servers share seqs, dedupe, claims and history",
          "[integration][postgresql]") {
  livechat_test::postgres_server* pg = livechat_test::postgres_server::shared();
  INFO("no PostgreSQL for the tests: " << livechat_test::postgres_server::start_error());
  REQUIRE(pg != nullptr);
  const std::string schema = pg->create_schema();
  INFO(pg->last_error());
  REQUIRE_FALSE(schema.empty());
  const std::vector<std::string> args = {"--store", pg->uri(schema)};

  std::string epoch;
  {
    ServerProcess a(args);
    ServerProcess b(args);
    WsClient alice("alice");
    WsClient bob("bob");
    alice.login(a.port(), "alice");
    bob.login(b.port(), "bob");
    Event ja = join(alice);
    Event jb = join(bob);
    epoch = ja.str("/payload/epoch");
    CHECK(jb.str("/payload/epoch") == epoch);

    CHECK(say(alice, "from A", "a1").json("/payload/message/seq") == "1");
    CHECK(say(bob, "from B", "b1").json("/payload/message/seq") == "2");
    CHECK(say(alice, "from A again", "a2").json("/payload/message/seq") == "3");
    Event dup = say(alice, "from A", "a1");  // a resend: the store knows it
    CHECK(dup.json("/payload/duplicate") == "true");
    CHECK(dup.json("/payload/message/seq") == "1");

    // A newcomer on B reads what was written on A.
    WsClient carol("carol");
    carol.login(b.port(), "carol");
    Event all = join(carol, ",\"since_seq\":0,\"epoch\":" + json_quote(epoch));
    INFO(all);
    CHECK(all.json("/payload/last_seq") == "3");
    CHECK(all.str("/payload/messages/0/text") == "from A");
    CHECK(all.str("/payload/messages/1/text") == "from B");
    CHECK(all.str("/payload/messages/2/text") == "from A again");

    // A claim on A, then one on B: the second finds the session claimed.
    REQUIRE(alice.send("claim_session", "{\"room\":\"" + kSharedRoom + "\"}"));
    Event claimed = alice.wait_for("session_claimed");
    CHECK(claimed.str("/payload/session/claimed_by/user_id") == "alice");
    REQUIRE(bob.send("claim_session", "{\"room\":\"" + kSharedRoom + "\"}"));
    Event refused = bob.wait_for("error");
    CHECK(refused.str("/payload/code") == "session_already_claimed");
    CHECK(a.stop() == 0);  // a clean exit (and, in the sanitizer tree, no report)
    CHECK(b.stop() == 0);
  }
  // Both servers stopped; a new one finds everything.
  ServerProcess c(args, std::chrono::milliseconds(10000), true);  // its log is checked below
  WsClient dave("dave");
  dave.login(c.port(), "dave");
  Event resumed = join(dave, ",\"since_seq\":2,\"epoch\":" + json_quote(epoch));
  INFO(resumed);
  CHECK(resumed.str("/payload/epoch") == epoch);
  CHECK(resumed.json("/payload/recovered") == "true");
  CHECK(resumed.json("/payload/messages/0/seq") == "3");
  CHECK(resumed.str("/payload/session/claimed_by/user_id") == "alice");

  // The database goes away: a write is answered `internal`, nothing is
  // acknowledged; when it is back the server writes again by itself.
  struct restart {
    livechat_test::postgres_server& s;
    ~restart() {
      if (!s.running()) s.start();
    }
  } guard{*pg};
  REQUIRE(pg->stop_immediate());
  Event refused = say_expecting(dave, "during the outage", "d1", "error");
  CHECK(refused.str("/payload/code") == "internal");
  REQUIRE(pg->start());
  // The store retries at most once a second: a few attempts, bounded.
  bool stored = false;
  for (int attempt = 0; attempt < 10 && !stored; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    REQUIRE(dave.send("send_message", "{\"room\":\"" + kSharedRoom +
                                          "\",\"text\":\"after the outage\",\"client_msg_id\":\"d2\"}"));
    std::optional<Event> e = dave.next();
    REQUIRE(e.has_value());
    if (e->type() == "message_sent") {
      stored = true;
      CHECK(e->json("/payload/message/seq") == "4");  // the refused write took no seq
    } else {
      CHECK(e->type() == "error");
    }
  }
  CHECK(stored);
  {
    // The refusal was logged with the store's own reason, not only
    // "message store failure".
    const std::string log = c.output();
    const auto at = log.find("event=store_error");
    INFO(log);
    REQUIRE(at != std::string::npos);
    const auto line = log.substr(at, log.find('\n', at) - at);
    CHECK(line.find("reason=\"") != std::string::npos);
    CHECK(line.find("reason=\"\"") == std::string::npos);
  }
  WsClient erin("erin");
  erin.login(c.port(), "erin");
  Event after = join(erin, ",\"since_seq\":3,\"epoch\":" + json_quote(epoch));
  INFO(after);
  CHECK(after.json("/payload/last_seq") == "4");
  CHECK(after.str("/payload/messages/0/text") == "after the outage");
  CHECK(c.stop() == 0);
}

// The event loop waits for one round trip per turn however many messages
// the turn holds: the server queues each message and sends the turn's
// appends with the COMMIT in one pipeline. Five messages sent back to
// back: however the server's turns split them, every commit (counted in
// /metrics) cost exactly one round trip (one per message, plus the
// COMMIT's, before), and each acknowledgement and broadcast carries its
// seq, in order.
TEST_CASE("PostgreSQL store: each turn's messages and COMMIT cost one round trip",
          "[integration][postgresql]") {
  livechat_test::postgres_server* pg = livechat_test::postgres_server::shared();
  INFO("no PostgreSQL for the tests: " << livechat_test::postgres_server::start_error());
  REQUIRE(pg != nullptr);
  const std::string schema = pg->create_schema();
  INFO(pg->last_error());
  REQUIRE_FALSE(schema.empty());
  ServerProcess a({"--store", pg->uri(schema)});
  WsClient alice("alice");
  WsClient bob("bob");
  alice.login(a.port(), "alice");
  bob.login(a.port(), "bob");
  join(alice);
  join(bob);
  auto metric = [&](const std::string& name) -> long {
    const std::string body = http_get(a.port(), "/metrics").body;
    const std::size_t at = body.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stol(body.substr(at + name.size() + 2));
  };
  const long trips = metric("livechat_store_turn_round_trips_sum");
  const long turns = metric("livechat_store_turn_round_trips_count");
  REQUIRE(trips >= 0);
  for (int i = 1; i <= 5; ++i)
    REQUIRE(alice.send("send_message",
                       "{\"room\":\"" + kSharedRoom + "\",\"text\":\"m" + std::to_string(i) + "\"" +
                           (i % 2 == 0 ? ",\"client_msg_id\":\"k" + std::to_string(i) + "\"" : "") +
                           "}",
                       "r" + std::to_string(i)));
  for (int i = 1; i <= 5; ++i) {
    Event ack = alice.wait_for("message_sent");
    INFO(ack);
    CHECK(ack.str("/ref") == "r" + std::to_string(i));
    CHECK(ack.json("/payload/message/seq") == std::to_string(i));
    Event seen = bob.wait_for("new_message");
    INFO(seen);
    CHECK(seen.str("/payload/message/text") == "m" + std::to_string(i));
    CHECK(seen.json("/payload/message/seq") == std::to_string(i));
  }
  const long commits = metric("livechat_store_turn_round_trips_count") - turns;
  CHECK(commits >= 1);
  CHECK(commits <= 5);
  CHECK(metric("livechat_store_turn_round_trips_sum") - trips == commits);
  CHECK(a.stop() == 0);
}

// A LINE webhook POST of five events: the hub queues them all and the
// commit carries them (one round trip for the request, not one per
// event); each is stored once and broadcast once; the same POST again
// (LINE's redelivery) stores and sends nothing.
TEST_CASE("PostgreSQL store: a webhook delivery costs one round trip per commit",
          "[integration][postgresql][webhook]") {
  livechat_test::postgres_server* pg = livechat_test::postgres_server::shared();
  INFO("no PostgreSQL for the tests: " << livechat_test::postgres_server::start_error());
  REQUIRE(pg != nullptr);
  const std::string schema = pg->create_schema();
  INFO(pg->last_error());
  REQUIRE_FALSE(schema.empty());
  const std::string secret = "line-channel-secret-for-tests";
  const std::string user = "U0123456789abcdef0123456789abcdef";
  ServerProcess a({"--store", pg->uri(schema), "--line-channel-secret", secret});
  WsClient op("op");
  op.login(a.port(), "op");
  REQUIRE(op.send("join_room", "{\"room\":\"conversation:" + user + "\"}"));
  op.wait_for("conversation_update");
  auto metric = [&](const std::string& name) -> long {
    const std::string body = http_get(a.port(), "/metrics").body;
    const std::size_t at = body.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stol(body.substr(at + name.size() + 2));
  };
  std::string body = R"({"destination":"Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","events":[)";
  for (int i = 1; i <= 5; ++i)
    body += std::string(i > 1 ? "," : "") +
            R"({"type":"message","mode":"active","timestamp":1732566265123,"source":{"type":"user","userId":")" +
            user + R"("},"webhookEventId":"evt-pg-)" + std::to_string(i) +
            R"(","deliveryContext":{"isRedelivery":false},"replyToken":"r","message":{"id":"44457384408357273)" +
            std::to_string(i) + R"(","type":"text","text":"m)" + std::to_string(i) + R"("}})";
  body += "]}";
  const auto digest = livechat::detail::hmac_sha256(secret, body);
  const std::string headers =
      "X-Line-Signature: " + livechat::detail::base64_encode(digest.data(), digest.size()) + "\r\n";
  auto history_size = [&] {
    HttpResponse r = http_get(a.port(), "/api/v1/conversations/" + user + "/messages",
                              "Authorization: Bearer op\r\n");
    INFO(r);
    REQUIRE(r.status == 200);
    return Event::from_text(r.body).size("/messages");
  };

  const long trips = metric("livechat_store_turn_round_trips_sum");
  const long turns = metric("livechat_store_turn_round_trips_count");
  REQUIRE(trips >= 0);
  HttpResponse r = http_post(a.port(), "/api/v1/webhook", body, headers, "application/json");
  INFO(r);
  REQUIRE(r.status == 200);
  const long commits = metric("livechat_store_turn_round_trips_count") - turns;
  CHECK(commits >= 1);
  CHECK(commits <= 2);  // the delivery's, and a customer record's at most
  CHECK(metric("livechat_store_turn_round_trips_sum") - trips == commits);
  for (int i = 1; i <= 5; ++i) {
    Event seen = op.wait_for("new_message");
    INFO(seen);
    CHECK(seen.str("/payload/message/text") == "m" + std::to_string(i));
    CHECK(seen.json("/payload/message/seq") == std::to_string(i));
  }
  CHECK(history_size() == 5);

  HttpResponse again = http_post(a.port(), "/api/v1/webhook", body, headers, "application/json");
  INFO(again);
  REQUIRE(again.status == 200);
  CHECK(history_size() == 5);  // stored once
  for (const Event& e : op.sync()) CHECK(e.type() != "new_message");  // sent once
  CHECK(a.stop() == 0);
}

}  // namespace livechat_itest_postgresql

#endif
