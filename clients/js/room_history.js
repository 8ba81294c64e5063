// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// One room's history on the client and the repair of its gaps, as
// client::room_history in C++: the lineage (epoch), the last seq applied,
// the join that asks for what is missing (since_seq + epoch), paging through
// `has_more` replies, and the reset when the server's lineage is not ours.
// Messages are applied only in order (seq === lastSeq + 1): one at or below
// lastSeq is a duplicate and ignored; a jump is a gap, repaired by joining
// again with since_seq. It decides; the client sends the joins it asks for
// and delivers what it applies.

export class RoomHistory {
  constructor(name, maxHistory = 1000) {
    this.maxHistory = maxHistory;
    /** What the client shows of the room; RoomHistory touches epoch, lastSeq, messages, loaded. */
    this.view = {
      name,
      epoch: '',
      lastSeq: 0,
      messages: [],  // confirmed, seq order, no duplicates (the last maxHistory)
      pending: [],   // sent, not confirmed: {clientMsgId, text, enqueuedAt, state}
      session: null, // the highest version seen
      members: [],
      readSeq: 0,    // this user's read position
      hasOlder: false, // the first snapshot said older messages exist (has_more)
      loaded: false,
    };
    this.joinOutstanding = false;
    this.filling = false;
  }

  /** The join_room payload: with since_seq and epoch once the history is known. */
  joinPayload() {
    const p = { room: this.view.name };
    if (this.view.loaded) {
      p.since_seq = this.view.lastSeq;
      p.epoch = this.view.epoch;
    }
    return p;
  }

  joinSent(fill = false) {
    this.joinOutstanding = true;
    if (fill) this.filling = true;
  }

  /** The outstanding join was answered; false when none was. */
  joinAnswered() {
    if (!this.joinOutstanding) return false;
    this.joinOutstanding = false;
    this.filling = false;
    return true;
  }

  connectionLost() {
    this.joinOutstanding = false;
    this.filling = false;
  }

  /** A live message: 'ignored' (not loaded yet, or seen), 'applied', or 'gap'. */
  onLive(m, applied) {
    if (!this.view.loaded || m.seq <= this.view.lastSeq) return 'ignored';
    if (m.seq !== this.view.lastSeq + 1) return 'gap';
    this._apply(m);
    applied(m);
    return 'applied';
  }

  /**
   * A conversation_update for this room. The history is kept when the epoch
   * is the same and the server has at least what we have; otherwise it is
   * replaced (reset() first when there was one). True when another fill is
   * due: the server has more than the reply brought us to, no join is
   * outstanding, and this is not a fill that brought nothing.
   */
  onUpdate(e, wasFill, reset, applied) {
    const v = this.view;
    const before = v.lastSeq;
    const messages = Array.isArray(e.messages) ? e.messages : [];
    const lastSeq = Number.isInteger(e.last_seq) ? e.last_seq : 0;
    const kept = v.loaded && e.epoch === v.epoch && lastSeq >= v.lastSeq;
    if (!kept) {
      const hadHistory = v.loaded;
      v.epoch = typeof e.epoch === 'string' ? e.epoch : '';
      v.messages = [];
      v.lastSeq = 0;
      v.loaded = true;
      // Older messages than this snapshot exist: the latest page was cut.
      v.hasOlder = e.has_more === true && messages.length > 0 && messages[0].seq > 1;
      if (hadHistory) reset();
      for (const m of messages) {
        if (m.seq > v.lastSeq) {
          this._apply(m);
          applied(m);
        }
      }
      if (messages.length === 0) v.lastSeq = lastSeq;
    } else {
      for (const m of messages) {
        if (m.seq <= v.lastSeq) continue;
        if (m.seq !== v.lastSeq + 1) break; // a hole: the fill asks again
        this._apply(m);
        applied(m);
      }
    }
    return v.lastSeq < lastSeq && !this.joinOutstanding && !(wasFill && v.lastSeq === before);
  }

  /** Older messages fetched by the application (REST before_seq), put in front. */
  prepend(older, hasMore) {
    const v = this.view;
    const first = v.messages.length > 0 ? v.messages[0].seq : v.lastSeq + 1;
    const take = older.filter((m) => Number.isInteger(m.seq) && m.seq < first)
      .sort((a, b) => a.seq - b.seq);
    v.messages = take.concat(v.messages);
    v.hasOlder = hasMore === true;
    return take.length;
  }

  _apply(m) {
    const v = this.view;
    v.lastSeq = m.seq;
    v.messages.push(m);
    if (v.messages.length > this.maxHistory) v.messages.splice(0, v.messages.length - this.maxHistory);
  }
}
