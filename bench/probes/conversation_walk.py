#!/usr/bin/env python3
"""Walking a long conversation list over REST.

Against a SQLite store in a fresh temporary directory, creates --count
(default 10,000) conversations through the webhook (1,000 events per
request), then walks `GET /api/v1/conversations?limit=100`, following
`next_cursor` until it is null (bounded to count/100 + 5 pages and 120 s),
timing each page.

Result: conversations created, pages fetched, distinct conversations seen,
duplicates, whether every one was reached, and the per-page time (first,
median, max, last) in ms. A server without paging answers one page.
"""

import json
import time

import probelib as pl


def main():
    args = pl.parse_args(__doc__.splitlines()[0],
                         lambda p: (p.add_argument("--count", type=int, default=10000),
                                    p.add_argument("--limit", type=int, default=100)))
    with pl.Server(args.binary, store="sqlite") as srv:
        n = 0
        t0 = time.monotonic()
        while n < args.count:
            events = []
            for _ in range(min(1000, args.count - n)):
                n += 1
                events.append({"type": "message", "timestamp": 1,
                               "source": {"type": "user", "userId": "Uwalk%05d" % n},
                               "webhookEventId": "w%d" % n,
                               "message": {"id": str(n), "type": "text", "text": "hello"}})
            status, _, body = pl.http(srv.port, "POST", "/api/v1/webhook",
                                      json.dumps({"events": events}, separators=(",", ":")), timeout=60)
            if status != 200:
                raise RuntimeError("seeding failed: %d %r" % (status, body[:200]))
        seed_s = time.monotonic() - t0
        times, seen, dupes, cursor = [], set(), 0, None
        deadline = time.monotonic() + 120
        for _ in range(args.count // args.limit + 5):
            if time.monotonic() > deadline:
                break
            path = "/api/v1/conversations?limit=%d" % args.limit
            if cursor:
                path += "&cursor=" + cursor
            t = time.monotonic()
            status, _, body = pl.http(srv.port, "GET", path, headers={"Authorization": "Bearer op"})
            times.append(pl.elapsed_ms(t))
            if status != 200:
                break
            page = json.loads(body)
            for c in page.get("conversations", []):
                if c["conversation_id"] in seen:
                    dupes += 1
                seen.add(c["conversation_id"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        s = sorted(times)
        pl.result("conversation_walk",
                  created=n,
                  seed_s=seed_s,
                  pages=len(times),
                  seen=len(seen),
                  duplicates=dupes,
                  reached_all=len(seen) == n,
                  page_ms_first=times[0],
                  page_ms_median=s[len(s) // 2],
                  page_ms_max=s[-1],
                  page_ms_last=times[-1],
                  peak_rss_mib=srv.peak_rss_mib())


if __name__ == "__main__":
    pl.run("conversation_walk", main)
