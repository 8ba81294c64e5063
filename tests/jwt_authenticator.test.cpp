// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/auth/jwt_authenticator.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include <livechat/detail/base64.hpp>
#include <livechat/detail/hmac_sha256.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_jwt_authenticator {

namespace {

using livechat::errc;
using livechat::jwt_authenticator;
using livechat::jwt_options;

constexpr std::int64_t now_s = 1'700'000'000;
const livechat::system_time now{std::chrono::seconds(now_s)};
const std::string secret = "test-secret-of-reasonable-length!";
const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";

std::string b64(std::string_view s) { return livechat::detail::base64url_encode(s); }

// Signs whatever segments it is given, so tests can put malformed text in
// one segment and still get past the signature check to the part under test.
std::string sign_segments(const std::string& header_seg, const std::string& payload_seg,
                          const std::string& key = secret) {
  const std::string input = header_seg + "." + payload_seg;
  const auto mac = livechat::detail::hmac_sha256(key, input);
  return input + "." + livechat::detail::base64url_encode(mac.data(), mac.size());
}

std::string make_token(const std::string& header_json, const std::string& payload_json,
                       const std::string& key = secret) {
  return sign_segments(b64(header_json), b64(payload_json), key);
}

std::string make_token(const std::string& payload_json) { return make_token(hs256, payload_json); }

std::string exp_in(std::int64_t seconds) { return std::to_string(now_s + seconds); }

// A payload with a valid exp and whatever extra members the test needs.
std::string claims(const std::string& extra) {
  return R"({"sub":"alice","exp":)" + exp_in(3600) + (extra.empty() ? "" : "," + extra) + "}";
}

jwt_options opts() {
  jwt_options o;
  o.secret = secret;
  return o;
}

bool rejected(jwt_authenticator& auth, const std::string& token) {
  const auto r = auth.authenticate(token, now);
  return !r && r.error() == errc::auth_failed;
}

}  // namespace

TEST_CASE("jwt_authenticator accepts valid tokens", "[auth][jwt]") {
  jwt_authenticator auth(opts());

  SECTION("identity fields come from sub, name and role") {
    const auto r = auth.authenticate(make_token(claims(R"("name":"Alice A.","role":"operator")")), now);
    REQUIRE(r);
    CHECK(r->user_id == "alice");
    CHECK(r->name == "Alice A.");
    CHECK(r->role == livechat::user_role::operator_);
  }
  SECTION("name defaults to sub, role to operator") {
    const auto r = auth.authenticate(make_token(claims("")), now);
    REQUIRE(r);
    CHECK(r->user_id == "alice");
    CHECK(r->name == "alice");
    CHECK(r->role == livechat::user_role::operator_);
  }
  SECTION("an empty name falls back to sub") {
    const auto r = auth.authenticate(make_token(claims(R"("name":"")")), now);
    REQUIRE(r);
    CHECK(r->name == "alice");
  }
  SECTION("admin role") {
    const auto r = auth.authenticate(make_token(claims(R"("role":"admin")")), now);
    REQUIRE(r);
    CHECK(r->role == livechat::user_role::admin);
  }
  SECTION("header without typ, with another typ, and with extra members") {
    CHECK(auth.authenticate(make_token(R"({"alg":"HS256"})", claims("")), now));
    CHECK(auth.authenticate(make_token(R"({"typ":"at+jwt","alg":"HS256"})", claims("")), now));
    CHECK(auth.authenticate(make_token(R"({"alg":"HS256","kid":"k1"})", claims("")), now));
  }
  SECTION("unknown claims and iat are ignored") {
    CHECK(auth.authenticate(make_token(claims(R"("iat":1,"jti":"x","extra":{"a":[1,2]})")), now));
  }
  SECTION("UTF-8 names and escaped characters") {
    const auto r =
        auth.authenticate(make_token(claims(R"("name":"\u5c71\u7530 \"Yamada\"")")), now);
    REQUIRE(r);
    CHECK(r->name == "\xE5\xB1\xB1\xE7\x94\xB0 \"Yamada\"");
  }
  SECTION("sub of exactly 128 bytes") {
    const std::string sub(128, 's');
    CHECK(auth.authenticate(make_token(R"({"sub":")" + sub + R"(","exp":)" + exp_in(10) + "}"), now));
  }
  SECTION("a token made by an independent implementation") {
    jwt_options o;
    o.secret = "independent-secret";
    o.issuer = "https://idp.example";
    o.audience = "livechat";
    jwt_authenticator other(o);
    const std::string token =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiJvcC00MiIsIm5hbWUiOiJIYW5ha28gWWFtYWRhIiwicm9sZSI6ImFkbWluIiwiZXhwIjoxNzAwMDAzNjAw"
        "LCJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjpbImxpdmVjaGF0Iiwib3RoZXIiXX0."
        "vb89h0_9viVnt4xmXERoLaN1hpWifo-n035Q3wPYBis";
    const auto r = other.authenticate(token, now);
    REQUIRE(r);
    CHECK(r->user_id == "op-42");
    CHECK(r->name == "Hanako Yamada");
    CHECK(r->role == livechat::user_role::admin);
  }
  SECTION("deeply nested ignored claim does not exhaust the stack") {
    const std::string deep = std::string(2500, '[') + std::string(2500, ']');
    const std::string token = make_token(claims(R"("deep":)" + deep));
    REQUIRE(token.size() <= livechat::authenticator::max_token_length);
    CHECK(auth.authenticate(token, now));
  }
}

TEST_CASE("jwt_authenticator rejects bad algorithms", "[auth][jwt]") {
  jwt_authenticator auth(opts());

  SECTION("alg none, unsigned and signed") {
    CHECK(rejected(auth, b64(R"({"alg":"none"})") + "." + b64(claims("")) + "."));
    CHECK(rejected(auth, make_token(R"({"alg":"none"})", claims(""))));
  }
  SECTION("other algorithms, even with a correct HS256 MAC") {
    CHECK(rejected(auth, make_token(R"({"alg":"HS512"})", claims(""))));
    CHECK(rejected(auth, make_token(R"({"alg":"RS256"})", claims(""))));
    CHECK(rejected(auth, make_token(R"({"alg":"hs256"})", claims(""))));
    CHECK(rejected(auth, make_token(R"({"alg":"HS256 "})", claims(""))));
  }
  SECTION("missing or mistyped alg") {
    CHECK(rejected(auth, make_token(R"({"typ":"JWT"})", claims(""))));
    CHECK(rejected(auth, make_token(R"({})", claims(""))));
    CHECK(rejected(auth, make_token(R"({"alg":256})", claims(""))));
    CHECK(rejected(auth, make_token(R"({"alg":null})", claims(""))));
    CHECK(rejected(auth, make_token(R"({"alg":["HS256"]})", claims(""))));
  }
  SECTION("duplicate alg, whichever comes first") {
    CHECK(rejected(auth, make_token(R"({"alg":"HS256","alg":"none"})", claims(""))));
    CHECK(rejected(auth, make_token(R"({"alg":"none","alg":"HS256"})", claims(""))));
  }
  SECTION("typ must be a string when present") {
    CHECK(rejected(auth, make_token(R"({"alg":"HS256","typ":1})", claims(""))));
    CHECK(rejected(auth, make_token(R"({"alg":"HS256","typ":null})", claims(""))));
  }
  SECTION("crit extensions are not understood") {
    CHECK(rejected(auth, make_token(R"({"alg":"HS256","crit":["exp"],"exp":1})", claims(""))));
  }
}

TEST_CASE("jwt_authenticator checks the signature", "[auth][jwt]") {
  jwt_authenticator auth(opts());
  const std::string good = make_token(claims(""));
  REQUIRE(auth.authenticate(good, now));
  const std::string head = good.substr(0, good.rfind('.') + 1);

  SECTION("signed with another secret") {
    CHECK(rejected(auth, make_token(hs256, claims(""), "other-secret")));
    CHECK(rejected(auth, make_token(hs256, claims(""), secret + "x")));
  }
  SECTION("payload changed after signing") {
    const std::string forged = b64(hs256) + "." + b64(claims(R"("role":"admin")")) +
                               good.substr(good.rfind('.'));
    CHECK(rejected(auth, forged));
  }
  SECTION("one signature character changed") {
    std::string t = good;
    char& c = t[head.size() + 5];
    c = c == 'A' ? 'B' : 'A';
    CHECK(rejected(auth, t));
  }
  SECTION("signature of the wrong length") {
    const auto mac = livechat::detail::hmac_sha256(secret, head.substr(0, head.size() - 1));
    const std::string raw(reinterpret_cast<const char*>(mac.data()), mac.size());
    CHECK(rejected(auth, head));                                  // empty
    CHECK(rejected(auth, head + b64(raw.substr(0, 31))));         // truncated
    CHECK(rejected(auth, head + b64(raw + std::string(1, '\0'))));  // one byte too many
    CHECK(rejected(auth, head + b64(raw + raw)));                 // doubled
  }
  SECTION("non-canonical spelling of the right signature") {
    // 32 bytes = 43 symbols; the last carries 4 data bits and 2 zero bits.
    std::string t = good;
    char& last = t.back();
    const std::string alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    last = alphabet[alphabet.find(last) | 1];
    CHECK(rejected(auth, t));
  }
  SECTION("padded signature") { CHECK(rejected(auth, good + "=")); }
}

TEST_CASE("jwt_authenticator checks the token shape", "[auth][jwt]") {
  jwt_authenticator auth(opts());
  const std::string good = make_token(claims(""));

  SECTION("two, one or four segments") {
    CHECK(rejected(auth, good.substr(0, good.rfind('.'))));
    CHECK(rejected(auth, b64(hs256)));
    CHECK(rejected(auth, good + ".x"));
    CHECK(rejected(auth, good + "."));
    CHECK(rejected(auth, "."));
    CHECK(rejected(auth, ".."));
    CHECK(rejected(auth, "..."));
  }
  SECTION("bad base64 in the header, validly signed") {
    CHECK(rejected(auth, sign_segments(b64(hs256) + "!", b64(claims("")))));
    CHECK(rejected(auth, sign_segments(b64(hs256) + "=", b64(claims("")))));
    CHECK(rejected(auth, sign_segments(b64(hs256).substr(1), b64(claims("")))));
    CHECK(rejected(auth, sign_segments("", b64(claims("")))));
  }
  SECTION("bad base64 in the payload, validly signed") {
    CHECK(rejected(auth, sign_segments(b64(hs256), b64(claims("")) + "*")));
    CHECK(rejected(auth, sign_segments(b64(hs256), "+" + b64(claims("")))));
    CHECK(rejected(auth, sign_segments(b64(hs256), "")));
  }
  SECTION("bad base64 in the signature") {
    CHECK(rejected(auth, good.substr(0, good.size() - 1) + "+"));
    CHECK(rejected(auth, good.substr(0, good.size() - 1) + "/"));
    CHECK(rejected(auth, good + "A"));  // 44 symbols: an impossible length
    CHECK(rejected(auth, good.substr(0, good.size() - 2) + " A"));
  }
  SECTION("header or payload not JSON") {
    CHECK(rejected(auth, make_token(R"({"alg":"HS256")", claims(""))));
    CHECK(rejected(auth, make_token(hs256, "not json")));
    CHECK(rejected(auth, make_token(hs256, claims("") + "x")));
    CHECK(rejected(auth, make_token(hs256, claims("") + "{}")));
  }
  SECTION("header or payload JSON but not an object") {
    CHECK(rejected(auth, make_token(R"(["alg","HS256"])", claims(""))));
    CHECK(rejected(auth, make_token(R"("HS256")", claims(""))));
    CHECK(rejected(auth, make_token(hs256, "[" + claims("") + "]")));
    CHECK(rejected(auth, make_token(hs256, "null")));
    CHECK(rejected(auth, make_token(hs256, "42")));
  }
  SECTION("payload that is not UTF-8") {
    CHECK(rejected(auth, make_token(claims("\"name\":\"\xC3\x28\""))));
  }
  SECTION("16 KiB token hits the base-class limit") {
    const std::string big = make_token(claims(R"("pad":")" + std::string(12000, 'p') + "\""));
    REQUIRE(big.size() >= 16000);
    CHECK(rejected(auth, big));
    CHECK(rejected(auth, std::string(16384, 'a')));
  }
}

TEST_CASE("jwt_authenticator checks exp and nbf", "[auth][jwt]") {
  jwt_authenticator auth(opts());
  auto with_exp = [](const std::string& exp) {
    return make_token(R"({"sub":"alice","exp":)" + exp + "}");
  };

  SECTION("expired beyond the leeway is rejected") {
    CHECK(rejected(auth, with_exp(exp_in(-61))));
    CHECK(rejected(auth, with_exp(exp_in(-3600))));
    CHECK(rejected(auth, with_exp("0")));
    CHECK(rejected(auth, with_exp("-1")));
  }
  SECTION("expired within the leeway is accepted") {
    CHECK(auth.authenticate(with_exp(exp_in(-60)), now));
    CHECK(auth.authenticate(with_exp(exp_in(-1)), now));
    CHECK(auth.authenticate(with_exp(exp_in(0)), now));
  }
  SECTION("fractional exp") {
    CHECK(auth.authenticate(with_exp(exp_in(-60) + ".0"), now));
    CHECK(auth.authenticate(with_exp(exp_in(-60) + ".5"), now));  // now - 59.5 s
    CHECK(rejected(auth, with_exp(exp_in(-61) + ".999")));        // now - 60.001 s
    CHECK(auth.authenticate(with_exp("1.7e9"), now));
    CHECK(rejected(auth, with_exp("1.6999e9")));
  }
  SECTION("the leeway is configurable") {
    jwt_options o = opts();
    o.leeway = std::chrono::seconds(0);
    jwt_authenticator strict(o);
    CHECK(strict.authenticate(with_exp(exp_in(0)), now));
    CHECK(rejected(strict, with_exp(exp_in(-1))));
    CHECK(rejected(strict, make_token(claims(R"("nbf":)" + exp_in(1)))));
  }
  SECTION("missing or mistyped exp") {
    CHECK(rejected(auth, make_token(R"({"sub":"alice"})")));
    CHECK(rejected(auth, with_exp("\"" + exp_in(3600) + "\"")));
    CHECK(rejected(auth, with_exp("null")));
    CHECK(rejected(auth, with_exp("true")));
    CHECK(rejected(auth, with_exp("[" + exp_in(3600) + "]")));
    CHECK(rejected(auth, with_exp(exp_in(3600) + R"(,"exp":)" + exp_in(3600))));  // duplicate
  }
  SECTION("nbf in the future beyond the leeway is rejected") {
    CHECK(rejected(auth, make_token(claims(R"("nbf":)" + exp_in(61)))));
    CHECK(rejected(auth, make_token(claims(R"("nbf":)" + exp_in(60) + ".5"))));
  }
  SECTION("nbf within the leeway or in the past is accepted") {
    CHECK(auth.authenticate(make_token(claims(R"("nbf":)" + exp_in(60))), now));
    CHECK(auth.authenticate(make_token(claims(R"("nbf":)" + exp_in(1))), now));
    CHECK(auth.authenticate(make_token(claims(R"("nbf":)" + exp_in(-100))), now));
  }
  SECTION("mistyped nbf") {
    CHECK(rejected(auth, make_token(claims(R"("nbf":"0")"))));
    CHECK(rejected(auth, make_token(claims(R"("nbf":null)"))));
  }
}

TEST_CASE("jwt_authenticator checks sub, name and role", "[auth][jwt]") {
  jwt_authenticator auth(opts());
  const std::string exp = R"("exp":)" + exp_in(3600);

  SECTION("missing, empty or mistyped sub") {
    CHECK(rejected(auth, make_token("{" + exp + "}")));
    CHECK(rejected(auth, make_token(R"({"sub":"",)" + exp + "}")));
    CHECK(rejected(auth, make_token(R"({"sub":42,)" + exp + "}")));
    CHECK(rejected(auth, make_token(R"({"sub":null,)" + exp + "}")));
    CHECK(rejected(auth, make_token(R"({"sub":["alice"],)" + exp + "}")));
  }
  SECTION("sub longer than 128 bytes") {
    CHECK(rejected(auth, make_token(R"({"sub":")" + std::string(129, 's') + "\"," + exp + "}")));
  }
  SECTION("sub with control characters, as dev mode would refuse") {
    CHECK(rejected(auth, make_token(R"({"sub":"a\nb",)" + exp + "}")));
    CHECK(rejected(auth, make_token(R"({"sub":"a\u0000b",)" + exp + "}")));
    CHECK(rejected(auth, make_token(R"({"sub":"a\u009bb",)" + exp + "}")));
  }
  SECTION("duplicate sub") {
    CHECK(rejected(auth, make_token(R"({"sub":"alice","sub":"root",)" + exp + "}")));
  }
  SECTION("role other than operator or admin") {
    CHECK(rejected(auth, make_token(claims(R"("role":"root")"))));
    CHECK(rejected(auth, make_token(claims(R"("role":"Admin")"))));
    CHECK(rejected(auth, make_token(claims(R"("role":"")"))));
    CHECK(rejected(auth, make_token(claims(R"("role":1)"))));
    CHECK(rejected(auth, make_token(claims(R"("role":null)"))));
    CHECK(rejected(auth, make_token(claims(R"("role":["admin"])"))));
    CHECK(rejected(auth, make_token(claims(R"("role":"operator","role":"admin")"))));
  }
  SECTION("escaped lone surrogates, which RapidJSON decodes to non-UTF-8 bytes") {
    CHECK(rejected(auth, make_token("{\"sub\":\"a\\uDC00\"," + exp + "}")));
    CHECK(rejected(auth, make_token(claims("\"name\":\"a\\uDC00\""))));
  }
  SECTION("name with control characters") {
    CHECK(rejected(auth, make_token(claims(R"("name":"Alice\nSYSTEM: hi")"))));
    CHECK(rejected(auth, make_token(claims(R"("name":"\u001b[31mred")"))));
  }
  SECTION("mistyped name") {
    CHECK(rejected(auth, make_token(claims(R"("name":7)"))));
    CHECK(rejected(auth, make_token(claims(R"("name":null)"))));
    CHECK(rejected(auth, make_token(claims(R"("name":{"first":"A"})"))));
  }
}

TEST_CASE("jwt_authenticator checks issuer and audience", "[auth][jwt]") {
  SECTION("not configured: iss and aud are optional but type-checked") {
    jwt_authenticator auth(opts());
    CHECK(auth.authenticate(make_token(claims(R"("iss":"anyone","aud":"anything")")), now));
    CHECK(auth.authenticate(make_token(claims(R"("aud":["a","b"])")), now));
    CHECK(rejected(auth, make_token(claims(R"("iss":1)"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":1)"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":["a",1])"))));
  }
  SECTION("issuer configured") {
    jwt_options o = opts();
    o.issuer = "https://idp.example";
    jwt_authenticator auth(o);
    CHECK(auth.authenticate(make_token(claims(R"("iss":"https://idp.example")")), now));
    CHECK(rejected(auth, make_token(claims(""))));
    CHECK(rejected(auth, make_token(claims(R"("iss":"https://evil.example")"))));
    CHECK(rejected(auth, make_token(claims(R"("iss":"https://idp.example/")"))));
    CHECK(rejected(auth, make_token(claims(R"("iss":"HTTPS://IDP.EXAMPLE")"))));
    CHECK(rejected(auth, make_token(claims(R"("iss":["https://idp.example"])"))));
    CHECK(rejected(auth, make_token(claims(R"("iss":null)"))));
    CHECK(rejected(auth,
                   make_token(claims(R"("iss":"https://idp.example","iss":"https://evil.example")"))));
  }
  SECTION("audience configured") {
    jwt_options o = opts();
    o.audience = "livechat";
    jwt_authenticator auth(o);
    CHECK(auth.authenticate(make_token(claims(R"("aud":"livechat")")), now));
    CHECK(auth.authenticate(make_token(claims(R"("aud":["billing","livechat"])")), now));
    CHECK(auth.authenticate(make_token(claims(R"("aud":["livechat"])")), now));
    CHECK(rejected(auth, make_token(claims(""))));
    CHECK(rejected(auth, make_token(claims(R"("aud":"billing")"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":"livechat2")"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":["billing"])"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":[])"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":["livechat",7])"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":{"livechat":true})"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":null)"))));
  }
  SECTION("both configured") {
    jwt_options o = opts();
    o.issuer = "idp";
    o.audience = "livechat";
    jwt_authenticator auth(o);
    CHECK(auth.authenticate(make_token(claims(R"("iss":"idp","aud":"livechat")")), now));
    CHECK(rejected(auth, make_token(claims(R"("iss":"idp")"))));
    CHECK(rejected(auth, make_token(claims(R"("aud":"livechat")"))));
  }
}

TEST_CASE("jwt_authenticator configuration and stats", "[auth][jwt]") {
  SECTION("an empty secret is a configuration error") {
    CHECK_THROWS_AS(jwt_authenticator(jwt_options{}), std::invalid_argument);
  }
  SECTION("a negative leeway is a configuration error") {
    jwt_options o = opts();
    o.leeway = std::chrono::seconds(-1);
    CHECK_THROWS_AS(jwt_authenticator(o), std::invalid_argument);
  }
  SECTION("options are kept") {
    jwt_options o = opts();
    o.audience = "livechat";
    jwt_authenticator auth(o);
    CHECK(auth.options().secret == secret);
    CHECK(auth.options().audience == std::string("livechat"));
    CHECK_FALSE(auth.options().issuer);
    CHECK(auth.options().leeway == std::chrono::seconds(60));
  }
  SECTION("stats count every outcome, including the size limit") {
    jwt_authenticator auth(opts());
    livechat::authenticator& base = auth;
    CHECK(base.authenticate(make_token(claims("")), now));
    CHECK(base.authenticate(make_token(claims(R"("role":"admin")")), now));
    CHECK_FALSE(base.authenticate(make_token(claims(R"("role":"root")")), now));
    CHECK_FALSE(base.authenticate("", now));
    CHECK_FALSE(base.authenticate(std::string(16 * 1024, 'x'), now));
    CHECK_FALSE(base.authenticate("a.b.c", now));
    CHECK(auth.stats().accepted == 2);
    CHECK(auth.stats().rejected == 4);
  }
}

}  // namespace livechat_unit_jwt_authenticator
