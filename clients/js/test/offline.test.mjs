// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The offline queue against a real server (written while the server is
// down, bounded, sent once it is back, in order, under the same ids), and
// the reconnect delays (full jitter, capped, given up after maxAttempts).

import test from 'node:test';
import assert from 'node:assert/strict';
import { LiveChatClient, Backoff, State } from '../livechat.js';
import { Server, makeClient, skipReason, waitFor, loadWebSocket } from './helpers.mjs';

const ROOM = 'conversation:Uoffline';

test('offline queue: written while the server is down, bounded, sent once when it is back', { timeout: 30000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const server = await new Server().start();
  const sender = await makeClient(LiveChatClient, server, 'alice', { queue: { maxMessages: 5 } });
  const receiver = await makeClient(LiveChatClient, server, 'bob');
  try {
    for (const x of [sender, receiver]) {
      x.c.join(ROOM);
      x.c.start();
    }
    await waitFor(() => sender.c.ready && receiver.c.ready, 5000, 'connected');
    await server.kill('SIGKILL');
    await waitFor(() => sender.c.state !== State.connected, 5000, 'the loss noticed');
    const ids = [];
    for (let i = 0; i < 6; i += 1) ids.push(sender.c.send(ROOM, 'offline ' + i));
    assert.deepEqual(sender.c.room(ROOM).pending.map((p) => [p.text, p.state]),
      [0, 1, 2, 3, 4].map((i) => ['offline ' + i, 'queued']));
    assert.deepEqual(sender.log.failed.map((f) => [f.text, f.reason]), [['offline 5', 'overflow']]);
    await server.start();
    await waitFor(() => sender.c.queue.length === 0 && sender.c.ready, 10000, 'the queue to drain');
    const stored = await server.history('Uoffline');
    assert.deepEqual(stored.map((m) => m.client_msg_id), ids.slice(0, 5));
    assert.deepEqual(stored.map((m) => m.seq), [1, 2, 3, 4, 5]);
    await waitFor(() => receiver.log.messages.length === 5, 5000, 'the receiver to get them');
    assert.deepEqual(receiver.log.messages.map((m) => m.text), [0, 1, 2, 3, 4].map((i) => 'offline ' + i));
    assert.equal(sender.c.room(ROOM).pending.length, 0);
  } finally {
    sender.c.stop();
    receiver.c.stop();
    await server.stop();
  }
});

test('backoff: delays within min(cap, base * 2^n), jittered, reset, and given up after maxAttempts', () => {
  const top = new Backoff({ baseMs: 100, capMs: 1000, maxAttempts: 6 }, () => 0.9999999);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => top.nextDelay()), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(top.nextDelay(), null);
  top.reset();
  assert.equal(top.nextDelay(), 100);
  const low = new Backoff({ baseMs: 100, capMs: 1000 }, () => 0);
  assert.equal(low.nextDelay(), 0);
  const broken = new Backoff({ baseMs: 100 }, () => NaN);
  assert.equal(broken.nextDelay(), 0);
  const real = new Backoff({ baseMs: 100, capMs: 1000 });
  const seen = new Set();
  for (let n = 0; n < 200; n += 1) {
    const bound = real.bound(real.attempts);
    const d = real.nextDelay();
    assert.ok(Number.isInteger(d) && d >= 0 && d <= bound, d + ' within [0, ' + bound + ']');
    seen.add(d);
  }
  assert.ok(seen.size > 20, 'jittered: ' + seen.size + ' distinct delays');
  assert.equal(new Backoff({ baseMs: 100, capMs: 1000, jitter: false }).nextDelay(), 100);
});

test('backoff against a closed port: attempts spaced by the bounds, then reconnect_exhausted', { timeout: 20000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const server = await new Server().start();
  const port = server.port;
  await server.stop(); // nothing listens there now
  const WebSocket = await loadWebSocket();
  const attempts = [];
  class Counting extends WebSocket {
    constructor(url) {
      attempts.push(Date.now());
      super(url);
    }
  }
  const c = new LiveChatClient({ url: 'ws://127.0.0.1:' + port + '/api/v1/ws/live-chat', token: 'alice',
    WebSocket: Counting, tickMs: 5, random: () => 0.9999999,
    backoff: { baseMs: 100, capMs: 400, maxAttempts: 5 } });
  const errors = [];
  c.on('error', (e) => errors.push(e.kind));
  c.start();
  await waitFor(() => c.state === State.disconnected, 10000, 'giving up');
  // 1 first attempt + 5 reconnects, spaced by ~100, 200, 400, 400, 400 ms.
  assert.equal(attempts.length, 6);
  const gaps = attempts.slice(1).map((a, i) => a - attempts[i]);
  t.diagnostic('gaps between attempts: ' + gaps.join(', ') + ' ms');
  [100, 200, 400, 400, 400].forEach((bound, i) => {
    assert.ok(gaps[i] >= bound - 5 && gaps[i] <= bound + 250, 'gap ' + i + ' = ' + gaps[i] + ', bound ' + bound);
  });
  assert.ok(errors.includes('reconnect_exhausted'));
});
