// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: JWT authentication (`--auth jwt --jwt-secret S`). Tokens are
// built here independently of the library: base64url(JSON) parts signed with
// HMAC-SHA256 from OpenSSL. Also: no token and no secret ever reaches the
// server's logs.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_jwt {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "testsecret";

std::string base64url(const std::string& in) {
    static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kAlphabet[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
    return out;  // no padding
}

std::string hmac_sha256(const std::string& key, const std::string& data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), mac, &len);
    return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string make_jwt(const std::string& claims_json, const std::string& secret = kSecret,
                     const std::string& header_json = R"({"alg":"HS256","typ":"JWT"})") {
    const std::string signing_input = base64url(header_json) + "." + base64url(claims_json);
    return signing_input + "." + base64url(hmac_sha256(secret, signing_input));
}

long long now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string exp_in(long long seconds) { return std::to_string(now_s() + seconds); }

/// A fresh connection that sends `auth` with `token`; returns the first reply.
Event auth_reply(WsClient& c, std::uint16_t port, const std::string& token) {
    REQUIRE(c.connect(port));
    REQUIRE(c.send("auth", "{\"token\":" + json_quote(token) + "}", "a1"));
    std::optional<Event> e = c.next();
    if (!e) FAIL("no reply to auth");
    return *e;
}

void check_accepted(std::uint16_t port, const std::string& token, const std::string& user,
                    const std::string& name, const std::string& role) {
    WsClient c("accepted");
    Event e = auth_reply(c, port, token);
    INFO("token " << token << " -> " << e);
    REQUIRE(e.type() == "auth_success");
    CHECK(e.str("/ref") == "a1");
    CHECK(e.str("/payload/user_id") == user);
    CHECK(e.str("/payload/name") == name);
    CHECK(e.str("/payload/role") == role);
    Event p = c.expect("presence_update");
    CHECK(p.str("/payload/online/0/name") == name);
}

void check_rejected(std::uint16_t port, const std::string& token) {
    WsClient c("rejected");
    Event e = auth_reply(c, port, token);
    INFO("token " << token << " -> " << e);
    CHECK(e.type() == "error");
    CHECK(e.str("/payload/code") == "auth_failed");
    CHECK(e.str("/ref") == "a1");
    CHECK(c.closed_with() == 4003);
}

}  // namespace

TEST_CASE("JWT auth accepts valid HS256 tokens", "[integration][jwt]") {
    ServerProcess server({"--auth", "jwt", "--jwt-secret", kSecret});
    const std::uint16_t port = server.port();

    SECTION("name and role come from the token") {
        check_accepted(port,
                       make_jwt(R"({"sub":"carol","name":"Carol Jones","role":"admin","exp":)" + exp_in(3600) + "}"),
                       "carol", "Carol Jones", "admin");
    }
    SECTION("operator role") {
        check_accepted(port, make_jwt(R"({"sub":"dan","name":"Dan","role":"operator","exp":)" + exp_in(3600) + "}"),
                       "dan", "Dan", "operator");
    }
    SECTION("name defaults to sub, role to operator") {
        check_accepted(port, make_jwt(R"({"sub":"erin","exp":)" + exp_in(3600) + "}"), "erin", "erin", "operator");
    }
    SECTION("exp within the 60 s leeway") {
        check_accepted(port, make_jwt(R"({"sub":"fay","exp":)" + exp_in(-20) + "}"), "fay", "fay", "operator");
    }
    SECTION("a past nbf is fine") {
        check_accepted(port, make_jwt(R"({"sub":"gus","nbf":)" + exp_in(-100) + R"(,"exp":)" + exp_in(3600) + "}"),
                       "gus", "gus", "operator");
    }
    SECTION("nbf within the 60 s leeway") {
        check_accepted(port, make_jwt(R"({"sub":"hal","nbf":)" + exp_in(20) + R"(,"exp":)" + exp_in(3600) + "}"),
                       "hal", "hal", "operator");
    }
}

TEST_CASE("JWT auth rejects bad tokens with auth_failed and 4003", "[integration][jwt]") {
    ServerProcess server({"--auth", "jwt", "--jwt-secret", kSecret});
    const std::uint16_t port = server.port();
    const std::string claims = R"({"sub":"carol","name":"Carol","role":"operator","exp":)" + exp_in(3600) + "}";

    SECTION("bad signature") { check_rejected(port, make_jwt(claims, "wrongsecret")); }
    SECTION("expired") {
        check_rejected(port, make_jwt(R"({"sub":"carol","exp":)" + exp_in(-3600) + "}"));
    }
    SECTION("missing exp") { check_rejected(port, make_jwt(R"({"sub":"carol"})")); }
    SECTION("nbf in the future") {
        check_rejected(port, make_jwt(R"({"sub":"carol","nbf":)" + exp_in(3600) + R"(,"exp":)" + exp_in(7200) + "}"));
    }
    SECTION("unknown role") {
        check_rejected(port, make_jwt(R"({"sub":"carol","role":"root","exp":)" + exp_in(3600) + "}"));
    }
    SECTION("alg none") {
        const std::string unsigned_token =
            base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(claims) + ".";
        check_rejected(port, unsigned_token);
    }
    SECTION("alg HS512 header") {
        check_rejected(port, make_jwt(claims, kSecret, R"({"alg":"HS512","typ":"JWT"})"));
    }
    SECTION("alg HS384 header") {
        check_rejected(port, make_jwt(claims, kSecret, R"({"alg":"HS384","typ":"JWT"})"));
    }
    SECTION("alg RS256 header (the secret as an HMAC key is the classic confusion)") {
        check_rejected(port, make_jwt(claims, kSecret, R"({"alg":"RS256","typ":"JWT"})"));
    }
    SECTION("no alg") { check_rejected(port, make_jwt(claims, kSecret, R"({"typ":"JWT"})")); }
    SECTION("expired beyond the 60 s leeway") {
        check_rejected(port, make_jwt(R"({"sub":"carol","exp":)" + exp_in(-90) + "}"));
    }
    SECTION("nbf beyond the 60 s leeway") {
        check_rejected(port, make_jwt(R"({"sub":"carol","nbf":)" + exp_in(90) + R"(,"exp":)" + exp_in(3600) + "}"));
    }
    SECTION("missing sub") { check_rejected(port, make_jwt(R"({"name":"Carol","exp":)" + exp_in(3600) + "}")); }
    SECTION("empty sub") { check_rejected(port, make_jwt(R"({"sub":"","exp":)" + exp_in(3600) + "}")); }
    SECTION("role neither operator nor admin") {
        for (const char* role : {"user", "Admin", "", "operator "})
            check_rejected(port, make_jwt(R"({"sub":"carol","role":")" + std::string(role) + R"(","exp":)" +
                                          exp_in(3600) + "}"));
        check_rejected(port, make_jwt(R"({"sub":"carol","role":["admin"],"exp":)" + exp_in(3600) + "}"));
    }
    SECTION("bad base64url in each part") {
        const std::string good = make_jwt(claims);
        const std::size_t d1 = good.find('.');
        const std::size_t d2 = good.rfind('.');
        // A character outside the base64url alphabet at the start of each part.
        for (std::size_t at : {std::size_t(0), d1 + 1, d2 + 1}) {
            std::string bad = good;
            bad[at] = '!';
            check_rejected(port, bad);
        }
        // Standard base64's '+' and '/' are not base64url.
        std::string plus = good;
        plus[d2 + 1] = '+';
        check_rejected(port, plus);
        // A length no base64 encoding has (the 43-character signature + 2 = 4n + 1).
        check_rejected(port, good + "AA");
        // Padding is not part of a JWT's base64url.
        check_rejected(port, good.substr(0, d2) + "." + good.substr(d2 + 1) + "=");
        // Two or four parts.
        check_rejected(port, good.substr(0, d2));
        check_rejected(port, good + ".x");
    }
    SECTION("a 16 KiB token, validly signed") {
        const std::string padding(16 * 1024, 'x');
        check_rejected(port, make_jwt(R"({"sub":"carol","name":")" + padding + R"(","exp":)" + exp_in(3600) + "}"));
    }
    SECTION("not a JWT (a dev-mode token)") { check_rejected(port, "alice"); }
    SECTION("tampered payload") {
        const std::string good = make_jwt(claims);
        const std::string other = base64url(R"({"sub":"mallory","role":"admin","exp":)" + exp_in(3600) + "}");
        const std::size_t d1 = good.find('.');
        const std::size_t d2 = good.rfind('.');
        check_rejected(port, good.substr(0, d1 + 1) + other + good.substr(d2));
    }
}

TEST_CASE("JWT issuer and audience are exact when configured", "[integration][jwt]") {
    ServerProcess server(
        {"--auth", "jwt", "--jwt-secret", kSecret, "--jwt-issuer", "https://issuer.test", "--jwt-audience", "livechat"});
    const std::uint16_t port = server.port();
    const std::string exp = exp_in(3600);

    SECTION("matching iss and aud") {
        check_accepted(port,
                       make_jwt(R"({"sub":"carol","iss":"https://issuer.test","aud":"livechat","exp":)" + exp + "}"),
                       "carol", "carol", "operator");
    }
    SECTION("missing iss") { check_rejected(port, make_jwt(R"({"sub":"carol","aud":"livechat","exp":)" + exp + "}")); }
    SECTION("wrong iss") {
        check_rejected(port,
                       make_jwt(R"({"sub":"carol","iss":"https://other.test","aud":"livechat","exp":)" + exp + "}"));
        check_rejected(port,
                       make_jwt(R"({"sub":"carol","iss":"https://issuer.test/","aud":"livechat","exp":)" + exp + "}"));
    }
    SECTION("missing aud") {
        check_rejected(port, make_jwt(R"({"sub":"carol","iss":"https://issuer.test","exp":)" + exp + "}"));
    }
    SECTION("aud as a list that contains it") {
        check_accepted(port,
                       make_jwt(R"({"sub":"carol","iss":"https://issuer.test","aud":["x","livechat"],"exp":)" + exp +
                                "}"),
                       "carol", "carol", "operator");
    }
    SECTION("wrong aud") {
        check_rejected(port,
                       make_jwt(R"({"sub":"carol","iss":"https://issuer.test","aud":"other","exp":)" + exp + "}"));
    }
}

TEST_CASE("no token and no secret ever appears in the server's output", "[integration][jwt][logs]") {
    const std::string secret = "s3cret-never-logged-7f9a2c";
    ServerProcess server({"--auth", "jwt", "--jwt-secret", secret, "--jwt-issuer", "https://issuer.test"}, 10000ms,
                         /*capture_stderr=*/true);
    const std::uint16_t port = server.port();
    const std::string exp = exp_in(3600);
    const std::string good =
        make_jwt(R"({"sub":"carol","iss":"https://issuer.test","exp":)" + exp + "}", secret);
    const std::vector<std::string> bad = {
        make_jwt(R"({"sub":"carol","iss":"https://issuer.test","exp":)" + exp + "}", "not-the-secret"),
        make_jwt(R"({"sub":"carol","iss":"https://issuer.test","exp":)" + exp_in(-3600) + "}", secret),
        make_jwt(R"({"sub":"carol","iss":"https://other.test","exp":)" + exp + "}", secret),
        make_jwt(R"({"sub":"carol","iss":"https://issuer.test","exp":)" + exp + "}", secret,
                 R"({"alg":"RS256","typ":"JWT"})"),
        "not.a.jwt-at-all-9c1d",
        "opaque-token-without-dots-4e2b",
    };
    std::vector<std::string> all = bad;
    all.push_back(good);

    {
        // The token-bearing flow: auth, a message (its outbound line is
        // logged), the REST fallback.
        WsClient c("carol");
        REQUIRE(c.connect(port));
        REQUIRE(c.send("auth", "{\"token\":" + json_quote(good) + "}"));
        c.expect("auth_success");
        c.expect("presence_update");
        REQUIRE(c.send("join_room", R"({"room":"conversation:Ulogs"})"));
        c.expect("conversation_update");
        REQUIRE(c.send("send_message", R"({"room":"conversation:Ulogs","text":"hello"})"));
        c.wait_for("message_sent");
    }
    for (const auto& token : bad) check_rejected(port, token);
    for (const auto& token : all) {
        http_get(port, "/api/v1/conversations", "Authorization: Bearer " + token + "\r\n");
        http_post(port, "/api/v1/conversations/Ulogs/messages", R"({"text":"via REST"})",
                  "Authorization: Bearer " + token + "\r\n");
        // Tokens where clients put them by mistake: query strings, headers
        // of the upgrade request, a path that does not exist.
        http_get(port, "/api/v1/conversations/Ulogs/messages?access_token=" + token);
        http_get(port, "/no-such-path?token=" + token);
        http_raw(port,
                 "GET " + std::string(kWsPath) + "?token=" + token + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + token + "\r\n\r\n",
                 300ms);
        http_raw(port,
                 "GET /elsewhere?token=" + token + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + token + "\r\n\r\n");
    }
    // A malformed request line carrying a token.
    http_raw(port, "GET /?token=" + good + " HTTP/9\r\n\r\n", 500ms);

    REQUIRE(server.stop() == 0);
    const std::string out = server.output_after_exit();
    INFO(out);
    // The capture works: the listening line (stdout) and the outbound
    // message line (stderr) are both there.
    REQUIRE(out.find("livechat-server listening on") != std::string::npos);
    REQUIRE(out.find("outbound") != std::string::npos);
    CHECK(out.find(secret) == std::string::npos);
    for (const auto& token : all) {
        INFO("token " << token);
        CHECK(out.find(token) == std::string::npos);
        // Nor any of its parts that carry claims or the signature.
        const std::size_t d1 = token.find('.');
        const std::size_t d2 = token.rfind('.');
        if (d1 != std::string::npos && d2 != d1) {
            const std::string claims_part = token.substr(d1 + 1, d2 - d1 - 1);
            const std::string signature_part = token.substr(d2 + 1);
            if (claims_part.size() >= 8) CHECK(out.find(claims_part) == std::string::npos);
            if (signature_part.size() >= 8) CHECK(out.find(signature_part) == std::string::npos);
        }
    }
    CHECK(out.find("Authorization") == std::string::npos);
    CHECK(out.find("Bearer") == std::string::npos);
}

}  // namespace livechat_itest_jwt
