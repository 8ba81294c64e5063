// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// LiveChatClient's server events (as client/impl/session_events.hpp in
// C++): one handler per event type, and the delivery of what each room's
// history applies. Mixed into LiveChatClient.prototype by livechat.js.

import { State } from './state.js';
import { DropReason } from './offline_queue.js';

/** The highest session version wins, whichever path it came by. */
function newerSession(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  return b.version >= a.version ? b : a;
}

export const historyMethods = {
  // ------------------------------------------------------------ history

  _applied(r, m) {
    // Our own message seen in history before its acknowledgement (which a
    // disconnect may have swallowed): it is stored, so no resend is needed.
    const me = this._me;
    if (m.client_msg_id && me && m.sender && m.sender.type === 'operator' && m.sender.id === me.user_id &&
        this._confirm(m.client_msg_id, r.history.view.name)) {
      this._emit('message_state', { clientMsgId: m.client_msg_id, room: m.room, text: m.text, state: 'sent',
        message: m, duplicate: true });
    }
    this._emit('message', m);
  },

  _deliverLive(r, m) {
    if (!m || !Number.isInteger(m.seq)) return;
    const what = r.history.onLive(m, (x) => this._applied(r, x));
    // The fill's conversation_update will contain m.
    if (what === 'gap' && !r.history.filling) this._requestFill(r);
  },

  _updateSession(room, s) {
    if (!s || typeof s !== 'object' || !Number.isInteger(s.version)) return;
    const r = this._rooms.get(room);
    const c = this._inbox.get(room);
    const known = newerSession(r ? r.history.view.session : null, c ? c.session : null);
    if (r) r.history.view.session = newerSession(r.history.view.session, s);
    if (c) c.session = newerSession(c.session, s);
    if (!known || s.version > known.version) this._emit('session', room, s);
  },

  /**
   * The inbox replaced by a list of conversation summaries (inbox_update's,
   * or the REST list's while the WebSocket cannot connect); the joined
   * rooms take their read_seq and session from it.
   */
  _replaceInbox(list) {
    this._inbox.clear();
    for (const c of Array.isArray(list) ? list : []) {
      if (!c || typeof c.room !== 'string') continue;
      this._inbox.set(c.room, { ...c, read_seq: c.read_seq || 0, last_seq: c.last_seq || 0 });
      const r = this._rooms.get(c.room);
      if (r) {
        r.history.view.readSeq = Math.max(r.history.view.readSeq, c.read_seq || 0);
        this._updateSession(c.room, c.session);
      }
    }
    this._emit('inbox', this.conversations());
  },

  _summary(room) {
    const c = this._inbox.get(room);
    if (c) this._emit('summary', { ...c, unread: this.unread(room) });
  },
  _sessionEvent(what, p) {
    if (typeof p.room !== 'string') return;
    this._updateSession(p.room, p.session);
    this._emit('session_event', { type: what, room: p.room, session: p.session });
    this._summary(p.room);
  },
};

/** One handler per server event type, called with the client as `this`. */
export const HANDLERS = {
  auth_success(p, ref) {
    this._takeRequest(ref);
    if (this._state !== State.authenticating) return;
    const n = this._now();
    this._me = p;
    this._heartbeatMs = this._o.heartbeatMs ||
      (Number.isInteger(p.heartbeat_interval_ms) && p.heartbeat_interval_ms > 0 ? p.heartbeat_interval_ms : this._o.defaultHeartbeatMs);
    this._connectedSince = n;
    this._nextPingAt = n + this._heartbeatMs;
    this._pongDeadline = null;
    this._missedPongs = 0;
    this._setState(State.connected);
    this._noteAttempt(true);
    this._leaveRest();
    this._emit('auth', p);
    if (this._watchInbox) this._enqueueFrame('watch_inbox', undefined, { kind: 'watch' });
    for (const r of this._rooms.values()) this._sendJoin(r, true);
    if (this._awaitingJoins === 0) this._becomeReady();
  },

  conversation_update(p, ref) {
    const req = this._takeRequest(ref);
    const r = this._rooms.get(p.room);
    const wasFill = !!(r && r.history.filling && req && req.kind === 'join');
    if (r) {
      const v = r.history.view;
      if (Array.isArray(p.members)) v.members = p.members.slice();
      if (Number.isInteger(p.read_seq)) v.readSeq = Math.max(v.readSeq, p.read_seq);
      this._updateSession(p.room, p.session);
      this._finishJoin(r, req);
      const fill = r.history.onUpdate(p, wasFill, () => this._emit('history_reset', p.room),
        (m) => this._applied(r, m));
      if (fill) this._requestFill(r);
    }
    const c = this._inbox.get(p.room);
    if (c) {
      if (Number.isInteger(p.last_seq)) c.last_seq = Math.max(c.last_seq || 0, p.last_seq);
      if (Number.isInteger(p.read_seq)) c.read_seq = Math.max(c.read_seq || 0, p.read_seq);
      if (p.customer) c.customer = p.customer;  // a profile that arrived later
      this._summary(p.room);
    }
    this._emit('conversation', p);
  },

  new_message(p) {
    const m = p.message;
    if (!m || typeof m.room !== 'string') return;
    const r = this._rooms.get(m.room);
    if (r) this._deliverLive(r, m);
  },

  message_sent(p, ref) {
    const req = this._takeRequest(ref);
    const m = p.message;
    if (!m || typeof m.room !== 'string') return;
    const id = typeof p.client_msg_id === 'string' ? p.client_msg_id : req ? req.clientMsgId : null;
    const ours = !!id && this._confirm(id, m.room);
    const r = this._rooms.get(m.room);
    if (r) this._deliverLive(r, m);
    if (ours) {
      this._emit('message_state', { clientMsgId: id, room: m.room, text: m.text, state: 'sent', message: m,
        duplicate: p.duplicate === true });
    }
  },

  error(p, ref) {
    const req = this._takeRequest(ref);
    const code = typeof p.code === 'string' ? p.code : 'internal';
    this._report({ kind: 'server', code, message: String(p.message || code),
      request_type: p.request_type || null, field: p.field || null, room: req ? req.room || null : null });
    if (code === 'rate_limited') {
      // Not processed. A frame with a ref (send, join, leave, inbox, auth) is
      // sent again after the pause; typing, mark_read and the session actions
      // carry none: a late typing is wrong, the next mark_read supersedes this
      // one, and a claim is the operator's decision to repeat.
      this._pacer.slowDown(this._now());
      if (req) this._resendRefused(req);
      return;
    }
    if (!req) return;
    switch (req.kind) {
      case 'auth':
        if (this._state === State.authenticating) {
          this._teardown();
          this._dropLink(1000, 'auth refused');
          this._reconnectAt = null;
          this._setState(State.disconnected);
          this._stopTimer();
          this._report({ kind: 'auth_failed', code: 'auth_failed', message: 'the server refused the token; not reconnecting' });
        }
        break;
      case 'join': {
        const r = this._rooms.get(req.room);
        this._finishJoin(r, req);
        // internal: a store hiccup, worth another try on the next connect;
        // anything else will not change, so forget the room.
        if (r && code !== 'internal') this._forgetRoom(req.room, DropReason.rejected);
        break;
      }
      case 'send':
        this._inFlight.delete(req.clientMsgId);
        if (code === 'internal') {
          if (this._queue.retry(req.clientMsgId)) {
            this._setPendingState(req.clientMsgId, 'queued');
            this._schedule(req.clientMsgId);
          }
        } else {
          this._queue.drop(req.clientMsgId, DropReason.rejected, { code, message: String(p.message || code) });
        }
        break;
      default:
        break;
    }
  },

  presence_update(p) {
    this._online.clear();
    for (const u of Array.isArray(p.online) ? p.online : []) this._online.set(u.user_id, u);
    this._emit('presence', this.online);
  },

  presence_diff(p) {
    for (const id of Array.isArray(p.offline) ? p.offline : []) this._online.delete(id);
    for (const u of Array.isArray(p.online) ? p.online : []) this._online.set(u.user_id, u);
    this._emit('presence', this.online);
  },

  inbox_update(p, ref) {
    this._takeRequest(ref);
    this._online.clear();
    for (const u of Array.isArray(p.online) ? p.online : []) this._online.set(u.user_id, u);
    this._replaceInbox(p.conversations);
    this._emit('presence', this.online);
  },

  inbox_unwatched(p, ref) { this._takeRequest(ref); },
  room_left(p, ref) { this._takeRequest(ref); },
  pong(p, ref) { this._takeRequest(ref); },

  conversation_activity(p) {
    if (typeof p.room !== 'string') return;
    let c = this._inbox.get(p.room);
    if (!c) {
      c = { room: p.room, conversation_id: p.conversation_id, last_message: null, last_seq: 0, session: null, read_seq: 0 };
      const r = this._rooms.get(p.room);
      if (r) c.read_seq = r.history.view.readSeq;
      this._inbox.set(p.room, c);
    }
    if (p.last_message) {
      const seq = p.last_message.seq || 0;
      if (seq >= (c.last_seq || 0)) {
        c.last_message = p.last_message;
        c.last_seq = seq;
      }
    }
    if (p.customer) c.customer = p.customer;
    this._updateSession(p.room, p.session);
    this._emit('conversation_activity', p);
    this._summary(p.room);
  },

  typing(p) { this._emit('typing', p); },

  // A pending attachment became ready or failed: the stored message (in the
  // room's view, and the inbox's last message) takes the new attachment, so
  // a view drawn from either shows it without refetching history.
  attachment_updated(p) {
    if (!p || typeof p.room !== 'string' || !p.attachment || typeof p.attachment !== 'object') return;
    const same = (m) => m && m.room === p.room &&
      ((typeof p.message_id === 'string' && m.id === p.message_id) || (Number.isInteger(p.seq) && m.seq === p.seq));
    let message = null;
    const r = this._rooms.get(p.room);
    if (r) {
      message = r.history.view.messages.find(same) || null;
      if (message) message.attachment = p.attachment;
    }
    const c = this._inbox.get(p.room);
    if (c && same(c.last_message)) c.last_message = { ...c.last_message, attachment: p.attachment };
    this._emit('attachment_updated', { room: p.room, message_id: p.message_id, seq: p.seq,
      attachment: p.attachment, message });
  },

  operator_joined(p) {
    const r = this._rooms.get(p.room);
    if (r && !r.history.view.members.some((u) => u.user_id === p.user_id)) {
      r.history.view.members.push({ user_id: p.user_id, name: p.name });
      r.history.view.members.sort((a, b) => (a.user_id < b.user_id ? -1 : 1));
    }
    this._emit('operator_joined', p);
  },

  operator_left(p) {
    const r = this._rooms.get(p.room);
    if (r) r.history.view.members = r.history.view.members.filter((u) => u.user_id !== p.user_id);
    this._emit('operator_left', p);
  },

  session_claimed(p) { this._sessionEvent('claimed', p); },
  session_released(p) { this._sessionEvent('released', p); },
  session_closed(p) { this._sessionEvent('closed', p); },

  read_receipt(p) {
    // The same user's other tabs move this one's read position too.
    if (this._me && p.user_id === this._me.user_id && Number.isInteger(p.seq)) {
      const r = this._rooms.get(p.room);
      if (r) r.history.view.readSeq = Math.max(r.history.view.readSeq, p.seq);
      const c = this._inbox.get(p.room);
      if (c && p.seq > (c.read_seq || 0)) c.read_seq = p.seq;
      this._summary(p.room);
    }
    this._emit('read_receipt', p);
  },
};
