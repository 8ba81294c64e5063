// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The example server's per-user token bucket for REST writes
// (examples/server/http/user_rate_limiter.hpp), driven by explicit time points:
// no server, no sleeps. It lives with the integration tests because it is
// the server's code, not the library's.
#include "../../examples/server/http/user_rate_limiter.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_user_rate_limiter {

using livechat_server::user_rate_limiter;
using namespace std::chrono_literals;

TEST_CASE("user_rate_limiter: a bucket per user, refused with the seconds to wait", "[rate_limiter]") {
    user_rate_limiter limiter(3, 2, 100);
    const user_rate_limiter::time_point t0{};
    for (int i = 0; i < 3; ++i) CHECK(limiter.acquire("alice", t0) == 0);
    CHECK(limiter.acquire("alice", t0) == 1);  // half a second to the next token: 1 s
    CHECK(limiter.acquire("alice", t0) == 1);  // a refusal takes nothing
    CHECK(limiter.acquire("bob", t0) == 0);    // another user, another bucket
    CHECK(limiter.acquire("alice", t0 + 490ms) == 1);
    CHECK(limiter.acquire("alice", t0 + 510ms) == 0);
    CHECK(limiter.acquire("alice", t0 + 510ms) == 1);
    // Never more than the burst, however long the pause.
    const auto later = t0 + 1h;
    for (int i = 0; i < 3; ++i) CHECK(limiter.acquire("alice", later) == 0);
    CHECK(limiter.acquire("alice", later) != 0);

    user_rate_limiter slow(1, 0.25, 10);  // one token every 4 s
    CHECK(slow.acquire("u", t0) == 0);
    CHECK(slow.acquire("u", t0) == 4);
    CHECK(slow.acquire("u", t0 + 1s) == 3);
}

TEST_CASE("user_rate_limiter: many user ids never grow the table beyond its bound", "[rate_limiter]") {
    user_rate_limiter limiter(40, 20, 1000);
    const user_rate_limiter::time_point t0{};
    std::size_t refused = 0, largest = 0;
    for (int i = 0; i < 50'000; ++i) {
        refused += limiter.acquire("user-" + std::to_string(i), t0) != 0;
        largest = std::max(largest, limiter.size());
    }
    CHECK(refused == 0);  // every new user starts with a full bucket
    CHECK(largest == 1000);
    CHECK(limiter.size() == 1000);

    // An active user keeps its bucket while strangers come and go: the
    // least recently used one is evicted, not the one in use.
    for (int i = 0; i < 40; ++i) limiter.acquire("active", t0);
    CHECK(limiter.acquire("active", t0) != 0);
    for (int i = 0; i < 998; ++i) limiter.acquire("stranger-" + std::to_string(i), t0);
    CHECK(limiter.acquire("active", t0) != 0);

    // Buckets that refilled to full are dropped as soon as anyone posts.
    CHECK(limiter.acquire("late", t0 + 3s) == 0);
    CHECK(limiter.size() == 1);
}

}  // namespace livechat_itest_user_rate_limiter
