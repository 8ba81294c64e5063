// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// kill -9 and restart of the server, 20 times, while an operator sends
// (some messages on the wire at the kill, some written while it is down)
// and a customer writes through the webhook (once 120 messages while the
// receiver is away, more than a rejoin's snapshot of 50): every message is stored once,
// every client_msg_id confirmed once, and a second operator's client
// delivers the room's messages once each, in seq order.

import test from 'node:test';
import assert from 'node:assert/strict';
import { LiveChatClient } from '../livechat.js';
import { Server, makeClient, skipReason, sleep, waitFor, seqsInOrder } from './helpers.mjs';

const ROOM = 'conversation:Ukill';
const RUNS = 20;

test('kill -9 and restart, 20 runs: every message once and in order', { timeout: 90000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const server = await new Server().start();
  const sender = await makeClient(LiveChatClient, server, 'alice', { queue: { maxRetries: 50 } });
  const receiver = await makeClient(LiveChatClient, server, 'bob');
  try {
    for (const x of [sender, receiver]) {
      x.c.join(ROOM);
      x.c.start();
    }
    const texts = [];
    const ids = [];
    let customer = 0;
    const started = Date.now();
    for (let run = 0; run < RUNS; run += 1) {
      await waitFor(() => sender.c.ready && receiver.c.ready, 10000, 'both clients ready (run ' + run + ')');
      await server.webhook('Ukill', 'customer ' + customer);
      customer += 1;
      const away = run === RUNS / 2;
      if (away) {
        // The receiver misses more than a snapshot holds (50): only since_seq brings it all back.
        receiver.c.stop();
        const many = Array.from({ length: 120 }, (_, k) => 'while away ' + k);
        await server.webhook('Ukill', many);
        customer += many.length;
      }
      for (let j = 0; j < 5; j += 1) {
        const text = 'run ' + run + ' message ' + j;
        ids.push(sender.c.send(ROOM, text));
        texts.push(text);
      }
      await sleep(run % 4 === 0 ? 0 : run % 3 * 5); // sometimes while they are on the wire
      await server.kill('SIGKILL');
      for (let j = 5; j < 7; j += 1) { // written while the server is down
        const text = 'run ' + run + ' message ' + j;
        ids.push(sender.c.send(ROOM, text));
        texts.push(text);
      }
      await server.start();
      if (away) receiver.c.start();
    }
    await waitFor(() => sender.c.queue.length === 0 && sender.c.ready, 20000, 'the queue to drain');
    const stored = await server.history('Ukill');
    await waitFor(() => receiver.c.room(ROOM).lastSeq === stored.length, 10000, 'the receiver to catch up');
    const elapsed = Date.now() - started;
    t.diagnostic(RUNS + ' restarts, ' + stored.length + ' messages in ' + elapsed + ' ms');

    assert.ok(seqsInOrder(stored), 'stored seqs are 1..n');
    const own = stored.filter((m) => m.sender.type === 'operator');
    assert.deepEqual(own.map((m) => m.text), texts, 'each operator message stored once, in send order');
    assert.deepEqual(own.map((m) => m.client_msg_id), ids);
    assert.equal(stored.filter((m) => m.sender.type === 'user').length, customer);
    assert.equal(sender.log.failed.length, 0, 'no message failed');
    assert.equal(sender.log.sent.size, ids.length);
    assert.ok([...sender.log.sent.values()].every((n) => n === 1), 'each confirmed once');
    assert.ok(seqsInOrder(receiver.log.messages), 'the receiver got 1..n once each, in order');
    assert.deepEqual(receiver.log.messages.map((m) => m.id), stored.map((m) => m.id));
    assert.ok(seqsInOrder(sender.log.messages), 'the sender too');
    assert.equal(sender.log.messages.length, stored.length);
  } finally {
    sender.c.stop();
    receiver.c.stop();
    await server.stop();
  }
});
