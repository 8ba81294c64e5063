// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// rate_limited from a real server (a small bucket, a client paced far
// above it): each refusal is matched to its frame by `ref`, that frame is
// sent again after the pause with the same client_msg_id, and every message
// is stored once, none failed.

import test from 'node:test';
import assert from 'node:assert/strict';
import { LiveChatClient } from '../livechat.js';
import { Server, makeClient, skipReason, waitFor } from './helpers.mjs';

const ROOM = 'conversation:Urate';

test('rate_limited by ref: refused sends go again under the same id, stored once', { timeout: 30000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const server = await new Server(['--rate-burst', '8', '--rate-per-second', '10']).start();
  const { c, log } = await makeClient(LiveChatClient, server, 'alice',
    { sendBurst: 40, sendPerSecond: 80, rateLimitedPauseMs: 300, queue: { maxRetries: 20 } });
  try {
    c.join(ROOM);
    c.start();
    await waitFor(() => c.ready, 5000, 'connected');
    const ids = [];
    for (let i = 0; i < 30; i += 1) ids.push(c.send(ROOM, 'burst ' + i));
    await waitFor(() => c.queue.length === 0, 20000, 'every message acknowledged');
    const refused = log.errors.filter((e) => e.code === 'rate_limited');
    t.diagnostic(refused.length + ' frames refused with rate_limited');
    assert.ok(refused.length > 0, 'the server refused some');
    assert.ok(refused.every((e) => e.request_type === 'send_message' && e.room === ROOM),
      'each refusal named the frame (request_type) and was tied to its request by ref (room)');
    assert.equal(log.failed.length, 0);
    const stored = await server.history('Urate');
    assert.equal(stored.length, 30);
    assert.deepEqual(stored.map((m) => m.client_msg_id).sort(), ids.slice().sort(), 'each id stored once');
    assert.equal(new Set(stored.map((m) => m.text)).size, 30);
    assert.ok(log.states.every((s) => s.to !== 'reconnecting'), 'no close for too many refusals');
  } finally {
    c.stop();
    await server.stop();
  }
});
