// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the `livechat-client` binary against the real server. Its
// command line and exit codes, `send` acknowledged and stored, messages
// written while the server is down, and the main promise of the reconnecting
// client: across a SIGKILL and restart of the server, a `tail` prints every
// acknowledged message exactly once, in seq order, with no gap.
//
// No websocketpp here (the processes speak it): this file stays cheap to
// compile. The in-process sessions are in client_reconnect.test.cpp.
#include "client_process.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_client {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

/// A fresh database path under the temp dir, removed (with -wal/-shm) at the end.
struct temp_db {
    std::string path;
    temp_db() {
        static int counter = 0;
        path = (std::filesystem::temp_directory_path() /
                ("livechat-client-itest-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".db"))
                   .string();
        remove_all();
    }
    ~temp_db() { remove_all(); }
    temp_db(const temp_db&) = delete;
    temp_db& operator=(const temp_db&) = delete;
    void remove_all() const {
        for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    }
};

/// One `SEQ<TAB>TYPE:ID<TAB>TEXT` line of tail/chat output.
struct message_line {
    unsigned long seq = 0;
    std::string sender;
    std::string text;
};

std::optional<message_line> parse_message_line(const std::string& line) {
    const auto t1 = line.find('\t');
    if (t1 == std::string::npos || t1 == 0) return std::nullopt;
    const auto t2 = line.find('\t', t1 + 1);
    if (t2 == std::string::npos) return std::nullopt;
    for (std::size_t i = 0; i < t1; ++i)
        if (line[i] < '0' || line[i] > '9') return std::nullopt;
    message_line m;
    m.seq = std::stoul(line.substr(0, t1));
    m.sender = line.substr(t1 + 1, t2 - t1 - 1);
    m.text = line.substr(t2 + 1);
    return m;
}

bool is_message_line(const std::string& line) { return parse_message_line(line).has_value(); }
bool is_ack_line(const std::string& line) { return line.rfind("ack ", 0) == 0; }

std::vector<message_line> message_lines(const std::vector<std::string>& lines) {
    std::vector<message_line> out;
    for (const auto& l : lines)
        if (auto m = parse_message_line(l)) out.push_back(*m);
    return out;
}

/// `ack ID SEQ` lines: id → seq.
std::map<std::string, unsigned long> acks(const std::vector<std::string>& lines, std::size_t* count = nullptr) {
    std::map<std::string, unsigned long> out;
    std::size_t n = 0;
    for (const auto& l : lines) {
        if (!is_ack_line(l)) continue;
        ++n;
        const auto sp = l.find(' ', 4);
        if (sp == std::string::npos) continue;
        out[l.substr(4, sp - 4)] = std::stoul(l.substr(sp + 1));
    }
    if (count) *count = n;
    return out;
}

std::string joined(const std::vector<std::string>& lines, std::size_t max = 40) {
    std::string s;
    for (std::size_t i = 0; i < lines.size() && i < max; ++i) s += lines[i] + "\n";
    if (lines.size() > max) s += "... (" + std::to_string(lines.size() - max) + " more)\n";
    return s;
}

/// The conversation_update of a fresh join of `room` by `token`.
Event history(std::uint16_t port, const std::string& token, const std::string& room) {
    WsClient c(token);
    c.login(port, token);
    REQUIRE(c.send("join_room", "{\"room\":" + json_quote(room) + ",\"since_seq\":0}"));
    return c.wait_for("conversation_update");
}

/// A port that was free a moment ago (a server was listening on it).
std::uint16_t recently_free_port() {
    ServerProcess probe;
    const std::uint16_t port = probe.port();
    probe.stop();
    return port;
}

}  // namespace

TEST_CASE("livechat-client: --help, usage errors and exit codes", "[integration][client]") {
    ClientRun help = run_client({"--help"}, 5000ms);
    CHECK(help.exit_code == 0);
    INFO(joined(help.lines));
    CHECK(help.lines.size() > 10);
    CHECK(help.lines.at(0).rfind("usage: livechat-client", 0) == 0);

    for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
             {"--bogus", "tail", "room1"},
             {},
             {"tail"},
             {"send", "room1"},
             {"frobnicate", "room1"},
             {"tail", "room with spaces"},
             {"--timeout", "0", "send", "room1", "hi"},
             {"--timeout", "soon", "send", "room1", "hi"},
             {"--url", "http://127.0.0.1:1/", "tail", "room1"},
             {"send", "room1", "   "},
             {"tail", "room1", "extra"},
         }) {
        ClientRun r = run_client(bad, 5000ms);
        std::string cmd;
        for (const auto& a : bad) cmd += a + " ";
        INFO("livechat-client " << cmd << "\nstderr: " << r.err);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("livechat-client: ") != std::string::npos);
        CHECK(r.lines.empty());
    }
}

TEST_CASE("livechat-client send: exits 0 after the ack and the message is stored", "[integration][client]") {
    ServerProcess server;
    const std::string room = "conversation:Ucli-send";
    ClientRun r = run_client({"--url", ws_url(server.port()), "--token", "alice", "send", "Ucli-send",
                              "  hello from the cli\tand a tab  "},
                             15000ms);
    INFO("stdout:\n" << joined(r.lines) << "stderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    std::size_t n = 0;
    const auto a = acks(r.lines, &n);
    REQUIRE(n == 1);
    REQUIRE(a.size() == 1);
    const std::string id = a.begin()->first;
    CHECK(a.begin()->second == 1);
    CHECK(r.err.find("authenticated as alice") != std::string::npos);  // state on stderr without --quiet

    Event h = history(server.port(), "bob", room);
    INFO(h);
    CHECK(h.json("/payload/last_seq") == "1");
    CHECK(h.str("/payload/messages/0/text") == "hello from the cli\tand a tab");
    CHECK(h.str("/payload/messages/0/client_msg_id") == id);
    CHECK(h.str("/payload/messages/0/sender/id") == "alice");

    // --quiet: nothing on stderr on success.
    ClientRun q = run_client({"--quiet", "--url", ws_url(server.port()), "--token", "alice", "send", room, "again"},
                             15000ms);
    INFO("stderr: " << q.err);
    CHECK(q.exit_code == 0);
    CHECK(q.err.empty());
    std::size_t qn = 0;
    const auto qa = acks(q.lines, &qn);
    CHECK(qn == 1);
    CHECK((!qa.empty() && qa.begin()->second == 2));
}

TEST_CASE("livechat-client send: a rejected token exits 3, an unreachable server times out with 4",
          "[integration][client]") {
    ServerProcess server({"--auth", "jwt", "--jwt-secret", "client-test-secret"});
    const auto started = std::chrono::steady_clock::now();
    ClientRun r = run_client({"--url", ws_url(server.port()), "--token", "not.a.jwt", "send", "Ucli-auth", "hi"},
                             15000ms);
    const auto took = std::chrono::steady_clock::now() - started;
    INFO("stdout:\n" << joined(r.lines) << "stderr:\n" << r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("auth") != std::string::npos);
    CHECK(r.lines.empty());
    CHECK(took < 10s);  // refused once, not retried until the timeout

    const std::uint16_t port = recently_free_port();
    ClientRun t = run_client({"--quiet", "--timeout", "1.5", "--url", ws_url(port), "send", "Ucli-auth", "hi"},
                             15000ms);
    INFO("stderr: " << t.err);
    CHECK(t.exit_code == 4);
    CHECK(t.err.find("no acknowledgement") != std::string::npos);
}

TEST_CASE("livechat-client: messages written while the server is down are sent when it comes up",
          "[integration][client]") {
    temp_db db;
    const std::string room = "conversation:Ucli-offline";
    const std::uint16_t port = recently_free_port();

    ClientProcess sender({"--url", ws_url(port), "--token", "alice", "--timeout", "20", "send", room, "sent offline"});
    ClientProcess chat({"--url", ws_url(port), "--token", "bob", "--timeout", "20", "chat", room});
    const std::vector<std::string> texts = {"first while down", "second while down", "third while down"};
    for (const auto& t : texts) REQUIRE(chat.write_line(t));
    chat.close_stdin();  // EOF: chat now waits for the acks

    // Both keep trying, and neither gives up while the server is away.
    CHECK(sender.wait_for_stderr("reconnecting in", 5000ms));
    CHECK(chat.wait_for_stderr("reconnecting in", 5000ms));
    std::this_thread::sleep_for(800ms);
    CHECK_FALSE(sender.wait_exit(0ms).has_value());
    CHECK_FALSE(chat.wait_exit(0ms).has_value());
    CHECK(chat.lines().empty());

    ServerProcess server({"--port", std::to_string(port), "--store", "sqlite:" + db.path});
    const auto s_code = sender.wait_exit(15000ms);
    const auto c_code = chat.wait_exit(15000ms);
    sender.wait_eof(2000ms);
    chat.wait_eof(2000ms);
    INFO("send stdout:\n" << joined(sender.lines()) << "send stderr:\n" << sender.stderr_text());
    INFO("chat stdout:\n" << joined(chat.lines()) << "chat stderr:\n" << chat.stderr_text());
    REQUIRE(s_code == std::optional<int>(0));
    REQUIRE(c_code == std::optional<int>(0));

    std::size_t chat_acks = 0;
    const auto ca = acks(chat.lines(), &chat_acks);
    CHECK(chat_acks == texts.size());
    CHECK(ca.size() == texts.size());

    Event h = history(server.port(), "carol", room);
    INFO(h);
    REQUIRE(h.json("/payload/last_seq") == "4");
    std::vector<std::string> stored;
    for (int i = 0; i < 4; ++i) stored.push_back(h.str("/payload/messages/" + std::to_string(i) + "/text"));
    CHECK(std::count(stored.begin(), stored.end(), "sent offline") == 1);
    // The chat's lines are stored once each, in the order they were written.
    std::vector<std::string> bobs;
    for (const auto& t : stored)
        if (t != "sent offline") bobs.push_back(t);
    CHECK(bobs == texts);
}

TEST_CASE("livechat-client: tail prints every acknowledged message exactly once across a server SIGKILL",
          "[integration][client][restart]") {
    // Two chat processes send 1000 messages in all while a third tails the
    // room; the server (SQLite) is SIGKILLed mid-stream and restarted on the
    // same file and port. Acks lost in the crash are answered on resend as
    // duplicates, the tail resumes with since_seq: nothing is lost, nothing
    // doubles.
    constexpr int kPerSender = 500;
    constexpr int kTotal = 2 * kPerSender;
    temp_db db;
    const std::string room = "conversation:Ucli-restart";
    // The server's per-connection rate limit is raised so that the stream is
    // long enough to crash in the middle of, yet fits the test's time budget.
    std::vector<std::string> args = {"--store", "sqlite:" + db.path, "--rate-burst", "1000", "--rate-per-second",
                                     "1000"};
    auto server = std::make_unique<ServerProcess>(args);
    const std::uint16_t port = server->port();
    const auto t0 = std::chrono::steady_clock::now();

    ClientProcess tail({"--url", ws_url(port), "--token", "tailer", "tail", room});
    REQUIRE(tail.wait_for_stderr("authenticated as tailer", 10000ms));

    const std::vector<std::string> client_args = {"--url", ws_url(port), "--timeout", "20", "--rate", "150",
                                                  "--burst", "60", "chat", room};
    auto with_token = [&](const std::string& token) {
        std::vector<std::string> a = {"--token", token};
        a.insert(a.end(), client_args.begin(), client_args.end());
        return a;
    };
    ClientProcess alice(with_token("alice"));
    ClientProcess bob(with_token("bob"));
    std::set<std::string> all_texts;
    for (int i = 1; i <= kPerSender; ++i) {
        char a[32], b[32];
        std::snprintf(a, sizeof a, "alice-%04d", i);
        std::snprintf(b, sizeof b, "bob-%04d", i);
        REQUIRE(alice.write_line(a));
        REQUIRE(bob.write_line(b));
        all_texts.insert(a);
        all_texts.insert(b);
    }
    alice.close_stdin();
    bob.close_stdin();

    // Crash once the stream is well under way.
    REQUIRE(tail.wait_for_lines(kTotal / 3, is_message_line, 15000ms));
    const std::size_t seen_at_kill = tail.line_count();
    REQUIRE(server->signal(SIGKILL));
    REQUIRE(server->wait_exit(5000ms).has_value());
    const auto killed_at = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(500ms);
    args.push_back("--port");
    args.push_back(std::to_string(port));
    server = std::make_unique<ServerProcess>(args);  // same file, same port

    const auto a_code = alice.wait_exit(25000ms);
    const auto b_code = bob.wait_exit(25000ms);
    alice.wait_eof(2000ms);
    bob.wait_eof(2000ms);
    const bool tail_complete = tail.wait_for_lines(kTotal, is_message_line, 10000ms);
    std::this_thread::sleep_for(300ms);  // room for a duplicate to show up
    const auto done_at = std::chrono::steady_clock::now();
    // Resent messages the crashed server had stored but not acknowledged
    // come back as duplicates: how many depends on the moment of the kill.
    std::string duplicates = "?";
    const HttpResponse metrics = http_get(port, "/metrics");
    const std::string name = "\nlivechat_messages_duplicate_total ";
    if (const auto at = metrics.body.find(name); at != std::string::npos)
        duplicates = metrics.body.substr(at + name.size(), metrics.body.find('\n', at + 1) - at - name.size());
    CHECK(tail.stop() == 0);  // SIGTERM: a clean exit
    tail.wait_eof(2000ms);

    const auto alice_lines = alice.lines();
    const auto bob_lines = bob.lines();
    const auto tail_lines = tail.lines();
    INFO("alice stderr:\n" << alice.stderr_text() << "bob stderr:\n" << bob.stderr_text()
                           << "tail stderr:\n" << tail.stderr_text());
    REQUIRE(a_code == std::optional<int>(0));
    REQUIRE(b_code == std::optional<int>(0));
    CHECK(tail_complete);
    // Each of them lived through the crash (the state changes are on stderr).
    CHECK(alice.stderr_text().find("reconnecting in") != std::string::npos);
    CHECK(bob.stderr_text().find("reconnecting in") != std::string::npos);
    CHECK(tail.stderr_text().find("reconnecting in") != std::string::npos);

    // The tail: seq 1..N in order, no gap, no duplicate, every text once.
    const auto tailed = message_lines(tail_lines);
    INFO("tail printed " << tailed.size() << " messages; first lines:\n" << joined(tail_lines, 10));
    REQUIRE(tailed.size() == static_cast<std::size_t>(kTotal));
    std::set<std::string> tailed_texts;
    for (std::size_t i = 0; i < tailed.size(); ++i) {
        INFO("tail line " << i);
        REQUIRE(tailed[i].seq == i + 1);
        CHECK(tailed_texts.insert(tailed[i].text).second);
    }
    CHECK(tailed_texts == all_texts);

    // Every acknowledgement names the seq the tail printed that text at, from
    // that sender; together the acks cover 1..N exactly once.
    std::set<unsigned long> acked_seqs;
    for (auto* lines : {&alice_lines, &bob_lines}) {
        const std::string who = lines == &alice_lines ? "alice" : "bob";
        std::size_t ack_lines = 0;
        const auto a = acks(*lines, &ack_lines);
        INFO(who);
        CHECK(ack_lines == static_cast<std::size_t>(kPerSender));  // one ack per message, even after the crash
        CHECK(a.size() == static_cast<std::size_t>(kPerSender));
        std::map<unsigned long, std::string> own_text;  // what this sender printed at each seq
        for (const auto& m : message_lines(*lines))
            if (m.sender == "operator:" + who) own_text[m.seq] = m.text;
        for (const auto& [id, seq] : a) {
            INFO("ack " << id << " " << seq);
            REQUIRE(seq >= 1);
            REQUIRE(seq <= static_cast<unsigned long>(kTotal));
            CHECK(acked_seqs.insert(seq).second);
            CHECK(tailed[seq - 1].sender == "operator:" + who);
            CHECK(own_text[seq] == tailed[seq - 1].text);
            CHECK(tailed[seq - 1].text.rfind(who + "-", 0) == 0);
        }
    }
    CHECK(acked_seqs.size() == static_cast<std::size_t>(kTotal));

    const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    WARN("kill-and-restart: " << kTotal << " messages, SIGKILL after the tail printed " << seen_at_kill
                              << "; all tailed " << ms(done_at - killed_at) << " ms after the kill, "
                              << ms(done_at - t0) << " ms in all; " << duplicates
                              << " resend(s) answered as duplicates after the restart");
}

}  // namespace livechat_itest_client
