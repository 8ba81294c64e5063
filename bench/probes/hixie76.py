#!/usr/bin/env python3
"""Old WebSocket handshakes, and an unterminated hixie-76 frame.

Sends five upgrade requests to the WebSocket path and records each status:
hixie-76 (Sec-WebSocket-Key1/Key2 and 8 key bytes, no version), versions 7
and 8, a missing version, and version 13 (the control: 101). Then opens a
hixie-76 connection again and, if it got 101, sends 0x00 followed by
--mib MiB (default 64) with no 0xFF end marker, before any auth, bounded to
15 s, and reads the server's peak RSS.

Result: the status per handshake, the bytes the server took of the
unterminated frame, and the server's peak RSS before and after it.
"""

import base64
import os
import socket
import time

import probelib as pl

HIXIE = ("Upgrade: WebSocket\r\nConnection: Upgrade\r\nOrigin: http://probe\r\n"
         "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n")


def upgrade(version=None, hixie=False):
    h = "GET %s HTTP/1.1\r\nHost: probe\r\n" % pl.WS_PATH
    if hixie:
        return (h + HIXIE + "\r\n").encode() + b"^n:ds[4U"
    h += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n" % (
        base64.b64encode(os.urandom(16)).decode())
    if version is not None:
        h += "Sec-WebSocket-Version: %s\r\n" % version
    return (h + "\r\n").encode()


def status_of(port, raw):
    s = socket.create_connection((pl.HOST, port), timeout=5)
    try:
        s.sendall(raw)
        data = b""
        while b"\r\n" not in data and len(data) < 4096:
            d = s.recv(4096)
            if not d:
                break
            data += d
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()
    return data[9:12].decode() if data.startswith(b"HTTP/") else "none"


def main():
    args = pl.parse_args(__doc__.splitlines()[0],
                         lambda p: p.add_argument("--mib", type=int, default=64))
    with pl.Server(args.binary) as srv:
        statuses = {
            "hixie76": status_of(srv.port, upgrade(hixie=True)),
            "v7": status_of(srv.port, upgrade("7")),
            "v8": status_of(srv.port, upgrade("8")),
            "no_version": status_of(srv.port, upgrade(None)),
            "v13": status_of(srv.port, upgrade("13")),
        }
        before_kib = srv.status_kib("VmHWM")
        s = socket.create_connection((pl.HOST, srv.port), timeout=5)
        s.sendall(upgrade(hixie=True))
        head = s.recv(4096)
        sent = 0
        if head.startswith(b"HTTP/1.1 101"):
            chunk = b"a" * (1 << 20)
            s.settimeout(2)
            deadline = time.monotonic() + 15
            try:
                s.sendall(b"\x00")
                while sent < (args.mib << 20) and time.monotonic() < deadline:
                    s.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            time.sleep(0.5)
        peak_kib = srv.status_kib("VmHWM")
        s.close()
        pl.result("hixie76",
                  status=statuses,
                  flood_sent_mib=sent / float(1 << 20),
                  peak_rss_before_mib=before_kib / 1024.0,
                  peak_rss_after_mib=peak_kib / 1024.0)


if __name__ == "__main__":
    pl.run("hixie76", main)
