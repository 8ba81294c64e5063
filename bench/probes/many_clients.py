#!/usr/bin/env python3
"""Many clients that never stop sending: SIGTERM, and 1013 for slow readers.

CLIENTS WebSocket clients (1,000) authenticate, join one conversation room
and then ping every ~10 ms until the end of the phase (the rate limit is
raised so that the pings are allowed).

sigterm: the clients read everything they get; SIGTERM is sent to the
server while they keep pinging. Figures: the exit code, the seconds from
SIGTERM to exit, and how many clients read a 1001 close frame.

slow readers: `--max-unsent-bytes 65536 --soft-unsent-bytes 0`; the clients
have a 4 KiB receive buffer and never read while they ping, and webhook
posts (50 messages of 4,000 bytes each, at most POSTS of them) fill the
room. Figures: the connections still open when the posts begin (a client
that joined early can already be closed by what the later joins sent it),
the seconds until `/metrics` `livechat_connections` reaches
0 (every slow reader closed), then what each client finds when it finally
reads: the 1013 close frame, a reset (ECONNRESET before the close frame),
or something else (eof, timeout, another code); and how many pings failed
with EPIPE/ECONNRESET first (the server reset a connection that still had
unread client data: a browser reports 1006 then, whatever it could read).
"""

import re
import resource
import signal
import socket
import time
from collections import Counter

import probelib as pl

USER = "Umanyclients00000000000000000001"
ROOM = "conversation:" + USER
PING_EVERY_S = 0.01
FLOOD_BEFORE_TERM_S = 1.0
TERM_WAIT_S = 15.0
FILL_DEADLINE_S = 30.0
READ_DEADLINE_S = 20.0
CONNECT_DEADLINE_S = 30.0
READ_CAP_BYTES = 8 << 20     # per client, in the final read


class Client:
    """A non-blocking WebSocket client that parses only what it must."""

    def __init__(self, port, i, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect((pl.HOST, port))
        self.sock.sendall(
            ("GET %s HTTP/1.1\r\nHost: probe\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
             % pl.WS_PATH).encode()
            + pl.ws_json({"type": "auth", "payload": {"token": "many%d" % i}})
            + pl.ws_json({"type": "join_room", "payload": {"room": ROOM}}))
        self.sock.setblocking(False)
        self.head = b""       # the HTTP response head, until complete
        self.in_frames = False
        self.buf = b""
        self.read_bytes = 0
        self.close_code = None
        self.end = None       # None, or how reading ended: eof / reset / error name
        self.send_err = None

    def ping(self, frame):
        if self.send_err is not None or self.end is not None:
            return
        try:
            self.sock.send(frame)
        except BlockingIOError:
            pass              # send buffer full: the client is still "sending"
        except OSError as e:
            self.send_err = type(e).__name__

    def _feed(self, d):
        self.read_bytes += len(d)
        if not self.in_frames:
            self.head += d
            if b"\r\n\r\n" not in self.head:
                if len(self.head) > 65536:
                    self.end = "bad_handshake"
                return
            head, _, d = self.head.partition(b"\r\n\r\n")
            self.head = b""
            self.in_frames = True
            if b" 101 " not in head.split(b"\r\n")[0]:
                self.end = "refused"
                return
        frames, self.buf = pl.parse_frames(self.buf + d)
        for op, payload in frames:
            if op == 8 and self.close_code is None:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005

    def drain(self, max_bytes=READ_CAP_BYTES):
        """Reads what is there without blocking; returns False once reading has ended."""
        while self.end is None and self.read_bytes < max_bytes:
            try:
                d = self.sock.recv(1 << 16)
            except BlockingIOError:
                return True
            except ConnectionResetError:
                self.end = "reset"
                return False
            except OSError as e:
                self.end = type(e).__name__
                return False
            if not d:
                self.end = "eof"
                return False
            self._feed(d)
            if self.close_code is not None:
                return False
        if self.end is None and self.close_code is None:
            self.end = "read_cap"
        return False

    def outcome(self):
        if self.close_code is not None:
            return str(self.close_code)
        return self.end or "timeout"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connect_all(port, n, rcvbuf=None):
    clients, failed = [], Counter()
    deadline = time.monotonic() + CONNECT_DEADLINE_S
    for i in range(n):
        if time.monotonic() > deadline:
            failed["deadline"] += n - i
            break
        try:
            clients.append(Client(port, i, rcvbuf))
        except OSError as e:
            failed[type(e).__name__] += 1
            if sum(failed.values()) >= 20:
                failed["gave_up"] += n - i - 1
                break
    return clients, failed


def connections(port, timeout=5.0):
    """livechat_connections from /metrics, or None when the server did not answer in time."""
    try:
        _, _, body = pl.http(port, "GET", "/metrics", timeout=timeout)
    except OSError:
        return None
    m = re.search(rb"^livechat_connections (\d+)", body, re.M)
    return int(m.group(1)) if m else None


def wait_connections(port, clients, read, timeout=20.0):
    """Polls livechat_connections until it reaches len(clients) or stays the
    same for 1 s (early joiners may already be closed), or the deadline.
    Returns the last value read (-1: /metrics never answered)."""
    deadline = time.monotonic() + timeout
    last, same_since = None, time.monotonic()
    while time.monotonic() < deadline:
        if read:
            for c in clients:
                c.drain()
        v = connections(port)
        if v is not None:
            if v >= len(clients):
                return v
            if v != last:
                last, same_since = v, time.monotonic()
            elif time.monotonic() - same_since >= 1.0:
                return v
        time.sleep(0.1)
    return -1 if last is None else last


def read_all(clients, timeout):
    """Every client reads, round robin, until its close frame, EOF or reset (or the deadline)."""
    pending = [c for c in clients if c.close_code is None and c.end is None]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [c for c in pending if c.drain()]
        if pending:
            time.sleep(0.005)


def pump(clients, ping, read):
    for c in clients:
        c.ping(ping)
        if read:
            c.drain()


def paced(t_start, k):
    """Sleeps until the k-th 10 ms tick after t_start (never a busy loop)."""
    time.sleep(max(0.001, t_start + k * PING_EVERY_S - time.monotonic()))


def webhook_batch(first, n, size):
    return [pl.webhook_event(USER, "many%d" % i, "x" * size, msg_id=i) for i in range(first, first + n)]


BASE_FLAGS = ["--max-connections-per-ip", "0", "--max-connections-per-user", "0",
              "--rate-burst", "100000", "--rate-per-second", "100000"]


def run_sigterm(binary, n):
    srv = pl.Server(binary, BASE_FLAGS)
    clients = []
    try:
        clients, failed = connect_all(srv.port, n)
        connected = wait_connections(srv.port, clients, read=True)
        ping = pl.ws_frame(9, b"k")
        t = time.monotonic()
        k = 0
        while time.monotonic() - t < FLOOD_BEFORE_TERM_S:
            pump(clients, ping, read=True)
            k += 1
            paced(t, k)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        k = 0
        while srv.proc.poll() is None and time.monotonic() - t0 < TERM_WAIT_S:
            pump(clients, ping, read=True)
            k += 1
            paced(t0, k)
        code = srv.proc.poll()
        exit_s = time.monotonic() - t0 if code is not None else -1.0
        read_all(clients, 5.0)  # what is left in the receive buffers
        got = Counter(c.outcome() for c in clients)
    finally:
        for c in clients:
            c.close()
        srv.stop()
    return {"term_connected": connected, "term_connect_failed": dict(failed) or 0,
            "sigterm_exit": "none" if code is None else code, "sigterm_exit_s": exit_s,
            "term_c1001": "%d/%d" % (got.get("1001", 0), len(clients))}


def run_slow(binary, n, max_posts):
    srv = pl.Server(binary, BASE_FLAGS + ["--max-unsent-bytes", "65536", "--soft-unsent-bytes", "0"])
    clients = []
    try:
        clients, failed = connect_all(srv.port, n, rcvbuf=4096)
        connected = wait_connections(srv.port, clients, read=False)
        ping = pl.ws_frame(9, b"k")
        t0 = time.monotonic()
        posts, statuses, left, k = 0, Counter(), connected, 0
        while time.monotonic() - t0 < FILL_DEADLINE_S:
            pump(clients, ping, read=False)
            if posts < max_posts:
                status, _, _ = pl.post_webhook(srv.port, webhook_batch(posts * 50, 50, 4000), timeout=10)
                statuses[status] += 1
                posts += 1
            v = connections(srv.port)
            left = v if v is not None else -1
            if left == 0:
                break
            k += 1
            paced(t0, k)
        closed_s = time.monotonic() - t0 if left == 0 else -1.0
        # Now every client reads what reached it, up to the close frame.
        read_all(clients, READ_DEADLINE_S)
        got = Counter(c.outcome() for c in clients)
        send_reset = sum(1 for c in clients if c.send_err in ("BrokenPipeError", "ConnectionResetError"))
        peak = srv.peak_rss_mib()
    finally:
        for c in clients:
            c.close()
        srv.stop()
    other = {k: v for k, v in got.items() if k not in ("1013", "reset")}
    return {"slow_open_before_posts": connected, "slow_connect_failed": dict(failed) or 0,
            "posts": posts, "post_status": dict(statuses),
            "all_closed_s": closed_s, "left_open": left,
            "saw_1013": "%d/%d" % (got.get("1013", 0), len(clients)),
            "reset": got.get("reset", 0), "other": other or "none",
            "ping_failed_reset": send_reset, "peak_rss_mib": peak}


def main():
    def extra(p):
        p.add_argument("--clients", type=int, default=1000, help="WebSocket clients (1000)")
        p.add_argument("--posts", type=int, default=40,
                       help="at most this many webhook posts of 50 x 4,000 bytes (40)")
    args = pl.parse_args(__doc__.splitlines()[0], extra)
    n = max(1, args.clients)
    # The clients, the server (which inherits the limit) and some spare.
    need = n + 256
    pl.raise_client_nofile(need)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < need:
        pl.result("many_clients", clients=n, error="rlimit_nofile_%d_below_%d" % (soft, need))
        return
    fields = {"clients": n}
    fields.update(run_sigterm(args.binary, n))
    fields.update(run_slow(args.binary, n, args.posts))
    pl.result("many_clients", **fields)


if __name__ == "__main__":
    pl.run("many_clients", main)
