#!/usr/bin/env python3
"""Close codes under a client that keeps sending.

For each close the server starts, TRIES clients (in parallel) provoke it:
they send their frames back to back, then keep pinging every 10 ms for
1.5 s without reading (a busy client whose reader lags behind), then read.
A try is clean when the close frame with the expected code is read and no
send failed. Otherwise it records what it saw: CODE+reset (the close frame
arrived but a send then failed with EPIPE/ECONNRESET because the server
reset the connection with unread data; a browser fails the connection on
that error and reports 1006 with no reason), reset (the reset came before
the close frame could be read), eof (closed without a close frame) or
timeout. The last case sends SIGTERM to a server
whose clients keep sending (expected 1001) and times the exit.

Result: per code clean/tries, the other outcomes, and the exit time after
SIGTERM.
"""

import signal
import socket
import threading
import time
from collections import Counter

import probelib as pl

FLOOD_S = 1.5       # how long a client keeps pinging after its first frames
TRY_DEADLINE_S = 8.0


def cases(i):
    auth = pl.ws_json({"type": "auth", "payload": {"token": "u%d" % i}})
    return {
        # expected code, server flags, frames sent before the pings
        "1007": (1007, [], [pl.ws_frame(1, b"\xff\xfe bad")]),
        "1008": (1008, [], [auth] + [pl.ws_frame(1, b"{not json")] * 200),
        "1009": (1009, [], [pl.ws_frame(1, b"a" * 70 * 1024)] + [pl.ws_frame(1, b'{"type":"ping"}')] * 50),
        "4001": (4001, ["--auth-timeout-ms", "300"], []),
        "4003": (4003, [], [pl.ws_frame(1, b'{"type":"auth","payload":{"token":"\\u0001"}}')]),
    }


def one_try(port, first_frames, go=None, out=None, idx=0):
    """Sends first_frames back to back, then pings every 10 ms for FLOOD_S
    (or until a send fails) without reading, then reads the close frame."""
    res = None
    try:
        s, buf = pl.ws_connect(port, sndbuf=4 << 20)
    except Exception as e:
        out[idx] = "connect:" + type(e).__name__
        return
    send_err = None
    try:
        if go is not None:
            s.sendall(pl.ws_json({"type": "auth", "payload": {"token": "t%d" % idx}}))
            go.wait(10)
        for f in first_frames:
            try:
                s.sendall(f)
            except OSError as e:
                send_err = send_err or type(e).__name__
                break
            time.sleep(0.0005)
        ping = pl.ws_frame(9, b"keep-sending")
        end = time.monotonic() + FLOOD_S
        while send_err is None and time.monotonic() < end:
            try:
                s.sendall(ping)
            except OSError as e:
                send_err = type(e).__name__
            time.sleep(0.01)
        time.sleep(0.15)
        s.settimeout(5)
        deadline = time.monotonic() + 5
        while res is None and time.monotonic() < deadline:
            frames, buf = pl.parse_frames(buf)
            for op, payload in frames:
                if op == 8:
                    res = str(int.from_bytes(payload[:2], "big")) if len(payload) >= 2 else "1005"
                    break
            if res is not None:
                break
            try:
                d = s.recv(1 << 16)
            except ConnectionResetError:
                res = "reset"
                break
            except socket.timeout:
                res = "timeout"
                break
            if not d:
                res = "eof"
                break
            buf += d
    finally:
        s.close()
    res = res or "timeout"
    if send_err in ("BrokenPipeError", "ConnectionResetError") and res != "reset":
        # The close frame was read, but the server reset the connection
        # while the client was still sending: a browser fails the
        # connection on that error and reports 1006 instead of the code.
        res += "+reset"
    elif send_err is not None:
        res += "+" + send_err
    out[idx] = res


def run_case(binary, name, tries):
    expected, flags, _ = cases(0)[name]
    with pl.Server(binary, ["--max-connections-per-ip", "0"] + flags) as srv:
        out = [None] * tries
        ts = [threading.Thread(target=one_try, args=(srv.port, cases(i)[name][2], None, out, i))
              for i in range(tries)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(TRY_DEADLINE_S + 5)
    c = Counter(out)
    return c.get(str(expected), 0), {k: v for k, v in c.items() if k != str(expected)}


def run_term(binary, tries):
    srv = pl.Server(binary, ["--max-connections-per-ip", "0"])
    try:
        out = [None] * tries
        go = threading.Event()
        ts = [threading.Thread(target=one_try, args=(srv.port, [], go, out, i)) for i in range(tries)]
        for t in ts:
            t.start()
        time.sleep(0.5)  # everyone authenticated and waiting
        go.set()
        time.sleep(0.3)  # everyone flooding
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(15)
            exit_s = time.monotonic() - t0
        except Exception:
            exit_s = -1.0
        for t in ts:
            t.join(TRY_DEADLINE_S + 5)
    finally:
        srv.stop()
    c = Counter(out)
    return c.get("1001", 0), {k: v for k, v in c.items() if k != "1001"}, exit_s


def main():
    args = pl.parse_args(__doc__.splitlines()[0],
                         lambda p: p.add_argument("--tries", type=int, default=10))
    pl.raise_client_nofile()
    fields = {"tries": args.tries}
    wrong = {}
    for name in ("1007", "1008", "1009", "4001", "4003"):
        ok, other = run_case(args.binary, name, args.tries)
        fields["c" + name] = "%d/%d" % (ok, args.tries)
        for k, v in other.items():
            wrong["%s>%s" % (name, k)] = v
    ok, other, exit_s = run_term(args.binary, args.tries)
    fields["c1001_sigterm"] = "%d/%d" % (ok, args.tries)
    for k, v in other.items():
        wrong["1001>%s" % k] = v
    fields["sigterm_exit_s"] = exit_s
    fields["wrong"] = wrong or "none"
    pl.result("close_codes", **fields)


if __name__ == "__main__":
    pl.run("close_codes", main)
