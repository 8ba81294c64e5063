// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// LiveChatClient over REST while its WebSocket cannot connect at all (a
// proxy that refuses upgrades, or cuts them at once). After
// `fallback.afterFailures` attempts in a row that never authenticated, and
// once a REST call answers, the client polls the
// inbox and each remembered room (since_seq: the same history, gap-free and
// in order, through the same RoomHistory) and posts its queued messages in
// order with their client_msg_id, so a message retried over both paths is
// stored once. WebSocket attempts go on with their backoff; the first one
// that authenticates ends the fallback, and the rejoin's since_seq carries
// on from what the polls delivered. Mixed into LiveChatClient.prototype.

import { DropReason } from './offline_queue.js';

export const FALLBACK_DEFAULTS = Object.freeze({
  afterFailures: 3, // WebSocket attempts in a row that never authenticated
  pollMs: 3000,     // between two polls
});

const MAX_PAGES = 20; // per room and poll: a long catch-up goes on at the next poll

export const fallbackMethods = {
  /** A WebSocket attempt ended; `opened`: it got as far as auth_success. */
  _noteAttempt(opened) {
    if (opened) {
      this._neverOpened = 0;
      return;
    }
    this._neverOpened += 1;
    const f = this._fallback;
    if (f && !this._restMode && !this._restProbing && this._neverOpened >= f.afterFailures) this._probeRest();
  },

  /** The fallback starts only if REST answers: a server that is down is not a blocked WebSocket. */
  async _probeRest() {
    this._restProbing = true;
    try {
      await this._fallback.rest.listConversations({ limit: 1 });
      this._entry(() => {
        if (this._state === 'connected' || this._state === 'disconnected' || this._restMode) return;
        this._restMode = true;
        this._report({ kind: 'transport', message: 'the WebSocket cannot connect; working over REST' });
        this._emit('transport', 'rest');
        this._restSchedule(0);
      });
    } catch (_) {
      // REST is down too: the WebSocket's backoff goes on alone.
    } finally {
      this._restProbing = false;
    }
  },

  /** The WebSocket is back (auth_success): polls stop. */
  _leaveRest() {
    if (!this._restMode) return;
    this._restMode = false;
    clearTimeout(this._restTimer);
    this._restTimer = null;
    this._emit('transport', 'websocket');
  },

  _restSchedule(ms) {
    clearTimeout(this._restTimer);
    this._restTimer = setTimeout(() => this._restPoll(), ms);
  },

  async _restPoll() {
    if (!this._restMode || this._restPolling) return;
    this._restPolling = true;
    try {
      await this._restSend();
      if (this._watchInbox) await this._restInbox();
      for (const room of Array.from(this._rooms.keys())) {
        if (!this._restMode) break;
        await this._restRoom(room);
      }
    } catch (e) {
      this._entry(() => this._report({ kind: 'transport', code: e.code || null,
        message: 'REST poll failed: ' + String(e && e.message ? e.message : e) }));
    } finally {
      this._restPolling = false;
      if (this._restMode) this._restSchedule(this._fallback.pollMs);
    }
  },

  async _restInbox() {
    const page = await this._fallback.rest.listConversations({ limit: 100 });
    this._entry(() => {
      if (!this._restMode) return;
      const list = Array.isArray(page.conversations) ? page.conversations : [];
      this._replaceInbox(list); // as inbox_update's (online users are not in it)
    });
  },

  async _restRoom(room) {
    for (let n = 0; n < MAX_PAGES; n += 1) {
      const r = this._rooms.get(room);
      if (!r || !this._restMode) return;
      const v = r.history.view;
      const query = v.loaded ? { since_seq: v.lastSeq } : {};
      let page;
      try {
        page = await this._fallback.rest.history(room.slice('conversation:'.length), query);
      } catch (e) {
        if (e && e.status === 404) return; // no message yet
        throw e;
      }
      let more = false;
      this._entry(() => {
        const now = this._rooms.get(room);
        if (!now || now !== r || !this._restMode) return;
        const e = { room, messages: page.messages || [], last_seq: page.last_seq || 0,
          has_more: page.has_more === true, epoch: page.epoch };
        // On a since_seq page, has_more means more after it, not older ones.
        if (v.loaded) e.has_more = false;
        const before = v.lastSeq;
        r.history.onUpdate(e, false, () => this._emit('history_reset', room), (m) => this._applied(r, m));
        const c = this._inbox.get(room);
        if (c && v.lastSeq > (c.last_seq || 0)) c.last_seq = v.lastSeq;
        more = page.has_more === true && v.lastSeq > before;
      });
      if (!more) return;
    }
  },

  /** Posts the queued messages in order, one at a time; stops at the first that cannot go now. */
  async _restSend() {
    for (let n = 0; n < 100 && this._restMode; n += 1) {
      const m = this._queue.items.find((x) => !this._restPosted.has(x.clientMsgId));
      if (!m) return;
      const { room, text, clientMsgId, attachmentId } = m;
      this._restPosted.add(clientMsgId);
      this._entry(() => this._setPendingState(clientMsgId, 'sending'));
      let res;
      try {
        res = await this._fallback.rest.postMessage(room.slice('conversation:'.length), text, clientMsgId, attachmentId);
      } catch (e) {
        this._restPosted.delete(clientMsgId);
        const status = e && e.status;
        this._entry(() => {
          if (status && status >= 400 && status < 500 && status !== 429 && status !== 401) {
            this._queue.drop(clientMsgId, DropReason.rejected, { code: e.code, message: e.message });
          } else if (!status || this._queue.retry(clientMsgId)) {
            // No answer at all is not a try: the queue's age bounds the wait.
            this._setPendingState(clientMsgId, 'queued');
          }
        });
        if (status === 429 || !status) return; // later: the bucket refills, the network comes back
        continue;
      }
      this._restPosted.delete(clientMsgId);
      this._entry(() => {
        const msg = res && res.message;
        if (!msg) return;
        const ours = this._confirm(clientMsgId, room);
        const r = this._rooms.get(room);
        if (r) this._deliverLive(r, msg);
        if (ours) {
          this._emit('message_state', { clientMsgId, room, text: msg.text, state: 'sent', message: msg,
            duplicate: res.duplicate === true });
        }
      });
    }
  },
};

