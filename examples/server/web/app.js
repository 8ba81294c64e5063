// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The demo operator console: plain JS, no build step, no external resources.
// It speaks the wire protocol of PROTOCOL.md directly. Everything received is
// shown with textContent, never innerHTML: message texts come from strangers.
'use strict';

(function () {
  const WS_PATH = '/api/v1/ws/live-chat';
  const ROOM_PREFIX = 'conversation:';
  const TYPING_RESEND_MS = 2000;  // the server drops `typing` 3 s after the last typing_start
  const TYPING_IDLE_MS = 2500;    // no keystroke for this long: typing_stop
  const TYPIST_FALLBACK_MS = 6000; // forget a typist whose `is_typing: false` never came

  const $ = (id) => document.getElementById(id);
  const el = {
    connectForm: $('connect-form'), token: $('token'), connect: $('connect'),
    disconnect: $('disconnect'), status: $('status'),
    online: $('online'), onlineCount: $('online-count'),
    inbox: $('inbox'), inboxEmpty: $('inbox-empty'),
    joinForm: $('join-form'), room: $('room'), join: $('join'), leave: $('leave'),
    sessionStatus: $('session-status'), sessionHolder: $('session-holder'),
    claim: $('claim'), release: $('release'), closeSession: $('close-session'),
    members: $('members'), messages: $('messages'), typing: $('typing'),
    sendForm: $('send-form'), text: $('text'), send: $('send'), notice: $('notice'),
  };

  // ---------------------------------------------------------------- state
  let ws = null;
  let me = null;               // auth_success payload
  let wantConnected = false;   // false after Disconnect or a rejected token
  let reconnectDelay = 1000;
  let reconnectTimer = null;
  let heartbeatTimer = null;

  const online = new Map();    // user_id -> {user_id, name, connections}
  const inbox = new Map();     // room -> {room, conversation_id, last_message, last_seq, session}

  // The joined (or joining) room. `epoch` and `lastSeq` survive a reconnect
  // so the rejoin asks only for what was missed (since_seq).
  const current = {
    room: null, joined: false, epoch: null, lastSeq: 0,
    messages: new Map(),       // seq -> message
    session: null, members: [],
    typists: new Map(),        // user_id -> {name, timer}
  };
  const pendingSends = new Map(); // client_msg_id -> text, to restore the text on an error

  let typingSent = 0;          // time of the last typing_start we sent, 0 = not typing
  let typingIdleTimer = null;

  // ------------------------------------------------------------- helpers
  function randomId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function normalizeRoom(s) {
    s = s.trim();
    return s.startsWith(ROOM_PREFIX) ? s : ROOM_PREFIX + s;
  }

  function send(type, payload, ref) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const frame = { type };
    if (payload) frame.payload = payload;
    if (ref) frame.ref = ref;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function setStatus(text, kind) {
    el.status.textContent = text;
    el.status.className = 'status status-' + kind;
  }

  function notice(text) {
    el.notice.textContent = text || '';
  }

  function formatTime(iso) {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString();
  }

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // A session state can arrive by several paths (room, inbox, reply); the
  // highest `version` is the newest.
  function newerSession(a, b) {
    if (!a) return b;
    if (!b) return a;
    return b.version >= a.version ? b : a;
  }

  // ----------------------------------------------------------- rendering
  function renderControls() {
    const authed = !!me && ws && ws.readyState === WebSocket.OPEN;
    el.connect.disabled = wantConnected;
    el.token.disabled = wantConnected;
    el.disconnect.disabled = !wantConnected;
    el.join.disabled = !authed;
    el.leave.disabled = !authed || !current.joined;
    for (const b of [el.claim, el.release, el.closeSession]) b.disabled = !authed || !current.joined;
    el.text.disabled = !authed || !current.joined;
    el.send.disabled = el.text.disabled;
  }

  function renderOnline() {
    el.online.replaceChildren();
    const users = Array.from(online.values()).sort((a, b) => (a.user_id < b.user_id ? -1 : 1));
    for (const u of users) {
      const li = node('li', null, u.name);
      if (u.connections > 1) li.append(node('span', 'badge', u.connections + ' tabs'));
      if (me && u.user_id === me.user_id) li.append(node('span', 'badge', 'you'));
      el.online.append(li);
    }
    el.onlineCount.textContent = String(users.length);
  }

  function renderInbox() {
    el.inbox.replaceChildren();
    const rows = Array.from(inbox.values()).sort((a, b) => {
      const ta = a.last_message ? a.last_message.created_at : '';
      const tb = b.last_message ? b.last_message.created_at : '';
      return ta < tb ? 1 : ta > tb ? -1 : 0;
    });
    for (const c of rows) {
      const li = node('li', c.room === current.room ? 'active' : null);
      const title = node('div', null, c.conversation_id);
      if (c.session) title.append(node('span', 'badge ' + c.session.status, c.session.status));
      li.append(title);
      if (c.last_message) {
        const who = c.last_message.sender ? c.last_message.sender.name + ': ' : '';
        li.append(node('div', 'preview', who + c.last_message.text));
      }
      li.addEventListener('click', () => {
        el.room.value = c.room;
        joinRoom(c.room);
      });
      el.inbox.append(li);
    }
    el.inboxEmpty.hidden = rows.length > 0;
  }

  function renderSession() {
    const s = current.session;
    el.sessionStatus.textContent = s ? s.status : '–';
    el.sessionHolder.textContent = s && s.claimed_by ? 'by ' + s.claimed_by.name : '';
    el.members.textContent = current.members.length
      ? 'In room: ' + current.members.map((m) => m.name).join(', ') : '';
  }

  function messageNode(m) {
    const mine = me && m.sender && m.sender.type === 'operator' && m.sender.id === me.user_id;
    const kind = mine ? 'mine' : (m.sender ? m.sender.type : '');
    const li = node('li', kind);
    li.dataset.seq = String(m.seq);
    li.append(node('div', 'meta', (m.sender ? m.sender.name : '?') + ' · ' + formatTime(m.created_at)));
    li.append(node('div', 'text', m.text));
    return li;
  }

  function renderMessages() {
    el.messages.replaceChildren();
    const seqs = Array.from(current.messages.keys()).sort((a, b) => a - b);
    for (const s of seqs) el.messages.append(messageNode(current.messages.get(s)));
    el.messages.scrollTop = el.messages.scrollHeight;
  }

  function addMessage(m) {
    if (!m || m.room !== current.room || current.messages.has(m.seq)) return;
    const last = current.lastSeq;
    current.messages.set(m.seq, m);
    current.lastSeq = Math.max(current.lastSeq, m.seq);
    const stick = el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 40;
    if (m.seq > last) {
      el.messages.append(messageNode(m));
      if (stick) el.messages.scrollTop = el.messages.scrollHeight;
    } else {
      renderMessages(); // an older message arrived late: keep seq order
    }
  }

  function systemLine(text) {
    const li = node('li', 'system');
    li.append(node('span', 'text', text));
    el.messages.append(li);
    el.messages.scrollTop = el.messages.scrollHeight;
  }

  function renderTyping() {
    const names = Array.from(current.typists.values(), (t) => t.name);
    el.typing.textContent = names.length === 0 ? ''
      : names.join(', ') + (names.length === 1 ? ' is typing…' : ' are typing…');
  }

  function setTypist(userId, name, isTyping) {
    const prev = current.typists.get(userId);
    if (prev) clearTimeout(prev.timer);
    if (isTyping) {
      const timer = setTimeout(() => { current.typists.delete(userId); renderTyping(); }, TYPIST_FALLBACK_MS);
      current.typists.set(userId, { name, timer });
    } else {
      current.typists.delete(userId);
    }
    renderTyping();
  }

  function clearRoom() {
    for (const t of current.typists.values()) clearTimeout(t.timer);
    current.typists.clear();
    current.messages.clear();
    current.room = null;
    current.joined = false;
    current.epoch = null;
    current.lastSeq = 0;
    current.session = null;
    current.members = [];
    el.messages.replaceChildren();
    renderTyping();
    renderSession();
  }

  // --------------------------------------------------------- connection
  function connect() {
    clearTimeout(reconnectTimer);
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    setStatus('connecting…', 'wait');
    ws = new WebSocket(scheme + location.host + WS_PATH);
    const socket = ws;
    socket.onopen = () => {
      setStatus('authenticating…', 'wait');
      send('auth', { token: el.token.value });
    };
    socket.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame.type === 'string') handle(frame.type, frame.payload || {}, frame.ref);
    };
    socket.onclose = (ev) => {
      if (socket !== ws) return; // an older socket we already replaced
      ws = null;
      me = null;
      clearInterval(heartbeatTimer);
      stopTyping(false);
      current.joined = false;
      pendingSends.clear();
      online.clear();
      renderOnline();
      const why = 'closed' + (ev.code ? ' (' + ev.code + (ev.reason ? ': ' + ev.reason : '') + ')' : '');
      // 4003: the token was refused; retrying with it cannot help.
      if (ev.code === 4003) wantConnected = false;
      if (wantConnected) {
        const delay = reconnectDelay * (0.5 + Math.random()); // jitter: tabs don't reconnect in step
        reconnectDelay = Math.min(reconnectDelay * 2, 30000);
        setStatus(why + ', retrying in ' + Math.round(delay / 1000) + ' s', 'error');
        reconnectTimer = setTimeout(connect, delay);
      } else {
        setStatus(why, ev.code === 4003 ? 'error' : 'off');
      }
      renderControls();
    };
    renderControls();
  }

  function disconnect() {
    wantConnected = false;
    clearTimeout(reconnectTimer);
    if (ws) ws.close(1000, 'bye');
    else setStatus('disconnected', 'off');
    renderControls();
  }

  function joinRoom(room) {
    if (!me) return;
    if (current.room && current.room !== room && current.joined) send('leave_room', { room: current.room });
    if (current.room !== room) {
      clearRoom();
      current.room = room;
    }
    const payload = { room };
    // Resume: only what was missed, provided the history is the same lineage.
    if (current.epoch) {
      payload.since_seq = current.lastSeq;
      payload.epoch = current.epoch;
    }
    send('join_room', payload);
    renderInbox();
  }

  // -------------------------------------------------------------- typing
  function onTextInput() {
    if (!current.joined) return;
    clearTimeout(typingIdleTimer);
    if (el.text.value.trim() === '') { stopTyping(true); return; }
    const now = Date.now();
    if (now - typingSent >= TYPING_RESEND_MS) {
      send('typing_start', { room: current.room });
      typingSent = now;
    }
    typingIdleTimer = setTimeout(() => stopTyping(true), TYPING_IDLE_MS);
  }

  function stopTyping(tell) {
    clearTimeout(typingIdleTimer);
    if (typingSent && tell && current.joined) send('typing_stop', { room: current.room });
    typingSent = 0;
  }

  // ------------------------------------------------------ server events
  function handle(type, p, ref) {
    switch (type) {
      case 'auth_success':
        me = p;
        reconnectDelay = 1000;
        setStatus('connected as ' + p.name + ' (' + p.role + ')', 'on');
        clearInterval(heartbeatTimer);
        heartbeatTimer = setInterval(() => send('ping'), p.heartbeat_interval_ms || 25000);
        send('watch_inbox');
        if (current.room) joinRoom(current.room); // after a reconnect
        notice('');
        break;
      case 'presence_update':
        online.clear();
        for (const u of p.online || []) online.set(u.user_id, u);
        renderOnline();
        break;
      case 'presence_diff':
        for (const u of p.online || []) online.set(u.user_id, u);
        for (const id of p.offline || []) online.delete(id);
        renderOnline();
        break;
      case 'inbox_update':
        inbox.clear();
        for (const c of p.conversations || []) inbox.set(c.room, c);
        online.clear();
        for (const u of p.online || []) online.set(u.user_id, u);
        renderInbox();
        renderOnline();
        break;
      case 'conversation_activity': {
        const prev = inbox.get(p.room) || { room: p.room, conversation_id: p.conversation_id };
        prev.last_message = p.last_message;
        prev.last_seq = p.last_message ? p.last_message.seq : prev.last_seq;
        prev.session = newerSession(prev.session, p.session);
        inbox.set(p.room, prev);
        renderInbox();
        break;
      }
      case 'conversation_update':
        if (p.room !== current.room) break;
        // Not recovered: our copy may have gaps or come from another
        // history (epoch changed), so drop it and take what came.
        if (!p.recovered) {
          current.messages.clear();
          current.lastSeq = 0;
        }
        current.joined = true;
        current.epoch = p.epoch;
        current.session = p.session;
        current.members = p.members || [];
        for (const m of p.messages || []) current.messages.set(m.seq, m);
        current.lastSeq = Math.max(current.lastSeq, p.last_seq || 0);
        renderMessages();
        if (p.has_more && !p.recovered) systemLine('older messages are not shown');
        renderSession();
        renderControls();
        break;
      case 'new_message':
        addMessage(p.message);
        break;
      case 'message_sent':
        if (p.client_msg_id) pendingSends.delete(p.client_msg_id);
        addMessage(p.message);
        break;
      case 'typing':
        if (p.room === current.room && (!me || p.user_id !== me.user_id)) setTypist(p.user_id, p.name, p.is_typing);
        break;
      case 'operator_joined':
      case 'operator_left':
        if (p.room !== current.room) break;
        if (type === 'operator_joined') {
          if (!current.members.some((m) => m.user_id === p.user_id)) current.members.push({ user_id: p.user_id, name: p.name });
        } else {
          current.members = current.members.filter((m) => m.user_id !== p.user_id);
          setTypist(p.user_id, p.name, false);
        }
        systemLine(p.name + (type === 'operator_joined' ? ' joined' : ' left'));
        renderSession();
        break;
      case 'room_left':
        if (p.room === current.room) clearRoom();
        renderControls();
        renderInbox();
        break;
      case 'session_claimed':
      case 'session_released':
      case 'session_closed': {
        if (p.room === current.room) {
          current.session = newerSession(current.session, p.session);
          renderSession();
        }
        const c = inbox.get(p.room);
        if (c) { c.session = newerSession(c.session, p.session); renderInbox(); }
        break;
      }
      case 'error': {
        let text = p.code + ': ' + p.message + (p.field ? ' (' + p.field + ')' : '');
        if (ref && pendingSends.has(ref)) {
          // The message was not stored: give the text back to retry.
          if (el.text.value === '') el.text.value = pendingSends.get(ref);
          pendingSends.delete(ref);
          text = 'not sent: ' + text;
        }
        notice(text);
        break;
      }
      default:
        break; // pong, inbox_unwatched, read_receipt, future events
    }
  }

  // ---------------------------------------------------------- UI events
  el.connectForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!el.token.value) return;
    wantConnected = true;
    reconnectDelay = 1000;
    connect();
  });
  el.disconnect.addEventListener('click', disconnect);

  el.joinForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const room = normalizeRoom(el.room.value);
    el.room.value = room;
    joinRoom(room);
  });
  el.leave.addEventListener('click', () => {
    if (current.room) send('leave_room', { room: current.room });
  });

  el.claim.addEventListener('click', () => send('claim_session', { room: current.room }));
  el.release.addEventListener('click', () => send('release_session', { room: current.room }));
  el.closeSession.addEventListener('click', () => send('close_session', { room: current.room }));

  el.text.addEventListener('input', onTextInput);
  el.text.addEventListener('blur', () => stopTyping(true));
  el.text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      el.sendForm.requestSubmit();
    }
  });
  el.sendForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = el.text.value.trim();
    if (!text || !current.joined) return;
    const id = randomId();
    // The client_msg_id doubles as the ref, so an error reply names the message.
    if (send('send_message', { room: current.room, text, client_msg_id: id }, id)) {
      pendingSends.set(id, el.text.value);
      el.text.value = '';
      stopTyping(true);
      notice('');
    }
  });

  renderControls();
  renderOnline();
  renderInbox();
  renderSession();
})();
