// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// What every part of the console shares: its elements, the session's state
// (one object, so every module sees the same client and open room), the
// collections kept per room, what survives a reload (sessionStorage), and
// small helpers. Imports nothing of the console, so it is ready first.

import { State, isValidRoom } from './livechat/livechat.js';

export const TYPING_RESEND_MS = 2000;   // the server drops `typing` 3 s after the last typing_start
export const TYPING_IDLE_MS = 2500;     // no keystroke for this long: typing_stop
export const TYPIST_FALLBACK_MS = 6000; // forget a typist whose `is_typing: false` never came
const NOTICE_MS = 8000;                 // an error stays this long
export const MAX_JOINED = 10;           // rooms kept joined (the open one, and recent ones with unsent messages)
export const STORE = window.sessionStorage; // the login and the open conversation, for this tab only
export const MAX_UPLOADS = 5;           // uploads at once; more are refused with a notice

const $ = (id) => document.getElementById(id);
export const el = {
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

// ---------------------------------------------------------------- state
export const S = {
  client: null,
  rest: null,
  current: null,                    // the open room
  sentAs: null,                     // who our confirmed messages say we are: over REST no auth_success tells it
  firstUnreadSeq: 0,                // the "new messages" line of the open room
  stickAfterLoad: true,             // keep the thread at the bottom when an image gets its size
};
export const drafts = loadJson('livechat.drafts', {}); // room -> text not sent yet
export const failed = new Map();    // room -> [{clientMsgId, text, reason}]
export const timeline = new Map();  // room -> [{afterSeq, text}] claims, releases, closes
export const typists = new Map();   // user_id -> {name, timer} (open room)
export const joinedOrder = [];      // rooms joined, most recent last
export const loadingOlder = new Set();
export const myActions = new Map(); // room -> 'claimed' | 'released' | 'closed' asked by this tab
export const holders = new Map();   // room -> the name of who held the claim, for release lines
export const uploads = [];          // [{key, room, name, loaded, total, ctrl}] on their way
let noticeTimer = null;

function loadJson(key, fallback) {
  try {
    const v = JSON.parse(STORE.getItem(key));
    return v && typeof v === 'object' ? v : fallback;
  } catch (_) {
    return fallback;
  }
}

/** The unsent messages survive a reload of the tab: sent again under their ids, stored once. */
export function saveQueue() {
  if (!S.client) return;
  try {
    STORE.setItem('livechat.queue', JSON.stringify(S.client.queue.map((m) => ({ room: m.room, text: m.text, id: m.clientMsgId,
      attachmentId: m.attachmentId }))));
  } catch (_) { /* full or disabled */ }
}

export function restoreQueue() {
  const saved = loadJson('livechat.queue', []);
  if (!Array.isArray(saved)) return;
  for (const m of saved) {
    if (!m || !isValidRoom(m.room) || typeof m.text !== 'string' || typeof m.id !== 'string') continue;
    S.client.join(m.room);
    if (!joinedOrder.includes(m.room)) joinedOrder.push(m.room);
    const attachmentId = typeof m.attachmentId === 'string' ? m.attachmentId : undefined;
    S.client.send(m.room, m.text, { clientMsgId: m.id, attachmentId });
  }
}

export function saveDrafts() {
  try { STORE.setItem('livechat.drafts', JSON.stringify(drafts)); } catch (_) { /* full or disabled */ }
}

// ------------------------------------------------------------- helpers
export function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

export function formatTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function conversationId(room) { return room.slice('conversation:'.length); }
export function me() { return S.client ? S.client.me || S.sentAs : null; }
export function connected() { return !!S.client && S.client.state === State.connected; }

export function notice(text) {
  clearTimeout(noticeTimer);
  el.notice.textContent = text || '';
  if (text) noticeTimer = setTimeout(() => { el.notice.textContent = ''; }, NOTICE_MS);
}

export function atBottom() {
  const m = el.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
}
