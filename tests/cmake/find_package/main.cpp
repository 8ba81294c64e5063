// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// Uses the installed headers through the umbrella, and each component the
// build linked; exits non-zero on a wrong answer. argv[1]: a scratch
// directory (for the SQLite file).
#include <livechat/livechat.hpp>

#ifdef CONSUMER_USES_SQLITE
#include <livechat/store/sqlite_store.hpp>
#endif
#ifdef CONSUMER_USES_POSTGRESQL
#include <livechat/store/postgresql_store.hpp>
#endif
#ifdef CONSUMER_USES_REDIS
#include <asio/io_context.hpp>
#include <livechat/redis/broker.hpp>
#endif
#ifdef CONSUMER_USES_JWT
#include <livechat/auth/jwt_authenticator.hpp>
#include <livechat/detail/hmac_sha256.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  const livechat::system_time t{std::chrono::milliseconds{1764102265123}};
  const std::string ts = livechat::format_timestamp(t);
  if (ts != "2025-11-25T20:24:25.123Z") {
    std::fprintf(stderr, "format_timestamp: got %s\n", ts.c_str());
    return 1;
  }
  if (!livechat::is_valid_room("conversation:abc") || livechat::is_valid_room("lobby")) {
    std::fprintf(stderr, "is_valid_room: wrong answer\n");
    return 1;
  }
#ifdef CONSUMER_USES_SQLITE
  {
    if (argc < 2) {
      std::fprintf(stderr, "usage: livechat_consumer <scratch dir>\n");
      return 1;
    }
    livechat::sqlite_options options;
    options.path = std::string(argv[1]) + "/consumer.db";
    std::string why;
    auto store = livechat::sqlite_store::open(options, why);
    if (!store) {
      std::fprintf(stderr, "sqlite_store::open: %s\n", why.c_str());
      return 1;
    }
    livechat::append_request req;
    req.room = "conversation:abc";
    req.sender.id = "alice";
    req.text = "hello";
    req.now = t;
    auto appended = (*store)->append(req);
    auto flushed = (*store)->flush();
    auto page = (*store)->history("conversation:abc", std::nullopt, 10);
    if (!appended || !flushed || !page || page->messages.size() != 1 ||
        page->messages[0].text != "hello") {
      std::fprintf(stderr, "sqlite_store: append/history round trip failed\n");
      return 1;
    }
    std::printf("sqlite: ok\n");
  }
#else
  (void)argc;
  (void)argv;
#endif
#ifdef CONSUMER_USES_POSTGRESQL
  {
    // No server here: libpq is linked and answers with its reason.
    livechat::postgresql_options options;
    options.conninfo = "host=127.0.0.1 port=1 connect_timeout=2 sslmode=disable";
    std::string why;
    auto store = livechat::postgresql_store::open(options, why);
    if (store || why.find("connecting") == std::string::npos) {
      std::fprintf(stderr, "postgresql_store::open: expected a connection failure, got '%s'\n",
                   why.c_str());
      return 1;
    }
    std::printf("postgresql: ok\n");
  }
#endif
#ifdef CONSUMER_USES_REDIS
  {
    // No server here: hiredis is linked, the broker connects and stays down.
    std::string why;
    auto o = livechat::redis::parse_redis_url("redis://127.0.0.1:1", why);
    if (!o || o->port != 1) {
      std::fprintf(stderr, "parse_redis_url: wrong answer (%s)\n", why.c_str());
      return 1;
    }
    asio::io_context io;
    livechat::redis::broker broker(io, *o);
    broker.start();
    io.run_for(std::chrono::milliseconds(100));
    if (broker.up() || broker.publish("ch", "m")) {
      std::fprintf(stderr, "redis broker: up without a server\n");
      return 1;
    }
    broker.stop();
    std::printf("redis: ok\n");
  }
#endif
#ifdef CONSUMER_USES_JWT
  {
    // RFC 4231 test case 2.
    const auto digest = livechat::detail::hmac_sha256("Jefe", "what do ya want for nothing?");
    if (digest[0] != 0x5b || digest[1] != 0xdc || digest[31] != 0x43) {
      std::fprintf(stderr, "hmac_sha256: wrong digest\n");
      return 1;
    }
    livechat::jwt_authenticator auth({"s3cret", std::nullopt, std::nullopt});
    if (auth.authenticate("a.b.c", t)) {
      std::fprintf(stderr, "jwt_authenticator: accepted a bad token\n");
      return 1;
    }
    std::printf("jwt: ok\n");
  }
#endif
  std::printf("livechat %s: ok\n", LIVECHAT_VERSION_STRING);
  return 0;
}
