// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The bounded offline queue: messages the user wrote that the server has not
// acknowledged yet, bounded by count, bytes and age (as client::message_queue
// in C++), because a client offline for an hour must neither grow without
// limit nor deliver a stale "on my way" an hour late. Every message that
// leaves unacknowledged goes to the drop handler with its reason, so a user
// interface can show it as failed instead of "sending" forever.

/** Default queue settings. */
export const QUEUE_DEFAULTS = Object.freeze({
  maxMessages: 100,
  maxBytes: 256 * 1024, // sum of the texts' UTF-8 sizes
  maxAgeMs: 5 * 60000,  // per message, from the time it was queued
  maxRetries: 3,        // resends beyond this drop the message
  overflow: 'reject_new', // or 'drop_oldest'
});

/** Why a message left the queue unacknowledged. */
export const DropReason = Object.freeze({
  overflow: 'overflow',
  expired: 'expired',
  too_many_retries: 'too_many_retries',
  too_large: 'too_large',
  rejected: 'rejected',
  cancelled: 'cancelled',
});

const encoder = new TextEncoder();

/** UTF-8 size of a string in bytes. */
export function utf8Bytes(s) {
  return encoder.encode(s).length;
}

export class MessageQueue {
  constructor(settings = {}, onDrop = null) {
    const s = { ...QUEUE_DEFAULTS, ...settings };
    const count = (v, d) => (Number.isInteger(v) && v >= 0 ? v : d);
    this.settings = Object.freeze({
      maxMessages: count(s.maxMessages, QUEUE_DEFAULTS.maxMessages),
      maxBytes: count(s.maxBytes, QUEUE_DEFAULTS.maxBytes),
      maxAgeMs: typeof s.maxAgeMs === 'number' && s.maxAgeMs >= 0 ? s.maxAgeMs : QUEUE_DEFAULTS.maxAgeMs,
      maxRetries: count(s.maxRetries, QUEUE_DEFAULTS.maxRetries),
      overflow: s.overflow === 'drop_oldest' ? 'drop_oldest' : 'reject_new',
    });
    this._items = [];
    this._bytes = 0;
    this._onDrop = onDrop;
  }

  get size() { return this._items.length; }
  get bytes() { return this._bytes; }
  /** The queued messages, oldest first (do not modify). */
  get items() { return this._items; }

  find(clientMsgId) {
    return this._items.find((m) => m.clientMsgId === clientMsgId) || null;
  }

  /**
   * Appends {room, text, clientMsgId, attachmentId?}; expired messages go first. False (and
   * the drop reported) when the text alone is over maxBytes or the queue is
   * full under reject_new; drop_oldest evicts the oldest until it fits.
   */
  enqueue(m, now) {
    const item = { room: m.room, text: m.text, clientMsgId: m.clientMsgId, enqueuedAt: now,
      retries: 0, bytes: utf8Bytes(m.text) };
    if (m.attachmentId) item.attachmentId = m.attachmentId;
    this.expire(now);
    if (item.bytes > this.settings.maxBytes) {
      this._notify(item, DropReason.too_large);
      return false;
    }
    const fits = () => this._items.length < this.settings.maxMessages &&
      this._bytes + item.bytes <= this.settings.maxBytes;
    if (!fits() && this.settings.overflow === 'drop_oldest') {
      while (this._items.length > 0 && !fits()) this._notify(this._take(0), DropReason.overflow);
    }
    if (!fits()) {
      this._notify(item, DropReason.overflow);
      return false;
    }
    this._bytes += item.bytes;
    this._items.push(item);
    return true;
  }

  /** One more try for a message; beyond maxRetries it is dropped. True if it stays. */
  retry(clientMsgId) {
    const i = this._index(clientMsgId);
    if (i < 0) return false;
    const item = this._items[i];
    if (item.retries >= this.settings.maxRetries) {
      this._take(i);
      item.retries += 1;
      this._notify(item, DropReason.too_many_retries);
      return false;
    }
    item.retries += 1;
    return true;
  }

  /** Acknowledged: taken out without a drop. */
  remove(clientMsgId) {
    const i = this._index(clientMsgId);
    if (i < 0) return false;
    this._take(i);
    return true;
  }

  /** Taken out and reported with `reason` (and `detail`, e.g. the server's error). */
  drop(clientMsgId, reason, detail) {
    const i = this._index(clientMsgId);
    if (i < 0) return false;
    this._notify(this._take(i), reason, detail);
    return true;
  }

  /** Drops the messages older than maxAgeMs; returns how many. */
  expire(now) {
    let n = 0;
    for (let i = 0; i < this._items.length;) {
      if (now - this._items[i].enqueuedAt >= this.settings.maxAgeMs) {
        this._notify(this._take(i), DropReason.expired);
        n += 1;
      } else {
        i += 1;
      }
    }
    return n;
  }

  _index(clientMsgId) {
    return this._items.findIndex((m) => m.clientMsgId === clientMsgId);
  }

  _take(i) {
    const [item] = this._items.splice(i, 1);
    this._bytes -= item.bytes;
    return item;
  }

  _notify(item, reason, detail) {
    if (!this._onDrop) return;
    try {
      this._onDrop(item, reason, detail);
    } catch (_) {
      // Dropping must not fail halfway through a queue operation.
    }
  }
}
