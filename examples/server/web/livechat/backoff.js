// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Reconnect delays: exponential growth with "full jitter" (a uniform draw
// between zero and the exponential bound), as client::backoff in C++.
// Jitter matters more than the curve: after a server restart every client
// reconnects at once, and without it they retry in lockstep.

/** Default backoff settings (milliseconds). */
export const BACKOFF_DEFAULTS = Object.freeze({
  baseMs: 500,
  capMs: 20000,
  factor: 2,
  jitter: true,
  maxAttempts: null,
  stableAfterMs: 10000,
});

function nonNegative(v, fallback) {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fallback;
}

/**
 * The delay before each reconnect attempt. Attempt n (from 0 since the last
 * reset) waits at most min(cap, base * factor^n); with jitter, a whole number
 * of milliseconds uniform in [0, that bound].
 */
export class Backoff {
  constructor(settings = {}, random = Math.random) {
    const s = { ...BACKOFF_DEFAULTS, ...settings };
    this.settings = Object.freeze({
      baseMs: nonNegative(s.baseMs, BACKOFF_DEFAULTS.baseMs),
      capMs: nonNegative(s.capMs, BACKOFF_DEFAULTS.capMs),
      factor: typeof s.factor === 'number' && s.factor >= 1 ? s.factor : 1,
      jitter: s.jitter !== false,
      maxAttempts: Number.isInteger(s.maxAttempts) && s.maxAttempts >= 0 ? s.maxAttempts : null,
      stableAfterMs: nonNegative(s.stableAfterMs, BACKOFF_DEFAULTS.stableAfterMs),
    });
    this._random = typeof random === 'function' ? random : Math.random;
    this._attempts = 0;
  }

  /** Delays handed out since the last reset. */
  get attempts() { return this._attempts; }

  /** The upper bound of attempt n: min(cap, base * factor^n). */
  bound(n) {
    const { baseMs, capMs, factor } = this.settings;
    // factor^n overflows to Infinity for large n; min() with the cap handles it.
    return Math.floor(Math.min(capMs, baseMs * Math.pow(factor, n)));
  }

  /** The next delay in ms, or null once maxAttempts were handed out. Counts the attempt. */
  nextDelay() {
    const { maxAttempts, jitter } = this.settings;
    if (maxAttempts !== null && this._attempts >= maxAttempts) return null;
    const b = this.bound(this._attempts);
    this._attempts += 1;
    if (!jitter || b === 0) return b;
    let u = Number(this._random());
    // A broken source must not give a delay outside the documented range.
    if (!(u >= 0)) u = 0;
    if (u >= 1) u = 1 - Number.EPSILON;
    return Math.min(b, Math.floor(u * (b + 1)));
  }

  /** Back to the first delay (after a connection proved stable). */
  reset() { this._attempts = 0; }
}
