#!/usr/bin/env python3
"""A server out of file descriptors.

Starts the server with RLIMIT_NOFILE 128 (what `prlimit --nofile=128`
does), opens 200 idle TCP connections to it, and for 5 s measures the
server's CPU time and the lines it writes to stderr ("Too many open
files"). Then closes them and checks the server answers /healthz again.

Result: CPU seconds used while idle-but-full, stderr lines, whether it
serves after the connections are released, peak RSS.
"""

import socket
import time

import probelib as pl


def main():
    args = pl.parse_args(__doc__.splitlines()[0],
                         lambda p: (p.add_argument("--connections", type=int, default=200),
                                    p.add_argument("--seconds", type=float, default=5.0)))
    with pl.Server(args.binary, ["--max-connections-per-ip", "0"], nofile=128) as srv:
        socks = []
        for _ in range(args.connections):
            try:
                socks.append(socket.create_connection((pl.HOST, srv.port), timeout=2))
            except OSError:
                break  # the listen backlog is full: enough pressure
        time.sleep(0.3)
        lines0 = srv.stderr_lines()
        cpu0 = srv.cpu_seconds()
        time.sleep(args.seconds)
        cpu = srv.cpu_seconds() - cpu0
        lines = srv.stderr_lines() - lines0
        for s in socks:
            s.close()
        serves, after_ms = False, None
        t0 = time.monotonic()
        for _ in range(50):  # at most ~10 s
            try:
                status, _, _ = pl.http(srv.port, "GET", "/healthz", timeout=1)
                if status == 200:
                    serves, after_ms = True, pl.elapsed_ms(t0)
                    break
            except OSError:
                pass
            time.sleep(0.2)
        pl.result("fd_exhaustion",
                  connections=len(socks),
                  cpu_s_in_window=cpu,
                  window_s=args.seconds,
                  stderr_lines=lines,
                  serves_after=serves,
                  serves_after_ms=after_ms if serves else "-",
                  peak_rss_mib=srv.peak_rss_mib())


if __name__ == "__main__":
    pl.run("fd_exhaustion", main)
