"""Shared helpers for the attack probes (Python 3 standard library only).

Every probe starts its own livechat-server on 127.0.0.1 with --port 0, talks
to loopback only, bounds every loop in count and time, and stops only the
process it started (SIGTERM, then SIGKILL after a timeout).
"""

import argparse
import base64
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

HOST = "127.0.0.1"
WS_PATH = "/api/v1/ws/live-chat"


class Unsupported(Exception):
    """The binary refused a flag the probe needs (an older build)."""


def parse_args(description, extra=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("binary", help="path to the livechat-server binary")
    if extra:
        extra(p)
    return p.parse_args()


def result(probe, **fields):
    """Prints the probe's one result line: probe=NAME key=value ..."""
    parts = ["probe=" + probe]
    for k, v in fields.items():
        if isinstance(v, float):
            v = "%.2f" % v
        elif isinstance(v, dict):
            v = ",".join("%s:%s" % (a, b) for a, b in sorted(v.items(), key=lambda kv: str(kv[0])))
        v = str(v).replace(" ", "_")
        parts.append("%s=%s" % (k, v or "-"))
    print(" ".join(parts), flush=True)


def run(probe, main):
    """Runs main(); an Unsupported becomes an `unsupported` line, not a crash."""
    try:
        main()
    except Unsupported as e:
        result(probe, unsupported=str(e))


class Server:
    """A livechat-server started by this probe and only this one.

    store: "memory", or "sqlite" for a database in a fresh temporary
    directory that is removed on stop(). nofile: an RLIMIT_NOFILE for the
    server only (what `prlimit --nofile=N` does).
    """

    def __init__(self, binary, flags=(), store="memory", nofile=None, stderr_to_file=False,
                 start_timeout=10.0):
        self.tmpdir = tempfile.mkdtemp(prefix="livechat-probe-")
        self.db = None
        if store == "sqlite":
            self.db = os.path.join(self.tmpdir, "probe.db")
            store_spec = "sqlite:" + self.db
        else:
            store_spec = store
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")
        self._stderr = open(self.stderr_path, "wb")
        argv = [binary, "--host", HOST, "--port", "0", "--store", store_spec] + list(flags)

        def limit():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr,
                                     preexec_fn=limit)
        self.pid = self.proc.pid
        self.port = None
        buf = b""
        deadline = time.monotonic() + start_timeout
        while self.port is None and time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                m = re.search(rb"listening on http://[^:\s]+:(\d+)", buf)
                if m:
                    self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                break
        if self.port is None:
            err = self.stderr_text()
            self.stop()
            m = re.search(r"unknown option '([^']+)'", err)
            if m:
                raise Unsupported("no_" + m.group(1).lstrip("-"))
            raise RuntimeError("server did not start: " + err[-500:])

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_lines(self):
        with open(self.stderr_path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))

    def status_kib(self, key="VmHWM"):
        """VmHWM (peak RSS) or VmRSS of the server, in KiB."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return -1

    def peak_rss_mib(self):
        return self.status_kib("VmHWM") / 1024.0

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc.stdout.close()
        self._stderr.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- HTTP

def http_raw(port, raw, timeout=10.0, max_bytes=64 << 20):
    """Sends raw bytes, reads until EOF (bounded), returns (status, headers, body)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < max_bytes and time.monotonic() < deadline:
            try:
                d = s.recv(1 << 16)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            data += d
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    status = int(m.group(1)) if m else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return status, headers, body


def http(port, method, path, body=b"", headers=None, timeout=10.0):
    if isinstance(body, str):
        body = body.encode()
    h = {"Host": "probe", "Connection": "close", "Content-Length": str(len(body))}
    if body:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    raw = ("%s %s HTTP/1.1\r\n" % (method, path)
           + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode() + body
    return http_raw(port, raw, timeout)


def webhook_event(user, event_id, text, msg_id=None):
    ev = {"type": "message", "mode": "active", "timestamp": 1,
          "source": {"type": "user", "userId": user},
          "deliveryContext": {"isRedelivery": False},
          "message": {"id": str(msg_id or event_id), "type": "text", "text": text}}
    if event_id is not None:
        ev["webhookEventId"] = str(event_id)
    return ev


def post_webhook(port, events, timeout=30.0):
    body = json.dumps({"destination": "Uprobe", "events": events}).encode()
    return http(port, "POST", "/api/v1/webhook", body, timeout=timeout)


def metric(port, name):
    _, _, body = http(port, "GET", "/metrics")
    m = re.search(rb"^" + re.escape(name.encode()) + rb"(?:\{[^}]*\})? (\S+)", body, re.M)
    return float(m.group(1)) if m else None


# ---------------------------------------------------------------- WebSocket

def ws_frame(opcode, payload):
    """One masked client frame."""
    if isinstance(payload, str):
        payload = payload.encode()
    key = os.urandom(4)
    n = len(payload)
    h = bytes([0x80 | opcode])
    if n < 126:
        h += bytes([0x80 | n])
    elif n < 65536:
        h += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        h += bytes([0x80 | 127]) + struct.pack(">Q", n)
    # XOR via big integers: fast enough for 70 KiB frames.
    reps = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big") if n else b""
    return h + key + masked


def ws_json(obj):
    return ws_frame(1, json.dumps(obj))


def ws_connect(port, rcvbuf=None, sndbuf=None, timeout=10.0):
    """Opens a WebSocket (version 13); returns (socket, bytes already read past the handshake)."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.settimeout(timeout)
    s.connect((HOST, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: probe\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (WS_PATH, key)).encode())
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf and time.monotonic() < deadline and len(buf) < 65536:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        s.close()
        raise RuntimeError("handshake refused: %r" % head[:100])
    return s, rest


def parse_frames(buf):
    """Splits complete server frames off buf: returns ([(opcode, payload)], rest)."""
    out = []
    while len(buf) >= 2:
        n = buf[1] & 0x7F
        h = 2
        if n == 126:
            if len(buf) < 4:
                break
            n = struct.unpack(">H", buf[2:4])[0]
            h = 4
        elif n == 127:
            if len(buf) < 10:
                break
            n = struct.unpack(">Q", buf[2:10])[0]
            h = 10
        if len(buf) < h + n:
            break
        out.append((buf[0] & 0x0F, buf[h:h + n]))
        buf = buf[h + n:]
    return out, buf


class WsClient:
    """A blocking WebSocket client that reads JSON events with a deadline."""

    def __init__(self, port, token=None, **kw):
        self.sock, self.buf = ws_connect(port, **kw)
        self.events = []
        self.close_code = None
        if token is not None:
            self.send({"type": "auth", "payload": {"token": token}})
            self.wait_for(lambda e: e.get("type") in ("auth_success", "error"))

    def send(self, obj):
        self.sock.sendall(ws_json(obj))

    def _pump(self, timeout):
        self.sock.settimeout(max(0.01, timeout))
        try:
            d = self.sock.recv(1 << 16)
        except socket.timeout:
            return True
        except OSError:
            return False
        if not d:
            return False
        frames, self.buf = parse_frames(self.buf + d)
        for op, payload in frames:
            if op == 1:
                try:
                    self.events.append(json.loads(payload))
                except ValueError:
                    pass
            elif op == 8:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
        return True

    def wait_for(self, pred, timeout=5.0):
        """Returns the first event (consumed) matching pred, or None at the deadline or EOF."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if pred(e):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0 or self.close_code is not None:
                return None
            if not self._pump(left):
                return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raise_client_nofile(n=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def elapsed_ms(t0):
    return (time.monotonic() - t0) * 1000.0
