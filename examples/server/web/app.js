// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The operator console: plain JS, no build step, no external resources, on
// the livechat JavaScript client (livechat/, a copy of clients/js), which
// gives it the reconnects, the heartbeat, the offline queue and the ordered,
// exactly-once history. This file is only the page: what is shown and when.
// Everything received is shown with textContent, never innerHTML: message
// texts come from strangers.

import { LiveChatClient, RestClient, State, roomOf, isValidRoom } from './livechat/livechat.js';

const TYPING_RESEND_MS = 2000;   // the server drops `typing` 3 s after the last typing_start
const TYPING_IDLE_MS = 2500;     // no keystroke for this long: typing_stop
const TYPIST_FALLBACK_MS = 6000; // forget a typist whose `is_typing: false` never came
const NOTICE_MS = 8000;          // an error stays this long
const MAX_JOINED = 10;           // rooms kept joined (the open one, and recent ones with unsent messages)
const STORE = window.sessionStorage; // the login and the open conversation, for this tab only

const $ = (id) => document.getElementById(id);
const el = {
  connectForm: $('connect-form'), token: $('token'), connect: $('connect'), disconnect: $('disconnect'),
  status: $('status'), statusText: $('status-text'), retryNow: $('retry-now'), notify: $('notify'),
  online: $('online'), onlineCount: $('online-count'), unreadTotal: $('unread-total'),
  filters: $('filters'), inbox: $('inbox'), inboxEmpty: $('inbox-empty'),
  joinForm: $('join-form'), back: $('back'), room: $('room'), join: $('join'),
  title: $('title'), sessionStatus: $('session-status'), sessionHolder: $('session-holder'),
  claim: $('claim'), release: $('release'), closeSession: $('close-session'), members: $('members'),
  messages: $('messages'), newMessages: $('new-messages'), typing: $('typing'), announce: $('announce'),
  sendForm: $('send-form'), text: $('text'), send: $('send'), notice: $('notice'),
  file: $('file'), attach: $('attach'), uploads: $('uploads'), conversation: $('conversation'),
  lightbox: $('lightbox'), lightboxImg: $('lightbox-img'), lightboxClose: $('lightbox-close'),
};
const MAX_UPLOADS = 5;              // uploads at once; more are refused with a notice
const FILE_KINDS = new Set(['image', 'video', 'audio', 'file']);

// ---------------------------------------------------------------- state
let client = null;
let rest = null;
let current = null;                 // the open room
let filter = 'all';
let selected = -1;                  // keyboard selection in the inbox
let noticeTimer = null;
let unseenWhileHidden = 0;          // customer messages that arrived while the tab was hidden
const drafts = loadJson('livechat.drafts', {}); // room -> text not sent yet
const failed = new Map();           // room -> [{clientMsgId, text, reason}]
const timeline = new Map();         // room -> [{afterSeq, text}] claims, releases, closes
const typists = new Map();          // user_id -> {name, timer} (open room)
const joinedOrder = [];             // rooms joined, most recent last
const loadingOlder = new Set();
const myActions = new Map();        // room -> 'claimed' | 'released' | 'closed' asked by this tab
const holders = new Map();          // room -> the name of who held the claim, for release lines
let firstUnreadSeq = 0;             // the "new messages" line of the open room
let typingSent = 0;
let typingIdleTimer = null;
const uploads = [];                 // [{key, room, name, loaded, total, ctrl}] on their way

function loadJson(key, fallback) {
  try {
    const v = JSON.parse(STORE.getItem(key));
    return v && typeof v === 'object' ? v : fallback;
  } catch (_) {
    return fallback;
  }
}

/** The unsent messages survive a reload of the tab: sent again under their ids, stored once. */
function saveQueue() {
  if (!client) return;
  try {
    STORE.setItem('livechat.queue', JSON.stringify(client.queue.map((m) => ({ room: m.room, text: m.text, id: m.clientMsgId,
      attachmentId: m.attachmentId }))));
  } catch (_) { /* full or disabled */ }
}

function restoreQueue() {
  const saved = loadJson('livechat.queue', []);
  if (!Array.isArray(saved)) return;
  for (const m of saved) {
    if (!m || !isValidRoom(m.room) || typeof m.text !== 'string' || typeof m.id !== 'string') continue;
    client.join(m.room);
    if (!joinedOrder.includes(m.room)) joinedOrder.push(m.room);
    const attachmentId = typeof m.attachmentId === 'string' ? m.attachmentId : undefined;
    client.send(m.room, m.text, { clientMsgId: m.id, attachmentId });
  }
}

function saveDrafts() {
  try { STORE.setItem('livechat.drafts', JSON.stringify(drafts)); } catch (_) { /* full or disabled */ }
}

// ------------------------------------------------------------- helpers
function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

function formatTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function conversationId(room) { return room.slice('conversation:'.length); }
let sentAs = null; // who our confirmed messages say we are: over REST no auth_success tells it
function me() { return client ? client.me || sentAs : null; }
function connected() { return !!client && client.state === State.connected; }

function notice(text) {
  clearTimeout(noticeTimer);
  el.notice.textContent = text || '';
  if (text) noticeTimer = setTimeout(() => { el.notice.textContent = ''; }, NOTICE_MS);
}

function atBottom() {
  const m = el.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
}

// ----------------------------------------------------------- rendering
function renderStatus() {
  const s = client ? client.state : State.disconnected;
  let text = s;
  let kind = 'off';
  if (s === State.connected) {
    text = 'connected as ' + (me() ? me().name + ' (' + me().role + ')' : '…');
    kind = 'on';
  } else if (s === State.connecting || s === State.authenticating) {
    text = s + '…';
    kind = 'wait';
  } else if (s === State.reconnecting) {
    const ms = client.reconnectInMs;
    text = 'offline, reconnecting in ' + Math.ceil((ms || 0) / 1000) + ' s';
    kind = 'error';
  }
  if (client && client.transport === 'rest') {
    text = 'WebSocket blocked: working over REST (retrying the WebSocket in ' + Math.ceil((client.reconnectInMs || 0) / 1000) + ' s)';
    kind = 'wait';
  }
  const queued = client ? client.queue.length : 0;
  if (queued > 0 && s !== State.connected) text += ' · ' + queued + ' waiting to send';
  el.statusText.textContent = text;
  el.status.className = 'status status-' + kind;
  el.retryNow.hidden = s !== State.reconnecting;
}

function renderControls() {
  const signedIn = !!client;
  el.connect.disabled = signedIn;
  el.token.disabled = signedIn;
  el.disconnect.disabled = !signedIn;
  el.connectForm.classList.toggle('signed-in', signedIn);
  el.join.disabled = !connected();
  const view = current && client ? client.room(current) : null;
  const s = view ? view.session : null;
  const u = me();
  const admin = !!u && u.role === 'admin';
  const mineClaim = !!s && s.status === 'claimed' && !!s.claimed_by && !!u && s.claimed_by.user_id === u.user_id;
  const othersClaim = !!s && s.status === 'claimed' && !mineClaim;
  const ok = connected() && !!view && view.loaded;
  el.claim.disabled = !ok || mineClaim || (othersClaim && !admin);
  el.release.disabled = !ok || !s || s.status !== 'claimed' || (!mineClaim && !admin);
  el.closeSession.disabled = !ok || !s || s.status === 'closed' || (othersClaim && !admin);
  el.text.disabled = !current || !signedIn;
  el.send.disabled = el.text.disabled;
  el.attach.disabled = el.text.disabled;
  document.body.classList.toggle('in-conversation', !!current);
}

function renderOnline() {
  el.online.replaceChildren();
  const users = client ? client.online : [];
  for (const u of users) {
    const li = node('li', null, u.name);
    if (u.connections > 1) li.append(node('span', 'badge', u.connections + ' tabs'));
    if (me() && u.user_id === me().user_id) li.append(node('span', 'badge', 'you'));
    el.online.append(li);
  }
  el.onlineCount.textContent = String(users.length);
}

// The live inbox holds the 100 newest conversations; a filter also shows the
// REST list's matches beyond them (status / claimed_by), fetched when chosen.
let filterExtra = [];
let filterFetch = 0;

async function fetchFilterExtra() {
  const u = me();
  const query = filter === 'mine' && u ? { status: 'claimed', claimed_by: u.user_id }
    : filter === 'unassigned' ? { status: 'open' } : filter === 'closed' ? { status: 'closed' } : null;
  const ticket = ++filterFetch;
  filterExtra = [];
  if (!query || !rest) return;
  try {
    const page = await rest.listConversations({ ...query, limit: 100 });
    if (ticket !== filterFetch) return;
    filterExtra = (page.conversations || []).map((c) => ({ ...c,
      unread: Math.max(0, (c.last_seq || 0) - (c.read_seq || 0)) }));
    renderInbox();
  } catch (_) {
    // The live inbox still shows what it has.
  }
}

function visibleConversations() {
  const u = me();
  const live = client ? client.conversations() : [];
  const known = new Set(live.map((c) => c.room));
  const all = live.concat(filterExtra.filter((c) => !known.has(c.room)));
  return all.filter((c) => {
    const s = c.session || { status: 'open' };
    switch (filter) {
      case 'mine': return s.status === 'claimed' && !!u && !!s.claimed_by && s.claimed_by.user_id === u.user_id;
      case 'unassigned': return s.status === 'open';
      case 'closed': return s.status === 'closed';
      default: return true;
    }
  });
}

function renderInbox() {
  el.inbox.replaceChildren();
  const rows = visibleConversations();
  if (selected >= rows.length) selected = rows.length - 1;
  rows.forEach((c, i) => {
    const li = node('li');
    li.setAttribute('role', 'option');
    li.dataset.room = c.room;
    li.classList.toggle('active', c.room === current);
    li.classList.toggle('unread', c.unread > 0);
    li.classList.toggle('selected', i === selected);
    li.setAttribute('aria-selected', String(c.room === current));
    const row = node('div', 'row');
    const pic = lineImage(c.customer && c.customer.picture_url, 'https://profile.line-scdn.net/', 'avatar');
    if (pic) row.append(pic);
    row.append(node('span', 'cid', (c.customer && c.customer.name) || c.conversation_id));
    if (c.unread > 0) row.append(node('span', 'unread-count', String(c.unread)));
    if (c.session) row.append(node('span', 'badge ' + c.session.status, c.session.status));
    if (c.last_message) row.append(node('span', 'time', formatTime(c.last_message.created_at)));
    li.append(row);
    if (c.last_message) {
      const who = c.last_message.sender ? c.last_message.sender.name + ': ' : '';
      const icon = { image: '🖼 ', video: '🎞 ', audio: '🔊 ', file: '📄 ', sticker: '🙂 ', location: '📍 ' }[c.last_message.kind] || '';
      li.append(node('div', 'preview', who + icon + c.last_message.text));
    }
    li.addEventListener('click', () => openRoom(c.room));
    el.inbox.append(li);
  });
  el.inboxEmpty.hidden = rows.length > 0;
  renderConversationTitle();
  renderTitle();
}

function renderTitle() {
  const total = client ? client.conversations().reduce((n, c) => n + c.unread, 0) : 0;
  el.unreadTotal.textContent = total > 0 ? total + ' unread' : '';
  const count = Math.max(total, unseenWhileHidden);
  document.title = (count > 0 ? '(' + count + ') ' : '') + 'livechat operator console';
}

/** The open conversation's customer by name (from the inbox summary) and id. */
function renderConversationTitle() {
  if (!current) {
    el.title.textContent = '';
    return;
  }
  const id = conversationId(current);
  const c = client ? client.conversations().find((x) => x.room === current) : null;
  const name = c && c.customer && typeof c.customer.name === 'string' ? c.customer.name : '';
  el.title.textContent = name && name !== id ? name + ' (' + id + ')' : id;
}

function renderSession() {
  const view = current && client ? client.room(current) : null;
  const s = view ? view.session : null;
  renderConversationTitle();
  el.sessionStatus.textContent = s ? s.status : '–';
  let holder = '';
  if (s && s.claimed_by) holder = (s.status === 'closed' ? 'handled by ' : 'by ') + s.claimed_by.name;
  el.sessionHolder.textContent = holder;
  const members = view ? view.members : [];
  el.members.textContent = members.length ? 'In room: ' + members.map((m) => m.name).join(', ') : '';
  renderControls();
}

function messageNode(m) {
  const u = me();
  const mine = !!u && m.sender && m.sender.type === 'operator' && m.sender.id === u.user_id;
  const li = node('li', mine ? 'mine' : (m.sender ? m.sender.type : ''));
  li.dataset.seq = String(m.seq);
  li.append(node('div', 'meta', (m.sender ? m.sender.name : '?') + ' · ' + formatTime(m.created_at)));
  const body = m.kind && m.kind !== 'text' && m.attachment && typeof m.attachment === 'object'
    ? attachmentNode(m) : null;
  li.append(body || node('div', 'text', m.text));
  return li;
}

function formatSize(n) {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

/** Only a path on this server: a url that is not one is not loaded or linked. */
function localUrl(u) {
  return typeof u === 'string' && u.startsWith('/api/v1/attachments/') ? u : null;
}

/** An <img> of LINE's CDN (the page's CSP allows exactly these hosts), or null for any other url. */
function lineImage(u, prefix, className) {
  if (typeof u !== 'string' || !u.startsWith(prefix)) return null;
  const img = node('img', className);
  img.src = u;
  img.alt = '';
  img.referrerPolicy = 'no-referrer';
  img.loading = 'lazy';
  return img;
}

/** An image, video, audio, file, sticker or location; null for a kind this console does not know (shown as text). */
function attachmentNode(m) {
  const a = m.attachment;
  if (m.kind === 'sticker') {
    const card = node('div', 'card sticker');
    const id = String(a.sticker_id ?? '');
    const sticker = /^[0-9]{1,20}$/.test(id) ? lineImage('https://stickershop.line-scdn.net/stickershop/v1/sticker/' +
      id + '/android/sticker.png', 'https://stickershop.line-scdn.net/', 'sticker-image') : null;
    if (sticker) card.append(sticker);
    card.append(node('strong', null, 'Sticker'));
    card.append(node('span', 'hint', ' package ' + String(a.package_id ?? '?') + ' · sticker ' + String(a.sticker_id ?? '?')));
    return card;
  }
  if (m.kind === 'location') {
    const card = node('div', 'card location');
    card.append(node('strong', null, '📍 ' + (a.title || 'Location')));
    if (a.address) card.append(node('div', null, String(a.address)));
    const lat = Number(a.latitude);
    const lon = Number(a.longitude);
    if (Number.isFinite(lat) && Number.isFinite(lon)) {
      const link = node('a', null, lat.toFixed(5) + ', ' + lon.toFixed(5));
      link.href = 'https://www.openstreetmap.org/?mlat=' + lat + '&mlon=' + lon + '#map=16/' + lat + '/' + lon;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      card.append(link);
    }
    return card;
  }
  if (!FILE_KINDS.has(m.kind)) return null;
  const box = node('div', 'attachment ' + m.kind);
  const name = String(a.name || m.kind);
  const url = localUrl(a.url);
  if (a.status === 'pending' || (a.status === 'ready' && !url)) {
    box.classList.add('att-pending');
    box.append(node('span', 'hint', m.kind + ' ' + name + ': loading…'));
  } else if (a.status !== 'ready') {
    box.classList.add('att-failed');
    box.append(node('span', null, m.kind + ' ' + name + ': could not be fetched'));
  } else if (m.kind === 'image') {
    const b = node('button', 'image-open');
    b.type = 'button';
    b.title = 'Enlarge';
    const img = node('img');
    img.src = url;
    img.alt = name;
    img.loading = 'lazy';
    // The layout changes once the image has its size: keep the thread at the bottom if it was.
    img.addEventListener('load', () => { if (stickAfterLoad) el.messages.scrollTop = el.messages.scrollHeight; });
    b.append(img);
    b.addEventListener('click', () => {
      el.lightboxImg.src = url;
      el.lightboxImg.alt = name;
      if (typeof el.lightbox.showModal === 'function') el.lightbox.showModal();
      else el.lightbox.setAttribute('open', '');
    });
    box.append(b);
  } else if (m.kind === 'video' || m.kind === 'audio') {
    const media = node(m.kind);
    media.controls = true;
    media.preload = 'metadata';
    media.src = url;
    box.append(media);
  }
  if (a.status === 'ready' && url) {
    const link = node('a', 'file-link', (m.kind === 'file' ? '📄 ' : '') + name);
    link.href = url;
    link.download = name;
    const line = node('div', 'file-line');
    line.append(link, node('span', 'hint', ' ' + formatSize(Number(a.size)) +
      (a.duration_ms ? ' · ' + Math.round(Number(a.duration_ms) / 1000) + ' s' : '')));
    box.append(line);
  }
  // A text the sender wrote, not the fallback (the file name, [image]).
  if (m.text && m.text !== name && !/^\[(image|video|audio|file)\]$/.test(m.text)) box.append(node('div', 'text', m.text));
  return box;
}
let stickAfterLoad = true;

function pendingNode(p) {
  const li = node('li', 'mine pending');
  li.dataset.pending = p.clientMsgId;
  li.append(node('div', 'meta', p.state === 'sending' ? 'sending…' : 'waiting for the connection…'));
  li.append(node('div', 'text', p.text || (p.attachmentId ? 'attachment' : '')));
  return li;
}

function failedNode(room, f) {
  const li = node('li', 'mine failed');
  li.dataset.failed = f.clientMsgId;
  const meta = node('div', 'meta', 'not sent (' + f.reason + ') ');
  const retry = node('button', 'link', 'retry');
  retry.type = 'button';
  retry.addEventListener('click', () => {
    removeFailed(room, f.clientMsgId);
    // The same client_msg_id: if the first try was stored after all, the server keeps one.
    client.send(room, f.text, { clientMsgId: f.clientMsgId, attachmentId: f.attachmentId });
    renderMessages();
  });
  meta.append(retry);
  li.append(meta);
  li.append(node('div', 'text', f.text));
  return li;
}

/** The whole thread of the open room: older-note, messages with timeline lines, pending, failed. */
function renderMessages(opts = {}) {
  const list = el.messages;
  const view = current && client ? client.room(current) : null;
  const stick = opts.stick !== undefined ? opts.stick : atBottom();
  stickAfterLoad = stick;
  const anchor = opts.keepAnchor ? list.scrollHeight - list.scrollTop : null;
  list.replaceChildren();
  if (!view) return;
  if (view.hasOlder) {
    const li = node('li', 'older');
    li.append(node('span', 'hint', 'Older messages are not shown. '));
    const b = node('button', 'link', loadingOlder.has(current) ? 'loading…' : 'Load older');
    b.type = 'button';
    b.id = 'load-older';
    b.addEventListener('click', () => loadOlder());
    li.append(b);
    list.append(li);
  }
  const lines = timeline.get(current) || [];
  let li = 0;
  const firstSeq = view.messages.length ? view.messages[0].seq : view.lastSeq + 1;
  for (; li < lines.length && lines[li].afterSeq < firstSeq; li += 1) {
    if (lines[li].afterSeq >= firstSeq - 1) list.append(systemNode(lines[li].text));
  }
  for (const m of view.messages) {
    if (firstUnreadSeq && m.seq === firstUnreadSeq) list.append(node('li', 'unread-marker', 'new messages'));
    list.append(messageNode(m));
    for (; li < lines.length && lines[li].afterSeq <= m.seq; li += 1) list.append(systemNode(lines[li].text));
  }
  for (; li < lines.length; li += 1) list.append(systemNode(lines[li].text));
  for (const p of view.pending) list.append(pendingNode(p));
  for (const f of failed.get(current) || []) list.append(failedNode(current, f));
  if (anchor !== null) list.scrollTop = list.scrollHeight - anchor;
  else if (stick) list.scrollTop = list.scrollHeight;
  el.newMessages.hidden = atBottom() || el.newMessages.hidden;
}

function systemNode(text) {
  const li = node('li', 'system');
  li.append(node('span', 'text', text));
  return li;
}

function renderTyping() {
  const names = Array.from(typists.values(), (t) => t.name);
  el.typing.textContent = names.length === 0 ? ''
    : names.join(', ') + (names.length === 1 ? ' is typing…' : ' are typing…');
}

function setTypist(userId, name, isTyping) {
  const prev = typists.get(userId);
  if (prev) clearTimeout(prev.timer);
  if (isTyping) {
    const timer = setTimeout(() => { typists.delete(userId); renderTyping(); }, TYPIST_FALLBACK_MS);
    typists.set(userId, { name, timer });
  } else {
    typists.delete(userId);
  }
  renderTyping();
}

// ----------------------------------------------------------- reading
/** The open conversation is read when it is visible and scrolled to its end. */
function maybeMarkRead() {
  if (!client || !current || document.visibilityState !== 'visible' || !atBottom()) return;
  const view = client.room(current);
  if (!view || !view.loaded || view.lastSeq <= view.readSeq) return;
  client.markRead(current, view.lastSeq);
  el.newMessages.hidden = true;
  renderInbox();
}

async function loadOlder() {
  const room = current;
  const view = room && client ? client.room(room) : null;
  if (!view || !view.hasOlder || loadingOlder.has(room) || view.messages.length === 0) return;
  loadingOlder.add(room);
  renderMessages({ keepAnchor: true });
  try {
    const page = await rest.history(conversationId(room), { before_seq: view.messages[0].seq, limit: 50 });
    client.prependHistory(room, page.messages, page.has_more);
  } catch (e) {
    notice('could not load older messages: ' + (e.message || e));
  } finally {
    loadingOlder.delete(room);
    if (room === current) renderMessages({ keepAnchor: true });
  }
}

// -------------------------------------------------------- conversations
function openRoom(room) {
  if (!client || !isValidRoom(room)) return;
  if (current === room) return;
  saveDraft();
  stopTyping(true);
  for (const t of typists.values()) clearTimeout(t.timer);
  typists.clear();
  renderTyping();
  current = room;
  el.room.value = room;
  try { STORE.setItem('livechat.room', room); } catch (_) { /* disabled */ }
  client.join(room);
  const i = joinedOrder.indexOf(room);
  if (i >= 0) joinedOrder.splice(i, 1);
  joinedOrder.push(room);
  trimJoined();
  const view = client.room(room);
  const summary = client.conversations().find((c) => c.room === room);
  if (view && view.loaded) firstUnreadSeq = view.readSeq < view.lastSeq ? view.readSeq + 1 : 0;
  else firstUnreadSeq = summary && summary.unread > 0 ? summary.read_seq + 1 : 0;
  el.text.value = drafts[room] || '';
  el.newMessages.hidden = true;
  renderMessages({ stick: true });
  renderSession();
  renderInbox();
  maybeMarkRead();
}

function closeRoom() {
  saveDraft();
  stopTyping(true);
  current = null;
  try { STORE.removeItem('livechat.room'); } catch (_) { /* disabled */ }
  el.text.value = '';
  el.messages.replaceChildren();
  renderSession();
  renderInbox();
}

/** Rooms beyond MAX_JOINED are left, oldest first, except the open one and those with unsent messages. */
function trimJoined() {
  while (joinedOrder.length > MAX_JOINED) {
    const victim = joinedOrder.find((r) => r !== current && !client.queue.some((m) => m.room === r));
    if (!victim) return;
    joinedOrder.splice(joinedOrder.indexOf(victim), 1);
    client.leave(victim);
  }
}

function saveDraft() {
  if (!current) return;
  const text = el.text.value;
  if (text.trim()) drafts[current] = text;
  else delete drafts[current];
  saveDrafts();
}

function removeFailed(room, id) {
  const list = failed.get(room);
  if (!list) return;
  const i = list.findIndex((f) => f.clientMsgId === id);
  if (i >= 0) list.splice(i, 1);
}

function addTimeline(room, text) {
  const view = client.room(room);
  if (!timeline.has(room)) timeline.set(room, []);
  const lines = timeline.get(room);
  lines.push({ afterSeq: view ? view.lastSeq : 0, text });
  if (lines.length > 200) lines.shift();
}

// -------------------------------------------------------------- typing
function onTextInput() {
  if (current) {
    drafts[current] = el.text.value;
    saveDrafts();
  }
  if (!current || !connected()) return;
  clearTimeout(typingIdleTimer);
  if (el.text.value.trim() === '') { stopTyping(true); return; }
  const now = Date.now();
  if (now - typingSent >= TYPING_RESEND_MS) {
    client.typing(current, true);
    typingSent = now;
  }
  typingIdleTimer = setTimeout(() => stopTyping(true), TYPING_IDLE_MS);
}

function stopTyping(tell) {
  clearTimeout(typingIdleTimer);
  if (typingSent && tell && current && connected()) client.typing(current, false);
  typingSent = 0;
}

// ---------------------------------------------------------- the client
function signIn(token) {
  if (client) return;
  try { STORE.setItem('livechat.token', token); } catch (_) { /* disabled */ }
  rest = new RestClient({ token });
  // With a RestClient the module falls back to REST where a proxy refuses the WebSocket.
  client = new LiveChatClient({ token, rest });
  client.on('state', ({ to }) => {
    if (to !== State.connected) {
      for (const t of typists.values()) clearTimeout(t.timer);
      typists.clear();
      renderTyping();
    }
    renderStatus();
    renderControls();
    renderOnline();
  });
  client.on('auth', () => { renderStatus(); renderControls(); });
  client.on('transport', () => { renderStatus(); renderControls(); });
  client.on('inbox', () => renderInbox());
  client.on('summary', () => renderInbox());
  client.on('presence', () => renderOnline());
  client.on('conversation', (c) => {
    if (c.room !== current) return;
    const view = client.room(current);
    if (!firstUnreadSeq && view && view.readSeq < view.lastSeq) firstUnreadSeq = view.readSeq + 1;
    renderMessages();
    renderSession();
    maybeMarkRead();
  });
  client.on('history_reset', (room) => {
    if (room === current) {
      timeline.delete(room);
      renderMessages({ stick: true });
    }
  });
  // Every conversation's news comes as conversation_activity (the inbox), joined or not.
  client.on('conversation_activity', (a) => {
    const m = a.last_message;
    if (m && m.sender && m.sender.type === 'user' && document.visibilityState !== 'visible') {
      unseenWhileHidden += 1;
      desktopNotification(m);
      renderTitle();
    }
  });
  client.on('message', (m) => {
    if (m.room !== current) return;
    // The thread is redrawn as a whole; the live region says only what is new.
    if (!me() || !m.sender || m.sender.id !== me().user_id) el.announce.textContent = (m.sender ? m.sender.name : '') + ': ' + m.text;
    const stick = atBottom();
    renderMessages({ stick });
    if (!stick) el.newMessages.hidden = false;
    if (m.sender && me() && m.sender.id !== me().user_id) setTypist(m.sender.id, m.sender.name, false);
    maybeMarkRead();
  });
  client.on('message_state', (s) => {
    if (s.state === 'sent' && s.message && s.message.sender && !sentAs) {
      sentAs = { user_id: s.message.sender.id, name: s.message.sender.name, role: 'operator' };
    }
    if (s.state === 'failed' && s.reason !== 'cancelled') {
      if (!failed.has(s.room)) failed.set(s.room, []);
      failed.get(s.room).push({ clientMsgId: s.clientMsgId, text: s.text, attachmentId: s.attachmentId,
        reason: s.error ? s.error.code : s.reason.replace(/_/g, ' ') });
      notice('not sent: ' + (s.error ? s.error.message : s.reason.replace(/_/g, ' ')));
    }
    if (s.room === current) renderMessages();
    renderStatus();
    saveQueue();
  });
  client.on('session', (room, s) => {
    if (s && s.status === 'claimed' && s.claimed_by && !holders.has(room)) holders.set(room, s.claimed_by.name);
    if (room === current) renderSession();
    renderInbox();
  });
  client.on('session_event', (e) => {
    const s = e.session || {};
    const by = s.claimed_by ? s.claimed_by.name : 'someone';
    const at = formatTime(s.updated_at);
    // The events say what the session became, not who did it: our own recent action we know.
    const mine = myActions.get(e.room) === e.type;
    if (mine) myActions.delete(e.room);
    const previous = holders.get(e.room);
    holders.set(e.room, s.status === 'closed' ? null : s.claimed_by ? s.claimed_by.name : null);
    let text;
    if (e.type === 'claimed') text = (mine ? 'you' : by) + ' claimed the conversation';
    else if (e.type === 'released') text = (mine ? 'you released' : 'released') + (previous ? " the claim of " + previous : ' the claim');
    else text = (mine ? 'you closed the conversation' : 'the conversation was closed') + (s.claimed_by ? ' (handled by ' + by + ')' : '');
    addTimeline(e.room, text + (at ? ' · ' + at : ''));
    if (e.room === current) renderMessages();
  });
  client.on('typing', (t) => {
    if (t.room === current && (!me() || t.user_id !== me().user_id)) setTypist(t.user_id, t.name, t.is_typing);
  });
  client.on('operator_joined', (e) => {
    if (e.room === current) { addTimeline(e.room, e.name + ' joined'); renderMessages(); renderSession(); }
  });
  client.on('operator_left', (e) => {
    if (e.room === current) {
      setTypist(e.user_id, e.name, false);
      addTimeline(e.room, e.name + ' left');
      renderMessages();
      renderSession();
    }
  });
  client.on('read_receipt', () => renderInbox());
  client.on('attachment_updated', (u) => {
    if (u.room === current) renderMessages();
    renderInbox();
  });
  client.on('error', (e) => {
    if (e.kind === 'auth_failed') {
      notice('the server refused the token');
      signOut(false);
      return;
    }
    if (e.kind === 'server' || e.kind === 'not_connected' || e.kind === 'invalid_argument') {
      notice((e.code || e.kind) + ': ' + e.message);
    }
  });
  client.watchInbox(true);
  restoreQueue();
  client.start();
  const room = STORE.getItem('livechat.room');
  if (room && isValidRoom(room)) openRoom(room);
  renderStatus();
  renderControls();
}

function signOut(forget = true) {
  if (!client) return;
  saveDraft();
  const c = client;
  client = null;
  sentAs = null;
  c.stop();
  current = null;
  for (const u of uploads.splice(0)) if (u.ctrl) u.ctrl.abort();
  renderUploads();
  if (forget) {
    try {
      STORE.removeItem('livechat.token');
      STORE.removeItem('livechat.room');
      STORE.removeItem('livechat.queue');
    } catch (_) { /* disabled */ }
  } else {
    try { STORE.removeItem('livechat.token'); } catch (_) { /* disabled */ }
  }
  el.messages.replaceChildren();
  el.text.value = '';
  renderStatus();
  renderOnline();
  renderInbox();
  renderSession();
}

function desktopNotification(m) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(m.sender.name || 'customer', { body: m.text.slice(0, 140), tag: m.room });
    n.onclick = () => { window.focus(); openRoom(m.room); n.close(); };
  } catch (_) {
    // Some browsers allow notifications only from a service worker.
  }
}

// ---------------------------------------------------------- UI events
el.connectForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = el.token.value.trim();
  if (token) signIn(token);
});
el.disconnect.addEventListener('click', () => signOut(true));
el.retryNow.addEventListener('click', () => client && client.retryNow());

el.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = roomOf(el.room.value);
  if (!isValidRoom(room)) {
    notice('a room is conversation:ID, ID made of letters, digits and _ . @ : -');
    return;
  }
  openRoom(room);
});
el.back.addEventListener('click', () => closeRoom());

function sessionAction(kind, method) {
  if (!current || !client) return;
  if (client[method](current)) myActions.set(current, kind);
}
el.claim.addEventListener('click', () => sessionAction('claimed', 'claim'));
el.release.addEventListener('click', () => sessionAction('released', 'release'));
el.closeSession.addEventListener('click', () => sessionAction('closed', 'closeSession'));

el.filters.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-filter]');
  if (!b) return;
  filter = b.dataset.filter;
  for (const x of el.filters.querySelectorAll('button')) {
    x.classList.toggle('active', x === b);
    x.setAttribute('aria-pressed', String(x === b));
  }
  selected = -1;
  renderInbox();
  fetchFilterExtra();
});

el.inbox.addEventListener('keydown', (ev) => {
  const rows = visibleConversations();
  if (rows.length === 0) return;
  if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
    ev.preventDefault();
    selected = Math.max(0, Math.min(rows.length - 1, selected + (ev.key === 'ArrowDown' ? 1 : -1)));
    renderInbox();
  } else if (ev.key === 'Enter' && selected >= 0) {
    ev.preventDefault();
    openRoom(rows[selected].room);
    el.text.focus();
  }
});

el.messages.addEventListener('scroll', () => {
  if (atBottom()) {
    el.newMessages.hidden = true;
    maybeMarkRead();
  }
  if (el.messages.scrollTop < 20) loadOlder();
});
el.newMessages.addEventListener('click', () => {
  el.messages.scrollTop = el.messages.scrollHeight;
  el.newMessages.hidden = true;
  maybeMarkRead();
});

el.text.addEventListener('input', onTextInput);
el.text.addEventListener('blur', () => stopTyping(true));
el.text.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    el.sendForm.requestSubmit();
  } else if (ev.key === 'Escape') {
    ev.preventDefault();
    closeRoom();
    el.inbox.focus();
  }
});
el.sendForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = current;
  if (!client || !room || !el.text.value.trim()) return;
  // Queued whatever the connection: the client sends it when it can, once.
  const id = client.send(room, el.text.value);
  if (!id) return; // refused (too long …): the error says why, the text stays
  el.text.value = '';
  delete drafts[room];
  saveDrafts();
  stopTyping(true);
  renderMessages({ stick: true });
});

// ------------------------------------------------------------ uploads
function renderUploads() {
  el.uploads.replaceChildren();
  for (const u of uploads) {
    const li = node('li', 'upload' + (u.error ? ' failed' : ''));
    li.dataset.upload = u.name;
    li.append(node('span', 'name', u.name));
    if (u.error) {
      li.append(node('span', 'error', u.error));
    } else {
      const bar = node('progress');
      bar.max = u.total || 1;
      bar.value = u.loaded;
      li.append(bar, node('span', 'hint pct', Math.floor((100 * u.loaded) / (u.total || 1)) + ' %'));
    }
    const b = node('button', 'link', u.error ? 'dismiss' : 'cancel');
    b.type = 'button';
    b.addEventListener('click', () => {
      if (u.ctrl) u.ctrl.abort();
      dropUpload(u);
    });
    li.append(b);
    el.uploads.append(li);
  }
}

function dropUpload(u) {
  const i = uploads.indexOf(u);
  if (i >= 0) uploads.splice(i, 1);
  renderUploads();
}

/** Uploads `file` and sends it to the room that was open when it was chosen, once it is stored. */
async function startUpload(file) {
  const room = current;
  if (!client || !rest || !room) return;
  if (uploads.filter((u) => !u.error).length >= MAX_UPLOADS) {
    notice('at most ' + MAX_UPLOADS + ' uploads at once: ' + file.name + ' was not sent');
    return;
  }
  if (!file.size) {
    notice(file.name + ' is empty: not sent');
    return;
  }
  const u = { room, name: file.name || 'file', loaded: 0, total: file.size, ctrl: new AbortController(), error: null };
  uploads.push(u);
  renderUploads();
  try {
    const att = await rest.uploadAttachment(file, { name: u.name, signal: u.ctrl.signal,
      onProgress: (p) => { u.loaded = p.loaded; renderUploads(); } });
    dropUpload(u);
    client.sendMessage(room, { attachmentId: att.id });
    if (room === current) renderMessages({ stick: true });
  } catch (e) {
    if (e && e.name === 'AbortError') {
      dropUpload(u);
      return;
    }
    u.ctrl = null;
    u.error = e && e.status === 413 ? 'too large (' + formatSize(file.size) + '): the server does not accept a file this big'
      : 'not uploaded: ' + (e && e.message ? e.message : String(e));
    notice(u.name + ': ' + u.error);
    renderUploads();
  }
}

el.attach.addEventListener('click', () => el.file.click());
el.file.addEventListener('change', () => {
  for (const f of Array.from(el.file.files || [])) startUpload(f);
  el.file.value = '';
});
el.conversation.addEventListener('dragover', (ev) => {
  if (!current || !client || !ev.dataTransfer || !Array.from(ev.dataTransfer.types || []).includes('Files')) return;
  ev.preventDefault();
  ev.dataTransfer.dropEffect = 'copy';
  el.conversation.classList.add('dropping');
});
el.conversation.addEventListener('dragleave', (ev) => {
  if (!el.conversation.contains(ev.relatedTarget)) el.conversation.classList.remove('dropping');
});
el.conversation.addEventListener('drop', (ev) => {
  el.conversation.classList.remove('dropping');
  if (!current || !client || !ev.dataTransfer) return;
  ev.preventDefault();
  for (const f of Array.from(ev.dataTransfer.files || [])) startUpload(f);
});
el.lightboxClose.addEventListener('click', () => el.lightbox.close());
el.lightbox.addEventListener('click', (ev) => { if (ev.target === el.lightbox) el.lightbox.close(); });

el.notify.addEventListener('click', async () => {
  try { await Notification.requestPermission(); } catch (_) { /* old API or refused */ }
  el.notify.hidden = Notification.permission !== 'default';
});
el.notify.hidden = !('Notification' in window) || Notification.permission !== 'default';

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    unseenWhileHidden = 0;
    renderTitle();
    maybeMarkRead();
  }
});

// The status pill's countdown.
setInterval(() => { if (client && client.state === State.reconnecting) renderStatus(); }, 250);

// ------------------------------------------------------------- start
const savedToken = STORE.getItem('livechat.token');
if (savedToken) {
  el.token.value = savedToken;
  signIn(savedToken);
}
renderStatus();
renderControls();
renderOnline();
renderInbox();
renderSession();
