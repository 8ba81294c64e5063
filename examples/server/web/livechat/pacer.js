// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The client's pace of outgoing frames: a token bucket kept below the
// server's default limit (40, refilled at 20/s) so a reconnect that flushes
// a full queue and rejoins many rooms does not run into `rate_limited`; and
// after a `rate_limited`, a pause and half the pace for the rest of the
// connection (never below 1 frame/s), so a server with a lower limit is
// matched after a few refusals instead of closing the connection for too
// many of them (as client::detail::send_pacer in C++).

export class SendPacer {
  constructor(burst = 30, perSecond = 15, pauseMs = 1000) {
    this._settings = { burst: Math.max(1, burst), perSecond: Math.max(0.001, perSecond) };
    this._pauseMs = pauseMs;
    this.restart(0);
  }

  /** A new connection starts with a full bucket on the server: so does the pace. */
  restart(now) {
    this._pace = { ...this._settings };
    this._tokens = this._pace.burst;
    this._at = now;
    this.pausedUntil = null;
  }

  clearPause() { this.pausedUntil = null; }

  paused(now) {
    if (this.pausedUntil === null) return false;
    if (now < this.pausedUntil) return true;
    this.pausedUntil = null;
    return false;
  }

  refill(now) {
    if (now > this._at) {
      this._tokens = Math.min(this._pace.burst, this._tokens + ((now - this._at) / 1000) * this._pace.perSecond);
      this._at = now;
    }
  }

  ready() { return this._tokens >= 1; }

  /** A frame goes out; frames that must not wait (auth, ping) may take it below zero. */
  consume(now) {
    this.refill(now);
    this._tokens -= 1;
  }

  /** The server refused a frame: pause, then half the pace. Refusals during the pause answer earlier frames. */
  slowDown(now) {
    if (this.pausedUntil !== null && now < this.pausedUntil) return;
    this._pace.perSecond = Math.max(1, this._pace.perSecond / 2);
    this._pace.burst = Math.max(1, this._pace.burst / 2);
    this.pausedUntil = now + this._pauseMs;
    this._tokens = 1;  // the first frame goes out as the pause ends
    this._at = this.pausedUntil;
  }

  get perSecond() { return this._pace.perSecond; }
  get burst() { return this._pace.burst; }
}
