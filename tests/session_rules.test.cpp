// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/sessions/session_rules.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_session_rules {

namespace {

using livechat::errc;
using livechat::identity;
using livechat::session_effect;
using livechat::session_outcome;
using livechat::session_state;
using livechat::session_status;
using livechat::system_time;
using livechat::user_ref;
using livechat::user_role;

system_time at(std::int64_t ms) { return system_time(std::chrono::milliseconds(ms)); }

const identity alice{"alice", "Alice", user_role::operator_};
const identity bob{"bob", "Bob", user_role::operator_};
const identity root{"root", "Root", user_role::admin};
const identity root2{"root2", "Root Two", user_role::admin};

const system_time t0 = at(1795638000000);
const system_time t1 = at(1795638001111);
const system_time t2 = at(1795638002222);

session_state make(session_status status, std::optional<user_ref> claimed_by,
                   std::uint64_t version = 5, system_time updated_at = t0) {
  session_state s;
  s.status = status;
  s.claimed_by = std::move(claimed_by);
  s.version = version;
  s.updated_at = updated_at;
  return s;
}

bool same(const session_state& a, const session_state& b) {
  return a.status == b.status && a.claimed_by == b.claimed_by && a.updated_at == b.updated_at &&
         a.version == b.version;
}

void check_changed(const session_outcome& o) {
  CHECK_FALSE(o.error.has_value());
  CHECK(o.effect == session_effect::changed);
}

void check_refused(const session_outcome& o, errc code) {
  REQUIRE(o.error.has_value());
  CHECK(*o.error == code);
  CHECK(o.effect == session_effect::none);
}

void check_state(const session_state& s, session_status status, const std::optional<user_ref>& by,
                 std::uint64_t version, system_time updated_at) {
  CHECK(s.status == status);
  CHECK(s.claimed_by == by);
  CHECK(s.version == version);
  CHECK(s.updated_at == updated_at);
}

const user_ref alice_ref{"alice", "Alice"};
const user_ref bob_ref{"bob", "Bob"};
const user_ref root_ref{"root", "Root"};

}  // namespace

TEST_CASE("session_rules: a new session is open, unclaimed, version 0", "[session_rules]") {
  session_state s;
  CHECK(s.status == session_status::open);
  CHECK_FALSE(s.claimed_by.has_value());
  CHECK(s.version == 0);
}

TEST_CASE("session_rules: claim_session", "[session_rules]") {
  SECTION("from open") {
    session_state s;
    check_changed(livechat::claim_session(s, alice, t1));
    check_state(s, session_status::claimed, alice_ref, 1, t1);
  }

  SECTION("from closed, unclaimed") {
    session_state s = make(session_status::closed, std::nullopt);
    check_changed(livechat::claim_session(s, alice, t1));
    check_state(s, session_status::claimed, alice_ref, 6, t1);
  }

  SECTION("from closed that another operator handled") {
    session_state s = make(session_status::closed, bob_ref);
    check_changed(livechat::claim_session(s, alice, t1));
    check_state(s, session_status::claimed, alice_ref, 6, t1);
  }

  SECTION("from closed that the same operator handled: a real change, not a re-claim") {
    session_state s = make(session_status::closed, alice_ref);
    check_changed(livechat::claim_session(s, alice, t1));
    check_state(s, session_status::claimed, alice_ref, 6, t1);
  }

  SECTION("own claim again: reply only, nothing changes") {
    session_state s = make(session_status::claimed, alice_ref);
    const session_state before = s;
    session_outcome o = livechat::claim_session(s, alice, t1);
    CHECK_FALSE(o.error.has_value());
    CHECK(o.effect == session_effect::reply_only);
    CHECK(same(s, before));
    CHECK(s.version == 5);
    CHECK(s.updated_at == t0);
  }

  SECTION("own claim again under a new display name: still reply only") {
    session_state s = make(session_status::claimed, alice_ref);
    const session_state before = s;
    identity renamed = alice;
    renamed.name = "Alice L.";
    CHECK(livechat::claim_session(s, renamed, t1).effect == session_effect::reply_only);
    CHECK(same(s, before));
  }

  SECTION("held by another operator: session_already_claimed, untouched") {
    session_state s = make(session_status::claimed, alice_ref);
    const session_state before = s;
    check_refused(livechat::claim_session(s, bob, t1), errc::session_already_claimed);
    CHECK(same(s, before));
  }

  SECTION("admin takeover") {
    session_state s = make(session_status::claimed, alice_ref);
    check_changed(livechat::claim_session(s, root, t1));
    check_state(s, session_status::claimed, root_ref, 6, t1);

    // The admin's own claim again is reply only.
    CHECK(livechat::claim_session(s, root, t2).effect == session_effect::reply_only);
    check_state(s, session_status::claimed, root_ref, 6, t1);

    // An operator cannot take it back; another admin can.
    check_refused(livechat::claim_session(s, alice, t2), errc::session_already_claimed);
    check_state(s, session_status::claimed, root_ref, 6, t1);
    check_changed(livechat::claim_session(s, root2, t2));
    check_state(s, session_status::claimed, user_ref{"root2", "Root Two"}, 7, t2);
  }

  SECTION("admin claims from open like anyone") {
    session_state s;
    check_changed(livechat::claim_session(s, root, t1));
    check_state(s, session_status::claimed, root_ref, 1, t1);
  }
}

TEST_CASE("session_rules: release_session", "[session_rules]") {
  SECTION("by the holder") {
    session_state s = make(session_status::claimed, alice_ref);
    check_changed(livechat::release_session(s, alice, t1));
    check_state(s, session_status::open, std::nullopt, 6, t1);
  }

  SECTION("by an admin who does not hold it") {
    session_state s = make(session_status::claimed, alice_ref);
    check_changed(livechat::release_session(s, root, t1));
    check_state(s, session_status::open, std::nullopt, 6, t1);
  }

  SECTION("by another operator: forbidden, untouched") {
    session_state s = make(session_status::claimed, alice_ref);
    const session_state before = s;
    check_refused(livechat::release_session(s, bob, t1), errc::forbidden);
    CHECK(same(s, before));
  }

  SECTION("when open: forbidden, for operators and admins") {
    session_state s = make(session_status::open, std::nullopt);
    const session_state before = s;
    check_refused(livechat::release_session(s, alice, t1), errc::forbidden);
    check_refused(livechat::release_session(s, root, t1), errc::forbidden);
    CHECK(same(s, before));
  }

  SECTION("when closed (claimed_by kept): forbidden, even for who handled it") {
    session_state s = make(session_status::closed, alice_ref);
    const session_state before = s;
    check_refused(livechat::release_session(s, alice, t1), errc::forbidden);
    check_refused(livechat::release_session(s, root, t1), errc::forbidden);
    check_refused(livechat::release_session(s, bob, t1), errc::forbidden);
    CHECK(same(s, before));
  }

  SECTION("released, it can be claimed by someone else") {
    session_state s = make(session_status::claimed, alice_ref);
    livechat::release_session(s, alice, t1);
    check_changed(livechat::claim_session(s, bob, t2));
    check_state(s, session_status::claimed, bob_ref, 7, t2);
  }
}

TEST_CASE("session_rules: close_session", "[session_rules]") {
  SECTION("from open") {
    session_state s = make(session_status::open, std::nullopt);
    check_changed(livechat::close_session(s, bob, t1));
    check_state(s, session_status::closed, std::nullopt, 6, t1);
  }

  SECTION("from claimed, by the holder: claimed_by is kept") {
    session_state s = make(session_status::claimed, alice_ref);
    check_changed(livechat::close_session(s, alice, t1));
    check_state(s, session_status::closed, alice_ref, 6, t1);
  }

  SECTION("from claimed, by an admin: claimed_by is kept") {
    session_state s = make(session_status::claimed, alice_ref);
    check_changed(livechat::close_session(s, root, t1));
    check_state(s, session_status::closed, alice_ref, 6, t1);
  }

  SECTION("from claimed, by another operator: forbidden, state untouched") {
    // Else closing and claiming again would undo a colleague's claim.
    session_state s = make(session_status::claimed, alice_ref);
    const session_state before = s;
    check_refused(livechat::close_session(s, bob, t1), errc::forbidden);
    CHECK(same(s, before));
  }

  SECTION("closing a closed session: no change, nothing to send, whoever asks") {
    for (const identity& who : {alice, bob, root}) {
      session_state s = make(session_status::closed, alice_ref);
      const session_state before = s;
      session_outcome o = livechat::close_session(s, who, t1);
      CHECK_FALSE(o.error.has_value());
      CHECK(o.effect == session_effect::none);
      CHECK(same(s, before));
    }
  }
}

TEST_CASE("session_rules: reopen_on_user_message", "[session_rules]") {
  SECTION("from closed: open, claimed_by cleared") {
    session_state s = make(session_status::closed, alice_ref);
    check_changed(livechat::reopen_on_user_message(s, t1));
    check_state(s, session_status::open, std::nullopt, 6, t1);
  }

  SECTION("from open: nothing") {
    session_state s = make(session_status::open, std::nullopt);
    const session_state before = s;
    session_outcome o = livechat::reopen_on_user_message(s, t1);
    CHECK_FALSE(o.error.has_value());
    CHECK(o.effect == session_effect::none);
    CHECK(same(s, before));
  }

  SECTION("from claimed: nothing, the claim stays") {
    session_state s = make(session_status::claimed, alice_ref);
    const session_state before = s;
    session_outcome o = livechat::reopen_on_user_message(s, t1);
    CHECK_FALSE(o.error.has_value());
    CHECK(o.effect == session_effect::none);
    CHECK(same(s, before));
  }
}

TEST_CASE("session_rules: version grows by exactly 1 per change", "[session_rules]") {
  session_state s;
  std::uint64_t expected = 0;
  std::int64_t ms = 1795638000000;
  auto step = [&](session_outcome o) {
    ++ms;
    if (o.effect == session_effect::changed) ++expected;
    CHECK(s.version == expected);
  };
  // A realistic life: claim, close, user writes, claim, takeover, release, close,
  // plus no-ops and refusals in between that must not count.
  step(livechat::claim_session(s, alice, at(ms)));
  step(livechat::claim_session(s, alice, at(ms)));          // reply only
  step(livechat::claim_session(s, bob, at(ms)));            // refused
  step(livechat::close_session(s, bob, at(ms)));            // refused: alice holds it
  step(livechat::close_session(s, alice, at(ms)));
  CHECK(s.claimed_by == alice_ref);
  step(livechat::close_session(s, bob, at(ms)));            // none
  step(livechat::release_session(s, alice, at(ms)));        // refused
  step(livechat::reopen_on_user_message(s, at(ms)));
  step(livechat::reopen_on_user_message(s, at(ms)));        // none
  step(livechat::claim_session(s, bob, at(ms)));
  step(livechat::claim_session(s, root, at(ms)));           // takeover
  step(livechat::release_session(s, bob, at(ms)));          // refused: bob no longer holds it
  step(livechat::release_session(s, root, at(ms)));
  step(livechat::close_session(s, bob, at(ms)));            // open: anyone in the room
  CHECK(expected == 7);
  CHECK(s.version == 7);
  CHECK(s.status == session_status::closed);
  CHECK_FALSE(s.claimed_by.has_value());
  // updated_at is the time of the last change (the close, at the last ms used).
  CHECK(s.updated_at == at(ms - 1));
}

}  // namespace livechat_unit_session_rules
