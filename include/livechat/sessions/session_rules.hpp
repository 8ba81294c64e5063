// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SESSIONS_SESSION_RULES_HPP
#define LIVECHAT_SESSIONS_SESSION_RULES_HPP

// The conversation session state machine of PROTOCOL.md, as pure
// functions over `session_state`: open / claimed / closed, `version` + 1
// on every change, admin takeover. No I/O; the hub stores and broadcasts.

#include <optional>

#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>

namespace livechat {

enum class session_effect {
  changed,     ///< state changed: store it and broadcast to room + inbox
  reply_only,  ///< nothing changed; answer the caller alone (own claim again)
  none,        ///< nothing changed and nothing to send (closing a closed session)
};

struct session_outcome {
  std::optional<errc> error;  ///< set: refuse with this error, state untouched
  session_effect effect = session_effect::none;
};

namespace detail {
inline void bump(session_state& s, system_time now) {
  ++s.version;
  s.updated_at = now;
}
}  // namespace detail

/// From open or closed: claimed by `actor`. Held by another: refused,
/// unless `actor` is an admin (takeover). Own claim again: reply only.
inline session_outcome claim_session(session_state& s, const identity& actor, system_time now) {
  if (s.status == session_status::claimed && s.claimed_by) {
    if (s.claimed_by->user_id == actor.user_id) return {std::nullopt, session_effect::reply_only};
    if (actor.role != user_role::admin) return {errc::session_already_claimed, session_effect::none};
  }
  s.status = session_status::claimed;
  s.claimed_by = user_ref{actor.user_id, actor.name};
  detail::bump(s, now);
  return {std::nullopt, session_effect::changed};
}

/// Only the holder or an admin, and only while claimed: back to open.
inline session_outcome release_session(session_state& s, const identity& actor, system_time now) {
  if (s.status != session_status::claimed) return {errc::forbidden, session_effect::none};
  const bool holder = s.claimed_by && s.claimed_by->user_id == actor.user_id;
  if (!holder && actor.role != user_role::admin) return {errc::forbidden, session_effect::none};
  s.status = session_status::open;
  s.claimed_by.reset();
  detail::bump(s, now);
  return {std::nullopt, session_effect::changed};
}

/// An open session: any operator in the room. A claimed one: only the
/// holder or an admin (else a colleague could undo a claim by closing the
/// session and claiming it again). `claimed_by` is kept to show who
/// handled it. Closing a closed session changes nothing, whoever asks.
inline session_outcome close_session(session_state& s, const identity& actor, system_time now) {
  if (s.status == session_status::closed) return {std::nullopt, session_effect::none};
  if (s.status == session_status::claimed && s.claimed_by &&
      s.claimed_by->user_id != actor.user_id && actor.role != user_role::admin)
    return {errc::forbidden, session_effect::none};
  s.status = session_status::closed;
  detail::bump(s, now);
  return {std::nullopt, session_effect::changed};
}

/// A new message from the end user re-opens a closed session.
inline session_outcome reopen_on_user_message(session_state& s, system_time now) {
  if (s.status != session_status::closed) return {std::nullopt, session_effect::none};
  s.status = session_status::open;
  s.claimed_by.reset();
  detail::bump(s, now);
  return {std::nullopt, session_effect::changed};
}

}  // namespace livechat

#endif
