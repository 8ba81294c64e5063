// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The JavaScript client of the livechat wire protocol (PROTOCOL.md), with
// the guarantees of the C++ client::session: it authenticates on every
// connect, rejoins its rooms with since_seq + epoch, delivers every message
// of a room once and in seq order (gaps repaired by asking again), keeps a
// bounded offline queue of unacknowledged sends and resends them with their
// client_msg_id (the server's dedupe key), pings and declares a link dead
// after two missed pongs, reconnects with full-jitter backoff, and sends
// again what the server refused with `rate_limited` (matched by `ref`).
//
// No dependency: a browser's WebSocket, or in Node (>= 18) a WebSocket
// constructor passed in (e.g. the `ws` package). Timers are one interval of
// `tickMs` while started; every callback runs after the client's state was
// updated, never nested inside another, and nothing it throws escapes.

import { Backoff } from './backoff.js';
import { MessageQueue, DropReason } from './offline_queue.js';
import { RoomHistory } from './room_history.js';
import { SendPacer } from './pacer.js';
import { State } from './state.js';
import { sendMethods } from './client_send.js';
import { historyMethods, HANDLERS } from './client_events.js';
import { fallbackMethods, FALLBACK_DEFAULTS } from './rest_fallback.js';

export { Backoff, BACKOFF_DEFAULTS } from './backoff.js';
export { MessageQueue, DropReason, QUEUE_DEFAULTS, utf8Bytes } from './offline_queue.js';
export { RoomHistory } from './room_history.js';
export { RestClient, RestError } from './rest.js';
export { State } from './state.js';

export const WS_PATH = '/api/v1/ws/live-chat';


const ROOM_RE = /^conversation:[A-Za-z0-9_.@:-]{1,128}$/;
const MAX_TEXT = 5000;
const MAX_ID = 64;

/** True for a valid room name (`conversation:{id}`). */
export function isValidRoom(room) {
  return typeof room === 'string' && ROOM_RE.test(room);
}

/** `conversation:` + id, or the name as it is when it already has the prefix. */
export function roomOf(conversationId) {
  const s = String(conversationId).trim();
  return s.startsWith('conversation:') ? s : 'conversation:' + s;
}

/** The text the server stores: leading and trailing space, tab, CR, LF trimmed. */
export function trimText(text) {
  return String(text).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
}

function codePoints(s) {
  let n = 0;
  for (const _ of s) n += 1; // eslint-disable-line no-unused-vars
  return n;
}

function randomId() {
  const bytes = new Uint8Array(16);
  const c = globalThis.crypto;
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function defaultNow() {
  const p = globalThis.performance;
  return p && typeof p.now === 'function' ? p.now() : Date.now();
}

function defaultUrl() {
  const loc = globalThis.location;
  if (!loc || !loc.host) return null;
  return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + WS_PATH;
}

export const CLIENT_DEFAULTS = Object.freeze({
  connectTimeoutMs: 10000,
  defaultHeartbeatMs: 25000,  // until auth_success says heartbeat_interval_ms
  heartbeatMs: null,          // overrides the server's interval (tests, mobile)
  pongTimeoutMs: null,        // a ping unanswered this long is missed; default heartbeat / 2
  missedPongsBeforeDead: 2,
  sendBurst: 30,
  sendPerSecond: 15,
  rateLimitedPauseMs: 1000,
  maxHistory: 1000,
  tickMs: 100,                // 0: no timer of its own, the application calls tick()
});

/**
 * A reconnecting client session. See livechat.d.ts for the documented API.
 *
 *   const c = new LiveChatClient({ token: 'alice' });
 *   c.on('message', (m) => show(m));
 *   c.join('conversation:U123');
 *   c.start();
 *   c.send('conversation:U123', 'hello'); // queued until connected
 */
export class LiveChatClient {
  constructor(options = {}) {
    const o = { ...CLIENT_DEFAULTS, ...options };
    this._WS = o.WebSocket || globalThis.WebSocket;
    if (typeof this._WS !== 'function') {
      throw new TypeError('livechat: no WebSocket; pass options.WebSocket (in Node, e.g. the ws package)');
    }
    this._url = o.url || defaultUrl();
    if (!this._url) throw new TypeError('livechat: options.url is required outside a browser page');
    if (o.token !== undefined && typeof o.token !== 'string') throw new TypeError('livechat: token must be a string');
    this._token = o.token || '';
    this._now = typeof o.now === 'function' ? o.now : defaultNow;
    this._makeId = typeof o.makeClientMsgId === 'function' ? o.makeClientMsgId : randomId;
    this._o = o;
    this._backoff = new Backoff(o.backoff || {}, o.random);
    this._queue = new MessageQueue(o.queue || {}, (m, why, detail) => this._onQueueDrop(m, why, detail));
    this._pacer = new SendPacer(o.sendBurst, o.sendPerSecond, o.rateLimitedPauseMs);

    this._listeners = new Map();
    this._pendingCallbacks = [];
    this._depth = 0;

    this._state = State.disconnected;
    this._ws = null;
    this._timer = null;
    this._attemptStartedAt = 0;
    this._reconnectAt = null;
    this._connectedSince = null;
    this._heartbeatMs = o.defaultHeartbeatMs;
    this._nextPingAt = 0;
    this._pongDeadline = null;
    this._missedPongs = 0;

    this._me = null;
    this._online = new Map();
    this._rooms = new Map();    // room -> {history, initialJoin, unsentRead}
    this._inbox = new Map();    // room -> conversation summary (inbox_update, activity, receipts)
    this._watchInbox = false;

    this._ready = false;
    this._awaitingJoins = 0;
    this._requests = new Map(); // ref -> {kind, room, clientMsgId, initial}
    this._refCounter = 0;
    this._outbox = [];          // {frame} or {clientMsgId}
    this._scheduled = new Set();
    this._inFlight = new Set();
    this._pumping = false;

    // The REST fallback (rest_fallback.js), with a RestClient in options.rest.
    this._fallback = o.rest ? { ...FALLBACK_DEFAULTS, ...(o.fallback || {}), rest: o.rest } : null;
    this._restMode = false;
    this._restProbing = false;
    this._restPolling = false;
    this._restTimer = null;
    this._restPosted = new Set(); // ids whose POST is on its way
    this._neverOpened = 0;        // WebSocket attempts in a row that never authenticated
  }

  // ------------------------------------------------------------ events

  /** Adds a listener; returns a function that removes it. */
  on(type, fn) {
    if (typeof fn !== 'function') throw new TypeError('livechat: listener must be a function');
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    const set = this._listeners.get(type);
    if (set) set.delete(fn);
  }

  _emit(type, ...args) {
    const set = this._listeners.get(type);
    if (!set || set.size === 0) return;
    this._pendingCallbacks.push([type, args]);
  }

  /** Runs f, catching everything, then delivers the callbacks it queued once the outermost call is done. */
  _entry(f) {
    this._depth += 1;
    let result;
    try {
      result = f();
    } catch (e) {
      this._report({ kind: 'internal', message: String(e && e.stack ? e.stack : e) });
    }
    this._depth -= 1;
    if (this._depth === 0) {
      // Bounded: a callback may queue more (it re-enters), each batch drains in turn.
      for (let rounds = 0; this._pendingCallbacks.length > 0 && rounds < 1000; rounds += 1) {
        const batch = this._pendingCallbacks;
        this._pendingCallbacks = [];
        for (const [type, args] of batch) this._deliver(type, args);
      }
    }
    return result;
  }

  _deliver(type, args) {
    const set = this._listeners.get(type);
    if (!set) return;
    for (const fn of Array.from(set)) {
      try {
        this._depth += 1;
        fn(...args);
      } catch (e) {
        if (type !== 'error') this._report({ kind: 'callback', message: 'a callback threw: ' + String(e) });
      } finally {
        this._depth -= 1;
      }
    }
  }

  _report(err) {
    this._emit('error', { code: null, request_type: null, field: null, room: null, ...err });
  }

  // ------------------------------------------------------------ lifecycle

  /** disconnected → connecting. No-op otherwise. */
  start() {
    this._entry(() => {
      if (this._state !== State.disconnected) return;
      this._backoff.reset();
      this._startTimer();
      this._beginConnect();
    });
  }

  /** → disconnected: closes with 1000, no more reconnects. Rooms, queue and views are kept. */
  stop() {
    this._entry(() => {
      if (this._state === State.disconnected) return;
      this._reconnectAt = null;
      this._teardown();
      this._dropLink(1000, 'client stop');
      this._leaveRest();
      this._setState(State.disconnected);
      this._stopTimer();
    });
  }

  /** While reconnecting: the next attempt now (a "retry now" button). */
  retryNow() {
    this._entry(() => {
      if (this._state !== State.reconnecting) return;
      this._reconnectAt = null;
      this._beginConnect();
    });
  }

  /** Replaces the token used by the next `auth` (e.g. a refreshed JWT). */
  setToken(token) {
    if (typeof token !== 'string') throw new TypeError('livechat: token must be a string');
    this._token = token;
  }

  get state() { return this._state; }
  /** 'websocket', or 'rest' while the WebSocket cannot connect and the REST fallback carries on. */
  get transport() { return this._restMode ? 'rest' : 'websocket'; }
  /** True when connected, every room's rejoin answered, and queued messages flowing. */
  get ready() { return this._state === State.connected && this._ready; }
  /** auth_success's payload ({user_id, name, role, ...}) of the last connect, or null. */
  get me() { return this._me; }
  /** Milliseconds until the next reconnect attempt (state reconnecting), else null. */
  get reconnectInMs() {
    return this._reconnectAt === null ? null : Math.max(0, this._reconnectAt - this._now());
  }
  get backoff() { return this._backoff; }
  /** The unacknowledged messages, oldest first: {room, text, clientMsgId, enqueuedAt, retries}. */
  get queue() { return this._queue.items.map((m) => ({ ...m })); }
  /** Users online: {user_id, name, connections}, by user id. */
  get online() {
    return Array.from(this._online.values()).sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0));
  }
  /** The view of a remembered room, or null. */
  room(name) {
    const r = this._rooms.get(name);
    return r ? r.history.view : null;
  }
  rooms() { return Array.from(this._rooms.keys()).sort(); }
  /** The inbox's conversations (newest last message first), each with `unread`. */
  conversations() {
    const list = Array.from(this._inbox.values()).map((c) => ({ ...c, unread: this.unread(c.room) }));
    const at = (c) => (c.last_message && c.last_message.created_at) || '';
    return list.sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0));
  }
  /** last_seq - read_seq of a conversation, from what the server said (0 when unknown). */
  unread(room) {
    const c = this._inbox.get(room);
    const r = this._rooms.get(room);
    let last = c ? c.last_seq || 0 : 0;
    let read = c ? c.read_seq || 0 : 0;
    if (r && r.history.view.loaded) {
      last = Math.max(last, r.history.view.lastSeq);
      read = Math.max(read, r.history.view.readSeq);
    }
    return Math.max(0, last - read);
  }

  // ------------------------------------------------------------ typed API

  /** Remembers `room`; it is (re)joined on every connect, with since_seq and epoch once known. */
  join(room) {
    return this._entry(() => {
      if (!this._validRoom(room, 'join_room')) return false;
      if (this._rooms.has(room)) return true;
      const r = { history: new RoomHistory(room, this._o.maxHistory), initialJoin: false, unsentRead: null };
      this._rooms.set(room, r);
      const c = this._inbox.get(room);
      if (c) r.history.view.readSeq = c.read_seq || 0;
      if (this._state === State.connected) this._sendJoin(r, !this._ready);
      this._pump();
      return true;
    });
  }

  /** Forgets `room` (its unsent messages fail as `cancelled`) and leaves it on the server. */
  leave(room) {
    this._entry(() => {
      if (!this._forgetRoom(room, DropReason.cancelled)) return;
      if (this._state === State.connected) {
        this._enqueueFrame('leave_room', { room }, { kind: 'leave', room });
      }
      this._pump();
    });
  }

  /**
   * Queues `text` for `room`; returns its client_msg_id (or null when refused:
   * bad room, empty or too long text, reported as an 'error' of kind
   * invalid_argument). `options.clientMsgId` resends a failed message under
   * its first id, so the server stores it once.
   */
  send(room, text, options = {}) {
    return this._entry(() => {
      if (!this._validRoom(room, 'send_message')) return null;
      const attachmentId = options.attachmentId;
      if (attachmentId !== undefined && (typeof attachmentId !== 'string' || attachmentId.length === 0 ||
          attachmentId.length > 200)) {
        this._refuse('send_message', room, 'attachment_id must be a non-empty string');
        return null;
      }
      const trimmed = trimText(text === undefined || text === null ? '' : text);
      const n = codePoints(trimmed);
      // With an attachment the text is optional: the server uses the file name.
      if ((n === 0 && !attachmentId) || n > MAX_TEXT) {
        this._refuse('send_message', room, 'text must be 1-5000 characters after trimming');
        return null;
      }
      let id = options.clientMsgId !== undefined ? options.clientMsgId : this._makeId();
      if (typeof id !== 'string' || id.length === 0 || codePoints(id) > MAX_ID) {
        this._report({ kind: 'bad_setting', message: 'client_msg_id must be 1-64 characters; used a random id',
          request_type: 'send_message', field: 'client_msg_id', room });
        id = randomId();
      }
      if (this._queue.find(id)) return id; // already queued under this id
      const now = this._now();
      const item = { room, text: trimmed, clientMsgId: id };
      if (attachmentId) item.attachmentId = attachmentId;
      if (!this._queue.enqueue(item, now)) return id;
      const r = this._rooms.get(room);
      const pending = { clientMsgId: id, text: trimmed, enqueuedAt: now, state: 'queued' };
      if (attachmentId) pending.attachmentId = attachmentId;
      if (r) r.history.view.pending.push(pending);
      this._emit('message_state', { clientMsgId: id, room, text: trimmed, state: 'queued' });
      if (this._state === State.connected && this._ready) this._schedule(id);
      this._pump();
      return id;
    });
  }

  /**
   * Sends an uploaded attachment (RestClient.uploadAttachment's `id`), with
   * an optional text (the server defaults it to the file name); as send().
   */
  sendMessage(room, message = {}) {
    const m = typeof message === 'string' ? { text: message } : (message || {});
    return this.send(room, m.text, { clientMsgId: m.clientMsgId, attachmentId: m.attachmentId });
  }

  /** typing_start / typing_stop; dropped while not connected (a late indicator is wrong, not late). */
  typing(room, on) {
    this._entry(() => {
      if (!this._validRoom(room, on ? 'typing_start' : 'typing_stop')) return;
      if (this._state !== State.connected) return;
      this._enqueueFrame(on ? 'typing_start' : 'typing_stop', { room });
      this._pump();
    });
  }

  /** claim_session / release_session / close_session: refused (not_connected) while offline. */
  claim(room) { return this._sessionAction('claim_session', room); }
  release(room) { return this._sessionAction('release_session', room); }
  closeSession(room) { return this._sessionAction('close_session', room); }

  /** Records the read position; sent now when connected, else after the room is rejoined (the highest kept). */
  markRead(room, seq) {
    this._entry(() => {
      if (!this._validRoom(room, 'mark_read')) return;
      if (!Number.isInteger(seq) || seq < 0) {
        this._refuse('mark_read', room, 'seq must be an integer >= 0');
        return;
      }
      const r = this._rooms.get(room);
      if (r) r.history.view.readSeq = Math.max(r.history.view.readSeq, seq);
      const c = this._inbox.get(room);
      if (c && seq > (c.read_seq || 0)) {
        c.read_seq = seq;
        this._emit('summary', { ...c, unread: this.unread(room) });
      }
      if (this._state === State.connected && (!r || !r.history.joinOutstanding)) {
        if (r) r.unsentRead = null;
        this._enqueueFrame('mark_read', { room, seq });
      } else if (r) {
        r.unsentRead = Math.max(r.unsentRead || 0, seq);
      } else {
        this._report({ kind: 'not_connected', message: 'mark_read for a room not joined, while offline', room });
        return;
      }
      this._pump();
    });
  }

  /** watch_inbox / unwatch_inbox; remembered and repeated on every connect. */
  watchInbox(on = true) {
    this._entry(() => {
      const changed = this._watchInbox !== !!on;
      this._watchInbox = !!on;
      if (!changed || this._state !== State.connected) return;
      this._enqueueFrame(on ? 'watch_inbox' : 'unwatch_inbox', undefined, { kind: on ? 'watch' : 'unwatch' });
      this._pump();
    });
  }

  /** Older messages fetched elsewhere (REST before_seq) put in front of a room's view; returns how many. */
  prependHistory(room, messages, hasMore) {
    const r = this._rooms.get(room);
    return r ? r.history.prepend(messages, hasMore) : 0;
  }

  // ------------------------------------------------------------ plumbing

  _validRoom(room, requestType) {
    if (isValidRoom(room)) return true;
    this._refuse(requestType, room, 'room must be conversation:{id} with id matching [A-Za-z0-9_.@:-]{1,128}');
    return false;
  }

  _refuse(requestType, room, message) {
    this._report({ kind: 'invalid_argument', code: 'validation_error', message, request_type: requestType,
      room: typeof room === 'string' ? room : null });
  }

  _sessionAction(type, room) {
    return this._entry(() => {
      if (!this._validRoom(room, type)) return false;
      if (this._state !== State.connected) {
        this._report({ kind: 'not_connected', message: type + ' needs a connection', request_type: type, room });
        return false;
      }
      this._enqueueFrame(type, { room });
      this._pump();
      return true;
    });
  }

  _setState(to) {
    if (to === this._state) return;
    const from = this._state;
    this._state = to;
    this._emit('state', { from, to });
  }

  /** Runs the timers now (reconnect, timeouts, heartbeat, queue expiry, pacing); with tickMs 0 the application calls it. */
  tick() { this._tick(); }

  _startTimer() {
    if (this._timer !== null || !(this._o.tickMs > 0)) return;
    this._timer = setInterval(() => this._tick(), this._o.tickMs);
  }

  _stopTimer() {
    if (this._timer === null) return;
    clearInterval(this._timer);
    this._timer = null;
  }

  _newRef(req) {
    this._refCounter += 1;
    const ref = 'r' + this._refCounter;
    this._requests.set(ref, req);
    return ref;
  }

  _takeRequest(ref) {
    if (typeof ref !== 'string') return null;
    const r = this._requests.get(ref);
    if (!r) return null;
    this._requests.delete(ref);
    return r;
  }

  _frame(type, payload, req) {
    const f = { type };
    if (payload !== undefined) f.payload = payload;
    if (req) f.ref = this._newRef(req);
    return JSON.stringify(f);
  }

  // ------------------------------------------------------------ connection

  _beginConnect() {
    this._setState(State.connecting);
    this._attemptStartedAt = this._now();
    let url;
    try {
      url = typeof this._url === 'function' ? this._url() : this._url;
      const ws = new this._WS(url);
      this._ws = ws;
      ws.onopen = () => this._entry(() => this._onOpen(ws));
      ws.onmessage = (ev) => this._entry(() => this._onMessage(ws, ev.data));
      ws.onclose = (ev) => this._entry(() => this._onClose(ws, ev.code, ev.reason));
      ws.onerror = () => {}; // a close follows
    } catch (e) {
      this._ws = null;
      this._report({ kind: 'transport', message: 'connect failed: ' + String(e && e.message ? e.message : e) });
      this._lost(0, 'connect failed');
    }
  }

  /** Lets go of the current WebSocket at once: its late events are ignored. */
  _dropLink(code, reason) {
    const ws = this._ws;
    this._ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {};
    try {
      // A dead peer never answers a close handshake: Node's ws can cut the socket now.
      if (code !== 1000 && typeof ws.terminate === 'function') ws.terminate();
      else ws.close(code, reason);
    } catch (_) {
      // Closing a socket that is still connecting throws in some implementations.
    }
  }

  _onOpen(ws) {
    if (ws !== this._ws || this._state !== State.connecting) return;
    this._pacer.restart(this._now());
    this._setState(State.authenticating);
    this._sendNow(this._frame('auth', { token: this._token }, { kind: 'auth' }));
  }

  _onMessage(ws, data) {
    if (ws !== this._ws) return;
    this._missedPongs = 0;        // any frame proves the link alive
    this._pongDeadline = null;
    if (typeof data !== 'string') {
      this._report({ kind: 'malformed_frame', message: 'a binary frame from the server' });
      return;
    }
    let f;
    try {
      f = JSON.parse(data);
    } catch (_) {
      this._report({ kind: 'malformed_frame', message: 'a server frame that is not JSON' });
      return;
    }
    if (!f || typeof f !== 'object' || Array.isArray(f) || typeof f.type !== 'string') {
      this._report({ kind: 'malformed_frame', message: 'a server frame without a type' });
      return;
    }
    const p = f.payload && typeof f.payload === 'object' ? f.payload : {};
    const h = HANDLERS[f.type];
    if (h) h.call(this, p, typeof f.ref === 'string' ? f.ref : null);
    // A type from a newer server is not an error: unknown events are ignored.
    this._pump();
  }

  _onClose(ws, code, reason) {
    if (ws !== this._ws) return;
    this._ws = null;
    this._lost(code, reason || '');
  }

  _lost(code, reason) {
    const opened = this._state === State.connected;
    this._teardown();
    if (this._state === State.disconnected) return;
    if (code === 4003) {
      this._reconnectAt = null;
      this._setState(State.disconnected);
      this._stopTimer();
      this._report({ kind: 'auth_failed', code: 'auth_failed', message: 'the server refused the token (' + reason + '); not reconnecting' });
      return;
    }
    this._scheduleReconnect();
    if (!opened) this._noteAttempt(false);
  }

  /** We give up on the current connection (timeout, dead link). */
  _failConnection(reason) {
    const opened = this._state === State.connected;
    this._teardown();
    this._dropLink(4000, reason);
    this._scheduleReconnect();
    if (!opened) this._noteAttempt(false);
  }

  _scheduleReconnect() {
    const n = this._now();
    if (this._connectedSince !== null && n - this._connectedSince >= this._backoff.settings.stableAfterMs) {
      this._backoff.reset();
    }
    this._connectedSince = null;
    const delay = this._backoff.nextDelay();
    if (delay === null) {
      this._reconnectAt = null;
      this._setState(State.disconnected);
      this._stopTimer();
      this._report({ kind: 'reconnect_exhausted', message: 'gave up after ' + this._backoff.attempts + ' reconnect attempts' });
      return;
    }
    this._reconnectAt = n + delay;
    this._setState(State.reconnecting);
  }

  /** Forgets what belonged to the connection that ended; messages on the wire stay queued with one more retry. */
  _teardown() {
    this._ready = false;
    this._pacer.clearPause();
    this._awaitingJoins = 0;
    this._outbox = [];
    this._requests.clear();
    this._scheduled.clear();
    this._missedPongs = 0;
    this._pongDeadline = null;
    for (const r of this._rooms.values()) {
      r.history.connectionLost();
      r.initialJoin = false;
    }
    const retried = this._queue.items.filter((m) => this._inFlight.has(m.clientMsgId)).map((m) => m.clientMsgId);
    this._inFlight.clear();
    for (const id of retried) {
      if (this._queue.retry(id)) this._setPendingState(id, 'queued');
    }
  }

  _tick() {
    this._entry(() => {
      const n = this._now();
      switch (this._state) {
        case State.reconnecting:
          if (this._reconnectAt !== null && n >= this._reconnectAt) {
            this._reconnectAt = null;
            this._beginConnect();
          }
          break;
        case State.connecting:
        case State.authenticating:
          if (n - this._attemptStartedAt >= this._o.connectTimeoutMs) {
            this._report({ kind: 'connect_timeout', message: 'no connection after ' + this._o.connectTimeoutMs + ' ms' });
            this._failConnection('connect timeout');
          }
          break;
        case State.connected:
          if (this._connectedSince !== null && this._backoff.attempts !== 0 &&
              n - this._connectedSince >= this._backoff.settings.stableAfterMs) {
            this._backoff.reset();
          }
          this._heartbeat(n);
          break;
        default:
          break;
      }
      this._queue.expire(n);
      this._pump();
    });
  }

  /**
   * A ping every heartbeat; one unanswered for pongTimeout (half a heartbeat)
   * is missed and probed again at once, and the second miss in a row declares
   * the link dead: a frozen server is noticed within two heartbeats.
   */
  _heartbeat(n) {
    const pongTimeout = this._o.pongTimeoutMs || Math.max(1, Math.floor(this._heartbeatMs / 2));
    if (this._pongDeadline !== null && n >= this._pongDeadline) {
      this._missedPongs += 1;
      this._pongDeadline = null;
      if (this._missedPongs >= this._o.missedPongsBeforeDead) {
        this._report({ kind: 'heartbeat_timeout', message: this._missedPongs + ' pings without an answer' });
        this._failConnection('heartbeat timeout');
        return;
      }
      this._ping(n, pongTimeout);
    } else if (this._pongDeadline === null && n >= this._nextPingAt) {
      this._ping(n, pongTimeout);
    }
  }

  _ping(n, pongTimeout) {
    this._pongDeadline = n + pongTimeout;
    this._nextPingAt = n + this._heartbeatMs;
    this._sendNow(this._frame('ping'));
  }
}

Object.assign(LiveChatClient.prototype, sendMethods, historyMethods, fallbackMethods);
