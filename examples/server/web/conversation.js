// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The open conversation: its thread (older-note and paging back, the
// "new messages" line and pill, timeline lines for claims and closes,
// pending and failed messages with retry), typing, mark_read when read,
// the session bar and its actions, opening and leaving rooms.

import { isValidRoom } from './livechat/livechat.js';
import { MAX_JOINED, S, STORE, TYPIST_FALLBACK_MS, atBottom, conversationId, drafts, el, failed, joinedOrder,
  loadingOlder, myActions, node, notice, saveDrafts, timeline, typists } from './console_state.js';
import { stopTyping } from './composer.js';
import { renderControls } from './connection.js';
import { renderInbox } from './inbox.js';
import { messageNode } from './message_view.js';

export function renderConversationTitle() {
  if (!S.current) {
    el.title.textContent = '';
    return;
  }
  const id = conversationId(S.current);
  const c = S.client ? S.client.conversations().find((x) => x.room === S.current) : null;
  const name = c && c.customer && typeof c.customer.name === 'string' ? c.customer.name : '';
  el.title.textContent = name && name !== id ? name + ' (' + id + ')' : id;
}

export function renderSession() {
  const view = S.current && S.client ? S.client.room(S.current) : null;
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
    S.client.send(room, f.text, { clientMsgId: f.clientMsgId, attachmentId: f.attachmentId });
    renderMessages();
  });
  meta.append(retry);
  li.append(meta);
  li.append(node('div', 'text', f.text));
  return li;
}

/** The whole thread of the open room: older-note, messages with timeline lines, pending, failed. */
export function renderMessages(opts = {}) {
  const list = el.messages;
  const view = S.current && S.client ? S.client.room(S.current) : null;
  const stick = opts.stick !== undefined ? opts.stick : atBottom();
  S.stickAfterLoad = stick;
  const anchor = opts.keepAnchor ? list.scrollHeight - list.scrollTop : null;
  list.replaceChildren();
  if (!view) return;
  if (view.hasOlder) {
    const li = node('li', 'older');
    li.append(node('span', 'hint', 'Older messages are not shown. '));
    const b = node('button', 'link', loadingOlder.has(S.current) ? 'loading…' : 'Load older');
    b.type = 'button';
    b.id = 'load-older';
    b.addEventListener('click', () => loadOlder());
    li.append(b);
    list.append(li);
  }
  const lines = timeline.get(S.current) || [];
  let li = 0;
  const firstSeq = view.messages.length ? view.messages[0].seq : view.lastSeq + 1;
  for (; li < lines.length && lines[li].afterSeq < firstSeq; li += 1) {
    if (lines[li].afterSeq >= firstSeq - 1) list.append(systemNode(lines[li].text));
  }
  for (const m of view.messages) {
    if (S.firstUnreadSeq && m.seq === S.firstUnreadSeq) list.append(node('li', 'unread-marker', 'new messages'));
    list.append(messageNode(m));
    for (; li < lines.length && lines[li].afterSeq <= m.seq; li += 1) list.append(systemNode(lines[li].text));
  }
  for (; li < lines.length; li += 1) list.append(systemNode(lines[li].text));
  for (const p of view.pending) list.append(pendingNode(p));
  for (const f of failed.get(S.current) || []) list.append(failedNode(S.current, f));
  if (anchor !== null) list.scrollTop = list.scrollHeight - anchor;
  else if (stick) list.scrollTop = list.scrollHeight;
  el.newMessages.hidden = atBottom() || el.newMessages.hidden;
}

function systemNode(text) {
  const li = node('li', 'system');
  li.append(node('span', 'text', text));
  return li;
}

export function renderTyping() {
  const names = Array.from(typists.values(), (t) => t.name);
  el.typing.textContent = names.length === 0 ? ''
    : names.join(', ') + (names.length === 1 ? ' is typing…' : ' are typing…');
}

export function setTypist(userId, name, isTyping) {
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
export function maybeMarkRead() {
  if (!S.client || !S.current || document.visibilityState !== 'visible' || !atBottom()) return;
  const view = S.client.room(S.current);
  if (!view || !view.loaded || view.lastSeq <= view.readSeq) return;
  S.client.markRead(S.current, view.lastSeq);
  el.newMessages.hidden = true;
  renderInbox();
}

export async function loadOlder() {
  const room = S.current;
  const view = room && S.client ? S.client.room(room) : null;
  if (!view || !view.hasOlder || loadingOlder.has(room) || view.messages.length === 0) return;
  loadingOlder.add(room);
  renderMessages({ keepAnchor: true });
  try {
    const page = await S.rest.history(conversationId(room), { before_seq: view.messages[0].seq, limit: 50 });
    S.client.prependHistory(room, page.messages, page.has_more);
  } catch (e) {
    notice('could not load older messages: ' + (e.message || e));
  } finally {
    loadingOlder.delete(room);
    if (room === S.current) renderMessages({ keepAnchor: true });
  }
}

// -------------------------------------------------------- conversations
export function openRoom(room) {
  if (!S.client || !isValidRoom(room)) return;
  if (S.current === room) return;
  saveDraft();
  stopTyping(true);
  for (const t of typists.values()) clearTimeout(t.timer);
  typists.clear();
  renderTyping();
  S.current = room;
  el.room.value = room;
  try { STORE.setItem('livechat.room', room); } catch (_) { /* disabled */ }
  S.client.join(room);
  const i = joinedOrder.indexOf(room);
  if (i >= 0) joinedOrder.splice(i, 1);
  joinedOrder.push(room);
  trimJoined();
  const view = S.client.room(room);
  const summary = S.client.conversations().find((c) => c.room === room);
  if (view && view.loaded) S.firstUnreadSeq = view.readSeq < view.lastSeq ? view.readSeq + 1 : 0;
  else S.firstUnreadSeq = summary && summary.unread > 0 ? summary.read_seq + 1 : 0;
  el.text.value = drafts[room] || '';
  el.newMessages.hidden = true;
  renderMessages({ stick: true });
  renderSession();
  renderInbox();
  maybeMarkRead();
}

export function closeRoom() {
  saveDraft();
  stopTyping(true);
  S.current = null;
  try { STORE.removeItem('livechat.room'); } catch (_) { /* disabled */ }
  el.text.value = '';
  el.messages.replaceChildren();
  renderSession();
  renderInbox();
}

/** Rooms beyond MAX_JOINED are left, oldest first, except the open one and those with unsent messages. */
function trimJoined() {
  while (joinedOrder.length > MAX_JOINED) {
    const victim = joinedOrder.find((r) => r !== S.current && !S.client.queue.some((m) => m.room === r));
    if (!victim) return;
    joinedOrder.splice(joinedOrder.indexOf(victim), 1);
    S.client.leave(victim);
  }
}

export function saveDraft() {
  if (!S.current) return;
  const text = el.text.value;
  if (text.trim()) drafts[S.current] = text;
  else delete drafts[S.current];
  saveDrafts();
}

export function removeFailed(room, id) {
  const list = failed.get(room);
  if (!list) return;
  const i = list.findIndex((f) => f.clientMsgId === id);
  if (i >= 0) list.splice(i, 1);
}

export function addTimeline(room, text) {
  const view = S.client.room(room);
  if (!timeline.has(room)) timeline.set(room, []);
  const lines = timeline.get(room);
  lines.push({ afterSeq: view ? view.lastSeq : 0, text });
  if (lines.length > 200) lines.shift();
}

// ------------------------------------------------------- session actions
function sessionAction(kind, method) {
  if (!S.current || !S.client) return;
  if (S.client[method](S.current)) myActions.set(S.current, kind);
}
el.claim.addEventListener('click', () => sessionAction('claimed', 'claim'));
el.release.addEventListener('click', () => sessionAction('released', 'release'));
el.closeSession.addEventListener('click', () => sessionAction('closed', 'closeSession'));

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
