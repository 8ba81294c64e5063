#!/usr/bin/env python3
"""REST posting as fast as one client can.

Against a SQLite store in a fresh temporary directory, one user sends N
(default 1,000) `POST /api/v1/conversations/{id}/messages` of 5,000 emoji
each, one connection per request, back to back (bounded to 60 s).

Result: statuses (201 stored, 429 refused by the per-user bucket, and
whether 429 carried Retry-After), elapsed time, how much the database grew,
and the server's peak RSS.
"""

import json
import os
import time
from collections import Counter

import probelib as pl


def db_bytes(path):
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


def main():
    args = pl.parse_args(__doc__.splitlines()[0],
                         lambda p: p.add_argument("--posts", type=int, default=1000))
    body = json.dumps({"text": "\U0001F600" * 5000})
    with pl.Server(args.binary, store="sqlite") as srv:
        db0 = db_bytes(srv.db)
        codes = Counter()
        retry_after = 0
        t0 = time.monotonic()
        for i in range(args.posts):
            if time.monotonic() - t0 > 60:
                break
            status, headers, _ = pl.http(srv.port, "POST", "/api/v1/conversations/Uflood/messages", body,
                                         {"Authorization": "Bearer op",
                                          "Content-Type": "application/json"})
            codes[status] += 1
            if status == 429 and "retry-after" in headers:
                retry_after += 1
        elapsed = time.monotonic() - t0
        pl.result("rest_flood",
                  posts=sum(codes.values()),
                  status=dict(codes),
                  retry_after_on_429=retry_after,
                  elapsed_s=elapsed,
                  db_growth_mib=(db_bytes(srv.db) - db0) / float(1 << 20),
                  peak_rss_mib=srv.peak_rss_mib())


if __name__ == "__main__":
    pl.run("rest_flood", main)
