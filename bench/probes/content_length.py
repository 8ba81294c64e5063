#!/usr/bin/env python3
"""Malformed Content-Length forms.

Sends `POST /api/v1/webhook` with an empty event list (14 bytes) under each
Content-Length form and records the status: a plain `14` (the control:
200), two headers `14` and `14`, one header `14, 14`, `14 garbage`, `+14`,
`-1`, an empty value, `0x0e`, and a chunked body without Content-Length
(411).

Result: the status per form (PROTOCOL.md: 400 for every malformed form).
"""

import probelib as pl

BODY = b'{"events": []}'


def main():
    args = pl.parse_args(__doc__.splitlines()[0])
    forms = [
        ("plain", "Content-Length: 14\r\n", BODY),
        ("two_headers", "Content-Length: 14\r\nContent-Length: 14\r\n", BODY),
        ("list", "Content-Length: 14, 14\r\n", BODY),
        ("trailing_text", "Content-Length: 14 garbage\r\n", BODY),
        ("plus_sign", "Content-Length: +14\r\n", BODY),
        ("negative", "Content-Length: -1\r\n", b""),
        ("empty", "Content-Length:\r\n", b""),
        ("hex", "Content-Length: 0x0e\r\n", BODY),
        ("chunked", "Transfer-Encoding: chunked\r\n", b"e\r\n" + BODY + b"\r\n0\r\n\r\n"),
    ]
    statuses = {}
    with pl.Server(args.binary) as srv:
        for name, headers, body in forms:
            raw = ("POST /api/v1/webhook HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n"
                   "Content-Type: application/json\r\n" + headers + "\r\n").encode() + body
            try:
                status, _, _ = pl.http_raw(srv.port, raw, timeout=5)
            except OSError as e:
                status = type(e).__name__
            statuses[name] = status or "none"
        alive = srv.alive()
    pl.result("content_length", **statuses, server_alive=alive)


if __name__ == "__main__":
    pl.run("content_length", main)
