// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The inbox: the live list of conversations with unread counts, the
// filters (with the REST list's matches beyond the 100 newest), keyboard
// selection, and the unread total in the tab title.

import { S, el, formatTime, me, node } from './console_state.js';
import { openRoom, renderConversationTitle } from './conversation.js';
import { lineImage } from './message_view.js';
import { unseenWhileHidden } from './notifications.js';

// The live inbox holds the 100 newest conversations; a filter also shows the
// REST list's matches beyond them (status / claimed_by), fetched when chosen.
let filter = 'all';
let selected = -1;                  // keyboard selection in the inbox
let filterExtra = [];
let filterFetch = 0;

export async function fetchFilterExtra() {
  const u = me();
  const query = filter === 'mine' && u ? { status: 'claimed', claimed_by: u.user_id }
    : filter === 'unassigned' ? { status: 'open' } : filter === 'closed' ? { status: 'closed' } : null;
  const ticket = ++filterFetch;
  filterExtra = [];
  if (!query || !S.rest) return;
  try {
    const page = await S.rest.listConversations({ ...query, limit: 100 });
    if (ticket !== filterFetch) return;
    filterExtra = (page.conversations || []).map((c) => ({ ...c,
      unread: Math.max(0, (c.last_seq || 0) - (c.read_seq || 0)) }));
    renderInbox();
  } catch (_) {
    // The live inbox still shows what it has.
  }
}

export function visibleConversations() {
  const u = me();
  const live = S.client ? S.client.conversations() : [];
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

export function renderInbox() {
  el.inbox.replaceChildren();
  const rows = visibleConversations();
  if (selected >= rows.length) selected = rows.length - 1;
  rows.forEach((c, i) => {
    const li = node('li');
    li.setAttribute('role', 'option');
    li.dataset.room = c.room;
    li.classList.toggle('active', c.room === S.current);
    li.classList.toggle('unread', c.unread > 0);
    li.classList.toggle('selected', i === selected);
    li.setAttribute('aria-selected', String(c.room === S.current));
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

export function renderTitle() {
  const total = S.client ? S.client.conversations().reduce((n, c) => n + c.unread, 0) : 0;
  el.unreadTotal.textContent = total > 0 ? total + ' unread' : '';
  const count = Math.max(total, unseenWhileHidden());
  document.title = (count > 0 ? '(' + count + ') ' : '') + 'livechat operator console';
}


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
