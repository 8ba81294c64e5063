#!/usr/bin/env python3
"""Webhook limits: a 5,000-event request and events without an id.

An inbox watcher (`watch_inbox`, reading everything) is connected while one
`POST /api/v1/webhook` carries 5,000 text events from 5,000 users. Then an
event without `webhookEventId` is delivered twice.

Result: the status of the big request, the messages it stored, the
`conversation_activity` events the watcher got and how it was closed (1013:
it became a slow consumer); how many of the two id-less deliveries were
stored (PROTOCOL.md: none); the server's peak RSS.
"""

import json
import threading
import time

import probelib as pl


def stored(port):
    v = pl.metric(port, "livechat_messages_stored_total")
    return int(v) if v is not None else -1


def main():
    args = pl.parse_args(__doc__.splitlines()[0],
                         lambda p: p.add_argument("--events", type=int, default=5000))
    with pl.Server(args.binary) as srv:
        watcher = pl.WsClient(srv.port, token="watcher")
        watcher.send({"type": "watch_inbox"})
        watcher.wait_for(lambda e: e.get("type") == "inbox_update")
        activity = [0]
        done = threading.Event()

        def watch():
            idle_until = None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and watcher.close_code is None:
                if done.is_set() and idle_until is None:
                    idle_until = time.monotonic() + 1.0
                if idle_until is not None and time.monotonic() > idle_until:
                    break
                e = watcher.wait_for(lambda e: True, timeout=0.2)
                if e is not None and e.get("type") == "conversation_activity":
                    activity[0] += 1
                    if idle_until is not None:
                        idle_until = time.monotonic() + 1.0

        t = threading.Thread(target=watch)
        t.start()
        before = stored(srv.port)
        # Compact events, so that 5,000 fit in the 1 MiB body limit.
        events = [{"type": "message", "source": {"type": "user", "userId": "U%d" % i},
                   "webhookEventId": "b%d" % i, "message": {"type": "text", "id": "1", "text": "x"}}
                  for i in range(args.events)]
        body = json.dumps({"events": events}, separators=(",", ":"))
        t0 = time.monotonic()
        status, _, _ = pl.http(srv.port, "POST", "/api/v1/webhook", body, timeout=30)
        post_ms = pl.elapsed_ms(t0)
        bulk_stored = stored(srv.port) - before
        done.set()
        t.join(25)
        watcher.close()

        before = stored(srv.port)
        noid = [pl.webhook_event("Unoid", None, "no id", msg_id="m1")]
        s1, _, _ = pl.post_webhook(srv.port, noid)
        s2, _, _ = pl.post_webhook(srv.port, noid)
        noid_stored = stored(srv.port) - before
        pl.result("webhook_limits",
                  bulk_status=status,
                  bulk_ms=post_ms,
                  bulk_stored=bulk_stored,
                  watcher_activity=activity[0],
                  watcher_close=watcher.close_code or "open",
                  noid_status="%s,%s" % (s1, s2),
                  noid_stored_of_2=noid_stored,
                  peak_rss_mib=srv.peak_rss_mib())


if __name__ == "__main__":
    pl.run("webhook_limits", main)
