#!/usr/bin/env python3
"""Can a claim be undone by another operator?

Operator A claims a conversation's session; operator B (same role) sends
`close_session` on it, then `claim_session`. PROTOCOL.md: a claimed
session is closed only by its holder or an admin, so B's close is
`forbidden` and B's claim is `session_already_claimed`.

Result: what B's close and B's claim got, and who holds the session at the
end (from the REST conversation list).
"""

import json

import probelib as pl

USER = "Uclaim"
ROOM = "conversation:" + USER


def answer(client, kinds):
    e = client.wait_for(lambda e: e.get("type") in kinds and
                        (e.get("type") == "error" or e.get("payload", {}).get("room") == ROOM))
    if e is None:
        return "no_answer"
    if e["type"] == "error":
        return e.get("payload", {}).get("code", "error")
    return e["type"]


def main():
    args = pl.parse_args(__doc__.splitlines()[0])
    with pl.Server(args.binary) as srv:
        status, _, _ = pl.post_webhook(srv.port, [pl.webhook_event(USER, "c1", "hello")])
        if status != 200:
            raise RuntimeError("seeding failed: %d" % status)
        a = pl.WsClient(srv.port, token="opA")
        b = pl.WsClient(srv.port, token="opB")
        for c in (a, b):
            c.send({"type": "join_room", "payload": {"room": ROOM}})
            c.wait_for(lambda e: e.get("type") == "conversation_update")
        a.send({"type": "claim_session", "payload": {"room": ROOM}})
        a_claim = answer(a, ("session_claimed", "error"))
        answer(b, ("session_claimed",))  # B sees A's claim broadcast to the room
        b.send({"type": "close_session", "payload": {"room": ROOM}})
        b_close = answer(b, ("session_closed", "error"))
        b.send({"type": "claim_session", "payload": {"room": ROOM}})
        b_claim = answer(b, ("session_claimed", "error"))
        _, _, body = pl.http(srv.port, "GET", "/api/v1/conversations",
                             headers={"Authorization": "Bearer opA"})
        holder = "?"
        for c in json.loads(body).get("conversations", []):
            if c.get("conversation_id") == USER:
                s = c.get("session") or {}
                by = s.get("claimed_by")
                holder = "%s:%s" % (s.get("status"), by.get("user_id") if isinstance(by, dict) else by)
        a.close()
        b.close()
    pl.result("close_session_claim", a_claim=a_claim, b_close=b_close, b_claim=b_claim,
              final_session=holder)


if __name__ == "__main__":
    pl.run("close_session_claim", main)
