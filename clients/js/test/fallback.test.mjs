// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The REST fallback: with the WebSocket path blocked (every upgrade is
// refused, as by a proxy) the client still gets the inbox and the room's
// history and sends over REST; when the WebSocket connects again it takes
// over from there, and nothing is stored or delivered twice.

import test from 'node:test';
import assert from 'node:assert/strict';
import { LiveChatClient, RestClient } from '../livechat.js';
import { Server, makeClient, skipReason, waitFor, seqsInOrder } from './helpers.mjs';

const ROOM = 'conversation:Ufallback';

test('WebSocket blocked: inbox, history and sending over REST, then back to the WebSocket', { timeout: 30000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const server = await new Server().start();
  let blocked = true;
  const rest = new RestClient({ baseUrl: server.httpUrl, token: 'alice' });
  const { c, log } = await makeClient(LiveChatClient, server, 'alice', {
    // A path the server answers with 404: the upgrade never happens.
    url: () => server.wsUrl.replace('/live-chat', blocked ? '/blocked' : '/live-chat'),
    rest, fallback: { afterFailures: 2, pollMs: 100 }, backoff: { baseMs: 50, capMs: 200 } });
  const transports = [];
  c.on('transport', (m) => transports.push(m));
  try {
    await server.webhook('Ufallback', 'first');
    c.join(ROOM);
    c.watchInbox(true);
    c.start();
    await waitFor(() => c.transport === 'rest', 5000, 'the fallback');
    await waitFor(() => c.conversations().some((x) => x.room === ROOM), 5000, 'the inbox over REST');
    await waitFor(() => c.room(ROOM).lastSeq === 1, 5000, 'the history over REST');
    const id = c.send(ROOM, 'sent over REST');
    await waitFor(() => log.sent.has(id), 5000, 'the post confirmed');
    await server.webhook('Ufallback', 'second');
    await waitFor(() => c.room(ROOM).lastSeq === 3, 5000, 'a new message by polling');
    assert.equal(c.state === 'connected', false, 'the WebSocket never connected meanwhile');

    blocked = false;
    await waitFor(() => c.ready && c.transport === 'websocket', 5000, 'back on the WebSocket');
    // The same message again under its id: the server keeps one.
    c.send(ROOM, 'sent over REST', { clientMsgId: id });
    const id2 = c.send(ROOM, 'sent over the WebSocket');
    await waitFor(() => log.sent.has(id2) && c.queue.length === 0, 5000, 'both answered');
    const stored = await server.history('Ufallback');
    assert.deepEqual(stored.map((m) => m.text), ['first', 'sent over REST', 'second', 'sent over the WebSocket']);
    assert.ok(seqsInOrder(log.messages), 'delivered 1..n once, in order, across both paths');
    assert.equal(log.messages.length, 4);
    assert.deepEqual(transports, ['rest', 'websocket']);
    assert.equal(log.sent.get(id), 2, 'confirmed over REST, then as a duplicate');
  } finally {
    c.stop();
    await server.stop();
  }
});

test('a server that is down is not a blocked WebSocket: no fallback', { timeout: 20000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const server = await new Server().start();
  const port = server.port;
  await server.stop();
  const rest = new RestClient({ baseUrl: 'http://127.0.0.1:' + port, token: 'alice', timeoutMs: 500 });
  const { c } = await makeClient(LiveChatClient, server, 'alice', {
    url: 'ws://127.0.0.1:' + port + '/api/v1/ws/live-chat', rest, fallback: { afterFailures: 1, pollMs: 100 },
    backoff: { baseMs: 20, capMs: 50 } });
  try {
    c.start();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(c.transport, 'websocket');
    // Between attempts (backoff of 20-50 ms) or in one: never connected,
    // and still on the WebSocket path.
    assert.ok(['reconnecting', 'connecting'].includes(c.state), 'state ' + c.state);
  } finally {
    c.stop();
  }
});
