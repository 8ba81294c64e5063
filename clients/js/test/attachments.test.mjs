// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Rich messages in the JS client: an upload through RestClient, sent with
// its attachment_id, reaches another operator with its kind and a signed url
// that serves the same bytes; an upload over the server's limit is a 413;
// a cancelled upload rejects; attachment_updated (scripted) updates the
// stored message and is delivered as an event.

import test from 'node:test';
import assert from 'node:assert/strict';
import { LiveChatClient, RestClient, RestError } from '../livechat.js';
import { FakeSocket, Server, makeClient, skipReason, waitFor, message } from './helpers.mjs';

const ROOM = 'conversation:Uattach';

test('upload, send with attachment_id, the other operator gets kind and url, the url serves the bytes',
  { timeout: 30000 }, async (t) => {
    const skip = await skipReason();
    if (skip) return t.skip(skip);
    const server = await new Server(['--max-attachment-bytes', '65536']).start();
    const rest = new RestClient({ baseUrl: server.httpUrl, token: 'alice' });
    const a = await makeClient(LiveChatClient, server, 'alice');
    const b = await makeClient(LiveChatClient, server, 'bob');
    try {
      await server.webhook('Uattach', 'hello');
      for (const x of [a, b]) {
        x.c.join(ROOM);
        x.c.start();
      }
      await waitFor(() => a.c.room(ROOM).lastSeq === 1 && b.c.room(ROOM).lastSeq === 1, 5000, 'both joined');

      const bytes = new Uint8Array(40000);
      for (let i = 0; i < bytes.length; i += 1) bytes[i] = (i * 31 + 7) & 0xff;
      const progress = [];
      const att = await rest.uploadAttachment(bytes, { name: 'photo.png', contentType: 'image/png',
        onProgress: (p) => progress.push(p) });
      assert.equal(att.status, 'ready');
      assert.equal(att.size, bytes.length);
      assert.equal(att.name, 'photo.png');
      assert.match(att.id, /^[0-9a-f]{32}$/);
      assert.deepEqual(progress[progress.length - 1], { loaded: bytes.length, total: bytes.length });

      const id = a.c.sendMessage(ROOM, { attachmentId: att.id });
      assert.ok(id, 'queued');
      await waitFor(() => a.log.sent.has(id), 5000, 'the send confirmed');
      const got = await waitFor(() => b.log.messages.find((m) => m.seq === 2), 5000, 'the message at bob');
      assert.equal(got.kind, 'image');
      assert.equal(got.text, 'photo.png', 'the text defaults to the file name');
      assert.equal(got.attachment.id, att.id);
      assert.equal(got.attachment.status, 'ready');
      assert.equal(got.attachment.content_type, 'image/png');
      assert.match(got.attachment.url, /^\/api\/v1\/attachments\/[0-9a-f]{32}\?exp=\d+&sig=/);
      const res = await fetch(server.httpUrl + got.attachment.url);
      assert.equal(res.status, 200);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes, 'the url serves the uploaded bytes');
      // A tampered signature is refused.
      const bad = await fetch(server.httpUrl + got.attachment.url.replace(/sig=./, (s) => (s.endsWith('A') ? 'sig=B' : 'sig=A')));
      assert.equal(bad.status, 403);

      // With a text, and an id that is not an upload: a validation_error, the message fails.
      const id2 = a.c.sendMessage(ROOM, { attachmentId: att.id, text: 'the broken part' });
      await waitFor(() => a.log.sent.has(id2), 5000, 'the second send');
      const got2 = await waitFor(() => b.log.messages.find((m) => m.seq === 3), 5000, 'the second message');
      assert.equal(got2.text, 'the broken part');
      assert.equal(got2.kind, 'image');
      const id3 = a.c.sendMessage(ROOM, { attachmentId: '0'.repeat(32) });
      await waitFor(() => a.log.failed.some((f) => f.clientMsgId === id3), 5000, 'the unknown attachment refused');

      // Over the limit: 413 as a RestError; an aborted upload rejects with AbortError.
      await assert.rejects(rest.uploadAttachment(new Uint8Array(65537), { name: 'big.bin' }),
        (e) => e instanceof RestError && e.status === 413);
      const ctrl = new AbortController();
      ctrl.abort();
      await assert.rejects(rest.uploadAttachment(bytes, { name: 'x.bin', signal: ctrl.signal }), { name: 'AbortError' });
      await assert.rejects(rest.uploadAttachment(new Uint8Array(0)), TypeError);
    } finally {
      a.c.stop();
      b.c.stop();
      await server.stop();
    }
  });

test('attachment_updated replaces the stored attachment and is delivered as an event', () => {
  FakeSocket.reset();
  const c = new LiveChatClient({ url: 'ws://test', token: 'alice', WebSocket: FakeSocket, tickMs: 0 });
  const updates = [];
  c.on('attachment_updated', (u) => updates.push(u));
  c.join(ROOM);
  c.start();
  const ws = FakeSocket.last;
  ws.open();
  const auth = ws.lastFrame('auth');
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator', connection_id: 'c1', protocol: 1,
    heartbeat_interval_ms: 25000, server_time: new Date().toISOString() }, auth.ref);
  const join = ws.lastFrame('join_room');
  const pending = { id: 'line-1', status: 'pending', content_type: 'image/jpeg', size: 0, name: 'image' };
  ws.serverSend('conversation_update', { room: ROOM, conversation_id: 'Uattach',
    session: { status: 'open', claimed_by: null, updated_at: '', version: 0 }, members: [],
    messages: [message(ROOM, 1), message(ROOM, 2, { kind: 'image', text: '[image]', attachment: pending })],
    last_seq: 2, has_more: false, epoch: 'E1', recovered: false, read_seq: 0 }, join.ref);
  assert.equal(c.room(ROOM).messages[1].attachment.status, 'pending');
  const ready = { ...pending, status: 'ready', size: 1234, url: '/api/v1/attachments/line-1?exp=1&sig=x' };
  ws.serverSend('attachment_updated', { room: ROOM, message_id: 'e-2', seq: 2, attachment: ready });
  assert.equal(updates.length, 1);
  assert.equal(updates[0].message_id, 'e-2');
  assert.equal(updates[0].message, c.room(ROOM).messages[1]);
  assert.deepEqual(c.room(ROOM).messages[1].attachment, ready);
  assert.equal(c.room(ROOM).messages[0].attachment, undefined, 'only the named message changes');
  // Another room's update, or a malformed one, changes nothing here.
  ws.serverSend('attachment_updated', { room: 'conversation:Uother', message_id: 'e-2', seq: 2,
    attachment: { ...ready, status: 'failed' } });
  ws.serverSend('attachment_updated', { room: ROOM, message_id: 'e-2', seq: 2 });
  assert.equal(c.room(ROOM).messages[1].attachment.status, 'ready');
  assert.equal(updates.length, 2, 'the other room\'s update is still an event (message null)');
  assert.equal(updates[1].message, null);
  c.stop();
});

test('send with an attachment: the text is optional, the frame carries attachment_id', () => {
  FakeSocket.reset();
  const c = new LiveChatClient({ url: 'ws://test', token: 'alice', WebSocket: FakeSocket, tickMs: 0 });
  const errors = [];
  c.on('error', (e) => errors.push(e));
  assert.equal(c.send(ROOM, '   '), null, 'a text message still needs a text');
  assert.equal(c.sendMessage(ROOM, { attachmentId: '' }), null, 'an empty attachment id is refused');
  assert.equal(errors.length, 2);
  const id = c.sendMessage(ROOM, { attachmentId: 'a'.repeat(32) });
  assert.ok(id);
  assert.equal(c.queue[0].attachmentId, 'a'.repeat(32));
  c.join(ROOM);
  c.start();
  const ws = FakeSocket.last;
  ws.open();
  const auth = ws.lastFrame('auth');
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator', connection_id: 'c1', protocol: 1,
    heartbeat_interval_ms: 25000, server_time: new Date().toISOString() }, auth.ref);
  const join = ws.lastFrame('join_room');
  ws.serverSend('conversation_update', { room: ROOM, conversation_id: 'Uattach',
    session: { status: 'open', claimed_by: null, updated_at: '', version: 0 }, members: [], messages: [],
    last_seq: 0, has_more: false, epoch: 'E1', recovered: false, read_seq: 0 }, join.ref);
  const f = ws.lastFrame('send_message');
  assert.ok(f, 'sent once ready');
  assert.deepEqual(f.payload, { room: ROOM, client_msg_id: id, attachment_id: 'a'.repeat(32) });
  c.stop();
});
