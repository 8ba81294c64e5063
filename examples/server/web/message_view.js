// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// One message as shown: text, or an image, a player, a file link, a sticker
// or location card; attachment urls are followed only on this server. And
// the lightbox that enlarges an image.

import { S, el, formatTime, me, node } from './console_state.js';

const FILE_KINDS = new Set(['image', 'video', 'audio', 'file']);

export function messageNode(m) {
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

export function formatSize(n) {
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
export function lineImage(u, prefix, className) {
  if (typeof u !== 'string' || !u.startsWith(prefix)) return null;
  const img = node('img', className);
  img.src = u;
  img.alt = '';
  img.referrerPolicy = 'no-referrer';
  img.loading = 'lazy';
  return img;
}

/** An image, video, audio, file, sticker or location; null for a kind this console does not know (shown as text). */
export function attachmentNode(m) {
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
    img.addEventListener('load', () => { if (S.stickAfterLoad) el.messages.scrollTop = el.messages.scrollHeight; });
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

el.lightboxClose.addEventListener('click', () => el.lightbox.close());
el.lightbox.addEventListener('click', (ev) => { if (ev.target === el.lightbox) el.lightbox.close(); });
