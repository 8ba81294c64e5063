#!/usr/bin/env python3
"""Small requests that build huge replies, read by nobody.

Seeds one conversation with 500 messages of 5,000 x U+0001 (each escaped to
6 bytes on the wire, so a full page is about 15 MB), then
  1. 20 WebSocket clients with a 4 KiB receive buffer authenticate and
     `join_room` with `since_seq: 0`, and never read;
  2. N REST requests `GET .../messages?limit=500` with a 4 KiB receive
     buffer, never read.
A control client then authenticates and times one ping/pong.

Result: the server's peak RSS (VmHWM) at start, after the WebSocket readers
and after the REST requests; the control ping time; the HTTP statuses the
REST requests got (read afterwards; 503 is the response budget refusing).
"""

import socket
import time
from collections import Counter

import probelib as pl

USER = "Uheavy"


def seed(port):
    text = "\x01" * 5000
    n = 0
    for _ in range(20):
        events = []
        for _ in range(25):
            n += 1
            events.append(pl.webhook_event(USER, "heavy%d" % n, text))
        status, _, body = pl.post_webhook(port, events)
        if status != 200:
            raise RuntimeError("seeding failed: %d %r" % (status, body[:200]))


def main():
    args = pl.parse_args(__doc__.splitlines()[0],
                         lambda p: (p.add_argument("--readers", type=int, default=20),
                                    p.add_argument("--rest", type=int, default=60)))
    with pl.Server(args.binary, ["--max-connections-per-ip", "0"]) as srv:
        seed(srv.port)
        start_kib = srv.status_kib("VmHWM")
        readers = []
        for i in range(args.readers):
            s, _ = pl.ws_connect(srv.port, rcvbuf=4096)
            s.sendall(pl.ws_json({"type": "auth", "payload": {"token": "reader%d" % i}}))
            s.sendall(pl.ws_json({"type": "join_room",
                                  "payload": {"room": "conversation:" + USER, "since_seq": 0}}))
            readers.append(s)
        time.sleep(2)
        ws_kib = srv.status_kib("VmHWM")
        rest = []
        for i in range(args.rest):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(5)
            s.connect((pl.HOST, srv.port))
            s.sendall(("GET /api/v1/conversations/%s/messages?limit=500 HTTP/1.1\r\nHost: probe\r\n"
                       "Authorization: Bearer r%d\r\nConnection: close\r\n\r\n" % (USER, i)).encode())
            rest.append(s)
        time.sleep(4)
        control = pl.WsClient(srv.port, token="control")
        t0 = time.monotonic()
        control.send({"type": "ping"})
        pong = control.wait_for(lambda e: e.get("type") == "pong", timeout=10)
        ping_ms = pl.elapsed_ms(t0)
        peak_kib = srv.status_kib("VmHWM")
        statuses = Counter()
        for s in rest:
            try:
                head = s.recv(64)
                statuses[head[9:12].decode() if head.startswith(b"HTTP/") else "none"] += 1
            except OSError as e:
                statuses[type(e).__name__] += 1
            s.close()
        for s in readers:
            s.close()
        control.close()
        pl.result("unread_replies",
                  rss_start_mib=start_kib / 1024.0,
                  peak_after_ws_mib=ws_kib / 1024.0,
                  peak_after_rest_mib=peak_kib / 1024.0,
                  control_ping_ms=ping_ms if pong else "no_pong",
                  rest_status=dict(statuses))


if __name__ == "__main__":
    pl.run("unread_replies", main)
