// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The client against a scripted server (FakeSocket) and a manual clock:
// the exact frames it sends and what it delivers, for the cases a real
// server cannot be made to produce on demand (a gap, a new epoch, a lost
// acknowledgement, a refusal of one given frame).

import test from 'node:test';
import assert from 'node:assert/strict';
import { LiveChatClient, State } from '../livechat.js';
import { FakeSocket, manualClock, message } from './helpers.mjs';

const ROOM = 'conversation:U1';

function setup(options = {}) {
  FakeSocket.reset();
  const clock = manualClock();
  const c = new LiveChatClient({ url: 'ws://test', token: 'alice', WebSocket: FakeSocket, now: clock.now,
    tickMs: 0, random: () => 0.5, ...options });
  const seen = { messages: [], states: [], msgStates: [], errors: [], resets: [] };
  c.on('message', (m) => seen.messages.push(m.room + '#' + m.seq));
  c.on('state', (s) => seen.states.push(s.to));
  c.on('message_state', (s) => seen.msgStates.push(s));
  c.on('error', (e) => seen.errors.push(e));
  c.on('history_reset', (r) => seen.resets.push(r));
  return { c, clock, seen };
}

function connect(c, { heartbeat = 25000 } = {}) {
  c.start();
  const ws = FakeSocket.last;
  ws.open();
  const auth = ws.lastFrame('auth');
  assert.equal(auth.payload.token, 'alice');
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator', connection_id: 'c1', protocol: 1,
    heartbeat_interval_ms: heartbeat, server_time: new Date().toISOString() }, auth.ref);
  return ws;
}

function answerJoin(ws, { messages = [], lastSeq, epoch = 'E1', hasMore = false, recovered = false, readSeq = 0 } = {}) {
  const join = ws.lastFrame('join_room');
  ws.serverSend('conversation_update', { room: join.payload.room, conversation_id: 'U1',
    session: { status: 'open', claimed_by: null, updated_at: '', version: 0 }, members: [], messages,
    last_seq: lastSeq ?? (messages.length ? messages[messages.length - 1].seq : 0), has_more: hasMore, epoch,
    recovered, read_seq: readSeq }, join.ref);
  return join;
}

test('states, auth, join and delivery in seq order without duplicates', () => {
  const { c, seen } = setup();
  c.join(ROOM);
  const ws = connect(c);
  assert.deepEqual(seen.states, ['connecting', 'authenticating', 'connected']);
  const join = answerJoin(ws, { messages: [message(ROOM, 1), message(ROOM, 2)] });
  assert.equal(join.payload.since_seq, undefined, 'the first join has no since_seq');
  ws.serverSend('new_message', { message: message(ROOM, 2) }); // a duplicate
  ws.serverSend('new_message', { message: message(ROOM, 3) });
  ws.serverSend('new_message', { message: message(ROOM, 3) });
  assert.deepEqual(seen.messages, [ROOM + '#1', ROOM + '#2', ROOM + '#3']);
  assert.equal(c.room(ROOM).lastSeq, 3);
  assert.ok(c.ready);
});

test('a gap is repaired by a join with since_seq and epoch, each message once', () => {
  const { c, seen } = setup();
  c.join(ROOM);
  const ws = connect(c);
  answerJoin(ws, { messages: [message(ROOM, 1)] });
  ws.serverSend('new_message', { message: message(ROOM, 3) }); // 2 missing
  const fill = ws.lastFrame('join_room');
  assert.equal(ws.frames('join_room').length, 2);
  assert.equal(fill.payload.since_seq, 1);
  assert.equal(fill.payload.epoch, 'E1');
  ws.serverSend('new_message', { message: message(ROOM, 4) }); // while filling: no second fill
  assert.equal(ws.frames('join_room').length, 2);
  answerJoin(ws, { messages: [message(ROOM, 2), message(ROOM, 3), message(ROOM, 4)], recovered: true });
  assert.deepEqual(seen.messages, [1, 2, 3, 4].map((s) => ROOM + '#' + s));
});

test('a reply that stops short (has_more) asks again from where it stopped', () => {
  const { c, seen } = setup();
  c.join(ROOM);
  const ws = connect(c);
  answerJoin(ws, { messages: [message(ROOM, 1)] });
  ws.serverSend('new_message', { message: message(ROOM, 5) });
  answerJoin(ws, { messages: [message(ROOM, 2), message(ROOM, 3)], lastSeq: 5, hasMore: true });
  const again = ws.lastFrame('join_room');
  assert.equal(again.payload.since_seq, 3);
  answerJoin(ws, { messages: [message(ROOM, 4), message(ROOM, 5)] });
  assert.deepEqual(seen.messages, [1, 2, 3, 4, 5].map((s) => ROOM + '#' + s));
});

test('reconnect rejoins with since_seq; a new epoch resets the history', () => {
  const { c, clock, seen } = setup();
  c.join(ROOM);
  let ws = connect(c);
  answerJoin(ws, { messages: [message(ROOM, 1), message(ROOM, 2)] });
  ws.serverClose(1006);
  assert.equal(c.state, State.reconnecting);
  clock.advance(20000);
  c.tick();
  ws = FakeSocket.last;
  ws.open();
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator', heartbeat_interval_ms: 25000 },
    ws.lastFrame('auth').ref);
  const rejoin = ws.lastFrame('join_room');
  assert.equal(rejoin.payload.since_seq, 2);
  assert.equal(rejoin.payload.epoch, 'E1');
  answerJoin(ws, { messages: [message(ROOM, 1)], epoch: 'E2', recovered: false });
  assert.deepEqual(seen.resets, [ROOM]);
  assert.equal(c.room(ROOM).epoch, 'E2');
  assert.deepEqual(c.room(ROOM).messages.map((m) => m.seq), [1]);
  assert.deepEqual(seen.messages, [ROOM + '#1', ROOM + '#2', ROOM + '#1']);
});

test('sends wait for the rejoin, keep their client_msg_id across a reconnect, and are confirmed once', () => {
  const { c, clock, seen } = setup();
  c.join(ROOM);
  const id = c.send(ROOM, '  hello  ');
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(c.room(ROOM).pending[0].state, 'queued');
  let ws = connect(c);
  assert.equal(ws.frames('send_message').length, 0, 'not before the rejoin is answered');
  answerJoin(ws, {});
  const first = ws.lastFrame('send_message');
  assert.equal(first.payload.text, 'hello');
  assert.equal(first.payload.client_msg_id, id);
  assert.equal(c.room(ROOM).pending[0].state, 'sending');
  ws.serverClose(1006); // the acknowledgement is lost
  assert.equal(c.room(ROOM).pending[0].state, 'queued');
  clock.advance(20000);
  c.tick();
  ws = FakeSocket.last;
  ws.open();
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator' }, ws.lastFrame('auth').ref);
  answerJoin(ws, { messages: [] });
  const again = ws.lastFrame('send_message');
  assert.equal(again.payload.client_msg_id, id, 'resent under the same id');
  const stored = message(ROOM, 1, { sender: { type: 'operator', id: 'alice', name: 'alice' }, text: 'hello', client_msg_id: id });
  ws.serverSend('message_sent', { client_msg_id: id, message: stored, duplicate: true }, again.ref);
  assert.deepEqual(seen.msgStates.map((s) => s.state), ['queued', 'sending', 'queued', 'sending', 'sent']);
  assert.equal(seen.msgStates[4].duplicate, true);
  assert.equal(c.queue.length, 0);
  assert.equal(c.room(ROOM).pending.length, 0);
  assert.deepEqual(seen.messages, [ROOM + '#1']);
});

test('own message seen in history before its acknowledgement is confirmed, not resent', () => {
  const { c, clock, seen } = setup();
  c.join(ROOM);
  const id = c.send(ROOM, 'x');
  let ws = connect(c);
  answerJoin(ws, {});
  ws.serverClose(1006);
  clock.advance(20000);
  c.tick();
  ws = FakeSocket.last;
  ws.open();
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator' }, ws.lastFrame('auth').ref);
  const own = message(ROOM, 1, { sender: { type: 'operator', id: 'alice', name: 'alice' }, text: 'x', client_msg_id: id });
  answerJoin(ws, { messages: [own] });
  assert.equal(ws.frames('send_message').length, 0);
  assert.equal(seen.msgStates[seen.msgStates.length - 1].state, 'sent');
  assert.equal(c.queue.length, 0);
});

test('a refused send fails with the server reason; bad input is refused locally', () => {
  const { c, seen } = setup();
  c.join(ROOM);
  const ws = connect(c);
  answerJoin(ws, {});
  c.send(ROOM, 'no');
  const f = ws.lastFrame('send_message');
  ws.serverSend('error', { code: 'forbidden', message: 'nope', request_type: 'send_message' }, f.ref);
  const last = seen.msgStates[seen.msgStates.length - 1];
  assert.equal(last.state, 'failed');
  assert.equal(last.reason, 'rejected');
  assert.equal(last.error.code, 'forbidden');
  assert.equal(c.send(ROOM, ' \n\t '), null);
  assert.equal(c.send('room 1', 'x'), null);
  assert.equal(c.send(ROOM, 'x'.repeat(5001)), null);
  assert.ok(c.send(ROOM, '\u{1F600}'.repeat(5000)), '5000 code points are fine');
  assert.equal(seen.errors.filter((e) => e.kind === 'invalid_argument').length, 3);
});

test('rate_limited: the refused frame named by its ref is sent again after the pause, same id', () => {
  const { c, clock, seen } = setup({ rateLimitedPauseMs: 1000 });
  c.join(ROOM);
  const ws = connect(c);
  answerJoin(ws, {});
  const a = c.send(ROOM, 'a');
  const b = c.send(ROOM, 'b');
  const [fa, fb] = ws.frames('send_message');
  assert.equal(fa.payload.client_msg_id, a);
  ws.serverSend('message_sent', { client_msg_id: a, message: message(ROOM, 1, { client_msg_id: a }), duplicate: false }, fa.ref);
  ws.serverSend('error', { code: 'rate_limited', message: 'slow down', request_type: 'send_message' }, fb.ref);
  assert.equal(seen.errors[0].code, 'rate_limited');
  assert.equal(ws.frames('send_message').length, 2, 'nothing during the pause');
  clock.advance(999);
  c.tick();
  assert.equal(ws.frames('send_message').length, 2);
  clock.advance(2);
  c.tick();
  const again = ws.lastFrame('send_message');
  assert.equal(ws.frames('send_message').length, 3);
  assert.equal(again.payload.client_msg_id, b);
  assert.notEqual(again.ref, fb.ref);
  // A second refusal during a pause does not slow down twice, and a frame without a ref is not resent.
  ws.serverSend('error', { code: 'rate_limited', message: 'slow down', request_type: 'typing_start' });
  clock.advance(5000);
  c.tick();
  assert.equal(ws.frames('send_message').length, 3);
  assert.equal(c.queue.length, 1);
});

test('heartbeat: two missed pongs declare the link dead within two heartbeats', () => {
  const { c, clock, seen } = setup();
  c.join(ROOM);
  const ws = connect(c, { heartbeat: 1000 });
  answerJoin(ws, {});
  clock.advance(1000);
  c.tick();
  assert.equal(ws.frames('ping').length, 1);
  ws.serverSend('pong', { server_time: '' });
  clock.advance(1000);
  c.tick(); // second ping, never answered
  assert.equal(ws.frames('ping').length, 2);
  clock.advance(500);
  c.tick(); // first miss: probe again at once
  assert.equal(ws.frames('ping').length, 3);
  assert.equal(c.state, State.connected);
  clock.advance(499);
  c.tick();
  assert.equal(c.state, State.connected);
  clock.advance(1);
  c.tick(); // second miss: 2000 ms after the last answered ping
  assert.equal(c.state, State.reconnecting);
  assert.ok(seen.errors.some((e) => e.kind === 'heartbeat_timeout'));
  assert.ok(ws.closed, 'the dead socket was let go');
});

test('mark_read offline is sent after the rejoin; read_receipt of our other tab moves unread', () => {
  const { c, clock } = setup();
  c.join(ROOM);
  c.watchInbox(true);
  let ws = connect(c);
  const watch = ws.lastFrame('watch_inbox');
  ws.serverSend('inbox_update', { conversations: [{ room: ROOM, conversation_id: 'U1', last_message: message(ROOM, 4),
    last_seq: 4, session: { status: 'open', claimed_by: null, version: 0 }, read_seq: 1 }], online: [] }, watch.ref);
  answerJoin(ws, { messages: [1, 2, 3, 4].map((s) => message(ROOM, s)), readSeq: 1 });
  assert.equal(c.unread(ROOM), 3);
  ws.serverSend('read_receipt', { room: ROOM, user_id: 'alice', seq: 3 });
  assert.equal(c.unread(ROOM), 1);
  ws.serverSend('read_receipt', { room: ROOM, user_id: 'bob', seq: 4 });
  assert.equal(c.unread(ROOM), 1, "another user's receipt is not ours");
  ws.serverClose(1006);
  c.markRead(ROOM, 4);
  assert.equal(c.unread(ROOM), 0);
  clock.advance(20000);
  c.tick();
  ws = FakeSocket.last;
  ws.open();
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator' }, ws.lastFrame('auth').ref);
  assert.equal(ws.frames('mark_read').length, 0, 'not before the room is rejoined');
  answerJoin(ws, { messages: [], lastSeq: 4 });
  assert.deepEqual(ws.lastFrame('mark_read').payload, { room: ROOM, seq: 4 });
});

test('a conversation_update pushed to a watcher updates the summary\'s customer and keeps the history', () => {
  const { c, seen } = setup();
  c.join(ROOM);
  c.watchInbox(true);
  const ws = connect(c);
  const watch = ws.lastFrame('watch_inbox');
  ws.serverSend('inbox_update', { conversations: [{ room: ROOM, conversation_id: 'U1', last_message: message(ROOM, 2),
    last_seq: 2, session: { status: 'open', claimed_by: null, version: 0 }, read_seq: 0,
    customer: { id: 'U1', name: 'U1', picture_url: null } }], online: [] }, watch.ref);
  answerJoin(ws, { messages: [1, 2].map((s) => message(ROOM, s)) });
  const customer = { id: 'U1', name: 'Taro', picture_url: 'https://profile.line-scdn.net/x' };
  ws.serverSend('conversation_update', { room: ROOM, conversation_id: 'U1', session: { status: 'open', claimed_by: null,
    version: 0 }, members: [], messages: [1, 2].map((s) => message(ROOM, s)), last_seq: 2, has_more: false,
  epoch: 'E1', recovered: false, read_seq: 0, customer });
  assert.deepEqual(c.conversations().find((x) => x.room === ROOM).customer, customer);
  assert.deepEqual(seen.messages, [ROOM + '#1', ROOM + '#2'], 'each message once');
  assert.deepEqual(seen.resets, []);
});

test('auth refused: disconnected, no reconnect; a throwing callback is reported, not thrown', () => {
  const { c, clock, seen } = setup();
  c.on('state', () => { throw new Error('boom'); });
  c.start();
  const ws = FakeSocket.last;
  ws.open();
  ws.serverSend('error', { code: 'auth_failed', message: 'bad token', request_type: 'auth' }, ws.lastFrame('auth').ref);
  assert.equal(c.state, State.disconnected);
  clock.advance(60000);
  c.tick();
  assert.equal(FakeSocket.instances.length, 1);
  assert.ok(seen.errors.some((e) => e.kind === 'auth_failed'));
  assert.ok(seen.errors.some((e) => e.kind === 'callback'));
});

test('the offline queue is bounded: a full queue and an old message fail with their reason', () => {
  const { c, clock, seen } = setup({ queue: { maxMessages: 2, maxAgeMs: 60000 } });
  c.join(ROOM);
  c.send(ROOM, 'a');
  clock.advance(30000);
  c.send(ROOM, 'b');
  c.send(ROOM, 'c');
  assert.deepEqual(seen.msgStates.filter((s) => s.state === 'failed').map((s) => [s.text, s.reason]), [['c', 'overflow']]);
  clock.advance(30000);
  c.tick(); // not started: no timer, the application ticks
  assert.deepEqual(seen.msgStates.filter((s) => s.state === 'failed').map((s) => [s.text, s.reason]),
    [['c', 'overflow'], ['a', 'expired']]);
  assert.deepEqual(c.queue.map((m) => m.text), ['b']);
  assert.deepEqual(c.room(ROOM).pending.map((p) => p.text), ['b']);
});

test('session versions: the highest wins whatever the path', () => {
  const { c } = setup();
  c.join(ROOM);
  const ws = connect(c);
  answerJoin(ws, {});
  const sessions = [];
  c.on('session', (room, s) => sessions.push(s.version));
  ws.serverSend('session_claimed', { room: ROOM, session: { status: 'claimed', claimed_by: { user_id: 'bob', name: 'bob' }, version: 2 } });
  ws.serverSend('conversation_activity', { room: ROOM, conversation_id: 'U1', last_message: message(ROOM, 1),
    session: { status: 'open', claimed_by: null, version: 1 } });
  assert.equal(c.room(ROOM).session.version, 2);
  assert.equal(c.room(ROOM).session.claimed_by.user_id, 'bob');
  assert.deepEqual(sessions, [2]);
});

test('connect timeout, stop, start again: the history is kept and resumed', () => {
  const { c, clock, seen } = setup({ connectTimeoutMs: 5000 });
  c.join(ROOM);
  c.start();
  clock.advance(5000);
  c.tick(); // never opened
  assert.equal(c.state, State.reconnecting);
  assert.ok(seen.errors.some((e) => e.kind === 'connect_timeout'));
  assert.ok(FakeSocket.instances[0].closed, 'the attempt was let go');
  clock.advance(60000);
  c.tick();
  let ws = FakeSocket.last;
  ws.open();
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator' }, ws.lastFrame('auth').ref);
  answerJoin(ws, { messages: [message(ROOM, 1), message(ROOM, 2)] });
  c.stop();
  assert.equal(c.state, State.disconnected);
  assert.deepEqual(ws.closed, { code: 1000, reason: 'client stop' });
  const attempts = FakeSocket.instances.length;
  clock.advance(60000);
  c.tick();
  assert.equal(FakeSocket.instances.length, attempts, 'no reconnect after stop');
  c.start();
  ws = FakeSocket.last;
  ws.open();
  ws.serverSend('auth_success', { user_id: 'alice', name: 'alice', role: 'operator' }, ws.lastFrame('auth').ref);
  assert.equal(ws.lastFrame('join_room').payload.since_seq, 2);
});

test('leave cancels the room\'s unsent messages; typing and claims are not queued offline', () => {
  const { c, seen } = setup();
  c.join(ROOM);
  c.join('conversation:U2');
  c.send(ROOM, 'a');
  c.send('conversation:U2', 'b');
  c.leave(ROOM);
  assert.deepEqual(seen.msgStates.filter((s) => s.state === 'failed').map((s) => [s.text, s.reason]), [['a', 'cancelled']]);
  assert.deepEqual(c.queue.map((m) => m.text), ['b']);
  assert.equal(c.room(ROOM), null);
  c.typing('conversation:U2', true);
  assert.equal(c.claim('conversation:U2'), false);
  assert.ok(seen.errors.some((e) => e.kind === 'not_connected' && e.request_type === 'claim_session'));
  const ws = connect(c);
  answerJoin(ws, {});
  assert.equal(ws.frames('typing_start').length, 0);
  assert.equal(ws.frames('claim_session').length, 0);
  assert.deepEqual(ws.frames('send_message').map((f) => f.payload.text), ['b']);
});

test('pacing: a flush of many queued messages stays within the burst, the rest follows the rate', () => {
  const { c, clock } = setup({ sendBurst: 10, sendPerSecond: 5 });
  c.join(ROOM);
  for (let i = 0; i < 30; i += 1) c.send(ROOM, 'm' + i);
  const ws = connect(c);
  answerJoin(ws, {});
  const first = ws.frames('send_message').length;
  assert.ok(first <= 10 && first >= 7, first + ' sent at once (auth and join took tokens too)');
  clock.advance(1000);
  c.tick();
  assert.equal(ws.frames('send_message').length, first + 5);
  assert.deepEqual(ws.frames('send_message').map((f) => f.payload.text), Array.from({ length: first + 5 }, (_, i) => 'm' + i));
});
