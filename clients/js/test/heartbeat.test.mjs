// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// A frozen server (SIGSTOP: the TCP connection stays up, nothing answers)
// is noticed within two heartbeat intervals; after SIGCONT the client is
// back by itself and a message written meanwhile is stored once.

import test from 'node:test';
import assert from 'node:assert/strict';
import { LiveChatClient, State } from '../livechat.js';
import { Server, makeClient, skipReason, waitFor } from './helpers.mjs';

const ROOM = 'conversation:Ufrozen';
const HEARTBEAT_MS = 1000;

test('SIGSTOP: the dead link is noticed within two heartbeats, then recovered', { timeout: 30000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const server = await new Server().start();
  const { c, log } = await makeClient(LiveChatClient, server, 'alice', { heartbeatMs: HEARTBEAT_MS, connectTimeoutMs: 1500 });
  try {
    c.join(ROOM);
    c.start();
    await waitFor(() => c.ready, 5000, 'connected');
    // A full heartbeat answered first: the freeze then starts at any point of the cycle.
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS + 150));
    assert.equal(c.state, State.connected);
    const frozenAt = Date.now();
    await server.kill('SIGSTOP');
    await waitFor(() => c.state !== State.connected, 4 * HEARTBEAT_MS, 'the client to notice');
    const noticedMs = Date.now() - frozenAt;
    t.diagnostic('noticed after ' + noticedMs + ' ms (heartbeat ' + HEARTBEAT_MS + ' ms)');
    // Two intervals, plus the client's 20 ms tick and the timers' slack on a busy machine.
    assert.ok(noticedMs <= 2 * HEARTBEAT_MS + 300, 'noticed after ' + noticedMs + ' ms');
    assert.ok(log.errors.some((e) => e.kind === 'heartbeat_timeout'));
    const id = c.send(ROOM, 'written while frozen');
    await server.kill('SIGCONT');
    await waitFor(() => c.ready && c.queue.length === 0, 10000, 'reconnected and flushed');
    const stored = await server.history('Ufrozen');
    assert.deepEqual(stored.map((m) => m.client_msg_id), [id]);
  } finally {
    c.stop();
    await server.stop();
  }
});
