// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The composer: one draft per conversation, typing_start/stop, Enter sends
// (queued whatever the connection), Esc leaves; and uploads (button, drop,
// progress, cancel, 413) sent as a message once stored.

import { MAX_UPLOADS, S, TYPING_IDLE_MS, TYPING_RESEND_MS, connected, drafts, el, node, notice, saveDrafts,
  uploads } from './console_state.js';
import { closeRoom, renderMessages } from './conversation.js';
import { formatSize } from './message_view.js';

let typingSent = 0;
let typingIdleTimer = null;

// -------------------------------------------------------------- typing
export function onTextInput() {
  if (S.current) {
    drafts[S.current] = el.text.value;
    saveDrafts();
  }
  if (!S.current || !connected()) return;
  clearTimeout(typingIdleTimer);
  if (el.text.value.trim() === '') { stopTyping(true); return; }
  const now = Date.now();
  if (now - typingSent >= TYPING_RESEND_MS) {
    S.client.typing(S.current, true);
    typingSent = now;
  }
  typingIdleTimer = setTimeout(() => stopTyping(true), TYPING_IDLE_MS);
}

export function stopTyping(tell) {
  clearTimeout(typingIdleTimer);
  if (typingSent && tell && S.current && connected()) S.client.typing(S.current, false);
  typingSent = 0;
}

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
  const room = S.current;
  if (!S.client || !room || !el.text.value.trim()) return;
  // Queued whatever the connection: the client sends it when it can, once.
  const id = S.client.send(room, el.text.value);
  if (!id) return; // refused (too long …): the error says why, the text stays
  el.text.value = '';
  delete drafts[room];
  saveDrafts();
  stopTyping(true);
  renderMessages({ stick: true });
});

// ------------------------------------------------------------ uploads
export function renderUploads() {
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
export async function startUpload(file) {
  const room = S.current;
  if (!S.client || !S.rest || !room) return;
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
    const att = await S.rest.uploadAttachment(file, { name: u.name, signal: u.ctrl.signal,
      onProgress: (p) => { u.loaded = p.loaded; renderUploads(); } });
    dropUpload(u);
    S.client.sendMessage(room, { attachmentId: att.id });
    if (room === S.current) renderMessages({ stick: true });
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
  if (!S.current || !S.client || !ev.dataTransfer || !Array.from(ev.dataTransfer.types || []).includes('Files')) return;
  ev.preventDefault();
  ev.dataTransfer.dropEffect = 'copy';
  el.conversation.classList.add('dropping');
});
el.conversation.addEventListener('dragleave', (ev) => {
  if (!el.conversation.contains(ev.relatedTarget)) el.conversation.classList.remove('dropping');
});
el.conversation.addEventListener('drop', (ev) => {
  el.conversation.classList.remove('dropping');
  if (!S.current || !S.client || !ev.dataTransfer) return;
  ev.preventDefault();
  for (const f of Array.from(ev.dataTransfer.files || [])) startUpload(f);
});
