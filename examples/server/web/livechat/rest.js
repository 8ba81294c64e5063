// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The REST side of PROTOCOL.md ("HTTP"): the conversation list, a
// conversation's history (since_seq to catch up, before_seq to page back)
// and posting a message with a client_msg_id, with the same Bearer token as
// the WebSocket's `auth`. A console uses it to page back through a long
// conversation, and where a proxy blocks WebSocket upgrades, to keep working.
// A post carries the client_msg_id the WebSocket would, so a message retried
// over both paths is stored once.

export class RestError extends Error {
  constructor(status, code, message, retryAfterS) {
    super(message);
    this.name = 'RestError';
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

function httpBase(base) {
  if (base) return String(base).replace(/\/+$/, '');
  const loc = globalThis.location;
  if (loc && loc.origin) return loc.origin;
  throw new TypeError('livechat: RestClient needs a base URL outside a browser page');
}

export class RestClient {
  /** options: {baseUrl, token, fetch, timeoutMs} */
  constructor(options = {}) {
    this._base = httpBase(options.baseUrl);
    this._token = options.token || '';
    if (options.fetch) {
      this._fetch = options.fetch;
    } else if (typeof globalThis.fetch === 'function') {
      // Called as a plain function: a browser's fetch called as a method of another object throws.
      this._fetch = (url, init) => globalThis.fetch(url, init);
    }
    if (typeof this._fetch !== 'function') throw new TypeError('livechat: no fetch available');
    this._timeoutMs = options.timeoutMs || 10000;
  }

  setToken(token) { this._token = token; }

  /** {conversations, next_cursor}; query: {limit, cursor, status, claimed_by}. */
  listConversations(query = {}) {
    return this._request('GET', '/api/v1/conversations', query);
  }

  /** {room, conversation_id, messages, last_seq, has_more, epoch}; query: {since_seq | before_seq, limit}. */
  history(conversationId, query = {}) {
    return this._request('GET', '/api/v1/conversations/' + encodeURIComponent(conversationId) + '/messages', query);
  }

  /** {message, duplicate}. */
  postMessage(conversationId, text, clientMsgId) {
    const body = { text };
    if (clientMsgId) body.client_msg_id = clientMsgId;
    return this._request('POST', '/api/v1/conversations/' + encodeURIComponent(conversationId) + '/messages', null, body);
  }

  async _request(method, path, query, body) {
    const qs = [];
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null) qs.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
    }
    const url = this._base + path + (qs.length ? '?' + qs.join('&') : '');
    const headers = { Authorization: 'Bearer ' + this._token };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = ctrl ? setTimeout(() => ctrl.abort(), this._timeoutMs) : null;
    try {
      const res = await this._fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctrl ? ctrl.signal : undefined, cache: 'no-store' });
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
      if (!res.ok) {
        const e = json && json.error ? json.error : {};
        const ra = Number(res.headers.get('Retry-After'));
        throw new RestError(res.status, e.code || 'http_' + res.status, e.message || 'HTTP ' + res.status,
          Number.isFinite(ra) ? ra : null);
      }
      return json;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}
