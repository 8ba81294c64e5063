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

function abortError() {
  if (typeof DOMException === 'function') return new DOMException('the upload was cancelled', 'AbortError');
  const e = new Error('the upload was cancelled');
  e.name = 'AbortError';
  return e;
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
    this._fetchGiven = !!options.fetch;
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
  postMessage(conversationId, text, clientMsgId, attachmentId) {
    const body = {};
    if (text) body.text = text;
    if (clientMsgId) body.client_msg_id = clientMsgId;
    if (attachmentId) body.attachment_id = attachmentId;
    return this._request('POST', '/api/v1/conversations/' + encodeURIComponent(conversationId) + '/messages', null, body);
  }

  /**
   * Uploads a file (a File, Blob, ArrayBuffer or typed array) as the raw body
   * of POST /api/v1/attachments?name=; resolves to the `attachment` (ready,
   * with its id for send_message). options: {name, contentType, onProgress
   * ({loaded, total}), signal (an AbortSignal: rejects with an AbortError)}.
   * A browser's XMLHttpRequest reports the upload's progress; elsewhere fetch
   * sends it and progress is reported once, at the end. A file over the
   * server's limit is a RestError with status 413.
   */
  async uploadAttachment(data, options = {}) {
    const name = String(options.name || (data && typeof data.name === 'string' && data.name) || 'file');
    const contentType = String(options.contentType || (data && typeof data.type === 'string' && data.type) ||
      'application/octet-stream');
    const total = data && (typeof data.size === 'number' ? data.size : data.byteLength);
    if (!Number.isInteger(total) || total <= 0) throw new TypeError('livechat: uploadAttachment needs a non-empty body');
    const url = this._base + '/api/v1/attachments?name=' + encodeURIComponent(name);
    const headers = { Authorization: 'Bearer ' + this._token, 'Content-Type': contentType };
    const signal = options.signal;
    if (signal && signal.aborted) throw abortError();
    const progress = (loaded) => {
      if (typeof options.onProgress !== 'function') return;
      try { options.onProgress({ loaded, total }); } catch (_) { /* a display callback must not break the upload */ }
    };
    const XHR = this._fetchGiven ? null : globalThis.XMLHttpRequest;
    let status;
    let text;
    let retryAfter;
    if (typeof XHR === 'function') {
      ({ status, text, retryAfter } = await new Promise((resolve, reject) => {
        const xhr = new XHR();
        xhr.open('POST', url);
        for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
        if (xhr.upload) xhr.upload.onprogress = (e) => progress(e.loaded);
        const onAbort = () => xhr.abort();
        if (signal) signal.addEventListener('abort', onAbort, { once: true });
        const done = () => { if (signal) signal.removeEventListener('abort', onAbort); };
        xhr.onload = () => {
          done();
          resolve({ status: xhr.status, text: xhr.responseText, retryAfter: xhr.getResponseHeader('Retry-After') });
        };
        xhr.onerror = () => { done(); reject(new TypeError('livechat: the upload failed (network error)')); };
        xhr.onabort = () => { done(); reject(abortError()); };
        xhr.send(data);
      }));
    } else {
      const body = ArrayBuffer.isView(data) || data instanceof ArrayBuffer || typeof data.arrayBuffer !== 'function'
        ? data : await data.arrayBuffer();
      const res = await this._fetch(url, { method: 'POST', headers, body, signal, cache: 'no-store' });
      status = res.status;
      text = await res.text();
      retryAfter = res.headers.get('Retry-After');
    }
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
    if (status < 200 || status >= 300) {
      const e = json && json.error ? json.error : {};
      const ra = Number(retryAfter);
      const msg = e.message || (status === 413 ? 'the file is larger than the server accepts' : 'HTTP ' + status);
      throw new RestError(status, e.code || 'http_' + status, msg, retryAfter && Number.isFinite(ra) ? ra : null);
    }
    progress(total);
    return json && json.attachment ? json.attachment : json;
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
