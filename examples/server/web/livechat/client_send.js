// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// LiveChatClient's sending (as client/impl/session_send.hpp in C++): the
// outbox paced by the send pacer, the queued messages scheduled behind the
// rejoins, the resends after `rate_limited`, the joins and the readiness
// they gate, and the queue's drops and confirmations. Methods mixed into
// LiveChatClient.prototype by livechat.js.

import { State } from './state.js';

export const sendMethods = {
  // ------------------------------------------------------------ sending

  _sendNow(frame) {
    this._pacer.consume(this._now());
    try {
      this._ws.send(frame);
    } catch (e) {
      this._report({ kind: 'transport', message: 'send failed: ' + String(e && e.message ? e.message : e) });
      if (this._ws) this._failConnection('send failed');
    }
  },

  _enqueueFrame(type, payload, req) {
    this._outbox.push({ type, payload, req });
  },

  _schedule(id) {
    if (this._scheduled.has(id) || this._inFlight.has(id)) return;
    this._scheduled.add(id);
    this._outbox.push({ clientMsgId: id });
  },

  /** Sends what the token bucket allows, in order; nothing while paused after a rate_limited. */
  _pump() {
    if (this._pumping || !this._ws || this._state === State.connecting) return;
    const n = this._now();
    if (this._pacer.paused(n)) return;
    this._pumping = true;
    try {
      this._pacer.refill(n);
      while (this._outbox.length > 0 && this._ws && this._pacer.ready()) {
        const o = this._outbox.shift();
        let frame;
        if (o.clientMsgId) {
          this._scheduled.delete(o.clientMsgId);
          const m = this._queue.find(o.clientMsgId);
          if (!m) continue; // acknowledged, expired or dropped meanwhile
          this._inFlight.add(m.clientMsgId);
          const payload = { room: m.room, client_msg_id: m.clientMsgId };
          if (m.text) payload.text = m.text;
          if (m.attachmentId) payload.attachment_id = m.attachmentId;
          frame = this._frame('send_message', payload, { kind: 'send', room: m.room, clientMsgId: m.clientMsgId });
          this._setPendingState(m.clientMsgId, 'sending');
        } else {
          // Encoded now, so a ref names a request of this connection.
          frame = this._frame(o.type, o.payload, o.req);
        }
        this._sendNow(frame);
      }
    } finally {
      this._pumping = false;
    }
  },

  _setPendingState(id, state) {
    const m = this._queue.find(id);
    if (!m) return;
    const r = this._rooms.get(m.room);
    const p = r ? r.history.view.pending.find((x) => x.clientMsgId === id) : null;
    if (p) {
      if (p.state === state) return;
      p.state = state;
    }
    this._emit('message_state', { clientMsgId: id, room: m.room, text: m.text, state, retries: m.retries });
  },

  /** Sends again, after the pause, what a `rate_limited` named by its ref. */
  _resendRefused(req) {
    switch (req.kind) {
      case 'send':
        this._inFlight.delete(req.clientMsgId);
        if (this._queue.retry(req.clientMsgId)) {
          this._setPendingState(req.clientMsgId, 'queued');
          this._rescheduleMessages();
        }
        break;
      case 'auth':
        if (this._state === State.authenticating) this._enqueueFrame('auth', { token: this._token }, req);
        break;
      case 'join': {
        const r = this._rooms.get(req.room);
        if (r && r.history.joinOutstanding) this._enqueueFrame('join_room', r.history.joinPayload(), req);
        break;
      }
      case 'leave':
        this._enqueueFrame('leave_room', { room: req.room }, req);
        break;
      case 'watch':
      case 'unwatch':
        if ((req.kind === 'watch') !== this._watchInbox) break; // changed mind since
        this._enqueueFrame(this._watchInbox ? 'watch_inbox' : 'unwatch_inbox', undefined, req);
        break;
      default:
        break;
    }
  },

  /** Every queued message not on the wire goes back in the outbox, in queue order, behind the frames. */
  _rescheduleMessages() {
    if (!this._ready) return; // becoming ready schedules them all
    this._outbox = this._outbox.filter((o) => !o.clientMsgId);
    this._scheduled.clear();
    for (const m of this._queue.items) this._schedule(m.clientMsgId);
  },

  _sendJoin(r, initial, fill = false) {
    const payload = r.history.joinPayload();
    r.history.joinSent(fill);
    r.initialJoin = initial;
    if (initial) this._awaitingJoins += 1;
    this._enqueueFrame('join_room', payload, { kind: 'join', room: r.history.view.name, initial });
  },

  _requestFill(r) {
    if (this._state !== State.connected || r.history.joinOutstanding) return;
    this._sendJoin(r, false, true);
  },

  _forgetRoom(room, why) {
    const r = this._rooms.get(room);
    if (!r) return false;
    if (r.history.joinOutstanding && r.initialJoin) this._joinAnswered();
    this._rooms.delete(room);
    const ids = this._queue.items.filter((m) => m.room === room).map((m) => m.clientMsgId);
    for (const id of ids) this._queue.drop(id, why);
    return true;
  },

  _finishJoin(r, req) {
    if (!r || !req || req.kind !== 'join' || !r.history.joinAnswered()) return;
    if (r.unsentRead !== null && this._state === State.connected) {
      this._enqueueFrame('mark_read', { room: r.history.view.name, seq: r.unsentRead });
      r.unsentRead = null;
    }
    if (req.initial && r.initialJoin) {
      r.initialJoin = false;
      this._joinAnswered();
    }
  },

  _joinAnswered() {
    if (this._awaitingJoins > 0) {
      this._awaitingJoins -= 1;
      if (this._awaitingJoins === 0 && this._state === State.connected) this._becomeReady();
    }
  },

  _becomeReady() {
    this._ready = true;
    for (const m of this._queue.items) this._schedule(m.clientMsgId);
    this._emit('ready');
  },

  // ------------------------------------------------------------ queue

  _onQueueDrop(m, why, detail) {
    this._inFlight.delete(m.clientMsgId);
    this._scheduled.delete(m.clientMsgId);
    this._removePending(m.room, m.clientMsgId);
    const e = { clientMsgId: m.clientMsgId, room: m.room, text: m.text, state: 'failed',
      reason: why, error: detail || null, retries: m.retries };
    if (m.attachmentId) e.attachmentId = m.attachmentId;
    this._emit('message_state', e);
  },

  _removePending(room, id) {
    const r = this._rooms.get(room);
    if (!r) return false;
    const p = r.history.view.pending;
    const i = p.findIndex((x) => x.clientMsgId === id);
    if (i < 0) return false;
    p.splice(i, 1);
    return true;
  },

  /** The message is stored: out of the queue and the optimistic list. True when it was still ours. */
  _confirm(id, room) {
    this._inFlight.delete(id);
    this._scheduled.delete(id);
    const queued = this._queue.remove(id);
    const shown = this._removePending(room, id);
    return queued || shown;
  },

};
