// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// What the tests share: the WebSocket for Node (the `ws` package, Debian's
// node-ws when npm's is not installed), the server under test (started on
// 127.0.0.1 with --port 0, its port read from the line it prints, stopped
// by pid), waiting with a deadline, and a fake WebSocket for the tests that
// script the server's side frame by frame.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

export async function loadWebSocket() {
  const candidates = [process.env.LIVECHAT_NODE_WS, 'ws', '/usr/share/nodejs/ws/wrapper.mjs'].filter(Boolean);
  for (const c of candidates) {
    try {
      const m = await import(c);
      const WS = m.WebSocket || m.default;
      if (typeof WS === 'function') return WS;
    } catch (_) {
      // next candidate
    }
  }
  return null;
}

export const serverBinary = process.env.LIVECHAT_SERVER_BINARY || '';

/** Why the server tests cannot run here, or null. */
export async function skipReason() {
  let why = null;
  if (!serverBinary) why = 'LIVECHAT_SERVER_BINARY is not set (ctest sets it)';
  else if (!(await loadWebSocket())) why = 'no WebSocket for Node: install node-ws (apt) or ws (npm)';
  // ctest sets LIVECHAT_JS_REQUIRE_SERVER=1: there a missing piece fails instead of skipping.
  if (why && process.env.LIVECHAT_JS_REQUIRE_SERVER === '1') throw new Error(why);
  return why;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` every 10 ms until it is truthy or `ms` passed (then throws with `what`). */
export async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out after ' + ms + ' ms waiting for ' + what);
    await sleep(10);
  }
}

// Servers still running when this process ends (a failed assertion, a
// timeout's SIGTERM) are killed by pid rather than left behind.
const running = new Set();
function killRunning() {
  for (const p of running) {
    try { process.kill(p.pid, 'SIGCONT'); process.kill(p.pid, 'SIGKILL'); } catch (_) { /* gone */ }
  }
  running.clear();
}
process.on('exit', killRunning);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    killRunning();
    process.exit(1);
  });
}

/**
 * One livechat-server process with a SQLite store in a fresh directory.
 * restart() starts it again on the same port and store (after a kill).
 */
export class Server {
  constructor(extraArgs = []) {
    this.dir = mkdtempSync(join(tmpdir(), 'livechat-js-'));
    this.extraArgs = extraArgs;
    this.port = 0;
    this.proc = null;
  }

  async start() {
    const args = ['--host', '127.0.0.1', '--port', String(this.port), '--store', 'sqlite:' + join(this.dir, 'db'),
      '--auth', 'dev', '--log-level', 'error', ...this.extraArgs];
    const proc = spawn(serverBinary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = proc;
    running.add(proc);
    const port = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error('livechat-server did not print its port within 10 s'));
      }, 10000);
      proc.stdout.on('data', (d) => {
        out += d.toString();
        const m = /livechat-server listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.on('exit', (code) => {
        running.delete(proc);
        clearTimeout(timer);
        reject(new Error('livechat-server exited with ' + code + ' before listening'));
      });
    });
    proc.removeAllListeners('exit');
    if (proc.exitCode !== null || proc.signalCode !== null) running.delete(proc);
    else proc.once('exit', () => running.delete(proc));
    this.port = port;
    return this;
  }

  get wsUrl() { return 'ws://127.0.0.1:' + this.port + '/api/v1/ws/live-chat'; }
  get httpUrl() { return 'http://127.0.0.1:' + this.port; }

  /** Sends `signal` to the server (by its pid) and, unless it is SIGSTOP/SIGCONT, waits for its exit. */
  async kill(signal = 'SIGKILL') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      process.kill(proc.pid, signal);
      return;
    }
    const exited = new Promise((r) => proc.once('exit', r));
    process.kill(proc.pid, signal);
    await exited;
    this.proc = null;
  }

  async restart() {
    await this.kill('SIGKILL');
    return this.start();
  }

  async stop() {
    if (this.proc) {
      try { process.kill(this.proc.pid, 'SIGCONT'); } catch (_) { /* already gone */ }
      await this.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A customer's text messages through the LINE webhook (no signature in dev), in one request. */
  async webhook(userId, texts) {
    const events = [].concat(texts).map((text) => {
      const eventId = randomUUID();
      return { type: 'message', message: { type: 'text', id: eventId, text }, source: { type: 'user', userId },
        timestamp: Date.now(), webhookEventId: eventId, deliveryContext: { isRedelivery: false } };
    });
    const body = { destination: 'test', events };
    const res = await fetch(this.httpUrl + '/api/v1/webhook', { method: 'POST', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' } });
    if (res.status !== 200) throw new Error('webhook answered ' + res.status);
  }

  /** Every stored message of a conversation, through the REST history (pages of 500). */
  async history(conversationId, token = 'inspector') {
    const all = [];
    let since = 0;
    for (let page = 0; page < 100; page += 1) {
      const res = await fetch(this.httpUrl + '/api/v1/conversations/' + conversationId + '/messages?since_seq=' + since,
        { headers: { Authorization: 'Bearer ' + token } });
      if (res.status === 404) return all;
      const j = await res.json();
      all.push(...j.messages);
      if (!j.has_more || j.messages.length === 0) return all;
      since = j.messages[j.messages.length - 1].seq;
    }
    throw new Error('history: more than 100 pages');
  }
}

/**
 * A scripted WebSocket: the test plays the server. FakeSocket.last is the
 * newest instance; sent frames are parsed into `sent`.
 */
export class FakeSocket {
  static instances = [];
  static get last() { return FakeSocket.instances[FakeSocket.instances.length - 1]; }
  static reset() { FakeSocket.instances = []; }

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closed = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.instances.push(this);
  }

  send(data) {
    if (this.closed) throw new Error('send on a closed socket');
    this.sent.push(JSON.parse(data));
  }

  close(code, reason) { this.closed = { code, reason }; }

  // the server's side
  open() { this.onopen && this.onopen({}); }
  serverSend(type, payload, ref) {
    const f = { type, payload, timestamp: new Date().toISOString() };
    if (ref !== undefined) f.ref = ref;
    this.onmessage && this.onmessage({ data: JSON.stringify(f) });
  }
  serverClose(code = 1006, reason = '') { this.onclose && this.onclose({ code, reason }); }
  /** The sent frames of `type`. */
  frames(type) { return this.sent.filter((f) => f.type === type); }
  lastFrame(type) { const f = this.frames(type); return f[f.length - 1]; }
}

/** A manual clock for the fake-socket tests: client option `now`. */
export function manualClock(start = 1000) {
  const c = { t: start, now: () => c.t, advance: (ms) => { c.t += ms; } };
  return c;
}

export function message(room, seq, extra = {}) {
  return { id: 'e-' + seq, room, seq, sender: { type: 'user', id: 'U1', name: 'U1' }, text: 'm' + seq,
    created_at: new Date(1700000000000 + seq).toISOString(), ...extra };
}

/** A LiveChatClient on `server` (its URL read at each connect, so a restart on another port is followed). */
export async function makeClient(LiveChatClient, server, token, options = {}) {
  const WebSocket = await loadWebSocket();
  const c = new LiveChatClient({ url: () => server.wsUrl, token, WebSocket, tickMs: 20,
    backoff: { baseMs: 20, capMs: 200 }, connectTimeoutMs: 3000, ...options });
  const log = { messages: [], sent: new Map(), failed: [], errors: [], states: [] };
  c.on('message', (m) => log.messages.push(m));
  c.on('message_state', (s) => {
    if (s.state === 'sent') log.sent.set(s.clientMsgId, (log.sent.get(s.clientMsgId) || 0) + 1);
    if (s.state === 'failed') log.failed.push(s);
  });
  c.on('error', (e) => log.errors.push(e));
  c.on('state', (s) => log.states.push({ to: s.to, at: Date.now() }));
  return { c, log };
}

/** Asserts that `msgs` are the seqs 1..n of one room, each once, in order. */
export function seqsInOrder(msgs) {
  return msgs.every((m, i) => m.seq === i + 1);
}
