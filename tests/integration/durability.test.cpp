// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the SQLite store across restarts of the real server. Every
// acknowledged message must survive SIGTERM and SIGKILL, seq must continue
// and the epoch must stay; a memory store restart must change the epoch.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_durability {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

const std::string kDurableRoom = "conversation:Udurable";

/// A fresh database path under the temp dir, removed (with -wal/-shm) at the end.
struct temp_db {
  std::string path;
  temp_db() {
    static int counter = 0;
    path = (std::filesystem::temp_directory_path() /
            ("livechat-itest-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".db"))
               .string();
    remove_all();
  }
  ~temp_db() { remove_all(); }
  void remove_all() const {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
};

/// Joins the room (optionally resuming) and returns the conversation_update.
Event join(WsClient& c, const std::string& extra = "") {
  REQUIRE(c.send("join_room", "{\"room\":\"" + kDurableRoom + "\"" + extra + "}"));
  return c.expect("conversation_update");
}

/// Sends n messages, each acknowledged before the next (paced under the rate limit).
void send_n(WsClient& c, int first, int last) {
  for (int i = first; i <= last; ++i) {
    REQUIRE(c.send("send_message", "{\"room\":\"" + kDurableRoom + "\",\"text\":\"m" +
                                       std::to_string(i) + "\",\"client_msg_id\":\"id" +
                                       std::to_string(i) + "\"}"));
    Event ack = c.expect("message_sent");
    INFO(ack);
    CHECK(ack.json("/payload/message/seq") == std::to_string(i));
    std::this_thread::sleep_for(55ms);
  }
}

}  // namespace

TEST_CASE("SQLite: acknowledged messages survive SIGTERM and SIGKILL restarts", "[integration][durability]") {
  temp_db db;
  const std::vector<std::string> args = {"--store", "sqlite:" + db.path};
  std::string epoch;
  {
    ServerProcess server(args);
    WsClient alice;
    alice.login(server.port(), "alice");
    Event first = join(alice);
    epoch = first.str("/payload/epoch");
    CHECK(first.json("/payload/last_seq") == "0");
    send_n(alice, 1, 10);
    CHECK(server.stop() == 0);  // SIGTERM
  }
  {
    ServerProcess server(args);
    WsClient alice;
    alice.login(server.port(), "alice");
    Event resumed = join(alice, ",\"since_seq\":4,\"epoch\":" + json_quote(epoch));
    INFO(resumed);
    CHECK(resumed.str("/payload/epoch") == epoch);
    CHECK(resumed.json("/payload/last_seq") == "10");
    CHECK(resumed.json("/payload/recovered") == "true");
    CHECK(resumed.json("/payload/messages/0/seq") == "5");
    CHECK(resumed.json("/payload/messages/5/seq") == "10");
    // A resend after the restart is still recognised as a duplicate.
    REQUIRE(alice.send("send_message", "{\"room\":\"" + kDurableRoom +
                                           "\",\"text\":\"m10\",\"client_msg_id\":\"id10\"}"));
    Event dup = alice.expect("message_sent");
    CHECK(dup.json("/payload/duplicate") == "true");
    CHECK(dup.json("/payload/message/seq") == "10");
    send_n(alice, 11, 20);
    REQUIRE(server.signal(SIGKILL));  // no chance to flush anything more
    server.wait_exit(5000ms);
  }
  {
    ServerProcess server(args);
    WsClient bob;
    bob.login(server.port(), "bob");
    Event all = join(bob, ",\"since_seq\":0,\"epoch\":" + json_quote(epoch));
    INFO(all);
    CHECK(all.str("/payload/epoch") == epoch);
    CHECK(all.json("/payload/last_seq") == "20");
    CHECK(all.json("/payload/messages/19/seq") == "20");
    CHECK(all.json("/payload/recovered") == "true");
    send_n(bob, 21, 21);  // seq continues
  }
}

TEST_CASE("memory store: a restart starts a new epoch and recovered is false", "[integration][durability]") {
  std::string epoch;
  {
    ServerProcess server({"--store", "memory"});
    WsClient alice;
    alice.login(server.port(), "alice");
    epoch = join(alice).str("/payload/epoch");
    send_n(alice, 1, 3);
  }
  ServerProcess server({"--store", "memory"});
  WsClient alice;
  alice.login(server.port(), "alice");
  Event u = join(alice, ",\"since_seq\":3,\"epoch\":" + json_quote(epoch));
  INFO(u);
  CHECK(u.str("/payload/epoch") != epoch);
  CHECK(u.json("/payload/recovered") == "false");
  CHECK(u.json("/payload/last_seq") == "0");
}

TEST_CASE("an unusable SQLite path is a clear startup error", "[integration][durability]") {
  RunResult r = run_server_binary({"--port", "0", "--store", "sqlite:/nonexistent-dir/x/livechat.db"});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("SQLite") != std::string::npos);
}

}  // namespace livechat_itest_durability
